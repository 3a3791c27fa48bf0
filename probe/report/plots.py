"""Report figures as PNG files, drawn with matplotlib from a :class:`TaskSummary`.

Canvas, colours and axis ranges come from :mod:`probe.report.figure` (Agg canvas, no
``pyplot``, matplotlib imported lazily).

Every function returns the written path, or ``None`` when the results hold nothing to draw
(the caller then says which command would produce the data).
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe.report.figure import (
    as_float,
    finite_or,
    grid_shape,
    layer_order,
    metric_label,
    new_figure,
    pooling_color,
    pooling_order,
    save,
    zoom_x,
    zoom_y,
)
from probe.report.summary import (
    SUMMARY_KS,
    LayerPoolingRow,
    TaskSummary,
    primary_eval,
)
from probe.report.uncertainty import error_bars, greedy_intervals, interval_of, row_interval

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_PAIR_DIMS = 16  # a top-pairs heatmap wider than this gets unreadable tick labels
TOP_DIMS_SHOWN = 20


@dataclass(frozen=True)
class PlotKind:
    """One figure of a task section: its file stem, caption and what to do when it is absent."""

    name: str
    title: str
    caption: str
    draw: Callable[[TaskSummary, Path], Path | None]
    missing: str


def plot_score_vs_dims(summary: TaskSummary, path: Path) -> Path | None:
    """Per layer: greedy eval curve, random-k band (mean ± sd) and full-dim line per pooling."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    rows = [
        row
        for row in summary.rows
        if row.greedy_curve or row.random_by_k or math.isfinite(row.full_eval)
    ]
    if not any(row.greedy_curve or row.random_by_k for row in rows):
        return None
    layers = layer_order(rows)
    poolings = pooling_order(rows)
    # Random baselines may be drawn for k far beyond the greedy search (e.g. k = 100); drawn to
    # scale they would squash the greedy curve into the left edge, so they share its range.
    greedy_ks = [k for row in rows for k, _ in row.greedy_curve]
    max_k = max(greedy_ks) if greedy_ks else max(k for row in rows for k in row.random_by_k)
    n_rows, n_columns = grid_shape(len(layers), 4)
    width = max(3.9 * n_columns + 0.4, 8.5)  # never narrower than the legend
    figure = new_figure(width, 3.1 * n_rows + 0.9)
    axes_grid = figure.subplots(n_rows, n_columns, sharey=True, sharex=True, squeeze=False)
    for index, axes in enumerate(axes_grid.flat):
        if index >= len(layers):
            axes.set_visible(False)
            continue
        layer = layers[index]
        for row in (row for row in rows if row.layer == layer):
            color = pooling_color(row.pooling, poolings)
            if row.random_by_k:
                ks = sorted(k for k in row.random_by_k if k <= max_k)
                means = [row.random_by_k[k].mean for k in ks]
                sds = [row.random_by_k[k].sd for k in ks]
                axes.fill_between(
                    ks,
                    [m - s for m, s in zip(means, sds, strict=True)],
                    [m + s for m, s in zip(means, sds, strict=True)],
                    color=color,
                    alpha=0.15,
                    linewidth=0,
                )
                axes.plot(ks, means, color=color, linestyle="--", linewidth=1, marker=".")
            if row.greedy_curve:
                ks, scores = zip(*row.greedy_curve, strict=True)
                by_k = greedy_intervals(row, summary.primary_metric)
                spreads = [row.spread_of(f"greedy/{k}") for k in ks]
                means = [
                    row.shown(f"greedy/{k}", score) for k, score in zip(ks, scores, strict=True)
                ]
                yerr = error_bars(means, [by_k.get(k) for k in ks], spreads)
                axes.errorbar(
                    ks, means, yerr=yerr, color=color, marker="o", markersize=3.5,
                    linewidth=1.6, elinewidth=0.8, capsize=2,
                )  # fmt: skip
            if math.isfinite(row.full_eval):
                full = row.shown("all", row.full_eval)
                axes.axhline(full, color=color, linestyle=":", linewidth=1.4)
                interval = row_interval(row, None, summary.primary_metric)
                spread = row.spread_of("all")
                band = (full - spread.sd, full + spread.sd) if spread is not None else None
                if band is None and interval is not None and interval.defined:
                    band = (interval.low, interval.high)
                if band is not None and all(math.isfinite(edge) for edge in band):
                    axes.axhspan(*band, color=color, alpha=0.08, linewidth=0)
        axes.set_title(f"layer {layer}")
        axes.set_xlim(0.5, max_k + 0.5)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axes.grid(alpha=0.3)
        if index % n_columns == 0:
            axes.set_ylabel(metric_label(summary))
        if index >= len(layers) - n_columns:  # lowest panel of its column
            axes.set_xlabel("number of dims k")
            axes.tick_params(labelbottom=True)  # sharex hid them if a panel below is unused
    handles: list[Any] = [
        Patch(color=pooling_color(pooling, poolings), label=pooling) for pooling in poolings
    ]
    bars = "mean ± sd over seeds" if summary.seeds else "95% CI"
    handles += [
        Line2D([], [], color="black", marker="o", markersize=3.5, label=f"greedy (eval, {bars})"),
        Line2D([], [], color="black", linestyle="--", marker=".", label="random k dims, mean ± sd"),
        Line2D([], [], color="black", linestyle=":", label=f"all dims (band: {bars})"),
    ]
    columns = len(handles) if width >= 12 else math.ceil(len(handles) / 2)
    figure.legend(handles=handles, loc="outside lower center", ncols=columns, frameon=False)
    figure.suptitle(f"{summary.group.title}: {metric_label(summary)} vs number of dims")
    return save(figure, path)


