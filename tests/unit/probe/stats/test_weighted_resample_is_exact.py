"""A resample given as draw counts scores exactly like the duplicated examples."""

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from probe.stats.bootstrap import BootstrapSpec, resample_weights, weighted_metric, weighted_ranks


def expanded(weights_row):
    return np.repeat(np.arange(weights_row.size), weights_row.astype(int))


def test_every_metric_equals_the_metric_of_the_duplicated_rows():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    predicted = np.where(rng.random(60) < 0.7, labels, 1 - labels)
    targets = rng.normal(size=60)
    values = np.round(targets + rng.normal(size=60), 1)
    weights = resample_weights(60, BootstrapSpec(n_resamples=1000, seed=3))[:5]
    checks = {
        "accuracy": (labels, predicted, accuracy_score),
        "f1": (labels, predicted, f1_score),
        "mcc": (labels, predicted, matthews_corrcoef),
        "pearson": (targets, values, lambda a, b: stats.pearsonr(a, b)[0]),
        "spearman": (targets, values, lambda a, b: stats.spearmanr(a, b)[0]),
    }
    for name, (truth, predictions, reference) in checks.items():
        ours = weighted_metric(name, truth, predictions[:, None], weights)
        for row in range(weights.shape[0]):
            rows = expanded(weights[row])
            assert ours[row, 0] == pytest.approx(
                reference(truth[rows], predictions[rows]), abs=1e-10
            )


def test_weighted_ranks_are_scipy_average_ranks_of_the_duplicated_values():
    values = np.array([3.0, 1.0, 3.0, 2.0, 5.0])
    weights = np.array([[2.0, 0.0, 1.0, 1.0, 1.0]])
    ranks = weighted_ranks(values, weights)
    rows = expanded(weights[0])
    duplicated_ranks = stats.rankdata(values[rows])
    for position, row in enumerate(rows):
        assert ranks[0, row] == pytest.approx(duplicated_ranks[position])


def test_counts_sum_to_the_sample_size_and_are_seeded():
    spec = BootstrapSpec(n_resamples=1000, seed=5)
    first = resample_weights(50, spec)
    assert first.shape == (1000, 50)
    assert np.all(first.sum(axis=1) == 50)
    assert np.array_equal(first, resample_weights(50, spec))
    assert not np.array_equal(first, resample_weights(50, BootstrapSpec(n_resamples=1000, seed=6)))


def test_macro_f1_equals_sklearn_on_the_duplicated_rows():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 80)
    predicted = np.where(rng.random(80) < 0.6, labels, rng.integers(0, 4, 80))
    weights = resample_weights(80, BootstrapSpec(n_resamples=1000, seed=1))[:4]
    ours = weighted_metric("f1_macro", labels, predicted[:, None], weights, n_classes=4)
    for row in range(4):
        rows = expanded(weights[row])
        reference = f1_score(labels[rows], predicted[rows], average="macro")
        assert ours[row, 0] == pytest.approx(reference, abs=1e-10)
