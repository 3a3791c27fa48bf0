"""Bad-input rows of ``fewdims report``: results files it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.probe.commands.bad_input_matrix import (
    Case,
    Workspace,
    check_row,
    write,
)

CASES: list[Case] = [
    Case(
        "report: results file of another version",
        lambda ws, t: ["report", str(ws.old_results), "--out", str(t / "report")],
        stderr=(r"version 99", r"reads versions 1, 2, 3"),
        outputs=("report",),
    ),
    Case(
        "report: not JSON",
        lambda ws, t: ["report", str(write(t, "r.json", "{oops")), "--out", str(t / "report")],
        stderr=(r"r.json is not valid JSON", r"not a fewdims results file"),
        outputs=("report",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, ws: Workspace, tmp_path: Path, monkeypatch, capsys):
    check_row(case, ws, tmp_path, monkeypatch, capsys)
