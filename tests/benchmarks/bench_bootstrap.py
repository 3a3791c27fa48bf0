"""Benchmark: what bootstrap CIs (and kept predictions) add to a probe sweep's time.

Not a test: it measures and writes ``reports/benchmarks/<name>.{json,md}``. Run with::

    nice -n 10 python tests/benchmarks/bench_bootstrap.py --name bootstrap-minilm-glue \\
        --sweep stsb TRAIN.h5 DEV.h5 --sweep qnli TRAIN.h5 DEV.h5 ... [--layers 3,6]
        [--previous] [--off] [--repeats 1] [--from-results FILE ...]

What is measured:

* the CI kernel alone (median of 5), the current code next to the previous algorithm, which
  this file keeps as the reference (same resamples, so the resampled values are compared
  too): 1,000 resamples x 872 examples x 150 prediction vectors for accuracy, F1 and MCC (an
  SST-2 slice's records), 1,000 x 1,500 x 60 for Pearson and Spearman (STS-B). The previous
  Spearman ranked every resample column by column (a (B, n) gather, cumulative sum and
  three row-wise products per column); the naive per-resample ``scipy.stats.spearmanr`` on
  the duplicated rows is timed on 20 resamples and scaled to 1,000. Drawing the 1,000 x n
  counts is timed apart: the current code draws once per eval set and process;
* per ``--sweep TASK TRAIN EVAL``: the default methods over ``--layers`` x every stored
  pooling with CIs on (1,000 resamples, every metric of every eval record), ``jobs=1``; the
  CI share is the summed ``details["ci_seconds"]`` over the summed method seconds plus slice
  loading, taken within one run (so it is less exposed to the machine's load changing than
  a wall-time ratio). ``--previous`` also runs each sweep with Spearman CIs on every kept
  vector (the previous policy, current kernels: "kept") and with the previous code patched
  in (previous Spearman and Pearson kernels and policy, a fresh draw per (layer, pooling)
  group: "previous"); ``--off`` runs it with CIs off, for the wall-time ratio;
* with ``--from-results FILE ...``: the same within-run share in finished sweeps (e.g. the
  ``reports/minilm-glue`` results, made by the code of their time), per file, with no run.

The machine is shared; the load average at start and end is recorded beside the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats

import probe.stats.attach as attach
import probe.stats.bootstrap as bootstrap
from probe.stats.bootstrap import BootstrapSpec, Resamples, draw_resamples, weighted_metric
from probe.sweep import SweepSpec, run_sweep

OUT = Path("reports/benchmarks")
KERNEL_REPEATS = 5


# --- the previous algorithms (reference) ------------------------------------------------


def previous_weighted_ranks(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mid-ranks (B, n) of ``values`` in every resample: one (B, n) cumulative sum."""
    order, sorted_ranks = previous_sorted_ranks(values, weights)
    ranks = np.empty_like(weights)
    ranks[:, order] = sorted_ranks
    return ranks


def previous_sorted_ranks(values: np.ndarray, weights: np.ndarray):
    order = np.argsort(values, kind="stable")
    sorted_values = values[order]
    new_value = np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    sorted_weights = weights[:, order]
    if new_value.all():
        return order, np.cumsum(sorted_weights, axis=1) - (sorted_weights - 1.0) / 2.0
    group_weight = np.add.reduceat(sorted_weights, np.flatnonzero(new_value), axis=1)
    mid_rank = np.cumsum(group_weight, axis=1) - (group_weight - 1.0) / 2.0
    return order, mid_rank[:, np.cumsum(new_value) - 1]


def previous_pearson_rows(true_ranks, pred_ranks, weights):
    totals = weights.sum(axis=1)
    weighted_true = weights * true_ranks
    mean_x = weighted_true.sum(axis=1) / totals
    mean_y = np.einsum("bn,bn->b", weights, pred_ranks) / totals
    cov = np.einsum("bn,bn->b", weighted_true, pred_ranks) / totals - mean_x * mean_y
    var_x = np.einsum("bn,bn->b", weighted_true, true_ranks) / totals - mean_x**2
    var_y = np.einsum("bn,bn,bn->b", weights, pred_ranks, pred_ranks) / totals - mean_y**2
    return bootstrap._correlation(cov, var_x, var_y)


