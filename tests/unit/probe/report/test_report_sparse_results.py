"""``fewdims report``: results with methods, layers or scores missing still render.

A missing section says so, and how to get it, instead of a broken table or a crash.
"""

from __future__ import annotations

import pandas as pd
import pytest

from probe.report import render_report
from probe.results import ResultCell, ResultsFile
from tests.unit.probe.report.report_fixtures import (
    METRIC,
    parse_table,
    png_size,
)

pytestmark = pytest.mark.torch_free


def test_without_finetune_results_the_section_says_how_to_get_one(probe_only_report):
    paths, markdown = probe_only_report
    section = markdown[markdown.index("### Fine-tuning") :]
    assert "No fine-tuning results for this task" in section
    assert "`fewdims finetune`" in section
    assert "fine-tuned" not in parse_table(markdown, "### Summary")[0]
    assert not any("finetune" in path.name for path in paths.plots)
    assert len(paths.plots) == 5


def test_full_only_results_skip_missing_sections(tmp_path):
    cells = [
        ResultCell(layer, pooling, "full", [], {"eval": {"mcc": 0.44 + 0.01 * layer}}, seconds=1.0)
        for layer in (1, 2)
        for pooling in ("cls", "mean")
    ]
    path = ResultsFile("probe", "cola", "mcc", provenance={"model": "m"}, cells=cells).save(
        tmp_path / "cola.json"
    )
    paths = render_report([path], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "No random-k baseline" in markdown and "No control-task results" in markdown
    assert "No pair results" in markdown and "No per-dimension scores" in markdown
    assert "No fine-tuning results" in markdown
    assert {p.name for p in paths.plots} == {
        "cola_layer_pooling_heatmap.png",
        "cola_pooling_comparison.png",
    }
    rows = parse_table(markdown, "### Summary")
    assert [r["all dims"] for r in rows] == [f"{0.44 + 0.01 * layer:.3f}" for layer in (1, 1, 2, 2)]


def test_single_layer_regression_task_with_gaps(tmp_path):
    """One (layer, pooling), STS-B metrics, null scores, random k beyond the greedy range."""
    cells = [
        ResultCell(6, "mean", "full", [], {"eval": {"pearson": 0.81, "spearman": 0.8}}),
        ResultCell(
            6, "mean", "random", [],
            steps=[{"k": k, "n_draws": 3, "mean": 0.1 * k, "sd": None} for k in (1, 2, 50)],
        ),
        ResultCell(
            6, "mean", "greedy", [3, 4], {"eval": {"pearson": None}},
            steps=[
                {"k": 1, "dims": [3], "validation": 0.3, "eval": {"pearson": 0.28}},
                {"k": 2, "dims": [3, 4], "validation": None, "eval": {"pearson": None}},
            ],
        ),
        ResultCell(6, "mean", "control", [], steps=[{"k": 1, "real": 0.2, "control": 0.3,
                                                     "selectivity": -0.1}]),
    ]  # fmt: skip
    path = ResultsFile("probe", "stsb", "pearson", provenance={"model": "m"}, cells=cells).save(
        tmp_path / "stsb.json"
    )
    paths = render_report([path], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    row = parse_table(markdown, "### Summary")[0]
    assert row["all dims"] == "0.810" and row["best 1 dim [dims]"] == "0.280 [3]"
    assert row["best 2 dims [dims]"] == "— [3, 4] †"
    baseline = parse_table(markdown, "### Baselines: random dims and control task")[0]
    assert baseline["random 1 dim (mean ± sd)"] == "0.100 ± —"
    assert baseline["random 3 dims (mean ± sd)"] == "—"
    assert baseline["selectivity 1 dim"] == "-0.100"
    assert "Only one pooling was probed" in markdown
    frame = pd.read_csv(paths.results_csv)
    assert frame["eval_pearson"].tolist()[0] == 0.81
    assert frame["eval_pearson"].isna().tolist() == [False, True, True, True]
    for plot in paths.plots:
        png_size(plot)


def test_results_file_without_cells_renders_a_skeleton(tmp_path):
    path = ResultsFile("probe", "sst2", METRIC).save(tmp_path / "empty.json")
    paths = render_report([path], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "No probe results for this task" in markdown and "### Plots" not in markdown
    assert paths.plots == []
    assert pd.read_csv(paths.results_csv).empty
