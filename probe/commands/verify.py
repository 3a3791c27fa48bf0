"""``fewdims verify``: read every chunk of a cache and cross-check it (see ``probe.verify``)."""

from __future__ import annotations

import argparse
import json

from probe.errors import CacheError
from probe.verify import verify_cache


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check caches: structure, offsets, counts, checksums, NaN/inf, pooled vs tokens",
        description="Read every chunk of each cache (HDF5 checks its checksum), check the "
        "arrays against the metadata and each other, and recompute the pooled vectors of a "
        "sample of examples from their token vectors. Exit status 0 when all are sound, 2 "
        "when any problem is found (each is named: file, dataset, what).",
    )
    parser.add_argument("caches", nargs="+", metavar="CACHE", help="cache file(s) to verify")
    parser.add_argument(
        "--sample", type=int, default=256, help="examples whose pooling is recomputed (0: skip)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON report per cache")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    problems = []
    for path in args.caches:
        report = verify_cache(path, sample=args.sample)
        problems.extend(report.problems)
        if args.json:
            print(
                json.dumps(
                    {
                        "path": str(report.path),
                        "ok": report.ok,
                        "problems": [vars(problem) for problem in report.problems],
                        "warnings": report.warnings,
                        "datasets_scanned": report.datasets_scanned,
                        "bytes_read": report.bytes_read,
                        "examples_compared": report.examples_compared,
                        "seconds": round(report.seconds, 3),
                    }
                )
            )
            continue
        status = "OK" if report.ok else f"{len(report.problems)} PROBLEM(S)"
        print(
            f"{report.path}: {status} — {report.datasets_scanned} datasets, "
            f"{report.bytes_read / 2**20:,.1f} MiB read, pooling checked on "
            f"{report.examples_compared} examples, {report.seconds:.1f} s"
        )
        for warning in report.warnings:
            print(f"  warning: {warning}")
    if problems:
        listing = "\n  ".join(str(problem) for problem in problems)
        raise CacheError(
            f"{len(problems)} problem(s) found:\n  {listing}\nRe-extract the damaged cache "
            "with `fewdims extract ... --overwrite` (or restore it from a copy)."
        )
    return 0