def score_panels(summary: TaskSummary) -> list[tuple[str, Callable[[LayerPoolingRow], float]]]:
    """(title, row → eval score) for all dims and each best-k that has scores: one panel each."""
    panels: list[tuple[str, Callable[[LayerPoolingRow], float]]] = []
    metric = summary.primary_metric
    if any(math.isfinite(row.full_eval) for row in summary.rows):
        panels.append(("all dims", lambda row: row.shown("all", row.full_eval)))
    for k in SUMMARY_KS:
        if any(k in row.best_by_k for row in summary.rows):
            label = f"best {k} dim" + ("s" if k > 1 else "")
            panels.append(
                (label, lambda row, k=k: row.shown(f"best/{k}", row.best_eval(k, metric)))
            )
    return panels


def plot_layer_pooling_heatmap(summary: TaskSummary, path: Path) -> Path | None:
    """Layer × pooling grids of the all-dims and best-k eval scores; best cell outlined."""
    from matplotlib.patches import Rectangle

    panels = score_panels(summary)
    if not panels:
        return None
    layers = layer_order(summary.rows)
    poolings = pooling_order(summary.rows)
    height = max(2.8, 0.42 * len(layers) + 1.6)
    figure = new_figure(max(0.9 * len(poolings) + 0.9, 2.6) * len(panels) + 0.3, height)
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    for axes, (label, score_of) in zip(axes_list, panels, strict=True):
        grid = [[math.nan] * len(poolings) for _ in layers]
        for row in summary.rows:
            grid[layers.index(row.layer)][poolings.index(row.pooling)] = score_of(row)
        finite = [value for line in grid for value in line if math.isfinite(value)]
        low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
        if high - low < 1e-9:
            low, high = low - 0.01, high + 0.01
        axes.imshow(grid, cmap="viridis", vmin=low, vmax=high, aspect="auto")
        for r, line in enumerate(grid):
            for c, value in enumerate(line):
                if not math.isfinite(value):
                    continue
                dark = (value - low) / (high - low) < 0.6
                axes.text(
                    c, r, f"{value:.3f}", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black",
                )  # fmt: skip
        if finite:
            best = max(
                (
                    (r, c)
                    for r, line in enumerate(grid)
                    for c, v in enumerate(line)
                    if math.isfinite(v)
                ),
                key=lambda rc: grid[rc[0]][rc[1]],
            )
            axes.add_patch(
                Rectangle(
                    (best[1] - 0.5, best[0] - 0.5), 1, 1, fill=False, edgecolor="red", linewidth=2.2
                )
            )
        axes.set_xticks(range(len(poolings)), poolings)
        axes.set_yticks(range(len(layers)), [str(layer) for layer in layers])
        axes.set_xlabel("pooling")
        axes.set_ylabel("layer")
        axes.set_title(label)
    figure.suptitle(
        f"{summary.group.title}: {metric_label(summary)} by layer and pooling\n"
        "(colour scaled per panel, best cell outlined in red)"
    )
    return save(figure, path)


