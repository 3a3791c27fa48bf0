"""Task metrics of many probes over chunked rows.

Selection needs the primary metric of tens to hundreds of candidates on the validation rows.
Holding their predictions would cost a float per row per candidate, so the metrics are
accumulated instead: confusion counts give accuracy, F1 and MCC exactly, and six running
sums give Pearson's r. Spearman's rank correlation has no such sums; regression candidates
are therefore *selected* by Pearson (recorded in the results), and the few probes that are
reported get their full metrics, Spearman included, from their eval predictions
(:func:`predictions`: one float per eval row per probe).
"""

from __future__ import annotations

import numpy as np

from probe.linear import SubsetFit
from probe.metrics import (
    MetricScores,
    batch_metrics,
    confusion_counts,
    f1_from_confusion,
    macro_f1_from_confusion,
    mcc_from_confusion,
)
from probe.outofcore.problem import StreamProblem

STREAMED_METRICS = ("accuracy", "f1", "mcc", "f1_macro", "pearson")
# float32 values of the candidates' gathered columns per row block: 2**21 = 8 MiB.
PREDICT_BLOCK = 1 << 21


class MetricSums:
    """Running sufficient statistics of ``n_candidates`` prediction columns."""

    def __init__(self, kind: str, n_classes: int, n_candidates: int) -> None:
        self.kind = kind
        self.n_classes = max(n_classes, 2)
        if kind == "regression":
            self.sums = np.zeros((6, n_candidates))  # n, sum p, sum y, sum pp, sum yy, sum py
        else:
            self.confusion = np.zeros((n_candidates, self.n_classes, self.n_classes), np.int64)

    def add(self, y_true: np.ndarray, predictions: np.ndarray) -> None:
        """Fold in one chunk: ``y_true`` (b,), ``predictions`` (b, m)."""
        if self.kind != "regression":
            self.confusion += confusion_counts(y_true, predictions, self.n_classes)
            return
        truth = np.asarray(y_true, dtype=np.float64)
        pred = np.asarray(predictions, dtype=np.float64)
        self.sums[0] += truth.size
        self.sums[1] += pred.sum(axis=0)
        self.sums[2] += truth.sum()
        self.sums[3] += np.einsum("nm,nm->m", pred, pred)
        self.sums[4] += truth @ truth
        self.sums[5] += truth @ pred

    def value(self, name: str) -> np.ndarray:
        """Metric ``name`` of every candidate (m,); NaN where undefined (constant predictions)."""
        if name not in STREAMED_METRICS:
            raise ValueError(f"{name} cannot be accumulated over chunks")
        if self.kind == "regression":
            n, sum_p, sum_y, sum_pp, sum_yy, sum_py = self.sums
            cov = sum_py - sum_p * sum_y / n
            var_p = sum_pp - sum_p**2 / n
            var_y = sum_yy - sum_y**2 / n
            with np.errstate(invalid="ignore", divide="ignore"):
                r = cov / np.sqrt(var_p * var_y)
            r[~(var_p * var_y > 0)] = np.nan
            return np.clip(r, -1.0, 1.0)
        if name == "accuracy":
            correct = np.trace(self.confusion, axis1=1, axis2=2)
            return correct / np.maximum(self.confusion.sum(axis=(1, 2)), 1)
        if name == "f1":
            return f1_from_confusion(self.confusion)
        if name == "f1_macro":
            return macro_f1_from_confusion(self.confusion)
        return mcc_from_confusion(self.confusion)


def selection_metric(problem: StreamProblem) -> str:
    """The metric candidates are ranked by: the primary one, or Pearson for Spearman."""
    return problem.primary_metric if problem.primary_metric in STREAMED_METRICS else "pearson"


def part_scores(problem: StreamProblem, fit: SubsetFit, part: str) -> MetricSums:
    """Accumulated metrics of every candidate of ``fit`` on ``part`` (one pass)."""
    n_candidates, size = fit.dims.shape
    sums = MetricSums(problem.kind, problem.n_classes, n_candidates)
    step = max(1, PREDICT_BLOCK // (n_candidates * (size + 1)))
    for batch in problem.batches(part):
        for start in range(0, batch.y.size, step):
            rows = slice(start, start + step)
            sums.add(batch.y[rows], fit.predict(batch.x[rows], np.float32))
    return sums


def validation_primary(problem: StreamProblem, fit: SubsetFit) -> np.ndarray:
    """Selection metric (:func:`selection_metric`) of every candidate on validation -> (m,)."""
    return part_scores(problem, fit, "validation").value(selection_metric(problem))


def metric_dicts(problem: StreamProblem, sums: MetricSums) -> list[dict[str, float]]:
    """Every task metric that streams, one dict per candidate of ``sums``."""
    names = [name for name in problem.metrics if name in STREAMED_METRICS]
    values = {name: sums.value(name) for name in names}
    n_candidates = len(values[names[0]]) if names else 0
    return [{name: float(values[name][row]) for name in names} for row in range(n_candidates)]


def streamed_scores(problem: StreamProblem, fit: SubsetFit, part: str) -> list[dict[str, float]]:
    """Every task metric that streams, per candidate of ``fit``, on ``part`` (one pass)."""
    return metric_dicts(problem, part_scores(problem, fit, part))


def predictions(
    problem: StreamProblem, fit: SubsetFit
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eval labels (n_rows,), predictions (n_rows, m) of every candidate and the example
    (sentence) of each row (n_rows,), in row order."""
    labels, columns, examples = [], [], []
    for batch in problem.batches("eval"):
        labels.append(batch.y)
        columns.append(fit.predict(batch.x))
        if batch.examples is not None:
            examples.append(batch.examples)
    groups = np.concatenate(examples) if examples else np.arange(sum(map(len, labels)))
    return np.concatenate(labels), np.concatenate(columns), groups


def eval_scores(problem: StreamProblem, fit: SubsetFit) -> list[dict[str, float]]:
    """Every task metric (Spearman included) of each candidate on the eval rows.

    The dicts are :class:`MetricScores` carrying each candidate's predictions, the row
    labels and the sentence of each row, so the sweep can attach CIs that resample whole
    sentences (:mod:`probe.stats.attach`).
    """
    labels, predicted, groups = predictions(problem, fit)
    values = batch_metrics(problem.metrics, labels, predicted, max(problem.n_classes, 2))
    return [
        MetricScores(scores, predicted[:, column], labels=labels, groups=groups)
        for column, scores in enumerate(values)
    ]
