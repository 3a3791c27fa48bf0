"""Write a file so that readers see the old file or the whole new one, never a part of it.

A temporary file in the target's folder is written and then renamed over the target (atomic
on POSIX). ``tempfile.mkstemp`` creates it readable by its owner only, and a rename keeps
that; results and predictions are meant to be shared and committed, so the finished file
gets the permissions ``open()`` would have given it (0o666 less the umask).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    # The umask can only be read by setting it; the lock keeps two writers from racing.
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def write_atomic(path: Path, write: Callable[[IO[Any]], object], *, binary: bool = False) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, then rename it to ``path``."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        mode, encoding = ("wb", None) if binary else ("w", "utf-8")
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            write(handle)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
