"""GLUE metrics, computed locally, for one prediction vector or many candidates at once.

The scalar functions agree with scikit-learn / scipy (``accuracy_score``, ``f1_score`` with
positive label 1, ``matthews_corrcoef``, ``pearsonr``, ``spearmanr``) — the tests check it —
so reports can be compared with published GLUE numbers. The ``batch_*`` functions score a
whole ``(n_examples, n_candidates)`` prediction matrix with a handful of vectorised
reductions; the subset searches rely on them to rank thousands of candidates without a
Python loop.

Metric names are the ones in :mod:`probe.tasks`: ``accuracy``, ``f1``, ``mcc``, ``pearson``,
``spearman``. Classification metrics take integer labels; F1 is binary with positive label 1
(GLUE's ``equivalent`` / ``duplicate``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from probe.errors import FewdimsError

CLASSIFICATION_METRICS = ("accuracy", "f1", "mcc", "f1_macro")
REGRESSION_METRICS = ("pearson", "spearman")


class UnknownMetricError(FewdimsError, ValueError):
    """A metric name fewdims does not compute."""


def _check_metric(name: str) -> None:
    if name not in CLASSIFICATION_METRICS + REGRESSION_METRICS:
        known = ", ".join(CLASSIFICATION_METRICS + REGRESSION_METRICS)
        raise UnknownMetricError(f"Unknown metric {name!r}; fewdims computes: {known}.")


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """Confusion matrices of every candidate column, without a loop over candidates.

    ``y_true`` (n,) and ``y_pred`` (n, m) hold labels in ``0..n_classes-1``. Returns
    (m, n_classes, n_classes) int64 counts, rows = true class, columns = predicted class.
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    n_candidates = y_pred.shape[1]
    cell = y_true[:, None] * n_classes + y_pred  # (n, m)
    cell += np.arange(n_candidates, dtype=np.int64)[None, :] * (n_classes * n_classes)
    counts = np.bincount(cell.ravel(), minlength=n_candidates * n_classes * n_classes)
    return counts.reshape(n_candidates, n_classes, n_classes)