def previous_spearman(y_true: np.ndarray, predictions: np.ndarray, resamples: Resamples):
    """The Spearman kernel before ``probe.stats.spearman``: rank per column, (B, n) passes."""
    weights = np.asarray(resamples.row_weights(), dtype=np.float64)
    true_ranks = previous_weighted_ranks(np.asarray(y_true, np.float64), weights)
    columns = []
    for column in range(predictions.shape[1]):
        order, sorted_ranks = previous_sorted_ranks(
            np.asarray(predictions[:, column], np.float64), weights
        )
        columns.append(previous_pearson_rows(true_ranks[:, order], sorted_ranks, weights[:, order]))
    return np.stack(columns, axis=1)


def previous_pearson(y_true: np.ndarray, predictions: np.ndarray, resamples: Resamples):
    """The Pearson kernel before: six (B, n) @ (n, .) products per call."""
    x = (y_true - y_true.mean())[:, None]
    y = predictions.astype(np.float64) - predictions.mean(axis=0, dtype=np.float64)
    totals = resamples.weighted_sum(np.ones_like(x))
    mean_x = resamples.weighted_sum(x) / totals
    mean_y = resamples.weighted_sum(y) / totals
    cov = resamples.weighted_sum(x * y) / totals - mean_x * mean_y
    var_x = resamples.weighted_sum(x * x) / totals - mean_x**2
    var_y = resamples.weighted_sum(y * y) / totals - mean_y**2
    return bootstrap._correlation(cov, var_x, var_y)


def naive_spearman(y_true: np.ndarray, predictions: np.ndarray, counts: np.ndarray):
    """scipy.stats.spearmanr of the duplicated rows of every resample -> (B, m)."""
    rho = np.empty((counts.shape[0], predictions.shape[1]))
    for resample, row_counts in enumerate(counts):
        rows = np.repeat(np.arange(y_true.size), row_counts.astype(int))
        for column in range(predictions.shape[1]):
            rho[resample, column] = stats.spearmanr(y_true[rows], predictions[rows, column])[0]
    return rho


@contextlib.contextmanager
def spearman_on_kept_vectors() -> Iterator[None]:
    """The previous policy: Spearman CIs on every vector whose predictions are kept (the
    steps and the first top-list entries too), not on the cell's eval score alone."""
    current = attach._gets_rank_metrics
    attach._gets_rank_metrics = attach._kept
    try:
        yield
    finally:
        attach._gets_rank_metrics = current


@contextlib.contextmanager
def previous_algorithms() -> Iterator[None]:
    """The previous code: its kernels and policy, and a fresh draw for every eval set."""
    current = (bootstrap._weighted_spearman, bootstrap._weighted_pearson, attach.draw_resamples)

    def fresh_draw(*args, **kwargs):
        bootstrap._last_draw = None
        return current[2](*args, **kwargs)

    bootstrap._weighted_spearman, bootstrap._weighted_pearson = previous_spearman, previous_pearson
    attach.draw_resamples = fresh_draw
    try:
        with spearman_on_kept_vectors():
            yield
    finally:
        bootstrap._weighted_spearman, bootstrap._weighted_pearson = current[:2]
        attach.draw_resamples = current[2]


# --- kernels -----------------------------------------------------------------------------