def plot_pairs(summary: TaskSummary, path: Path) -> Path | None:
    """Pair scores at the layer/pooling with the best 2-dim score: D×D grid, or the top pairs."""
    row = summary.best_row(2)
    cell = summary.cell(row.layer, row.pooling, "pairs") if row else None
    if cell is None:
        candidates = [c for c in summary.cells.values() if c.method == "pairs"]
        if not candidates:
            return None
        cell = max(candidates, key=lambda c: finite_or(c.eval_score(summary.primary_metric)))
    where = f"layer {cell.layer} / {cell.pooling}"
    matrix = _pair_matrix(cell.details)
    top = [entry for entry in cell.details.get("top", []) if len(entry.get("dims", [])) == 2]
    if matrix is None and not top:
        return None
    shown = _pairs_within(top, MAX_PAIR_DIMS)
    height = 6.2 if matrix is not None else max(4.8, 0.36 * len(_dims_of(shown)) + 1.8)
    figure = new_figure(12.5 if top else 7.5, height)
    if top:
        heat_axes, bar_axes = figure.subplots(1, 2, width_ratios=[1.1, 1])
        _draw_pair_bars(bar_axes, summary, shown)
    else:
        heat_axes = figure.subplots()
    if matrix is not None:
        image = heat_axes.imshow(matrix, cmap="viridis", aspect="equal")
        heat_axes.set_title(f"all {len(matrix)} × {len(matrix)} pairs")
        label = f"pair score ({summary.primary_metric})"
    else:
        image = _draw_top_pair_grid(heat_axes, summary, shown)
        label = metric_label(summary)
    heat_axes.set_xlabel("hidden dim")
    heat_axes.set_ylabel("hidden dim")
    figure.colorbar(image, ax=heat_axes, shrink=0.8, label=label)
    figure.suptitle(f"{summary.group.title}: pairs of dims at {where}")
    return save(figure, path)


def _pairs_within(top: list[dict[str, Any]], max_dims: int) -> list[dict[str, Any]]:
    """The best pairs whose dims, together, fit on a readable grid of ``max_dims`` ticks."""
    dims: set[int] = set()
    shown = []
    for entry in top:
        new = {int(dim) for dim in entry["dims"]} - dims
        if len(dims) + len(new) > max_dims:
            break
        dims |= new
        shown.append(entry)
    return shown


def _dims_of(pairs: list[dict[str, Any]]) -> list[int]:
    return sorted({int(dim) for entry in pairs for dim in entry["dims"]})


