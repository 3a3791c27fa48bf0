"""``fewdims info``: summarise a cache (model, data, shape, size, completeness)."""

from __future__ import annotations

import argparse
import json

from probe.cache import Cache, describe


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="summarise a feature cache")
    parser.add_argument("cache", help="path of a cache written by `fewdims extract`")
    parser.add_argument("--json", action="store_true", help="print the full metadata as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    with Cache.open(args.cache, require_complete=False) as cache:
        if args.json:
            print(json.dumps(cache.meta.to_dict(), indent=1))
        else:
            for key, value in describe(cache).items():
                print(f"{key:>18}: {value}")
    return 0
