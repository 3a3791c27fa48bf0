"""``fewdims report``: unusable inputs and outputs raise errors that name the problem."""

from __future__ import annotations

import json

import pytest

from probe.errors import FewdimsError
from probe.report import render_report
from probe.results import ResultsFormatError
from tests.unit.probe.report.report_fixtures import (
    build_probe_results,
)

pytestmark = pytest.mark.torch_free


def test_out_path_that_is_a_file_raises_fewdims_error(tmp_path, probe_results):
    path = probe_results.save(tmp_path / "r.json")
    with pytest.raises(FewdimsError, match="is a file"):
        render_report([path], path)


def test_missing_file_raises_fewdims_error(tmp_path):
    with pytest.raises(FewdimsError, match="does not exist"):
        render_report([tmp_path / "nope.json"], tmp_path / "out")


def test_non_results_json_and_other_version_raise(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(ResultsFormatError, match="not a fewdims results file"):
        render_report([other], tmp_path / "out")
    payload = build_probe_results().to_dict()
    payload["version"] = 99
    future = tmp_path / "future.json"
    future.write_text(json.dumps(payload))
    with pytest.raises(ResultsFormatError, match="version 99"):
        render_report([future], tmp_path / "out")
    payload["version"] = 1
    del payload["kind"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(payload))
    with pytest.raises(ResultsFormatError, match="malformed"):
        render_report([broken], tmp_path / "out")
