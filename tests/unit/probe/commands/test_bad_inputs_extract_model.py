"""Bad-input rows of ``fewdims extract``: the model and extraction options."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.probe.commands.bad_input_matrix import (
    Case,
    Workspace,
    check_row,
    extract,
    offline,
)

CASES: list[Case] = [
    Case(
        "unknown model",
        lambda ws, t: [*extract(ws, t), "--model", str(t / "models" / "bert-typo")],
        stderr=(
            r"Model directory .*bert-typo does not exist",
            r"Check the path, or pass a hub name",
        ),
        setup=offline,
    ),
    Case(
        "model dir without config",
        lambda ws, t: [*extract(ws, t), "--model", str(t)],
        stderr=(r"has no config.json", r"save_pretrained"),
    ),
    Case(
        "layers out of range",
        lambda ws, t: extract(ws, t, "--layers", "0,7"),
        stderr=(r"Layer\(s\) \[7\] out of range", r"0\.\.2"),
    ),
    Case(
        "max length beyond the model",
        lambda ws, t: extract(ws, t, "--max-length", "4096"),
        stderr=(r"exceeds the 128 positions", r"--max-length 128 or less"),
    ),
    Case(
        "max length too small",
        lambda ws, t: extract(ws, t, "--max-length", "1"),
        stderr=(r"--max-length must be at least 2",),
    ),
    Case(
        "batch size zero",
        lambda ws, t: extract(ws, t, "--batch-size", "0"),
        stderr=(r"--batch-size must be at least 1",),
    ),
    Case(
        "bad dtype (argparse)",
        lambda ws, t: extract(ws, t, "--dtype", "int8"),
        stderr=(r"invalid choice: 'int8'",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, ws: Workspace, tmp_path: Path, monkeypatch, capsys):
    check_row(case, ws, tmp_path, monkeypatch, capsys)
