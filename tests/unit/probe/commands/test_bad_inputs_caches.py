"""Bad-input rows of ``fewdims info``, ``verify`` and ``merge``: missing, foreign and broken caches."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from tests.unit.probe.commands.bad_input_matrix import (
    Case,
    Workspace,
    check_row,
    write,
)


def truncated_copy(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ws.dev, tmp / "cut.h5")
    with open(tmp / "cut.h5", "r+b") as raw:
        raw.truncate(raw.seek(0, 2) // 2)


def plain_hdf5(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with h5py.File(tmp / "plain.h5", "w") as handle:
        handle["x"] = np.arange(3)


CASES: list[Case] = [
    Case(
        "info on a missing cache",
        lambda ws, t: ["info", str(t / "none.h5")],
        stderr=(r"does not exist", r"Run `fewdims extract` first"),
    ),
    Case(
        "info on a non-HDF5 file",
        lambda ws, t: ["info", str(write(t, "n.h5", "hello"))],
        stderr=(r"cannot be opened as HDF5", r"--overwrite"),
    ),
    Case(
        "info on HDF5 that is not a cache",
        lambda ws, t: ["info", str(t / "plain.h5")],
        stderr=(r"not a fewdims cache",),
        setup=plain_hdf5,
    ),
    Case(
        "verify a truncated cache",
        lambda ws, t: ["verify", str(t / "cut.h5")],
        stderr=(r"cut.h5: \(file\): .*truncated", r"Re-extract"),
        setup=truncated_copy,
    ),
    Case(
        "merge caches that are not shards",
        lambda ws, t: ["merge", str(ws.train), str(ws.dev), "--out", str(t / "out.h5")],
        stderr=(r"is not a shard", r"Pass the shard files only"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, ws: Workspace, tmp_path: Path, monkeypatch, capsys):
    check_row(case, ws, tmp_path, monkeypatch, capsys)
