"""``fewdims report``: the summary table, headline and baseline table print the results' numbers.

Each number is compared with an independent reading of the fixture results files.
"""

from __future__ import annotations

import re

import pytest

from tests.unit.probe.report.report_fixtures import (
    LAYERS,
    METRIC,
    POOLINGS,
    bold_cells,
    expected_best,
    parse_table,
)

pytestmark = pytest.mark.torch_free


def test_summary_table_equals_results_file(full_report, probe_results, finetune_results):
    _, markdown = full_report
    rows = parse_table(markdown, "### Summary")
    assert [(int(r["layer"]), r["pooling"]) for r in rows] == [
        (lay, pool) for lay in LAYERS for pool in POOLINGS
    ]
    for row in rows:
        layer, pooling = int(row["layer"]), row["pooling"]
        full = probe_results.find(layer, pooling, "full")[0]
        assert row["all dims"] == f"{full.scores['eval'][METRIC]:.3f}"
        for k, column in (
            (1, "best 1 dim [dims]"),
            (2, "best 2 dims [dims]"),
            (3, "best 3 dims [dims]"),
        ):
            score, dims = expected_best(probe_results.cells, layer, pooling, k)
            match = re.fullmatch(r"\**(-?\d+\.\d{3})\** \[([\d, ]+)\]", row[column])
            assert match, row[column]
            assert match.group(1) == f"{score:.3f}"
            assert [int(d) for d in match.group(2).split(",")] == dims
        if (layer, pooling) == (8, "mean"):
            assert row["fine-tuned"] == "0.872 (3 dims)"  # the better of the two stages
        else:
            assert row["fine-tuned"] == "—"


def test_bold_marks_the_best_value_of_each_column(full_report, probe_results):
    _, markdown = full_report
    bold = bold_cells(markdown, "### Summary")
    best_full = max(c.scores["eval"][METRIC] for c in probe_results.cells if c.method == "full")
    assert f"{best_full:.3f}" in bold
    best_1 = max(
        expected_best(probe_results.cells, lay, pool, 1)[0] for lay in LAYERS for pool in POOLINGS
    )
    assert any(cell.startswith(f"{best_1:.3f} [") for cell in bold)


def test_baseline_table_equals_results_file(full_report, probe_results):
    _, markdown = full_report
    rows = parse_table(markdown, "### Baselines: random dims and control task")
    assert len(rows) == len(LAYERS) * len(POOLINGS)
    for row in rows:
        layer, pooling = int(row["layer"]), row["pooling"]
        random_steps = {s["k"]: s for s in probe_results.find(layer, pooling, "random")[0].steps}
        control_steps = {s["k"]: s for s in probe_results.find(layer, pooling, "control")[0].steps}
        for k, suffix in ((1, "1 dim"), (2, "2 dims"), (3, "3 dims")):
            step = random_steps[k]
            assert row[f"random {suffix} (mean ± sd)"] == f"{step['mean']:.3f} ± {step['sd']:.3f}"
            assert row[f"selectivity {suffix}"] == f"{control_steps[k]['selectivity']:.3f}"


def test_headline_names_the_best_row_with_its_random_baseline(full_report, probe_results):
    _, markdown = full_report
    headline = next(line for line in markdown.splitlines() if line.startswith("**Best**"))
    assert "chosen on the validation split of train" in headline
    best_full = max(  # chosen on validation, never on the eval split it is reported on
        (c for c in probe_results.cells if c.method == "full"),
        key=lambda c: c.scores["validation"][METRIC],
    )
    assert (
        f"all dims {best_full.scores['eval'][METRIC]:.3f} "
        f"(layer {best_full.layer} / {best_full.pooling})" in headline
    )
    score, dims = expected_best(probe_results.cells, 12, "mean", 3)
    random_3 = next(s for s in probe_results.find(12, "mean", "random")[0].steps if s["k"] == 3)
    assert f"3 dims {score:.3f} (layer 12 / mean, dims {dims}" in headline
    assert f"random 3: {random_3['mean']:.3f} ± {random_3['sd']:.3f}" in headline
