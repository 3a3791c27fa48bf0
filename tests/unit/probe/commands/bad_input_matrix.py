"""The bad-input matrix's shared parts: the row type, the workspace, argv builders, the row check.

Each ``test_bad_inputs_*`` file holds the rows of one command (or one part of ``extract``) and
runs them through ``check_row``: the CLI in-process (``probe.cli.main``), exit status 2 for a
user error, stderr naming the problem and the fix (regexes), no traceback, and nothing partial
left behind at the paths the command was told to write. A few rows are valid-but-unusual inputs
that must *work* (exit 0). The ``ws`` fixture that builds the workspace is in ``conftest.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from probe.cli import main


@dataclass
class Workspace:
    root: Path
    model: Path
    other_model: Path
    rows: Path
    train: Path
    dev: Path
    unlabeled: Path
    other_task: Path
    other_weights: Path
    old_results: Path


@dataclass
class Case:
    """One row: argv (built from the workspace and a fresh tmp dir), expected outcome."""

    name: str
    argv: Callable[[Workspace, Path], list[str]]
    code: int = 2
    stderr: tuple[str, ...] = ()  # regexes that must all match stderr
    setup: Callable[[Workspace, Path, pytest.MonkeyPatch], None] | None = None
    check: Callable[[Workspace, Path], None] | None = None
    outputs: tuple[str, ...] = ("out.h5",)  # must not exist (nor their siblings) on failure


def extract(ws: Workspace, tmp: Path, *extra: str, data: Path | None = None) -> list[str]:
    return [
        "extract",
        "--model",
        str(ws.model),
        "--data-file",
        str(data or ws.rows),
        "--text-columns",
        "text",
        "--label-column",
        "label",
        "--device",
        "cpu",
        "--out",
        str(tmp / "out.h5"),
        *extra,
    ]


def write(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def offline(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse usage errors
        return int(stop.code or 0)


def check_row(case: Case, ws: Workspace, tmp_path: Path, monkeypatch, capsys) -> None:
    """Run one row and check its outcome; the body of every file's ``test_bad_input``."""
    monkeypatch.delenv("FEWDIMS_PART_TOKENS", raising=False)
    if case.setup is not None:
        case.setup(ws, tmp_path, monkeypatch)
    argv = case.argv(ws, tmp_path)
    if argv[0] not in _registered_commands():
        pytest.skip(f"`fewdims {argv[0]}` is not available in this checkout")
    code = run_cli(argv)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == case.code, err
    assert "Traceback" not in err
    for pattern in case.stderr:
        assert re.search(pattern, err), (pattern, err)
    if case.check is not None:
        case.check(ws, tmp_path)
    if code != 0:
        for name in case.outputs:
            left = sorted(p.name for p in tmp_path.glob(name + "*"))
            assert left == [], f"partial output left behind: {left}"


def _registered_commands() -> set[str]:
    from probe.cli import _available_commands

    return set(_available_commands())