def median_seconds(call: Callable[[], object], repeats: int = KERNEL_REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def kernel_rows() -> dict[str, dict[str, float]]:
    """Current vs previous seconds (median of 5) and the largest difference of the values."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 872)
    predicted = np.where(rng.random((872, 150)) < 0.8, labels[:, None], 1 - labels[:, None])
    targets = np.round(rng.normal(size=1500) * 1.2 + 2.5, 1)  # STS-B-like: ties in labels
    values = targets[:, None] + rng.normal(size=(1500, 60))
    spec = BootstrapSpec()
    rows: dict[str, dict[str, float]] = {}
    bootstrap._last_draw = None
    rows["draw_1000x1500"] = {"current": median_seconds(lambda: draw_fresh(1500, spec))}
    classification = draw_resamples(872, spec)
    regression = draw_resamples(1500, spec)

    def classification_metrics():
        return np.stack(
            [weighted_metric(name, labels, predicted, classification) for name in ("accuracy", "f1", "mcc")]
        )  # fmt: skip

    rows["classification_872x150"] = {"current": median_seconds(classification_metrics)}
    pearson = weighted_metric("pearson", targets, values, regression)
    before = previous_pearson(targets, values, regression)
    rows["pearson_1500x60"] = {
        "current": median_seconds(lambda: weighted_metric("pearson", targets, values, regression)),
        "previous": median_seconds(lambda: previous_pearson(targets, values, regression)),
        "max_abs_difference": float(np.nanmax(np.abs(pearson - before))),
    }

    def spearman_first_call():  # the true-value ranks computed, as for a new eval set
        return weighted_metric("spearman", targets, values, Resamples(regression.counts))

    spearman = spearman_first_call()
    before = previous_spearman(targets, values, regression)
    naive = naive_spearman(targets, values, regression.counts[:20])
    rows["spearman_1500x60"] = {
        "current": median_seconds(spearman_first_call),
        "current_ranks_kept": median_seconds(
            lambda: weighted_metric("spearman", targets, values, regression)
        ),
        "previous": median_seconds(lambda: previous_spearman(targets, values, regression), 3),
        "naive_scipy_per_resample": median_seconds(
            lambda: naive_spearman(targets, values, regression.counts[:20]), 1
        )
        * (spec.n_resamples / 20),
        "max_abs_difference": float(np.nanmax(np.abs(spearman - before))),
        "max_abs_difference_naive": float(np.nanmax(np.abs(spearman[:20] - naive))),
    }
    return rows


def draw_fresh(n_rows: int, spec: BootstrapSpec) -> Resamples:
    bootstrap._last_draw = None
    return draw_resamples(n_rows, spec)


# --- sweeps ------------------------------------------------------------------------------


def sweep_seconds(spec: SweepSpec) -> dict[str, float]:
    """Wall seconds of one sweep, its summed CI seconds and summed method + load seconds."""
    bootstrap._last_draw = None  # every sweep starts as a fresh process would
    started = time.perf_counter()
    results = run_sweep(spec)
    wall = time.perf_counter() - started
    return {"wall": wall, **cell_shares(results.cells)}


def cell_shares(cells) -> dict[str, float]:
    ci = sum(cell.details.get("ci_seconds", 0.0) for cell in cells)
    method = sum(cell.seconds for cell in cells)
    load = sum(
        {(c.layer, c.pooling): c.details.get("prepare_seconds", 0.0) for c in cells}.values()
    )
    work = method + load
    return {
        "cells": len(cells),
        "ci_seconds": ci,
        "method_seconds": method,
        "load_seconds": load,
        "work_seconds": work,
        "share": ci / work if work else float("nan"),
    }


def results_share(path: str) -> dict[str, float]:
    """CI seconds against method + load seconds recorded in a finished results file."""
    from probe.results import ResultsFile

    return cell_shares(ResultsFile.load(path).cells)


def run_task(
    args: argparse.Namespace, train: str, evaluation: str, layers: tuple[int, ...]
) -> dict[str, list[dict[str, float]]]:
    """The sweep of one task in the requested modes, alternating their order per repeat."""
    current = SweepSpec(train, evaluation, layers=layers, jobs=1)
    modes = {"current": (current, contextlib.nullcontext)}
    if args.previous:
        modes["kept"] = (current, spearman_on_kept_vectors)
        modes["previous"] = (current, previous_algorithms)
    if args.off:
        modes["off"] = (replace(current, bootstrap=None), contextlib.nullcontext)
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for repeat in range(args.repeats):
        names = list(modes) if repeat % 2 == 0 else list(reversed(modes))
        for mode in names:
            spec, patch = modes[mode]
            with patch():
                runs[mode].append(sweep_seconds(spec))
    return runs


# --- report ------------------------------------------------------------------------------


def summary(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs) if runs else float("nan")


def markdown(record: dict) -> list[str]:
    kernels = record["kernels"]
    lines = [
        "# Bootstrap CIs: cost in a probe sweep",
        "",
        "CIs: 1,000 resamples, every metric of every eval record (Spearman: each cell's own "
        "eval score; steps and top-list entries keep the predictions that give theirs on "
        "demand). Current code next to the previous algorithm, which the benchmark keeps as "
        "the reference and runs in the same session.",
        "",
        "## Kernels (median of 5; 1,000 resamples)",
        "",
        "| kernel | current | previous | previous / current | max abs difference |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, row in kernels.items():
        previous = row.get("previous")
        lines.append(
            f"| {name} | {row['current']:.3f} s | "
            + (
                f"{previous:.3f} s | {previous / row['current']:.1f}x | "
                if previous
                else "— | — | "
            )
            + (f"{row['max_abs_difference']:.1e} |" if "max_abs_difference" in row else "— |")
        )
    spearman = kernels["spearman_1500x60"]
    lines += [
        "",
        f"Spearman with the true-value ranks kept from an earlier call on the same eval set "
        f"(every call of a sweep after its first): {spearman['current_ranks_kept']:.3f} s. "
        f"Naive per-resample `scipy.stats.spearmanr` on the duplicated rows: "
        f"{spearman['naive_scipy_per_resample']:.0f} s (20 resamples timed, scaled to 1,000), "
        f"max abs difference from the current kernel on them "
        f"{spearman['max_abs_difference_naive']:.1e}. Classification kernels are unchanged "
        "(accuracy, F1, MCC: one product per metric over all vectors); the draw is now made "
        "once per eval set and process instead of once per (layer, pooling) group.",
        "",
        "## CI share of whole sweeps",
        "",
        f"Default methods, layers {','.join(map(str, record['layers']))} × every stored "
        f"pooling, `jobs=1`, {record['repeats']} run(s) per mode; share = CI seconds / "
        "(method + slice-loading seconds), summed over the cells of one run.",
        "",
        "Columns: **current** code; **kept**: current kernels with Spearman CIs on every "
        "vector whose predictions are kept (steps, first 5 top-list entries: the previous "
        "policy); **previous**: the previous kernels and policy, one draw per (layer, "
        "pooling) group. The modes run one after another on the same caches.",
        "",
        "| task | train → eval | cells | CI s / work s, current | share current | "
        "share kept | share previous | wall on / off |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for task, item in record["sweeps"].items():
        runs = item["runs"]
        current = runs["current"]
        off = runs.get("off", [])
        wall_ratio = f"{summary(current, 'wall') / summary(off, 'wall'):.3f}" if off else "—"
        shares = [
            f"{summary(runs[mode], 'share'):.1%}" if runs.get(mode) else "—"
            for mode in ("current", "kept", "previous")
        ]
        lines.append(
            f"| {task} | `{Path(item['train']).name}` → `{Path(item['eval']).name}` | "
            f"{current[0]['cells']} | {summary(current, 'ci_seconds'):.1f} / "
            f"{summary(current, 'work_seconds'):.1f} | " + " | ".join(shares) + f" | {wall_ratio} |"
        )
    if record["finished_sweeps"]:
        lines += [
            "",
            "Finished sweeps, as recorded (made by the code of their time, before this change):",
            "",
            "| results file | cells | CI s / work s | share |",
            "| --- | ---: | ---: | ---: |",
        ]
        lines += [
            f"| `{Path(path).name}` | {share['cells']} | {share['ci_seconds']:.1f} / "
            f"{share['work_seconds']:.1f} | {share['share']:.1%} |"
            for path, share in record["finished_sweeps"].items()
        ]
    start, end = record["load_average_start"], record["load_average_end"]
    lines += [
        "",
        f"Load average at start {start[0]:.1f}, at end {end[0]:.1f} ({record['machine']}); "
        "the machine is shared by other sessions, so absolute seconds move with the load; "
        "the within-run share and the same-session ratios are the steadier figures.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sweep",
        nargs=3,
        action="append",
        default=[],
        metavar=("TASK", "TRAIN", "EVAL"),
        help="a task's train and eval caches (repeatable)",
    )
    parser.add_argument("--layers", default="3,6")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--previous", action="store_true", help="also run the previous code")
    parser.add_argument("--off", action="store_true", help="also run with CIs off")
    parser.add_argument("--name", default="bootstrap")
    parser.add_argument("--from-results", nargs="*", default=[], help="finished results files")
    args = parser.parse_args()
    load_start = os.getloadavg()
    layers = tuple(int(layer) for layer in args.layers.split(","))
    kernels = kernel_rows()
    sweeps = {
        task: {
            "train": train,
            "eval": evaluation,
            "runs": run_task(args, train, evaluation, layers),
        }
        for task, train, evaluation in args.sweep
    }
    record = {
        "layers": list(layers),
        "repeats": args.repeats,
        "kernels": kernels,
        "sweeps": sweeps,
        "finished_sweeps": {path: results_share(path) for path in args.from_results},
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(record, indent=1) + "\n")
    lines = markdown(record)
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
