"""Benchmark: what bootstrap CIs (and kept predictions) add to a probe sweep's time.

Not a test: it measures and writes ``reports/benchmarks/bootstrap.{json,md}``. Run with::

    python tests/benchmarks/bench_bootstrap.py [--repeats 3] [--layers 3,6]
        [--train-cache TRAIN.h5 --eval-cache DEV.h5]     # or FEWDIMS_BENCH_TRAIN / _EVAL

What is measured:

* the same sweep (default methods, the given layers x cls/mean/maxnorm) run with CIs on
  (1,000 resamples, every metric of every eval record) and off (``bootstrap=None``), in
  alternating order, ``--repeats`` times each; the median wall times and their ratio;
* inside the CI-on runs: the summed ``details["ci_seconds"]`` against the summed method time
  plus slice loading (a ratio taken within one run, so it is less exposed to the machine's
  load changing between runs than the wall-time ratio);
* with ``--from-results FILE ...``: the same within-run share in finished sweeps (e.g. the
  ``reports/minilm-glue`` rebuild), per file, with no extra run;
* the CI kernel alone (median of 5): 1,000 resamples x 872 examples x 150 prediction vectors
  (accuracy, F1, MCC: an SST-2 slice's records), and 1,000 x 1,500 x 60 for Pearson and
  Spearman (STS-B; Spearman re-ranks every resample, the expensive case).

The machine is shared; the load average at start and end is recorded beside the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from probe.stats.bootstrap import BootstrapSpec, metric_intervals
from probe.sweep import SweepSpec, run_sweep

DEFAULT_CACHES = Path("/work/cache/features/sentence-transformers__all-MiniLM-L6-v2")
OUT = Path("reports/benchmarks")


def sweep_seconds(spec: SweepSpec) -> tuple[float, float, float]:
    """Wall seconds of one sweep, its summed CI seconds and summed method + load seconds."""
    started = time.perf_counter()
    results = run_sweep(spec)
    wall = time.perf_counter() - started
    ci = sum(cell.details.get("ci_seconds", 0.0) for cell in results.cells)
    work = sum(cell.seconds for cell in results.cells)
    work += sum(
        {
            (c.layer, c.pooling): c.details.get("prepare_seconds", 0.0) for c in results.cells
        }.values()
    )
    return wall, ci, work


def results_share(path: str) -> dict[str, float]:
    """CI seconds against method + load seconds recorded in a finished results file."""
    from probe.results import ResultsFile

    cells = ResultsFile.load(path).cells
    ci = sum(cell.details.get("ci_seconds", 0.0) for cell in cells)
    work = sum(cell.seconds for cell in cells)
    work += sum(
        {(c.layer, c.pooling): c.details.get("prepare_seconds", 0.0) for c in cells}.values()
    )
    return {"cells": len(cells), "ci_seconds": ci, "work_seconds": work, "share": ci / work}


def kernel_seconds(repeats: int = 5) -> dict[str, float]:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 872)
    predictions = np.where(rng.random((872, 150)) < 0.8, labels[:, None], 1 - labels[:, None])
    targets = rng.normal(size=1500)
    values = targets[:, None] + rng.normal(size=(1500, 60))
    spec = BootstrapSpec()
    timings: dict[str, list[float]] = {"classification_872x150": [], "pearson_1500x60": [],
                                       "spearman_1500x60": []}  # fmt: skip
    for _ in range(repeats):
        started = time.perf_counter()
        metric_intervals(("accuracy", "f1", "mcc"), labels, predictions, spec)
        timings["classification_872x150"].append(time.perf_counter() - started)
        started = time.perf_counter()
        metric_intervals(("pearson",), targets, values, spec)
        timings["pearson_1500x60"].append(time.perf_counter() - started)
        started = time.perf_counter()
        metric_intervals(("spearman",), targets, values, spec)
        timings["spearman_1500x60"].append(time.perf_counter() - started)
    return {name: statistics.median(times) for name, times in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-cache", default=os.environ.get("FEWDIMS_BENCH_TRAIN",
                        str(DEFAULT_CACHES / "sst2-train-n20000-s0.h5")))  # fmt: skip
    parser.add_argument("--eval-cache", default=os.environ.get("FEWDIMS_BENCH_EVAL",
                        str(DEFAULT_CACHES / "sst2-dev.h5")))  # fmt: skip
    parser.add_argument("--layers", default="3,6")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="bootstrap")
    parser.add_argument("--from-results", nargs="*", default=[], help="finished results files")
    args = parser.parse_args()
    load_start = os.getloadavg()
    layers = tuple(int(layer) for layer in args.layers.split(","))
    on = SweepSpec(args.train_cache, args.eval_cache, layers=layers)
    off = replace(on, bootstrap=None)
    walls: dict[str, list[float]] = {"on": [], "off": []}
    shares = []
    for repeat in range(args.repeats):
        for label in ("off", "on") if repeat % 2 == 0 else ("on", "off"):
            wall, ci, work = sweep_seconds(on if label == "on" else off)
            walls[label].append(wall)
            if label == "on":
                shares.append(ci / work)
    kernels = kernel_seconds()
    finished = {path: results_share(path) for path in args.from_results}
    # --repeats 0: only the kernel and --from-results figures (no sweeps are run)
    median_on = statistics.median(walls["on"]) if walls["on"] else float("nan")
    median_off = statistics.median(walls["off"]) if walls["off"] else float("nan")
    median_share = statistics.median(shares) if shares else float("nan")
    record = {
        "train_cache": args.train_cache,
        "eval_cache": args.eval_cache,
        "layers": list(layers),
        "repeats": args.repeats,
        "wall_seconds": walls,
        "median_wall_on": median_on,
        "median_wall_off": median_off,
        "wall_ratio": median_on / median_off,
        "ci_share_within_run": shares,
        "median_ci_share": median_share,
        "kernel_seconds": kernels,
        "finished_sweeps": finished,
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.name}.json").write_text(json.dumps(record, indent=1) + "\n")
    lines = [
        "# Bootstrap CIs: cost in a probe sweep",
        "",
        f"Sweep: `{Path(args.train_cache).name}` → `{Path(args.eval_cache).name}`, layers "
        f"{args.layers} × cls/mean/maxnorm, default methods; {args.repeats} runs each, "
        "alternating order. CIs: 1,000 resamples, every metric of every eval record.",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| median sweep wall time, CIs off | {median_off:.1f} s |",
        f"| median sweep wall time, CIs on | {median_on:.1f} s |",
        f"| wall-time ratio on / off | {median_on / median_off:.3f} |",
        f"| CI seconds / (method + load seconds), within the CI runs (median) | "
        f"{median_share:.1%} |",
    ]
    lines += [
        f"| CI kernel, {name} (median of 5) | {seconds:.3f} s |"
        for name, seconds in kernels.items()
    ]
    lines += [
        f"| CI share in finished sweep `{Path(path).name}` ({share['cells']} cells) | "
        f"{share['ci_seconds']:.1f} s / {share['work_seconds']:.1f} s = {share['share']:.1%} |"
        for path, share in finished.items()
    ]
    lines += [
        "",
        f"Load average at start {load_start[0]:.1f}, at end {os.getloadavg()[0]:.1f} "
        f"({record['machine']}); the machine is shared, so the wall-time ratio moves with "
        "the load; the within-run share is the steadier figure.",
    ]
    (OUT / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
