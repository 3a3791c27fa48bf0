"""``fewdims merge``: join shard caches into one logical cache (HDF5 virtual datasets)."""

from __future__ import annotations

import argparse
from pathlib import Path

from probe.cache import exclusive_lock, merge_shards


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "merge",
        help="join the shards of `extract --shard I/N` into one cache (no copy)",
        description="Write one cache whose datasets map the shard files end to end (HDF5 "
        "virtual datasets: nothing is copied, so keep the shards beside the merged file). "
        "The merged order is the single-process extraction order; CoNLL-U word tables merge "
        "too (word offsets re-based). Refuses shards of different extractions, missing or "
        "repeated shards.",
    )
    parser.add_argument("shards", nargs="+", metavar="SHARD", help="the shard cache files")
    parser.add_argument("--out", required=True, help="path of the merged cache")
    parser.add_argument(
        "--wait", action="store_true", help="wait for another process writing --out"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    with exclusive_lock(out, wait=args.wait):
        meta = merge_shards([Path(path) for path in args.shards], out)
    print(
        f"{out}: {len(meta.shards)} shards merged, {meta.n_examples} examples, "
        f"{meta.n_tokens} tokens (virtual datasets: keep the shard files beside it)."
    )
    return 0
