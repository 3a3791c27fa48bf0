"""Benchmark: exhaustive pair and triple search at D = 768 on a real MPNet SST-2 cache.

Not a test: it measures and writes ``reports/benchmarks/mpnet_search.{json,md}``. Run with::

    python tests/benchmarks/bench_mpnet_search.py --train-cache TRAIN.h5 --eval-cache DEV.h5
        [--layer 12] [--pooling mean] [--repeats 3] [--threads N]

(or FEWDIMS_BENCH_TRAIN / FEWDIMS_BENCH_EVAL). The caches are all-mpnet-base-v2 SST-2
train (a seeded 20,000-row sample: ``fewdims run --task sst2 --model mpnet
--max-train-examples 20000``) and dev; only one pooled (layer, pooling) slice is read.

What is measured, on that one slice, median of ``--repeats`` runs each starting from an empty
memo (so every run builds its own Gram screen, inside the timed region):

* ``pairs``: all 294,528 pairs screened from one Gram matrix, top-500 scored, top-50 re-fitted
  exactly, the winner refitted on all train and scored on dev — target <= 1.0 s;
* ``triples``: all 75,287,936 triples, the same pipeline — target <= 30 s;
* the floor: one float32 ``X.T @ X`` of the fit rows, and the Gram screen build alone;
* the baseline, in the same run: scikit-learn ``LogisticRegression`` (class_weight balanced,
  default tol, OpenMP on one thread as fewdims runs it) fitted on ``--sklearn-pairs`` sampled
  pairs, the mean fit time extrapolated to all pairs (and triples), as the ratio;
* agreement: converged scikit-learn (tol 1e-8) on our top-50 pairs — the largest difference
  in validation accuracy (in examples) and whether it ranks our winner first;
* where the time goes: a cProfile of one ``pairs`` and one ``triples`` run (top functions by
  cumulative time) — written down whether or not the targets are met.

Helpers (median timing, fresh memo, the scikit-learn loop, load average) are bench_probe's.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

from bench_probe import (  # noqa: E402, I001  (first: it sets the thread variables from --threads)
    REPORT_DIR,
    fresh,
    load_average,
    median_seconds,
    sklearn_fit_seconds,
)

import numpy as np  # noqa: E402
from threadpoolctl import threadpool_info  # noqa: E402

from probe.cache import Cache  # noqa: E402
from probe.search import SearchConfig, get_method  # noqa: E402
from probe.search.gram import GramScreen  # noqa: E402
from probe.search.problem import Problem  # noqa: E402
from probe.sweep import SweepSpec, load_problem, task_facts  # noqa: E402

TARGETS = {"pairs_s": 1.0, "triples_s": 30.0}
OUT_NAME = "mpnet_search"


def load_slice(train: str, evaluation: str, layer: int, pooling: str) -> tuple[Problem, dict]:
    """The standardised Problem of one slice, built as ``fewdims probe`` builds it."""
    spec = SweepSpec(train_path=train, eval_path=evaluation, layers=(layer,), poolings=(pooling,))
    with Cache.open(train) as cache:
        facts = task_facts(cache.meta)
        info = {
            "model": cache.meta.model,
            "weights_sha256": cache.meta.weights_sha256,
            "task": cache.meta.task,
            "split": cache.meta.split,
            "n_train": cache.n_examples,
            "hidden": cache.hidden_size,
        }
    started = time.perf_counter()
    problem = load_problem(spec, facts, layer, pooling)
    info["load_s"] = time.perf_counter() - started
    with Cache.open(evaluation) as cache:
        info["n_eval"] = cache.n_examples
    return problem, info


def profile_top(function, n_lines: int = 14) -> list[str]:
    """cProfile of one call: the top functions by cumulative time, as pstats prints them."""
    profiler = cProfile.Profile()
    profiler.enable()
    function()
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(n_lines)
    site = str(Path(np.__file__).parents[1]) + "/"
    root = str(BENCH_DIR.parents[1]) + "/"
    lines = [
        line.rstrip().replace(site, "").replace(root, "") for line in text.getvalue().splitlines()
    ]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return [line for line in lines[start:] if line.strip()]


def time_search(row: dict[str, Any], name: str, search, repeats: int) -> Any:
    """Run ``search`` ``repeats`` times; record wall runs, median wall and CPU, and its best.

    Returns the last run's outcome (every run computes the same one).
    """
    wall, cpu = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        outcome = search()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    row[f"{name}_runs_s"] = wall
    row[f"{name}_cpu_s"] = float(np.median(cpu))
    row[f"{name}_s"] = float(np.median(wall))
    row[f"{name}_best"] = {"dims": outcome.dims, "scores": outcome.scores}
    return outcome


def bench(args: argparse.Namespace) -> dict[str, Any]:
    problem, info = load_slice(args.train_cache, args.eval_cache, args.layer, args.pooling)
    config = SearchConfig()
    n_dims = problem.n_dims
    row: dict[str, Any] = {**info, "layer": args.layer, "pooling": args.pooling}
    row["n_fit"] = problem.n_fit
    row["n_pairs"] = n_dims * (n_dims - 1) // 2
    row["n_triples"] = n_dims * (n_dims - 1) * (n_dims - 2) // 6
    row["load_before"] = load_average()
    x_fit = problem.x_train[: problem.n_fit]
    row["gemm_floor_s"], _ = median_seconds(lambda: x_fit.T @ x_fit, args.repeats)
    row["gram_s"], _ = median_seconds(lambda: GramScreen.build(problem), args.repeats)

    pairs_method, triples_method = get_method("pairs"), get_method("triples")
    pairs = time_search(row, "pairs", lambda: pairs_method(fresh(problem), config), args.repeats)
    if not args.skip_triples:
        time_search(row, "triples", lambda: triples_method(fresh(problem), config), args.repeats)

    rng = np.random.default_rng(0)
    sampled = np.sort(np.argsort(rng.random((args.sklearn_pairs, n_dims)), axis=1)[:, :2], axis=1)
    per_pair, _ = sklearn_fit_seconds(problem, sampled)
    row["sklearn_pairs_sampled"] = args.sklearn_pairs
    row["sklearn_pair_fit_s"] = per_pair
    row["sklearn_pairs_extrapolated_s"] = per_pair * row["n_pairs"]
    row["pairs_speedup"] = row["sklearn_pairs_extrapolated_s"] / row["pairs_s"]
    if "triples_s" in row:
        sampled3 = np.sort(np.argsort(rng.random((args.sklearn_pairs // 2, n_dims)), axis=1)[:, :3])
        per_triple, _ = sklearn_fit_seconds(problem, sampled3)
        row["sklearn_triple_fit_s"] = per_triple
        row["sklearn_triples_extrapolated_s"] = per_triple * row["n_triples"]
        row["triples_speedup"] = row["sklearn_triples_extrapolated_s"] / row["triples_s"]

    row["metric"] = problem.primary_metric
    if problem.primary_metric == "accuracy":  # the scikit-learn check scores accuracy
        top_dims = np.array([entry["dims"] for entry in pairs.details["top"]])
        ours = np.array([entry["validation"] for entry in pairs.details["top"]])
        _, sklearn_accuracy = sklearn_fit_seconds(problem, top_dims, tol=1e-8)
        n_val = problem.x_train.shape[0] - problem.n_fit
        row["agreement_max_diff_examples"] = round(
            float(np.max(np.abs(ours - sklearn_accuracy))) * n_val
        )
        row["agreement_sklearn_best_is_ours"] = bool(sklearn_accuracy[0] == sklearn_accuracy.max())

    row["profile_pairs"] = profile_top(lambda: pairs_method(fresh(problem), config))
    if not args.skip_triples:
        row["profile_triples"] = profile_top(lambda: triples_method(fresh(problem), config))
    row["load_after"] = load_average()
    return row


def write_report(payload: dict[str, Any]) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    stem = payload.get("out_stem", OUT_NAME)
    (REPORT_DIR / f"{stem}.json").write_text(json.dumps(payload, indent=1) + "\n")
    row = payload["result"]

    def verdict(key: str) -> str:
        """Wall-time verdict, and the CPU-time one (what an idle core would take)."""
        if key not in row:
            return "not run"
        cpu_key = key.replace("_s", "_cpu_s")
        wall = "met" if row[key] <= TARGETS[key] else "**missed**"
        if cpu_key not in row:
            return wall
        cpu = "met" if row[cpu_key] <= TARGETS[key] else "**missed**"
        return f"{wall} (wall), {cpu} (CPU)"

    metric = row["metric"]
    lines = [
        f"# Exhaustive subset search at D = {row['hidden']} (real {row['task']} cache)",
        "",
        f"Written by `tests/benchmarks/bench_mpnet_search.py` on {payload['machine']} "
        f"({payload['cpus']} CPUs, threads {payload['threads']}), {payload['date']}. Median of "
        f"{payload['repeats']} runs, each from an empty memo (Gram screen built inside the timed "
        "region). The machine was shared with other jobs: load averages (1/5/15 min) "
        f"{row['load_before']} before, {row['load_after']} after; contention inflates every "
        "timing, ours and scikit-learn's alike, so the ratio is the stable number.",
        "",
        f"Slice: {row['model']} (weights {row['weights_sha256'][:12]}…), {row['task']} "
        f"{row['split']} cache of {row['n_train']:,} rows ({row['n_fit']:,} fit / "
        f"{row['n_train'] - row['n_fit']:,} validation) → dev {row['n_eval']:,} rows; layer "
        f"{row['layer']}, {row['pooling']} pooling, D = {row['hidden']}. Reading and "
        f"standardising the slice: {row['load_s']:.2f} s (not in the search times).",
        "",
        "| search | candidates | ours, wall s (runs) | ours, CPU s | target (wall) | scikit-learn per-fit loop, s (extrapolated) | ratio | best subset | dev "
        + metric
        + " |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| pairs | {row['n_pairs']:,} | **{row['pairs_s']:.2f}** "
        f"({', '.join(f'{t:.2f}' for t in row['pairs_runs_s'])}) | {row['pairs_cpu_s']:.2f} | ≤ 1.0 s: {verdict('pairs_s')} | "
        f"{row['sklearn_pairs_extrapolated_s']:,.0f} | {row['pairs_speedup']:,.0f}× | "
        f"{row['pairs_best']['dims']} | {row['pairs_best']['scores']['eval'][metric]:.3f} |",
    ]
    if "triples_s" in row:
        lines.append(
            f"| triples | {row['n_triples']:,} | **{row['triples_s']:.1f}** "
            f"({', '.join(f'{t:.1f}' for t in row['triples_runs_s'])}) | "
            f"{row['triples_cpu_s']:.1f} | ≤ 30 s: "
            f"{verdict('triples_s')} | {row['sklearn_triples_extrapolated_s']:,.0f} | "
            f"{row['triples_speedup']:,.0f}× | {row['triples_best']['dims']} | "
            f"{row['triples_best']['scores']['eval'][metric]:.3f} |"
        )
    lines += [
        "",
        f"Floors: one float32 `X.T @ X` of the fit rows {row['gemm_floor_s']:.3f} s; the Gram "
        f"screen build {row['gram_s']:.3f} s. scikit-learn: `LogisticRegression(class_weight="
        f"'balanced')` timed on {row['sklearn_pairs_sampled']} sampled pairs "
        f"({row['sklearn_pair_fit_s'] * 1e3:.1f} ms per fit)"
        + (
            f" and {row['sklearn_pairs_sampled'] // 2} sampled triples "
            f"({row['sklearn_triple_fit_s'] * 1e3:.1f} ms per fit)"
            if "sklearn_triple_fit_s" in row
            else ""
        )
        + ", extrapolated to all candidates; it does not include the final refit and dev "
        "scoring that ours does, so the ratio flatters scikit-learn slightly.",
        "",
        (
            f"Agreement: converged scikit-learn (tol 1e-8) on our top-50 pairs differs from our "
            f"exact validation accuracy by at most {row['agreement_max_diff_examples']} "
            "example(s); "
            + (
                "it ranks our winner first."
                if row["agreement_sklearn_best_is_ours"]
                else "it ranks another of the 50 first."
            )
        )
        if "agreement_max_diff_examples" in row
        else f"Agreement with scikit-learn not checked: the task's metric is {metric}.",
        "",
        "## Where the time goes",
        "",
        "cProfile of one `pairs` run (cumulative seconds; profiling adds overhead):",
        "",
        "```",
        *row["profile_pairs"],
        "```",
    ]
    if "profile_triples" in row:
        lines += [
            "",
            "cProfile of one `triples` run:",
            "",
            "```",
            *row["profile_triples"],
            "```",
        ]
    notes = payload.get("notes")
    if notes:
        lines += ["", "## Reading", "", notes]
    lines.append("")
    (REPORT_DIR / f"{stem}.md").write_text("\n".join(lines))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-cache", default=os.environ.get("FEWDIMS_BENCH_TRAIN", ""))
    parser.add_argument("--eval-cache", default=os.environ.get("FEWDIMS_BENCH_EVAL", ""))
    parser.add_argument("--layer", type=int, default=12)
    parser.add_argument("--pooling", default="mean")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sklearn-pairs", type=int, default=200)
    parser.add_argument("--skip-triples", action="store_true")
    parser.add_argument("--threads", default="", help="BLAS/OpenMP threads (read at import)")
    parser.add_argument("--notes", default="", help="a reading to add to the report")
    parser.add_argument("--out-stem", default=OUT_NAME, help="writes <stem>.json and <stem>.md")
    parser.add_argument("--report-only", action="store_true", help="re-render the .md from .json")
    args = parser.parse_args()
    if args.report_only:
        payload = json.loads((REPORT_DIR / f"{args.out_stem}.json").read_text())
        if args.notes:
            payload["notes"] = args.notes
        write_report(payload)
        return 0
    if not args.train_cache or not args.eval_cache:
        parser.error("pass --train-cache and --eval-cache (or FEWDIMS_BENCH_TRAIN / _EVAL)")
    payload: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "repeats": args.repeats,
        "threads": {pool["internal_api"]: pool["num_threads"] for pool in threadpool_info()},
        "targets": TARGETS,
        "argv": sys.argv[1:],
        "out_stem": args.out_stem,
    }
    started = time.perf_counter()
    payload["result"] = bench(args)
    payload["total_s"] = time.perf_counter() - started
    if args.notes:
        payload["notes"] = args.notes
    write_report(payload)
    print(
        f"pairs {payload['result']['pairs_s']:.2f} s, triples "
        f"{payload['result'].get('triples_s', float('nan')):.1f} s -> {REPORT_DIR / args.out_stem}.md"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
