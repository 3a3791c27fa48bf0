"""``fewdims report``: the fine-tuning table, its warnings and cross-task sections.

Fine-tuned scores are set against the frozen probe on the same dims, recorded or looked up.
"""

from __future__ import annotations

import pytest

from probe.report import render_report
from probe.results import ResultCell, ResultsFile
from tests.unit.probe.report.report_fixtures import (
    METRIC,
    parse_table,
)

pytestmark = pytest.mark.torch_free


def test_finetune_table_equals_results_file(full_report, probe_results, finetune_results):
    _, markdown = full_report
    cross, frozen_run = finetune_results
    sst2_cells = [cross.cells[0], cross.cells[1], frozen_run.cells[0]]
    rows = parse_table(markdown, "### Fine-tuning", occurrence=0)
    assert len(rows) == len(sst2_cells)
    triples_top = probe_results.find(8, "mean", "triples")[0].details["top"][0]
    frozen = triples_top["eval"][METRIC]
    sources = [
        "triples probe, recorded by fine-tuning",
        "triples probe, recorded by fine-tuning",
        "triples probe, same dims",  # the frozen run recorded none: looked up in the probe file
    ]
    for row, cell, source in zip(rows, sst2_cells, sources, strict=True):
        tuned = cell.scores["eval"][METRIC]
        assert row["stage"] == f"{cell.details['stage']} · 3 dims"
        assert row["dims"] == str(cell.dims)
        assert row["encoder"] == ("frozen" if cell.details["frozen"] else "trained")
        assert row["fine-tuned (accuracy)"] == f"{tuned:.3f}"
        assert row["frozen probe (accuracy)"] == f"{frozen:.3f} ({source})"
        assert row["gain"] == f"{tuned - frozen:+.3f}"
        assert row["epochs"] == (str(len(cell.steps)) if cell.steps else "—")
    assert [row["forgetting"] for row in rows] == ["—", "0.031", "—"]
    sizes = ["67349 / 872", "67349 / 872", "2000 / 200"]
    assert [row["examples (train / eval)"] for row in rows] == sizes


def test_finetune_scored_on_fewer_examples_than_the_probes_is_flagged(full_report):
    _, markdown = full_report
    section = markdown[markdown.index("### Fine-tuning") : markdown.index("## Task cola")]
    assert (
        "> **Warning:** Fine-tuning was scored on 200 dev examples, the frozen probes on all 872"
        in section
    )


def test_cross_task_cells_get_their_own_task_section(full_report, finetune_results):
    _, markdown = full_report
    cola = markdown[markdown.index("## Task cola") : markdown.index("## Provenance")]
    assert "Metric: **mcc on dev**" in cola
    assert "No probe results for this task" in cola
    rows = parse_table(markdown, "### Fine-tuning", occurrence=1)
    assert len(rows) == 1 and rows[0]["fine-tuned (mcc)"] == "0.411"
    assert rows[0]["stage"] == "stage 2: cola · 3 dims"


def test_finetune_only_file_renders_its_table_and_plot(tmp_path):
    cells = [
        ResultCell(12, "cls", "finetune", [], {"eval": {METRIC: 0.66}}, details={"stage": "full"}),
        ResultCell(
            12,
            "cls",
            "finetune",
            [5, 9],
            {"eval": {METRIC: 0.61}},
            details={"frozen_probe_eval": 0.55},
        ),
    ]
    path = ResultsFile("finetune", "rte", METRIC, provenance={"model": "m"}, cells=cells).save(
        tmp_path / "ft.json"
    )
    paths = render_report([path], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "No probe results for this task; run `fewdims probe` first." in markdown
    assert "No pair results" not in markdown  # one line says it all when nothing was probed
    rows = parse_table(markdown, "### Fine-tuning")
    assert [row["fine-tuned (accuracy)"] for row in rows] == ["0.660", "0.610"]
    assert rows[0]["stage"] == "full · all dims" and rows[0]["frozen probe (accuracy)"] == "—"
    assert rows[1]["frozen probe (accuracy)"] == "0.550 (recorded)"
    assert rows[1]["gain"] == "+0.060"
    assert [p.name for p in paths.plots] == ["rte_finetune.png"]
