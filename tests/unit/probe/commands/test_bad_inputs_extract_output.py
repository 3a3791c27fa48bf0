"""Bad-input rows of ``fewdims extract``: the output path, a full disk, sharding and part sizes.

A disk that fills up must leave nothing partial behind, or keep finished parts to resume from.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import h5py
import pytest

from tests.unit.probe.commands.bad_input_matrix import (
    Case,
    Workspace,
    check_row,
    extract,
    write,
)


def no_space(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil as shutil_module

    usage = shutil_module.disk_usage(tmp)
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage._replace(free=4096))


def enospc_on_fsync(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


def enospc_in_consolidation(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = h5py.Group.create_dataset

    def create(self, name, *args, **kwargs):
        if self.file.filename == str(tmp / "out.h5.tmp") and name == "tokens/special":
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", create)
    monkeypatch.setenv("FEWDIMS_PART_TOKENS", "4")


def enospc_on_third_fsync(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first part's chunks and its record are synced; the second part's chunks fail."""
    original = os.fsync
    calls = {"count": 0}

    def fsync(fd: int) -> None:
        calls["count"] += 1
        if calls["count"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setenv("FEWDIMS_PART_TOKENS", "4")


def in_place_parts_kept_check(ws: Workspace, tmp: Path) -> None:
    assert sorted(p.name for p in tmp.glob("out.h5*")) == ["out.h5.partial", "out.h5.tmp"]
    assert [p.name for p in (tmp / "out.h5.partial").glob("part-*")] == ["part-00000.h5"]


def parts_kept_check(ws: Workspace, tmp: Path) -> None:
    assert sorted(p.name for p in tmp.glob("out.h5*")) == ["out.h5.partial"]
    assert not list((tmp / "out.h5.partial").glob("*.tmp"))


def existing_other_cache(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ws.dev, tmp / "out.h5")


CASES: list[Case] = [
    Case(
        "output folder is a file",
        lambda ws, t: [*extract(ws, t), "--out", str(write(t, "file", "x") / "out.h5")],
        stderr=(r"Cannot create the folder .*file", r"writable --out"),
    ),
    Case(
        "output path is a folder",
        lambda ws, t: [*extract(ws, t), "--out", str(t)],
        stderr=(r"--out .* is a folder", r"file path"),
    ),
    Case(
        "output holds another cache",
        lambda ws, t: extract(ws, t),
        stderr=(r"already exists and holds a different cache", r"--overwrite"),
        setup=existing_other_cache,
        outputs=(),
    ),
    Case(
        "disk too small (checked up front)",
        lambda ws, t: extract(ws, t),
        stderr=(r"needs about .* MiB .* but only 0\.0 MiB are free", r"another disk"),
        setup=no_space,
    ),
    Case(
        "disk full while writing a part",
        lambda ws, t: extract(ws, t),
        stderr=(r"disk is full", r"Nothing was left behind"),
        setup=enospc_on_fsync,
    ),
    Case(
        "disk full while consolidating (compressed caches)",
        lambda ws, t: extract(ws, t, "--compression", "gzip"),
        stderr=(r"disk is full", r"finished part\(s\) .* kept in .*out.h5.partial", r"resumes"),
        setup=enospc_in_consolidation,
        check=parts_kept_check,
        outputs=(),
    ),
    Case(
        "disk full after some parts were written in place",
        lambda ws, t: extract(ws, t),
        stderr=(
            r"disk is full",
            r"finished part\(s\) are kept in .*out.h5.tmp .* recorded in .*out.h5.partial",
            r"resumes",
        ),
        setup=enospc_on_third_fsync,
        check=in_place_parts_kept_check,
        outputs=(),
    ),
    Case(
        "bad --shard",
        lambda ws, t: extract(ws, t, "--shard", "2/2"),
        stderr=(r"--shard 2/2 is out of range",),
    ),
    Case(
        "bad FEWDIMS_PART_TOKENS",
        lambda ws, t: extract(ws, t),
        stderr=(r"FEWDIMS_PART_TOKENS='lots' must be a positive integer",),
        setup=lambda ws, t, mp: mp.setenv("FEWDIMS_PART_TOKENS", "lots"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, ws: Workspace, tmp_path: Path, monkeypatch, capsys):
    check_row(case, ws, tmp_path, monkeypatch, capsys)
