"""GLUE metrics agree with scikit-learn / scipy, one vector at a time and batched."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from probe.errors import FewdimsError
from probe.metrics import batch_metric, batch_metrics, compute_metrics, metric, rank_key

pytestmark = pytest.mark.torch_free


@pytest.fixture()
def binary_fixture():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, 301)
    y_pred = np.where(rng.random((301, 7)) < 0.7, y_true[:, None], 1 - y_true[:, None])
    return y_true, y_pred


def test_binary_metrics_match_sklearn(binary_fixture):
    y_true, y_pred = binary_fixture
    for column in range(y_pred.shape[1]):
        predicted = y_pred[:, column]
        assert metric("accuracy", y_true, predicted) == pytest.approx(
            accuracy_score(y_true, predicted)
        )
        assert metric("f1", y_true, predicted, 2) == pytest.approx(f1_score(y_true, predicted))
        assert metric("mcc", y_true, predicted) == pytest.approx(
            matthews_corrcoef(y_true, predicted)
        )


def test_batch_equals_per_column(binary_fixture):
    y_true, y_pred = binary_fixture
    for name in ("accuracy", "f1", "mcc"):
        batched = batch_metric(name, y_true, y_pred, 2)
        single = [metric(name, y_true, y_pred[:, j], 2) for j in range(y_pred.shape[1])]
        np.testing.assert_allclose(batched, single)


def test_bool_binary_predictions_score_as_int_labels(binary_fixture):
    """Compact (bool) binary predictions, as the validation screens pass them."""
    y_true, y_pred = binary_fixture
    for name in ("accuracy", "f1", "mcc"):
        np.testing.assert_array_equal(
            batch_metric(name, y_true, y_pred.astype(bool), 2),
            batch_metric(name, y_true, y_pred, 2),
        )


def test_multiclass_mcc_and_accuracy_match_sklearn():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 3, 500)
    y_pred = rng.integers(0, 3, (500, 5))
    y_pred[:250] = y_true[:250, None]
    mcc = batch_metric("mcc", y_true, y_pred, 3)
    accuracy = batch_metric("accuracy", y_true, y_pred, 3)
    for column in range(5):
        assert mcc[column] == pytest.approx(matthews_corrcoef(y_true, y_pred[:, column]))
        assert accuracy[column] == pytest.approx(accuracy_score(y_true, y_pred[:, column]))


def test_degenerate_predictions_follow_sklearn():
    y_true = np.array([0, 1, 1, 0, 1])
    majority = np.ones(5, dtype=np.int64)
    assert metric("mcc", y_true, majority) == matthews_corrcoef(y_true, majority) == 0.0
    none_positive = np.zeros(5, dtype=np.int64)
    assert metric("f1", y_true, none_positive, 2) == pytest.approx(
        f1_score(y_true, none_positive, zero_division=0)
    )


def test_regression_metrics_match_scipy():
    rng = np.random.default_rng(2)
    y_true = rng.normal(size=200)
    y_pred = y_true[:, None] + rng.normal(size=(200, 4))
    y_pred[:, 3] = np.round(y_pred[:, 3])  # ties for spearman
    pearson = batch_metric("pearson", y_true, y_pred)
    spearman = batch_metric("spearman", y_true, y_pred)
    for column in range(4):
        assert pearson[column] == pytest.approx(pearsonr(y_true, y_pred[:, column])[0])
        assert spearman[column] == pytest.approx(spearmanr(y_true, y_pred[:, column])[0])


def test_constant_regression_prediction_is_nan_and_ranks_last():
    values = batch_metric("pearson", np.arange(5.0), np.ones((5, 1)))
    assert np.isnan(values[0])
    assert rank_key(np.array([np.nan, 0.1]))[0] == -np.inf


def test_compute_metrics_dicts():
    y_true = np.array([0, 1, 1, 0])
    y_pred = np.array([0, 1, 0, 0])
    scores = compute_metrics(("accuracy", "f1", "mcc"), y_true, y_pred, 2)
    assert scores["accuracy"] == 0.75
    assert set(scores) == {"accuracy", "f1", "mcc"}
    dicts = batch_metrics(("accuracy",), y_true, np.stack([y_pred, y_true], axis=1))
    assert [d["accuracy"] for d in dicts] == [0.75, 1.0]


def test_unknown_metric_names_the_options():
    with pytest.raises(FewdimsError, match="accuracy"):
        metric("auc", np.zeros(3), np.zeros(3))