def _draw_top_pair_grid(axes: Axes, summary: TaskSummary, shown: list[dict[str, Any]]) -> Any:
    """Symmetric grid of eval scores over the dims of the shown pairs; blank = not in the list."""
    dims = _dims_of(shown)
    grid = [[math.nan] * len(dims) for _ in dims]
    for entry in shown:
        i, j = (dims.index(int(dim)) for dim in entry["dims"])
        grid[i][j] = grid[j][i] = primary_eval(entry, summary.primary_metric)
    image = axes.imshow(grid, cmap="viridis", aspect="equal")
    labels = [str(dim) for dim in dims]
    axes.set_xticks(range(len(dims)), labels, rotation=90, fontsize=8)
    axes.set_yticks(range(len(dims)), labels, fontsize=8)
    axes.set_title(f"top {len(shown)} pairs (blank = not in top list)")
    return image


def _draw_pair_bars(axes: Axes, summary: TaskSummary, shown: list[dict[str, Any]]) -> None:
    names = [" + ".join(str(dim) for dim in entry["dims"]) for entry in shown][::-1]
    eval_scores = [primary_eval(entry, summary.primary_metric) for entry in shown][::-1]
    validation = [as_float(entry.get("validation")) for entry in shown][::-1]
    positions = list(range(len(shown)))
    axes.barh([p + 0.2 for p in positions], eval_scores, height=0.4, label=summary.eval_split)
    axes.barh([p - 0.2 for p in positions], validation, height=0.4, label="validation (selection)")
    axes.set_yticks(positions, names, fontsize=8)
    zoom_x(axes, eval_scores + validation)
    axes.set_xlabel(summary.primary_metric)
    axes.set_ylabel("pair of dims")
    axes.set_title("top pairs, ranked by validation")
    # Below the axes: inside, it would cover the bottom bars.
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2, fontsize=8, frameon=False)
    axes.grid(axis="x", alpha=0.3)


def plot_per_dim_scores(summary: TaskSummary, path: Path) -> Path | None:
    """Single-dim validation scores at the best 1-dim layer/pooling: all dims, then the top ones."""
    row = summary.best_row(1)
    cell = summary.cell(row.layer, row.pooling, "rank") if row else None
    if cell is None or not cell.details.get("per_dim_validation"):
        candidates = [
            c for c in summary.cells.values()
            if c.method == "rank" and c.details.get("per_dim_validation")
        ]  # fmt: skip
        if not candidates:
            return None
        cell = candidates[0]
    scores = [as_float(value) for value in cell.details["per_dim_validation"]]
    order = sorted(
        (dim for dim, value in enumerate(scores) if math.isfinite(value)),
        key=lambda dim: -scores[dim],
    )
    top = order[:TOP_DIMS_SHOWN]
    figure = new_figure(12.5, 4.6)
    all_axes, top_axes = figure.subplots(1, 2, width_ratios=[1.6, 1])
    colors = ["#d62728" if dim in top else "#7f7f7f" for dim in range(len(scores))]
    all_axes.bar(range(len(scores)), scores, width=1.0, color=colors)
    all_axes.set_xlim(-0.5, len(scores) - 0.5)
    zoom_y(all_axes, scores)
    all_axes.set_xlabel("hidden dim index")
    all_axes.set_ylabel(f"{summary.primary_metric} on validation (1 dim)")
    all_axes.set_title(f"all {len(scores)} dims (top {len(top)} in red)")
    all_axes.grid(axis="y", alpha=0.3)
    top_scores = [scores[dim] for dim in top][::-1]
    top_axes.barh(range(len(top)), top_scores, color="#d62728")
    top_axes.set_yticks(range(len(top)), [str(dim) for dim in top][::-1], fontsize=8)
    zoom_x(top_axes, top_scores)
    top_axes.set_xlabel(f"{summary.primary_metric} on validation (1 dim)")
    top_axes.set_ylabel("hidden dim")
    top_axes.set_title(f"top {len(top)} single dims")
    top_axes.grid(axis="x", alpha=0.3)
    figure.suptitle(f"{summary.group.title}: each dim alone at layer {cell.layer} / {cell.pooling}")
    return save(figure, path)


