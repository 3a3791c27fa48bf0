"""``fewdims report``: every section is there, and provenance names what produced each file.

Rendered from the fixture results of ``report_fixtures`` (no model, no cache).
"""

from __future__ import annotations

import pytest

from tests.unit.probe.report.report_fixtures import (
    WEIGHTS,
)

pytestmark = pytest.mark.torch_free


def test_every_section_is_present(full_report):
    paths, markdown = full_report
    for heading in (
        "# fewdims report",
        "## How to read this report",
        "## Task sst2",
        "### Summary",
        "### Baselines: random dims and control task",
        "### Plots",
        "### Fine-tuning",
        "## Provenance",
    ):
        assert heading in markdown.splitlines(), heading
    assert "Dims were selected on train, scores are reported on dev" in markdown
    html = paths.html.read_text(encoding="utf-8")
    for heading in (
        "<h2>Task sst2</h2>",
        "<h3>Summary</h3>",
        "<h3>Fine-tuning</h3>",
        "<h2>Provenance</h2>",
    ):
        assert heading in html
    assert paths.warnings == []  # one model, one checkpoint: no mixing to warn about
    intro = markdown[: markdown.index("## Task sst2")]
    assert "Warning" not in intro


def test_provenance_names_model_weights_data_seed_version_and_timings(full_report, probe_results):
    _, markdown = full_report
    provenance = markdown[markdown.index("## Provenance") :]
    blocks = provenance.split("\n### ")[1:]
    names = ("sst2-probe.json", "sst2-cola-finetune.json", "sst2-frozen.json")
    assert len(blocks) == len(names)
    for block, name in zip(blocks, names, strict=True):
        assert block.splitlines()[0].endswith(f"/{name}`")
    probe_block = blocks[0]
    assert "- **model:** `bert-base-uncased`" in probe_block
    assert f"- **weights sha256:** `{WEIGHTS}`" in probe_block
    assert (
        "- **data files:** `glue/SST-2/train.tsv` (train, 67349 examples, sha256 train0train0…); "
        "`glue/SST-2/dev.tsv` (dev, 872 examples, sha256 dev0dev0dev0…)" in probe_block
    )
    assert "- **seeds:** seed = 13, spec.config.seed = 13" in probe_block
    assert (
        "- **feature caches:** `data/features/sst2-dev.h5`; `data/features/sst2-train.h5`"
        in probe_block
    )
    assert "- **fewdims version:** 0.1.0" in probe_block
    total = sum(cell.seconds for cell in probe_results.cells)
    assert f"- **timings:** {total:.1f} s over {len(probe_results.cells)} cells" in probe_block
    assert "- **train_cache:** `{" in probe_block  # the rest of the record, as compact JSON
    assert "- **seeds:** seed = 7" in blocks[1]
    assert "`glue/SST-2/dev.tsv` (dev)" in blocks[1]
