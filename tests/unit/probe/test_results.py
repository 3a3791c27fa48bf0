"""Results files: exact JSON round-trips and clear errors for foreign or broken files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from probe.results import ResultCell, ResultsError, ResultsFile, ResultsFormatError

pytestmark = pytest.mark.torch_free


def sample() -> ResultsFile:
    cell = ResultCell(
        layer=6,
        pooling="maxnorm",
        method="pairs",
        dims=[np.int64(12), 301],
        scores={
            "validation": {"accuracy": 0.8125},
            "eval": {"accuracy": np.float32(0.75), "f1": float("nan")},
        },
        steps=[{"k": 1, "dims": [12], "validation": 0.7}],
        details={"top": [{"dims": [12, 301], "screen": 0.81}]},
        seconds=0.25,
    )
    return ResultsFile(
        kind="probe", task="sst2", primary_metric="accuracy", provenance={"seed": 0}, cells=[cell]
    )


def test_round_trip_is_exact(tmp_path):
    path = sample().save(tmp_path / "sub" / "r.json")
    loaded = ResultsFile.load(path)
    (cell,) = loaded.cells
    assert cell.dims == [12, 301] and cell.k == 2
    assert cell.eval_score("accuracy") == 0.75
    assert cell.scores["eval"]["f1"] is None, "NaN is stored as null (JSON has no NaN)"
    assert loaded.to_dict() == json.loads(path.read_text())
    assert loaded.find(layer=6, method="pairs") == [cell] and loaded.find(pooling="cls") == []
    assert not list(path.parent.glob("*.tmp")), "atomic save leaves no temp file"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "top level is not an object"),
        ('{"format": "other"}', "not a fewdims results file"),
        ('{"format": "fewdims-results", "version": 99}', "version 99"),
        ('{"format": "fewdims-results", "version": 1, "kind": "probe"}', "malformed"),
    ],
)
def test_bad_files_are_named(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ResultsFormatError, match=message):
        ResultsFile.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(ResultsError, match="does not exist"):
        ResultsFile.load(tmp_path / "none.json")


def test_undefined_scores_read_as_nan(tmp_path):
    results = sample()
    results.cells[0].scores["eval"]["pearson"] = float("nan")
    (cell,) = ResultsFile.load(results.save(tmp_path / "r.json")).cells
    assert np.isnan(cell.eval_score("pearson")) and np.isnan(cell.eval_score("absent"))