def plot_pooling_comparison(summary: TaskSummary, path: Path) -> Path | None:
    """cls vs mean vs maxnorm across layers, for all dims and the best 1/2/3-dim subsets."""
    from matplotlib.ticker import MaxNLocator

    panels = score_panels(summary)
    poolings = pooling_order(summary.rows)
    probed_layers = layer_order(summary.rows)
    if not panels or len(poolings) < 2:
        return None
    figure = new_figure(3.6 * len(panels) + 0.4, 3.8)
    axes_list = figure.subplots(1, len(panels), squeeze=False)[0]
    for axes, (label, score_of), k in zip(axes_list, panels, _panel_ks(summary), strict=True):
        for pooling in poolings:
            points = sorted(
                (row.layer, score_of(row), row) for row in summary.rows if row.pooling == pooling
            )
            points = [(layer, value, row) for layer, value, row in points if math.isfinite(value)]
            if points:
                layers, values, rows = zip(*points, strict=True)
                color = pooling_color(pooling, poolings)
                intervals = [row_interval(row, k, summary.primary_metric) for row in rows]
                key = "all" if k is None else f"best/{k}"
                spreads = [row.spread_of(key) for row in rows]
                axes.errorbar(
                    layers, values, yerr=error_bars(list(values), intervals, spreads),
                    marker="o", color=color, label=pooling, elinewidth=0.8, capsize=2,
                )  # fmt: skip
        axes.set_title(label)
        axes.set_xlabel("layer")
        if len(probed_layers) <= 13:
            axes.set_xticks(probed_layers)  # only the layers that were probed
        else:
            axes.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        axes.grid(alpha=0.3)
    axes_list[0].set_ylabel(metric_label(summary))
    handles, labels = axes_list[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(poolings), frameon=False)
    figure.suptitle(f"{summary.group.title}: token vector (pooling) compared across layers")
    return save(figure, path)


def _panel_ks(summary: TaskSummary) -> list[int | None]:
    """The k of each :func:`score_panels` panel (None = all dims), in the same order."""
    ks: list[int | None] = []
    if any(math.isfinite(row.full_eval) for row in summary.rows):
        ks.append(None)
    ks += [k for k in SUMMARY_KS if any(k in row.best_by_k for row in summary.rows)]
    return ks


def plot_finetune(summary: TaskSummary, path: Path) -> Path | None:
    """Frozen-encoder probe vs fine-tuning run, side by side for each fine-tuning result."""
    if not summary.finetunes:
        return None
    metric = summary.primary_metric
    labels = [
        "\n".join(textwrap.wrap(result.label, 24))
        + f"\n{_encoder_text(result.frozen_encoder)}layer {result.layer} / {result.pooling}"
        for result in summary.finetunes
    ]
    series = (
        ("frozen probe, same dims (fewdims probe)", "#7f7f7f"),
        ("fine-tuning run", "#9467bd"),
    )
    values = [(result.frozen_probe_eval, result.shown(metric)) for result in summary.finetunes]
    figure = new_figure(max(5.5, 2.4 * len(labels) + 1.5), 4.8)
    axes = figure.subplots()
    for index, (name, color) in enumerate(series):
        xs, ys = [], []
        for position, pair in enumerate(values):
            present = [i for i, value in enumerate(pair) if math.isfinite(value)]
            if index in present:
                # Two bars share a slot side by side; a lone bar sits in the middle.
                xs.append(position + (0.0 if len(present) == 1 else (index - 0.5) * 0.4))
                ys.append(pair[index])
        if ys:
            yerr = None
            if index == 1:  # the runs: ± sd over seeds, else their CI (kept predictions)
                tuned = [r for r, pair in zip(summary.finetunes, values, strict=True)
                         if math.isfinite(pair[1])]  # fmt: skip
                yerr = error_bars(
                    ys,
                    [interval_of(r.cell, "eval", metric) for r in tuned],
                    [r.spread_of() for r in tuned],
                )
            bars = axes.bar(xs, ys, width=0.4, label=name, color=color, yerr=yerr, capsize=3)
            axes.bar_label(bars, labels=[f"{v:.3f}" for v in ys], fontsize=8, padding=2)
    axes.set_xticks(range(len(labels)), labels, fontsize=8)
    axes.set_xlim(-0.6, len(labels) - 0.4)
    zoom_y(axes, [value for pair in values for value in pair], headroom=0.12, min_span=0.1)
    axes.set_ylabel(metric_label(summary))
    # Outside the axes, so it can never cover a bar or its printed value.
    figure.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    axes.grid(axis="y", alpha=0.3)
    axes.set_title(f"{summary.group.title}: frozen probe vs fine-tuning")
    return save(figure, path)


