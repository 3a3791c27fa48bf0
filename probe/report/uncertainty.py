"""Confidence intervals and predictions of report entries, read from the results cells.

A cell stores one interval per eval record (``cell.intervals[key][metric]``) and, since
results version 2, the predictions behind it (``cell.predictions[key]`` plus ``"labels"``).
This module is the report's one way to get them and to print a score with its interval, so
every table shows ``0.812 [0.786, 0.838]`` the same way. An interval missing from the file
(older results) but recomputable from kept predictions is computed here with the file's
bootstrap settings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from probe.report.inputs import LoadedResults
from probe.results import ResultCell
from probe.stats.bootstrap import (
    BootstrapSpec,
    Interval,
    interval_text,
    metric_intervals,
    records_to_intervals,
)

MISSING = "—"
HOW_TO_GET_CIS = (
    "re-run the experiment with this fewdims (`fewdims probe` / `fewdims finetune` keep "
    "per-example predictions and write 95% CIs by default) and render the report again"
)


@dataclass(frozen=True)
class Scored:
    """One eval vector: its labels, predictions and (for token rows) sentence ids."""

    labels: np.ndarray
    predictions: np.ndarray
    groups: np.ndarray | None = None


def interval_of(
    cell: ResultCell | None, key: str, metric: str, spec: BootstrapSpec | None = None
) -> Interval | None:
    """The stored interval, else one computed from kept predictions, else None."""
    if cell is None:
        return None
    stored = records_to_intervals(cell.intervals.get(key)).get(metric)
    if stored is not None:
        return stored
    scored = scored_of(cell, key)
    if scored is None:
        return None
    return metric_intervals(
        [metric], scored.labels, scored.predictions, spec or BootstrapSpec(), groups=scored.groups
    )[0][metric]


def scored_of(cell: ResultCell | None, key: str) -> Scored | None:
    """Labels and predictions of record ``key`` of ``cell``, when the results kept them."""
    if cell is None:
        return None
    predictions = cell.predictions.get(key)
    labels = cell.predictions.get("labels")
    if predictions is None or labels is None:
        return None
    predictions = np.asarray(predictions)
    if predictions.dtype.kind == "f":
        predictions = predictions.astype(np.float64)
    return Scored(np.asarray(labels), predictions, cell.predictions.get("groups"))


def score_with_interval(value: float, interval: Interval | None) -> str:
    """``0.812 [0.786, 0.838]``; ``0.812`` without an interval; an em dash when missing."""
    if not math.isfinite(value):
        return MISSING
    text = interval_text(interval)
    return f"{value:.3f} {text}" if text else f"{value:.3f}"


def files_without_predictions(files: list[LoadedResults]) -> list[LoadedResults]:
    """Files whose cells carry neither intervals nor predictions (old or stripped results)."""
    return [
        item
        for item in files
        if not item.results.has_predictions
        and not any(cell.intervals for cell in item.results.cells)
    ]
