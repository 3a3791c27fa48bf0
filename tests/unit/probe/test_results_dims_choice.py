"""``ResultsFile.dims_choice``: the best validation cell's dims, typed, without torch."""

from __future__ import annotations

import pytest

from probe.errors import ResultsError
from probe.results import DimsChoice, ResultCell, ResultsFile

pytestmark = pytest.mark.torch_free


def probe_results() -> ResultsFile:
    def cell(layer, pooling, method, dims, validation, eval_score, steps=()):
        return ResultCell(
            layer,
            pooling,
            method,
            dims=dims,
            scores={"validation": {"accuracy": validation}, "eval": {"accuracy": eval_score}},
            steps=list(steps),
        )

    greedy_steps = [
        {"k": 1, "dims": [5], "validation": 0.7, "eval": {"accuracy": 0.69}},
        {"k": 2, "dims": [5, 9], "validation": 0.8, "eval": {"accuracy": 0.78}},
    ]
    return ResultsFile(
        kind="probe",
        task="sst2",
        primary_metric="accuracy",
        provenance={"model": "m", "train_cache": {"weights_sha256": "abc"}},
        cells=[
            cell(1, "cls", "full", [], 0.99, 0.98),  # all dims: never a choice unless asked
            cell(1, "cls", "pairs", [3, 4], 0.81, 0.5),
            cell(2, "mean", "pairs", [1, 2], 0.85, 0.9),  # best validation pair
            cell(2, "mean", "greedy", [5, 9, 11], 0.9, 0.6, greedy_steps),
        ],
    )


def test_best_validation_cell_wins_and_its_layer_and_pooling_come_along():
    choice = probe_results().dims_choice(method="pairs", source="r.json")
    assert isinstance(choice, DimsChoice)
    assert (choice.dims, choice.layer, choice.pooling) == ([1, 2], 2, "mean")
    assert choice.frozen_probe_eval == {"accuracy": 0.9}
    assert choice.weights_sha256 == ["abc"]
    assert choice.source["path"] == "r.json" and choice.source["validation"] == 0.85


def test_without_a_method_only_subset_cells_count_and_k_takes_the_step():
    results = probe_results()
    assert results.dims_choice().dims == [5, 9, 11]
    two = results.dims_choice(method="greedy", k=2)
    assert two.dims == [5, 9] and two.frozen_probe_eval == {"accuracy": 0.78}
    assert results.dims_choice(layer=1).dims == [3, 4]


def test_no_match_and_wrong_kind_name_the_cells_and_the_fix():
    results = probe_results()
    with pytest.raises(ResultsError, match=r"no cell .* layer=7.*\(1, 'cls', 'full'\)"):
        results.dims_choice(layer=7)
    with pytest.raises(ResultsError, match="no 4-dim step"):
        results.dims_choice(method="pairs", k=4)
    results.kind = "finetune"
    with pytest.raises(ResultsError, match="written by `fewdims probe`"):
        results.dims_choice()
