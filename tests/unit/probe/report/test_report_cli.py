"""``fewdims report`` from the command line: exit 0 with a report, exit 2 with a clear message.

Also: importing ``probe.report`` stays light (matplotlib is loaded only to draw).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from probe.cli import main
from tests.unit.probe.report.report_fixtures import (
    MODEL,
    full_only_results,
)

pytestmark = pytest.mark.torch_free


def test_cli_writes_report_and_exits_0(tmp_path, capsys):
    path = full_only_results(MODEL, 0.8).save(tmp_path / "sst2.json")
    assert main(["report", str(path), "--out", str(tmp_path / "reports" / "sst2")]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out
    assert (tmp_path / "reports" / "sst2" / "report.md").is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("not json at all", "not valid JSON"),
        ("[1, 2]", "not a fewdims results file"),
        ('{"hello": "world"}', "not a fewdims results file"),
        ('{"format": "fewdims-results", "version": 4, "cells": []}', "results file of version 4"),
    ],
)
def test_cli_exits_2_with_clear_message(tmp_path, capsys, content, message):
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fewdims report: error: ")
    assert message in err and str(path) in err
    assert "Traceback" not in err


def test_importing_report_does_not_import_matplotlib():
    code = "import sys, probe.report; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    repo_root = Path(__file__).resolve().parents[4]  # `probe` importable however pytest is run
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)
