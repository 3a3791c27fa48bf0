"""``fewdims report``: files from different models (or weights) warn instead of mixing silently."""

from __future__ import annotations

import pytest

from probe.report import render_report
from tests.unit.probe.report.report_fixtures import (
    full_only_results,
    parse_table,
)

pytestmark = pytest.mark.torch_free


def test_mixed_models_warn_and_get_separate_sections(tmp_path):
    first = full_only_results("bert-base-uncased", 0.80).save(tmp_path / "a.json")
    second = full_only_results("roberta-base", 0.90).save(tmp_path / "b.json")
    paths = render_report([first, second], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert len(paths.warnings) == 1
    assert "> **Warning:** Task sst2 mixes results from 2 models" in markdown
    assert str(first) in paths.warnings[0] and str(second) in paths.warnings[0]
    assert "## Task sst2 — bert-base-uncased" in markdown
    assert "## Task sst2 — roberta-base" in markdown
    assert 'class="warning"' in paths.html.read_text(encoding="utf-8")
    assert {p.name for p in paths.plots} == {
        f"sst2-{model}_{name}.png"
        for model in ("bert-base-uncased", "roberta-base")
        for name in ("layer_pooling_heatmap", "pooling_comparison")
    }
    bert_rows = parse_table(markdown, "### Summary", occurrence=0)
    roberta_rows = parse_table(markdown, "### Summary", occurrence=1)
    assert [r["all dims"] for r in bert_rows] == ["0.810", "0.810", "0.820", "0.820"]
    assert [r["all dims"] for r in roberta_rows] == ["0.910", "0.910", "0.920", "0.920"]


def test_same_model_from_different_weights_warns_but_pools(tmp_path):
    first = full_only_results("bert-base-uncased", 0.80).save(tmp_path / "a.json")
    second = full_only_results("bert-base-uncased", 0.80, weights="b" * 64).save(
        tmp_path / "b.json"
    )
    paths = render_report([first, second], tmp_path / "out")
    assert len(paths.warnings) == 1 and "different weights" in paths.warnings[0]
    assert "## Task sst2\n" in paths.markdown.read_text(encoding="utf-8")
