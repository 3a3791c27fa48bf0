"""``fewdims report``: the CSV and merged-JSON exports round-trip every input cell."""

from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from probe.results import ResultsFile
from tests.unit.probe.report.report_fixtures import (
    METRIC,
    MODEL,
    WEIGHTS,
)

pytestmark = pytest.mark.torch_free


def test_csv_round_trips_one_row_per_cell(full_report, probe_results, finetune_results):
    paths, _ = full_report
    all_cells = [("probe", "sst2", c) for c in probe_results.cells] + [
        ("finetune", "sst2", c) for results in finetune_results for c in results.cells
    ]
    frame = pd.read_csv(paths.results_csv, dtype={"dims": str}, keep_default_na=False)
    assert len(frame) == len(all_cells)
    for column in (
        "task",
        "kind",
        "layer",
        "pooling",
        "method",
        "k",
        "dims",
        "seconds",
        "model",
        "weights_sha256",
    ):
        assert column in frame.columns
    for (kind, task, cell), (_, row) in zip(all_cells, frame.iterrows(), strict=True):
        assert (row["kind"], row["task"], row["layer"], row["pooling"], row["method"]) == (
            kind, cell.details.get("task", task), cell.layer, cell.pooling, cell.method
        )  # fmt: skip
        assert row["k"] == len(cell.dims)
        assert row["dims"] == " ".join(str(d) for d in cell.dims)
        assert row["seconds"] == cell.seconds
        assert row["model"] == MODEL and row["weights_sha256"] == WEIGHTS
        for split in ("train", "validation", "eval"):
            expected = cell.scores.get(split, {}).get(METRIC)
            value = row[f"{split}_{METRIC}"]
            assert (value == "") if expected is None else (float(value) == expected)
    with paths.results_csv.open(newline="", encoding="utf-8") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == len(all_cells)


def test_merged_json_holds_every_input_file(full_report, probe_results, finetune_results):
    paths, _ = full_report
    merged = json.loads(paths.results_json.read_text(encoding="utf-8"))
    assert merged["format"] == "fewdims-results-merged"
    assert [entry["kind"] for entry in merged["results"]] == ["probe", "finetune", "finetune"]
    reloaded = ResultsFile.from_dict(
        {k: v for k, v in merged["results"][0].items() if k != "source"}
    )
    assert reloaded.cells == probe_results.cells
