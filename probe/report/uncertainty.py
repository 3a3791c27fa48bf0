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
from probe.report.summary import LayerPoolingRow
from probe.results import ResultCell
from probe.seeds import SeedSpread
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
    """Files with eval scores but neither intervals nor predictions (old or stripped results)."""
    return [
        item
        for item in files
        if any(cell.scores.get("eval") for cell in item.results.cells)
        and not item.results.has_predictions
        and not any(cell.intervals for cell in item.results.cells)
    ]


def row_interval(row: LayerPoolingRow, k: int | None, metric: str) -> Interval | None:
    """The CI of a row's all-dims score (``k`` None) or of its best k-dim subset."""
    if k is None:
        return interval_of(row.full_cell, "eval", metric)
    subset = row.best_by_k.get(k)
    return interval_of(subset.cell, subset.key, metric) if subset else None


def greedy_intervals(row: LayerPoolingRow, metric: str) -> dict[int, Interval]:
    """CI of each greedy step's eval score, by k (steps without one are left out)."""
    cell = row.greedy_cell
    found: dict[int, Interval] = {}
    for index, step in enumerate(cell.steps if cell else []):
        if isinstance(step, dict) and "k" in step:
            interval = interval_of(cell, f"steps/{index}", metric)
            if interval is not None and interval.defined:
                found[int(step["k"])] = interval
    return found


def error_bars(
    values: list[float],
    intervals: list[Interval | None],
    spreads: list[SeedSpread | None] | None = None,
) -> np.ndarray | None:
    """matplotlib ``yerr`` (2, n) around values; None when no point has a bar.

    A point with a spread over seeds (two or more) gets ± 1 sample sd; otherwise its
    interval's distance below and above the value. ``values`` of spread points are their
    means (the caller's to pass).
    """
    spreads = spreads or [None] * len(values)
    has_sd = [spread is not None and spread.n > 1 for spread in spreads]
    has_ci = [interval is not None and interval.defined for interval in intervals]
    if not any(has_sd) and not any(has_ci):
        return None
    below, above = [], []
    for value, interval, spread, sd_bar in zip(values, intervals, spreads, has_sd, strict=True):
        if sd_bar and spread is not None:
            below.append(spread.sd)
            above.append(spread.sd)
            continue
        defined = interval is not None and interval.defined and math.isfinite(value)
        below.append(max(value - interval.low, 0.0) if defined else 0.0)
        above.append(max(interval.high - value, 0.0) if defined else 0.0)
    return np.array([below, above])
