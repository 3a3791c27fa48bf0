"""Bootstrap intervals and kept predictions for a search method's outcome.

Search methods score the eval rows through ``Problem.all_metrics``, which hands back
:class:`~probe.metrics.MetricScores` carrying each prediction vector. After a method has run,
the sweep calls :func:`attach_uncertainty`: every distinct eval prediction vector of the
outcome (the cell's own scores, every step, every top-list entry; equal vectors once) gets a
CI for every task metric (rank metrics: see below) from one shared resample matrix, and the
vectors a report can show are kept for the predictions sidecar. Keys follow
``probe.results``: ``"eval"``, ``"steps/<i>"``, ``"top/<i>"``.

Why only the first ``TOP_PREDICTIONS_KEPT`` top-list vectors are kept: the report's best
subset per size is chosen on validation, and a top list is sorted by validation, so entries
further down are never shown; their CIs are still computed and stored (but for Spearman's).
This keeps a 20k-row SST-2 sidecar well under a megabyte.

Rank metrics (Spearman) get a CI on each cell's own eval score only. Their CI costs one
running sum over the (n_eval, B) resample counts per vector (:mod:`probe.stats.spearman`),
6-15 times a Pearson CI (as measured under varying load), and a sweep's steps and top lists
hold ~60 vectors per (layer, pooling) slice: on every kept vector the CIs were 14-16% of an
STS-B sweep's time, on the eval scores alone they are 5%
(``reports/benchmarks/bootstrap-minilm-glue.md``). No report shows
a Spearman CI (reports show the primary metric's), and every step and kept top-list vector
keeps its predictions, so :func:`probe.report.uncertainty.interval_of` computes any of them
on demand. Steps and top-list entries carry every other metric's CI.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from probe.metrics import MetricScores
from probe.search.base import MethodOutcome
from probe.stats.bootstrap import (
    BootstrapSpec,
    Resamples,
    draw_resamples,
    intervals_to_records,
    metric_intervals,
    n_units,
)

TOP_PREDICTIONS_KEPT = 5
# Metrics whose resampled value needs the resample's ranks: CIs on the cell's own eval score.
RANK_METRICS = frozenset({"spearman"})
DRAW_SCORES = "draw_scores"


@dataclass
class EvalSet:
    """One eval set's labels, resampling unit and resample weights, shared by all its cells.

    ``groups`` (n_rows,): the sentence of each row for token rows (resampled by sentence);
    None when every row is its own example. The resample matrix is drawn on first use.
    """

    labels: np.ndarray
    metrics: tuple[str, ...]
    n_classes: int
    spec: BootstrapSpec
    groups: np.ndarray | None = None
    _weights: Resamples | None = field(default=None, repr=False)

    @property
    def weights(self) -> Resamples | None:
        """The shared resamples; None when there are too few units for a CI."""
        if n_units(len(self.labels), self.groups) < self.spec.min_examples:
            return None
        if self._weights is None:
            self._weights = draw_resamples(len(self.labels), self.spec, self.groups)
        return self._weights


def eval_set_from_scores(
    outcome: MethodOutcome, metrics: tuple[str, ...], n_classes: int, spec: BootstrapSpec
) -> EvalSet | None:
    """The eval set carried by an outcome's own scores (out-of-core slices, where only the
    scorer has read the eval rows); None when they carry no labels."""
    for _, scores in eval_records(outcome):
        if isinstance(scores, MetricScores) and scores.labels is not None:
            return EvalSet(scores.labels, metrics, n_classes, spec, scores.groups)
    return None


def eval_records(outcome: MethodOutcome) -> Iterator[tuple[str, Any]]:
    """``(key, eval scores)`` of every record of an outcome that holds eval scores."""
    yield "eval", outcome.scores.get("eval")
    for index, step in enumerate(outcome.steps):
        if isinstance(step, dict):
            yield f"steps/{index}", step.get("eval")
    for index, record in enumerate(outcome.details.get("top") or []):
        if isinstance(record, dict):
            yield f"top/{index}", record.get("eval")


def _kept(key: str) -> bool:
    if key.startswith("top/"):
        return int(key.split("/")[1]) < TOP_PREDICTIONS_KEPT
    return True


def _gets_rank_metrics(key: str) -> bool:
    """Records whose rank-metric (Spearman) CIs are stored: the cell's own eval score."""
    return key == "eval"


def attach_uncertainty(outcome: MethodOutcome, eval_set: EvalSet) -> None:
    """Fill ``outcome.intervals`` and ``outcome.predictions`` (see the module docstring).

    Per-draw random-baseline scores (``steps[i]["draw_scores"]``) move from the step
    into ``predictions["steps/<i>/draw_scores"]``, so the JSON keeps only their summary.
    """
    for index, step in enumerate(outcome.steps):
        if isinstance(step, dict) and DRAW_SCORES in step:
            draws = np.asarray(step.pop(DRAW_SCORES), dtype=np.float32)
            outcome.predictions[f"steps/{index}/{DRAW_SCORES}"] = draws
    records = [
        (key, scores)
        for key, scores in eval_records(outcome)
        if isinstance(scores, MetricScores) and scores.predictions is not None
    ]
    if not records:
        return
    # one column per distinct vector: a method's eval record often repeats one of its steps
    column_of_vector: dict[tuple[str, bytes], int] = {}
    column_of: dict[int, int] = {}
    columns = []
    for _, scores in records:
        vector = np.asarray(scores.predictions)
        content = (vector.dtype.str, vector.tobytes())
        if content not in column_of_vector:
            column_of_vector[content] = len(columns)
            columns.append(vector)
        column_of[id(scores)] = column_of_vector[content]
    matrix = np.stack(columns, axis=1)  # (n_eval, distinct vectors)
    settings = {
        "n_classes": eval_set.n_classes,
        "groups": eval_set.groups,
        "weights": eval_set.weights,
    }
    cheap = [name for name in eval_set.metrics if name not in RANK_METRICS]
    intervals = metric_intervals(cheap, eval_set.labels, matrix, eval_set.spec, **settings)
    ranked = [name for name in eval_set.metrics if name in RANK_METRICS]
    ranked_intervals = {}
    if ranked:
        ranked_columns = sorted(
            {column_of[id(scores)] for key, scores in records if _gets_rank_metrics(key)}
        )
        extras = metric_intervals(
            ranked, eval_set.labels, matrix[:, ranked_columns], eval_set.spec, **settings
        )
        ranked_intervals = dict(zip(ranked_columns, extras, strict=True))
    for key, scores in records:
        column = column_of[id(scores)]
        found = intervals[column]
        if _gets_rank_metrics(key) and column in ranked_intervals:
            found = {**found, **ranked_intervals[column]}
        outcome.intervals[key] = intervals_to_records(found)
        if _kept(key):
            outcome.predictions[key] = scores.predictions
    outcome.predictions["labels"] = eval_set.labels
    if eval_set.groups is not None:
        outcome.predictions["groups"] = eval_set.groups
