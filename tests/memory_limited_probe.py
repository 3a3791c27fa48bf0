"""Run the out-of-core token sweep under an address-space limit; print one JSON line.

``python -m tests.memory_limited_probe TRAIN DEV HEADROOM_BYTES METHODS [CHUNK_ROWS]``

Used by ``tests/unit/probe/outofcore/test_outofcore.py`` and ``tests/benchmarks/bench_reliability.py``. The
limit (``RLIMIT_AS``) is the address space after every import plus ``HEADROOM_BYTES``, so
it bounds what probing may allocate, not what the libraries map. Before the sweep the child
tries to read layer 1's token slice whole, which must fail under the limit when the slice
is larger than the headroom. Never imports torch.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import probe.outofcore.group
import probe.outofcore.methods  # noqa: F401
from probe.cache import Cache
from probe.search import SearchConfig
from probe.sweep import SweepSpec, run_sweep


def status(key: str) -> int:
    """A ``/proc/self/status`` size (``VmSize:``, ``VmHWM:``, ...) in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def main(argv: list[str]) -> dict:
    train, dev, headroom, methods = argv[0], argv[1], int(argv[2]), argv[3]
    chunk_rows = int(argv[4]) if len(argv) > 4 else None
    rss_after_imports = status("VmRSS:")
    limit = status("VmSize:") + headroom
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    whole = "read whole"
    try:
        with Cache.open(train) as cache:
            cache.layer_tokens(1)
    except MemoryError:
        whole = "MemoryError"
    spec = SweepSpec(
        train,
        dev,
        layers=(1,),
        poolings=("tokens",),
        methods=tuple(methods.split(",")),
        config=SearchConfig(k=4, top_k=20, pool_size=200),
        chunk_rows=chunk_rows,
    )
    started = time.perf_counter()
    cells = run_sweep(spec).cells
    return {
        "whole_slice_read": whole,
        "limit_bytes": limit,
        "rss_after_imports_bytes": rss_after_imports,
        "peak_rss_bytes": status("VmHWM:"),
        "sweep_s": round(time.perf_counter() - started, 1),
        "cells": [
            {
                "method": cell.method,
                "dims": cell.dims,
                "eval_accuracy": cell.scores["eval"]["accuracy"],
                "seconds": round(cell.seconds, 1),
                "n_rows": cell.details["n_rows"],
            }
            for cell in cells
        ],
    }


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:])))
