"""``fewdims report``: the best k-dim subset is chosen on validation, never on the eval split.

A subset with no validation score falls back to eval and is flagged, so a reader knows.
"""

from __future__ import annotations

import math

import pytest

from probe.report import render_report
from probe.report.summary import Subset, best_subsets
from probe.results import ResultCell, ResultsFile
from tests.unit.probe.report.report_fixtures import (
    LAYERS,
    METRIC,
    POOLINGS,
    parse_table,
)

pytestmark = pytest.mark.torch_free


def test_best_2_dims_are_chosen_on_validation_not_eval(full_report, probe_results):
    """The fixture's greedy 2-dim step wins on eval but loses on validation to pairs."""
    _, markdown = full_report
    row = parse_table(markdown, "### Summary")[0]
    pairs = probe_results.find(LAYERS[0], POOLINGS[0], "pairs")[0]
    expected = f"{pairs.details['top'][0]['eval'][METRIC]:.3f} {pairs.details['top'][0]['dims']}"
    assert row["best 2 dims [dims]"] == expected
    greedy = probe_results.find(LAYERS[0], POOLINGS[0], "greedy")[0].steps[1]
    assert greedy["eval"][METRIC] > pairs.details["top"][0]["eval"][METRIC]


def test_best_subsets_prefers_validation_and_keeps_first_on_ties():
    def subset(method, dims, validation, eval_score):
        return Subset(0, "cls", method, tuple(dims), validation, {METRIC: eval_score})

    chosen = best_subsets(
        [
            subset("rank", [1], 0.60, 0.70),
            subset("greedy", [2], 0.65, 0.55),
            subset("pairs", [1, 2], 0.70, 0.60),
            subset("greedy", [1, 3], 0.70, 0.90),
            subset("triples", [1, 2, 3], math.nan, 0.75),
        ],
        METRIC,
    )
    assert chosen[1].method == "greedy" and chosen[1].dims == (2,)
    assert chosen[2].method == "pairs"
    assert chosen[3].eval(METRIC) == 0.75  # no validation recorded: falls back to eval


def test_subset_without_validation_is_flagged_as_chosen_on_eval(tmp_path):
    cells = [
        ResultCell(0, "cls", "full", [], {"eval": {METRIC: 0.9}}),
        ResultCell(0, "cls", "triples", [4, 5, 6], {"eval": {METRIC: 0.7}}),
    ]
    path = ResultsFile("probe", "sst2", METRIC, cells=cells).save(tmp_path / "r.json")
    markdown = render_report([path], tmp_path / "out").markdown.read_text(encoding="utf-8")
    row = parse_table(markdown, "### Summary")[0]
    assert row["best 3 dims [dims]"] == "0.700 [4, 5, 6] †"
    assert "no validation score was recorded" in markdown