def mcc_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Matthews correlation (sklearn's multiclass formula) of (m, c, c) confusion counts -> (m,).

    Like sklearn, a degenerate denominator (one class predicted or present) gives 0.0.
    """
    confusion = confusion.astype(np.float64)
    true_sum = confusion.sum(axis=2)  # (m, c)
    pred_sum = confusion.sum(axis=1)  # (m, c)
    n_correct = np.trace(confusion, axis1=1, axis2=2)
    n_samples = confusion.sum(axis=(1, 2))
    cov_true_pred = n_correct * n_samples - np.einsum("mc,mc->m", true_sum, pred_sum)
    cov_pred_pred = n_samples**2 - np.einsum("mc,mc->m", pred_sum, pred_sum)
    cov_true_true = n_samples**2 - np.einsum("mc,mc->m", true_sum, true_sum)
    denominator = np.sqrt(cov_true_true * cov_pred_pred)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(
            denominator > 0, cov_true_pred / np.where(denominator > 0, denominator, 1), 0.0
        )
    return value


def f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Binary F1 with positive label 1 of (m, 2, 2) confusion counts -> (m,); 0.0 when undefined."""
    true_pos = confusion[:, 1, 1].astype(np.float64)
    false_pos = confusion[:, 0, 1].astype(np.float64)
    false_neg = confusion[:, 1, 0].astype(np.float64)
    denominator = 2 * true_pos + false_pos + false_neg
    return np.where(denominator > 0, 2 * true_pos / np.where(denominator > 0, denominator, 1), 0.0)


def macro_f1_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Macro-averaged F1 of (m, c, c) confusion counts -> (m,).

    Like scikit-learn's ``f1_score(average="macro")``: the mean of per-class F1 over the
    classes that occur in the true labels or the predictions (a class neither present nor
    predicted does not count); a class's F1 is 0 when it is never predicted correctly.
    """
    per_class, present = per_class_f1(confusion)
    return (per_class * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def per_class_f1(confusion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-class F1 (m, c) of (m, c, c) confusion counts, and which classes occur (m, c)."""
    confusion = confusion.astype(np.float64)
    true_pos = np.diagonal(confusion, axis1=1, axis2=2)
    true_sum = confusion.sum(axis=2)
    pred_sum = confusion.sum(axis=1)
    denominator = true_sum + pred_sum
    f1 = np.where(denominator > 0, 2 * true_pos / np.where(denominator > 0, denominator, 1), 0.0)
    return f1, denominator > 0


def _pearson_columns(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Pearson r between ``y_true`` (n,) and every column of ``y_pred`` (n, m); NaN if constant."""
    true_centered = np.asarray(y_true, dtype=np.float64) - np.mean(y_true, dtype=np.float64)
    pred = np.asarray(y_pred, dtype=np.float64)
    pred_centered = pred - pred.mean(axis=0, keepdims=True)
    numerator = true_centered @ pred_centered
    denominator = np.sqrt(
        (true_centered @ true_centered) * np.einsum("nm,nm->m", pred_centered, pred_centered)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        value = numerator / denominator
    value[~(denominator > 0)] = np.nan
    return np.clip(value, -1.0, 1.0)


def batch_metric(
    name: str, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 2
) -> np.ndarray:
    """Score every candidate column of ``y_pred`` (n, m) against ``y_true`` (n,) -> (m,) float64.

    Classification metrics expect integer predictions in ``0..n_classes-1``; regression
    metrics expect real-valued predictions.
    """
    _check_metric(name)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim != 2:
        raise ValueError(f"y_pred must be (n_examples, n_candidates), got shape {y_pred.shape}")
    if name == "accuracy":
        y_true = np.asarray(y_true)
        if y_pred.dtype == np.bool_ and np.all((y_true == 0) | (y_true == 1)):
            y_true = y_true == 1  # bool == bool: 2x faster than comparing as int64
        return (y_pred == y_true[:, None]).mean(axis=0, dtype=np.float64)
    if name == "pearson":
        return _pearson_columns(y_true, y_pred)
    if name == "spearman":
        from scipy.stats import rankdata

        return _pearson_columns(rankdata(y_true), rankdata(y_pred, axis=0))
    confusion = confusion_counts(y_true, y_pred, n_classes)
    if name == "mcc":
        return mcc_from_confusion(confusion)
    if name == "f1_macro":
        return macro_f1_from_confusion(confusion)
    if n_classes != 2:
        raise UnknownMetricError("F1 is defined here for binary tasks only (positive label 1).")
    return f1_from_confusion(confusion)


def metric(
    name: str, y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None = None
) -> float:
    """One metric of one prediction vector (n,), as a Python float."""
    y_pred = np.asarray(y_pred)
    if n_classes is None and name in CLASSIFICATION_METRICS:
        n_classes = int(max(np.max(y_true), np.max(y_pred))) + 1
        n_classes = max(n_classes, 2)
    return float(batch_metric(name, y_true, y_pred[:, None], n_classes=n_classes or 2)[0])


def compute_metrics(
    names: Iterable[str], y_true: np.ndarray, y_pred: np.ndarray, n_classes: int | None = None
) -> dict[str, float]:
    """``{name: value}`` for every metric in ``names`` on one prediction vector."""
    return {name: metric(name, y_true, y_pred, n_classes) for name in names}


class MetricScores(dict):
    """``{metric: value}`` of one prediction vector, carrying that vector as ``predictions``.

    A plain dict everywhere it is stored or compared (results JSON sees only the values); the
    sweep reads ``predictions`` afterwards to attach bootstrap intervals and keep the
    per-example predictions, so no search method has to pass them around itself.
    """

    predictions: np.ndarray | None = None

    def __init__(
        self,
        values: dict[str, float],
        predictions: np.ndarray | None = None,
        *,
        labels: np.ndarray | None = None,
        groups: np.ndarray | None = None,
    ):
        super().__init__(values)
        self.predictions = predictions
        # Only where the scorer holds rows the caller does not (out-of-core token rows):
        # the row labels, and the sentence of each row (CIs then resample sentences).
        self.labels = labels
        self.groups = groups


def batch_metrics(
    names: Iterable[str], y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = 2
) -> list[dict[str, float]]:
    """Per-candidate ``{name: value}`` dicts for a (n, m) prediction matrix (m dicts)."""
    names = list(names)
    columns = {name: batch_metric(name, y_true, y_pred, n_classes) for name in names}
    return [{name: float(columns[name][j]) for name in names} for j in range(y_pred.shape[1])]


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return metric("accuracy", y_true, y_pred)


def f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return metric("f1", y_true, y_pred, n_classes=2)


def mcc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return metric("mcc", y_true, y_pred)


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return metric("pearson", y_true, y_pred)


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    return metric("spearman", y_true, y_pred)


METRIC_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "mcc": mcc,
    "pearson": pearson,
    "spearman": spearman,
}


def rank_key(values: np.ndarray) -> np.ndarray:
    """Scores as a ranking key: NaN (undefined, e.g. a constant prediction) sorts last."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(values), -np.inf, values)
