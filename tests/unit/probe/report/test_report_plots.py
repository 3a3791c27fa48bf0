"""``fewdims report``: the plots are real PNGs of useful size, drawn only from data that exists."""

from __future__ import annotations

import numpy as np
import pytest

from probe.report import render_report
from probe.results import ResultCell, ResultsFile
from tests.unit.probe.report.report_fixtures import (
    METRIC,
    _scores,
    png_size,
)

pytestmark = pytest.mark.torch_free


def test_plots_are_valid_pngs_of_useful_size(full_report):
    paths, markdown = full_report
    names = sorted(path.name for path in paths.plots)
    assert names == sorted(
        [f"sst2_{name}.png"
         for name in ("score_vs_dims", "layer_pooling_heatmap", "pairs", "per_dim_scores",
                      "pooling_comparison", "finetune")]
        + ["cola_finetune.png"]
    )  # fmt: skip
    for path in paths.plots:
        width, height = png_size(path)
        assert width >= 500 and height >= 300, (path, width, height)
        assert path.stat().st_size > 15_000, path
        assert f"](plots/{path.name})" in markdown


def test_pair_matrix_is_drawn_when_the_pairs_cell_stores_one(tmp_path):
    rng = np.random.default_rng(3)
    matrix = (0.5 + 0.2 * rng.random((32, 32))).round(4).tolist()
    cells = [
        ResultCell(0, "cls", "full", [], {"eval": {METRIC: 0.9}}),
        ResultCell(0, "cls", "pairs", [1, 2], _scores(0.7, 0.69), details={"pair_matrix": matrix}),
    ]
    path = ResultsFile("probe", "sst2", METRIC, cells=cells).save(tmp_path / "r.json")
    paths = render_report([path], tmp_path / "out")
    assert "sst2_pairs.png" in [p.name for p in paths.plots]