PLOT_KINDS: tuple[PlotKind, ...] = (
    PlotKind(
        "score_vs_dims",
        "Score vs number of dims",
        "Score vs number of dims per layer: greedy selection (solid, 95% CI error bars), "
        "random k-dim subsets (dashed mean, band ± 1 sd) and all dims (dotted, band = its "
        "95% CI). Results repeated over seeds show the mean over seeds, with ± 1 sd over "
        "seeds as error bars and band.",
        plot_score_vs_dims,
        "No greedy or random-k results; re-run `fewdims probe` including the `greedy` and "
        "`random` methods to get the score-vs-dims curves.",
    ),
    PlotKind(
        "layer_pooling_heatmap",
        "Layer × pooling grid",
        "Layer × pooling grid of eval scores (all dims and best k-dim subsets); the best cell "
        "of each grid is outlined in red.",
        plot_layer_pooling_heatmap,
        "No full-dim or subset results to grid by layer and pooling.",
    ),
    PlotKind(
        "pairs",
        "Dim pairs",
        "Pairs of dims at the layer/pooling with the best 2-dim score.",
        plot_pairs,
        "No pair results; re-run `fewdims probe` including the `pairs` method.",
    ),
    PlotKind(
        "per_dim_scores",
        "Per-dimension scores",
        "Each hidden dim alone (validation score of a 1-dim probe) at the layer/pooling with "
        "the best 1-dim score.",
        plot_per_dim_scores,
        "No per-dimension scores; re-run `fewdims probe` including the `rank` method.",
    ),
    PlotKind(
        "pooling_comparison",
        "Pooling comparison",
        "Token vector comparison: cls vs mean vs maxnorm pooling across layers (error bars: "
        "95% bootstrap CI over eval examples; mean ± 1 sd over seeds for results repeated "
        "over seeds).",
        plot_pooling_comparison,
        "Only one pooling was probed; probe more than one (cls, mean, maxnorm) to compare them.",
    ),
    PlotKind(
        "finetune",
        "Frozen vs fine-tuned",
        "Frozen-encoder probe (from `fewdims probe`) vs the fine-tuning run on the same dims "
        "(error bars: 95% CI, or ± 1 sd over seeds for a run repeated over seeds, whose bar "
        "is the mean); the y axis starts near the lowest bar, so read the printed values.",
        plot_finetune,
        "No fine-tuning results for this task; run `fewdims finetune` with the selected dims "
        "and pass its results file to `fewdims report` to add this comparison.",
    ),
)


def _encoder_text(frozen_encoder: bool | None) -> str:
    if frozen_encoder is None:
        return ""
    return "encoder frozen, " if frozen_encoder else "encoder trained, "


def _pair_matrix(details: dict[str, Any]) -> list[list[float]] | None:
    """A full D×D pair-score grid if the pairs method stored one (``details["pair_matrix"]``)."""
    matrix = details.get("pair_matrix")
    is_grid = isinstance(matrix, list) and bool(matrix)
    is_square = is_grid and all(
        isinstance(line, list) and len(line) == len(matrix) for line in matrix
    )
    return [[as_float(value) for value in line] for line in matrix] if is_square else None
