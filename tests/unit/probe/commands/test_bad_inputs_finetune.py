"""Bad-input rows of ``fewdims finetune``: dims that do not fit the model or cannot be read."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.probe.commands.bad_input_matrix import (
    Case,
    Workspace,
    check_row,
)


def finetune(ws: Workspace, tmp: Path, *extra: str) -> list[str]:
    return [
        "finetune",
        "--model",
        str(ws.model),
        "--data-file",
        str(ws.rows),
        "--text-columns",
        "text",
        "--label-column",
        "label",
        "--eval-file",
        str(ws.rows),
        "--device",
        "cpu",
        "--epochs",
        "1",
        "--out",
        str(tmp / "finetune.json"),
        *extra,
    ]


CASES: list[Case] = [
    Case(
        "finetune: empty --seeds",
        lambda ws, t: finetune(ws, t, "--seeds", ""),
        stderr=(r"--seeds takes comma-separated integer seeds", r"an empty seed"),
        outputs=("finetune.json",),
    ),
    Case(
        "finetune: --seeds with a repeated seed",
        lambda ws, t: finetune(ws, t, "--seeds", "2,2"),
        stderr=(r"--seeds lists seed\(s\) 2 more than once",),
        outputs=("finetune.json",),
    ),
    Case(
        "finetune: dims out of range",
        lambda ws, t: finetune(ws, t, "--dims", "3,99"),
        stderr=(r"Dim\(s\) \[99\] are out of range", r"dims 0\.\.31"),
        outputs=("finetune.json",),
    ),
    Case(
        "finetune: a file read as CoNLL-U",
        lambda ws, t: finetune(ws, t, "--data-format", "conllu"),
        stderr=(r"rows\.tsv is read as CoNLL-U", r"fewdims finetune` reads sentence-labelled"),
        outputs=("finetune.json",),
    ),
    Case(
        "finetune: dims from a results file of another version",
        lambda ws, t: finetune(ws, t, "--dims-from", str(ws.old_results)),
        stderr=(r"version 99",),
        outputs=("finetune.json",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, ws: Workspace, tmp_path: Path, monkeypatch, capsys):
    check_row(case, ws, tmp_path, monkeypatch, capsys)
