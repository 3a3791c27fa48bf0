"""The predictions sidecar: per-example eval predictions of a results file, as one ``.npz``.

Why a sidecar and not the JSON: a 20,000-row SST-2 sweep keeps about 3,000 prediction
vectors of 872 labels each; as JSON numbers that is megabytes of text per file, as
compressed ``int8`` arrays it is a fraction of that. Arrays are stored compactly (labels and
class predictions in the smallest integer type that holds them, regression predictions as
float16 — relative error 5e-4 per value, which moves a Pearson or Spearman recomputed from
them by about 1e-6 — and real-valued labels as float32) and identical arrays once (a cell's winner is usually also its first top-list
entry; every cell of one eval set has the same labels).

Layout: arrays named ``a0``, ``a1``, ...; each JSON cell maps its keys (``"eval"``,
``"steps/3"``, ``"labels"``, ...) to those names. Reading is forgiving: a missing or
unreadable sidecar leaves the cells without predictions and returns a note saying why and how
to get them back, so old or partial result sets still render.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from probe.atomic import write_atomic

EXACT_KEYS = frozenset({"labels", "groups"})
FLOAT16_MAX = 60000.0


def compact(array: Any, exact: bool = True) -> np.ndarray:
    """The smallest faithful dtype: int8/int16/int32 for integers, float32 for reals
    (float16 when not ``exact`` and every value fits)."""
    array = np.asarray(array)
    if array.dtype.kind in "iub":
        if array.size == 0:
            return array.astype(np.int8)
        low, high = int(array.min()), int(array.max())
        for dtype in (np.int8, np.int16, np.int32):
            info = np.iinfo(dtype)
            if info.min <= low and high <= info.max:
                return array.astype(dtype)
        return array.astype(np.int64)
    if not exact and array.size and np.all(np.abs(array) < FLOAT16_MAX):
        return array.astype(np.float16)
    return array.astype(np.float32)


def write_sidecar(path: Path, per_cell: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    """Write every cell's arrays to ``path`` (atomically); return each cell's key -> name map."""
    names: list[dict[str, str]] = []
    stored: dict[str, np.ndarray] = {}
    by_digest: dict[str, str] = {}
    for cell_arrays in per_cell:
        cell_names = {}
        for key, value in cell_arrays.items():
            array = compact(value, exact=key in EXACT_KEYS or key.endswith("draw_scores"))
            digest = hashlib.sha1(
                array.dtype.str.encode() + str(array.shape).encode() + array.tobytes()
            ).hexdigest()
            if digest not in by_digest:
                by_digest[digest] = f"a{len(stored)}"
                stored[by_digest[digest]] = array
            cell_names[key] = by_digest[digest]
        names.append(cell_names)
    write_atomic(path, lambda handle: np.savez_compressed(handle, **stored), binary=True)
    return names


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``, read member by member with pickles refused."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as handle:
                    arrays[member[:-4]] = np.lib.format.read_array(handle, allow_pickle=False)
    return arrays


def read_sidecar(
    path: Path, per_cell_names: Sequence[dict[str, str]]
) -> tuple[list[dict[str, np.ndarray]], str]:
    """Arrays of every cell, and "" or a note on why they are missing (never raises)."""
    empty: list[dict[str, np.ndarray]] = [{} for _ in per_cell_names]
    if not path.is_file():
        return empty, (
            f"predictions sidecar {path} is missing (copy it beside its results JSON, or "
            "re-run the experiment)"
        )
    try:
        arrays = read_npz(path)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        return empty, f"predictions sidecar {path} is unreadable ({error}); re-run the experiment"
    cells = []
    missing = 0
    for cell_names in per_cell_names:
        cell = {}
        for key, name in cell_names.items():
            if name in arrays:
                cell[key] = arrays[name]
            else:
                missing += 1
        cells.append(cell)
    note = f"{missing} arrays named in the JSON are not in {path}" if missing else ""
    return cells, note
