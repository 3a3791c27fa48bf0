"""Shared figure plumbing for the report plots: canvas, colours, axis ranges, small helpers.

Figures are ``matplotlib.figure.Figure`` objects on an Agg canvas, never ``pyplot``: no global
backend is switched and no window can open, even inside a notebook. matplotlib is imported
inside the functions so that importing :mod:`probe.report` stays cheap.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.report.summary import LayerPoolingRow, TaskSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# One colour per pooling, the same in every figure of a report.
POOLING_COLORS = {"cls": "#1f77b4", "mean": "#ff7f0e", "maxnorm": "#2ca02c", "last": "#9467bd"}
FALLBACK_COLORS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
DPI = 110


def metric_label(summary: TaskSummary) -> str:
    """Axis label for eval scores, e.g. ``accuracy on dev``."""
    return f"{summary.primary_metric} on {summary.eval_split}"


def new_figure(width: float, height: float) -> Figure:
    """A constrained-layout figure (size in inches) on its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` as PNG at ``DPI`` (creating the folder) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return path


def pooling_color(pooling: str, poolings: list[str]) -> str:
    """The pooling's fixed colour; unknown poolings get fallback colours in order seen."""
    if pooling in POOLING_COLORS:
        return POOLING_COLORS[pooling]
    extras = [name for name in poolings if name not in POOLING_COLORS]
    return FALLBACK_COLORS[extras.index(pooling) % len(FALLBACK_COLORS)]


def pooling_order(rows: list[LayerPoolingRow]) -> list[str]:
    """Poolings in row order (cls, mean, maxnorm first, as the summary sorts them)."""
    seen: list[str] = []
    for row in rows:
        if row.pooling not in seen:
            seen.append(row.pooling)
    return seen


def layer_order(rows: list[LayerPoolingRow]) -> list[int]:
    """Probed layers, ascending."""
    return sorted({row.layer for row in rows})


def grid_shape(count: int, max_columns: int) -> tuple[int, int]:
    """(rows, columns) of a panel grid holding ``count`` panels."""
    columns = min(count, max_columns)
    return math.ceil(count / columns), columns


def zoom_y(axes: Axes, values: list[float], headroom: float = 0.08, min_span: float = 0.02) -> None:
    low, high = zoom_range(values, headroom, min_span)
    axes.set_ylim(low, high)


def zoom_x(axes: Axes, values: list[float]) -> None:
    low, high = zoom_range(values, 0.08)
    axes.set_xlim(low, high)


def zoom_range(values: list[float], headroom: float, min_span: float = 0.02) -> tuple[float, float]:
    """Axis limits around the data: scores differ in the second decimal, so 0 is not shown."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    span = max(high - low, min_span)
    return low - 0.15 * span, high + headroom * span + 0.1 * span


def as_float(value: Any) -> float:
    """A stored number as float; null or unreadable → NaN (drawn as a gap)."""
    try:
        return math.nan if value is None else float(value)
    except (TypeError, ValueError):
        return math.nan


def finite_or(value: float, default: float = -math.inf) -> float:
    """``value``, or ``default`` when it is NaN/inf (for max() over scores)."""
    return value if math.isfinite(value) else default
