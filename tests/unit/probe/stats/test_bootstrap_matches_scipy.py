"""Percentile CIs agree with scipy.stats.bootstrap on the same data, for every metric."""

import numpy as np
import pytest
from scipy import stats

from probe.metrics import metric
from probe.stats.bootstrap import BootstrapSpec, metric_intervals

N_RESAMPLES = 4000


def classification_data():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    predictions = np.where(rng.random(300) < 0.75, labels, 1 - labels)
    return labels, predictions


def regression_data():
    rng = np.random.default_rng(2)
    targets = rng.normal(size=300)
    predictions = np.round(targets + rng.normal(size=300), 1)  # rounded: ties for Spearman
    return targets, predictions


@pytest.mark.parametrize(
    "name, data",
    [
        ("accuracy", classification_data),
        ("f1", classification_data),
        ("mcc", classification_data),
        ("pearson", regression_data),
        ("spearman", regression_data),
    ],
)
def test_interval_matches_scipy_percentile_bootstrap(name, data):
    labels, predictions = data()
    ours = metric_intervals([name], labels, predictions, BootstrapSpec(n_resamples=N_RESAMPLES))
    interval = ours[0][name]
    reference = stats.bootstrap(
        (labels, predictions),
        lambda a, b: metric(name, a, b),
        paired=True,
        vectorized=False,
        n_resamples=N_RESAMPLES,
        method="percentile",
        random_state=0,
    ).confidence_interval
    # Two independent Monte-Carlo draws of the same 2.5% / 97.5% quantiles.
    assert interval.low == pytest.approx(reference.low, abs=0.012)
    assert interval.high == pytest.approx(reference.high, abs=0.012)
    point = metric(name, labels, predictions)
    assert interval.low < point < interval.high
    assert interval.n_undefined == 0
