"""``--dims-from RESULTS.json:LAYER:POOLING:METHOD:K`` is ``ResultsFile.dims_choice`` of that file."""

from __future__ import annotations

from extract.finetune.dims import dims_from_results
from tests.unit.probe.test_results_dims_choice import probe_results


def test_string_form_gives_the_same_choice_as_the_method(tmp_path):
    path = probe_results().save(tmp_path / "r.json")
    expected = probe_results().dims_choice(2, "mean", "greedy", 2, source=str(path))
    assert expected.dims == [5, 9]
    assert dims_from_results(f"{path}:2:mean:greedy:2") == expected
    assert dims_from_results(f"{path}:::pairs") == probe_results().dims_choice(
        method="pairs", source=str(path)
    )
