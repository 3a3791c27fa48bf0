"""Benchmark: word-level (UD) probing — the multinomial kernel and the UPOS sweep.

Not a test: it measures and writes ``reports/benchmarks/words.{json,md}``. Run with::

    python tests/benchmarks/bench_words.py [--repeats 3] [--sweep-results R.json]
        [--train-cache DEV.h5 --eval-cache TEST.h5 [--jobs 2]]   # runs the UPOS sweep itself
        [--note TEXT ...]                                         # kept in words.md
    python tests/benchmarks/bench_words.py --keep-sweep   # re-measure the kernel only
    python tests/benchmarks/bench_words.py --render [--note TEXT ...]   # words.json -> words.md

What is measured:

* the multinomial subset-probe Hessian (``probe.linear._multinomial_hessian``) at UPOS size
  — 17 classes, 20,000 rows, 8 candidates of k = 2, 4, 8 dims — against the two kernels it
  replaced, kept below as baselines and measured in the same run on the same data (CPU
  seconds, fewest of ``--repeats``): the whole-row GEMM (``_whole_row_gemm_hessian``) and
  the per-class-pair Hessian before it (``_old_hessian``; its syrk branch also produced NaN
  Hessians from 7 dims on, so at k = 8 only the time of its arithmetic is comparable);
* the UPOS sweep (7 MiniLM layers x first/mean subword, methods full, rank, pairs, greedy,
  backward, random, control, word defaults): wall time and CPU seconds once
  (``--train-cache``, ``--jobs`` groups at once; CPU = this process plus its joblib workers,
  read after the workers are shut down), or the per-cell seconds of a finished sweep's
  results file (``--sweep-results``: the study in ``reports/minilm-ud`` records them), with
  the load average beside the numbers — the 2-core machine is shared, so wall seconds move
  with the load; CPU seconds much less. Per method, cells record wall seconds inside their
  worker and (``details["cpu_seconds"]``) CPU seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path("reports") / "benchmarks"


def _old_hessian(design32: np.ndarray, prob: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """The replaced kernel: one batched einsum per class pair (c(c+1)/2 of them)."""
    n_candidates, n_features, _ = design32.shape
    n_classes = prob.shape[1]
    n_params = n_features * n_classes
    hessian = np.zeros((n_candidates, n_params, n_params))
    for k in range(n_classes):
        rows = slice(k * n_features, (k + 1) * n_features)
        for j in range(k, n_classes):
            cols = slice(j * n_features, (j + 1) * n_features)
            curvature = (prob[:, k] * ((k == j) - prob[:, j]) * weight).astype(np.float32)
            weighted = design32 * curvature[:, None, :]
            block = np.einsum("mqn,mpn->mqp", weighted, design32).astype(np.float64)
            hessian[:, rows, cols] = block
            if j != k:
                hessian[:, cols, rows] = block.transpose(0, 2, 1)
    return hessian


def _whole_row_gemm_hessian(
    design32: np.ndarray, prob: np.ndarray, weight: np.ndarray
) -> np.ndarray:
    """The previous kernel: the same one GEMM per candidate, its (153, n) operands built over
    all rows at once (the row-blocked kernel that replaced it builds them 1,024 rows at a time)."""
    from probe.linear import _hessian_layout

    n_candidates, n_features, _ = design32.shape
    n_classes = prob.shape[1]
    first, second, class_k, class_j, rows, cols, rows_swap, cols_swap = _hessian_layout(
        n_features, n_classes
    )
    n_params = n_features * n_classes
    hessian = np.empty((n_candidates, n_params, n_params))
    weight32 = weight.astype(np.float32)
    for candidate in range(n_candidates):
        design = design32[candidate]
        products = design[first] * design[second]
        p = prob[candidate].astype(np.float32)
        weighted = p[class_k] * weight32
        weighted *= (class_k == class_j)[:, None] - p[class_j]
        values = (weighted @ products.T).ravel()
        block = hessian[candidate]
        block[rows, cols] = values
        block[cols, rows] = values
        block[rows_swap, cols_swap] = values
        block[cols_swap, rows_swap] = values
    return hessian


def _min_cpu_seconds(function, repeats: int) -> float:
    """Fewest CPU seconds of ``repeats`` calls, BLAS on one thread (as the fits run it): on a
    shared machine the minimum CPU time moves least with the load."""
    from threadpoolctl import threadpool_limits

    times = []
    with threadpool_limits(1):
        for _ in range(repeats):
            started = time.process_time()
            function()
            times.append(time.process_time() - started)
    return min(times)


def kernel_rows(repeats: int) -> list[dict[str, Any]]:
    from probe.linear import _design, _multinomial_hessian

    rng = np.random.default_rng(0)
    n_rows, n_dims, n_classes = 20_000, 384, 17
    x = rng.standard_normal((n_rows, n_dims)).astype(np.float32)
    rows = []
    for size in (2, 4, 8):
        dims = np.stack([rng.choice(n_dims, size, replace=False) for _ in range(8)])
        design = _design(x, dims)
        logits = rng.standard_normal((8, n_classes, n_rows))
        prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        weight = np.ones(n_rows)
        arguments = (design, prob, weight)
        new = _min_cpu_seconds(lambda a=arguments: _multinomial_hessian(*a), repeats)
        whole_row = _min_cpu_seconds(lambda a=arguments: _whole_row_gemm_hessian(*a), repeats)
        old = _min_cpu_seconds(lambda a=arguments: _old_hessian(*a), repeats)
        current = _multinomial_hessian(design, prob, weight)
        agree = np.allclose(
            current, _old_hessian(design, prob, weight), rtol=1e-3, atol=1e-2
        ) and np.allclose(current, _whole_row_gemm_hessian(*arguments), rtol=1e-3, atol=1e-2)
        rows.append(
            {
                "k": size,
                "candidates": 8,
                "gemm_hessian_s": new,
                "whole_row_gemm_hessian_s": whole_row,
                "per_pair_hessian_s": old,
                "speedup": old / new,
                "speedup_vs_whole_row": whole_row / new,
                "agree": bool(agree),
            }
        )
    return rows


def sweep_from_results(paths: list[Path]) -> dict[str, Any]:
    payloads = [json.loads(path.read_text()) for path in paths]
    payload = payloads[0]
    cells = [cell for each in payloads for cell in each["cells"]]
    by_method: dict[str, float] = {}
    cpu_by_method: dict[str, float] = {}
    for cell in cells:
        method = cell["method"]
        by_method[method] = by_method.get(method, 0.0) + cell["seconds"]
        if "cpu_seconds" in cell["details"]:
            cpu_by_method[method] = cpu_by_method.get(method, 0.0) + cell["details"]["cpu_seconds"]
    groups = {(cell["layer"], cell["pooling"]) for cell in cells}
    per_group = {(c["layer"], c["pooling"]): c["details"] for c in cells}
    prepare = sum(details.get("prepare_seconds", 0.0) for details in per_group.values())
    summary = {
        "source": ", ".join(str(path) for path in paths),
        "groups": len(groups),
        "cells": len(cells),
        "method_seconds": by_method,
        "prepare_seconds": prepare,
        "total_cpu_path_seconds": sum(by_method.values()) + prepare,
        "jobs": payload["provenance"]["spec"].get("jobs", 1),
    }
    if cpu_by_method:
        summary["method_cpu_seconds"] = cpu_by_method
        summary["prepare_cpu_seconds"] = sum(
            details.get("prepare_cpu_seconds", 0.0) for details in per_group.values()
        )
    return summary


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped children."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def sweep_live(train: Path, evaluation: Path, jobs: int) -> dict[str, Any]:
    from probe.words.sweep import WordSweepSpec, run_word_sweep

    load_start = os.getloadavg()
    cpu_started = _cpu_seconds()
    started = time.perf_counter()
    spec = WordSweepSpec(str(train), str(evaluation), label="upos", jobs=jobs)
    results = run_word_sweep(spec)
    wall = time.perf_counter() - started
    if jobs > 1:  # reap the joblib workers, so that their CPU time counts as children's
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor().shutdown(wait=True)
    cpu = _cpu_seconds() - cpu_started
    scratch = OUT / "words-sweep-results.json"
    results.save(scratch)
    summary = sweep_from_results([scratch])
    scratch.unlink()
    summary.update(
        source=f"measured live, {train.name} -> {evaluation.name}",
        wall_seconds=wall,
        cpu_seconds=cpu,
        load_average={"start": load_start, "end": os.getloadavg()},
        eval_accuracy={
            f"{cell.layer}/{cell.pooling}/{cell.method}": cell.scores["eval"]["accuracy"]
            for cell in results.cells
            if "accuracy" in cell.scores.get("eval", {})
        },
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sweep-results", type=Path, nargs="+", help="results file(s) of a sweep")
    parser.add_argument("--train-cache", type=Path)
    parser.add_argument("--eval-cache", type=Path)
    parser.add_argument("--jobs", type=int, default=2, help="groups at once in the live sweep")
    parser.add_argument("--note", action="append", default=[], help="a paragraph for words.md")
    parser.add_argument(
        "--render", action="store_true", help="only re-render words.md from words.json (+ --note)"
    )
    parser.add_argument(
        "--keep-sweep", action="store_true", help="re-measure the kernel, keep words.json's sweep"
    )
    args = parser.parse_args()
    if args.render:
        record = json.loads((OUT / "words.json").read_text())
        record["notes"] = args.note or record.get("notes", [])
        (OUT / "words.json").write_text(json.dumps(record, indent=2))
        (OUT / "words.md").write_text(render(record))
        return
    load_start = os.getloadavg()
    record: dict[str, Any] = {"kernel": kernel_rows(args.repeats)}
    if args.train_cache and args.eval_cache:
        record["sweep"] = sweep_live(args.train_cache, args.eval_cache, args.jobs)
    elif args.sweep_results:
        record["sweep"] = sweep_from_results(args.sweep_results)
    elif args.keep_sweep:
        record["sweep"] = json.loads((OUT / "words.json").read_text())["sweep"]
    record["load_average"] = {"start": load_start, "end": os.getloadavg()}
    record["cpus"] = os.cpu_count()
    record["notes"] = args.note
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "words.json").write_text(json.dumps(record, indent=2))
    (OUT / "words.md").write_text(render(record))
    print((OUT / "words.md").read_text())


def render(record: dict[str, Any]) -> str:
    lines = [
        "# Word-level probing benchmark (`tests/benchmarks/bench_words.py`)",
        "",
        f"Machine: {record['cpus']} CPUs, shared; load average "
        f"{record['load_average']['start'][0]:.1f} at start, "
        f"{record['load_average']['end'][0]:.1f} at end (absolute seconds move with the load).",
        "",
        "## Multinomial Hessian, 17 classes x 20,000 rows, 8 candidates",
        "",
        "CPU seconds, fewest of the repeats, BLAS on one thread (as the fits run it).",
        "",
        "| k dims | row-blocked GEMM (s) | whole-row GEMM, replaced (s) | "
        "per-class-pair, replaced before (s) | speed-up vs whole-row | vs per-pair | "
        "same values |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in record["kernel"]:
        whole_row = row.get("whole_row_gemm_hessian_s")
        lines.append(
            f"| {row['k']} | {row['gemm_hessian_s']:.3f} | "
            + (f"{whole_row:.3f} | " if whole_row is not None else " | ")
            + f"{row['per_pair_hessian_s']:.3f} | "
            + (f"{row['speedup_vs_whole_row']:.1f}x | " if whole_row is not None else " | ")
            + f"{row['speedup']:.1f}x | {'yes' if row['agree'] else 'NO'} |"
        )
    sweep = record.get("sweep")
    if sweep:
        lines += [
            "",
            "## UPOS sweep: first/mean subword, all default methods (word defaults)",
            "",
            f"Source: {sweep.get('source', 'measured live')}; {sweep['groups']} groups, "
            f"{sweep['cells']} cells, jobs {sweep['jobs']}.",
            "",
            "| part | seconds in worker (wall) | CPU seconds |",
            "| --- | ---: | ---: |",
        ]
        cpu = sweep.get("method_cpu_seconds", {})

        def cpu_cell(value: float | None) -> str:
            return "" if value is None else f"{value:.0f}"

        lines.append(
            f"| reading word rows + standardising (all groups) | {sweep['prepare_seconds']:.0f} | "
            f"{cpu_cell(sweep.get('prepare_cpu_seconds'))} |"
        )
        for method, seconds in sweep["method_seconds"].items():
            lines.append(f"| {method} | {seconds:.0f} | {cpu_cell(cpu.get(method))} |")
        cpu_sum = sum(cpu.values()) + sweep.get("prepare_cpu_seconds", 0.0) if cpu else None
        cpu_total = f"**{cpu_sum:.0f}**" if cpu_sum is not None else ""
        lines.append(
            f"| **sum over cells** | **{sweep['total_cpu_path_seconds']:.0f}** | {cpu_total} |"
        )
        if "wall_seconds" in sweep:
            load = sweep["load_average"]
            lines += [
                "",
                f"**Whole sweep: {sweep['wall_seconds']:.0f} s wall "
                f"({sweep['wall_seconds'] / 60:.1f} min), {sweep['cpu_seconds']:.0f} CPU-s** "
                f"(this process + its {sweep['jobs']} joblib workers), at load average "
                f"{load['start'][0]:.1f} (start) / {load['end'][0]:.1f} (end) on "
                f"{record['cpus']} CPUs. On an otherwise idle machine the wall time would be "
                f"about CPU-s / {min(sweep['jobs'], record['cpus'])} = "
                f"{sweep['cpu_seconds'] / min(sweep['jobs'], record['cpus']) / 60:.1f} min "
                "(the groups are independent and the workers' BLAS runs on one thread).",
            ]
    for note in record.get("notes", []):
        lines += ["", note]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
