"""How many more bytes this process may allocate: the smallest of the limits that apply.

``--out-of-core auto`` compares a slice's in-memory cost with this. Three limits can bind on
Linux: free physical memory (``MemAvailable``), the process's address-space rlimit
(``RLIMIT_AS``, what ``ulimit -v`` and job schedulers set), and a cgroup v2 memory limit
(containers). Each unreadable source is skipped; none readable means "unknown" (None).
"""

from __future__ import annotations

import resource
from pathlib import Path


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _address_space_left() -> int | None:
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return max(0, soft - int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_left() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text().strip()))
    except (OSError, ValueError):
        return None


def available_bytes() -> int | None:
    """Bytes this process can still allocate, or None when no limit could be read."""
    limits = [
        value
        for value in (_meminfo_available(), _address_space_left(), _cgroup_left())
        if value is not None
    ]
    return min(limits) if limits else None


def in_memory_bytes(n_train_rows: int, n_eval_rows: int, hidden_size: int) -> int:
    """What the in-memory path holds for one slice: the float32 train slice read, its
    standardised copy, the eval slice, and float64 row-block temporaries (~2.5 copies)."""
    return int(2.5 * 4 * (n_train_rows + n_eval_rows) * hidden_size)
