"""Word rows streamed out of core give the in-memory answers (rank's best dim, pairs)."""

from __future__ import annotations

from dataclasses import replace

from probe.words.sweep import WORD_SEARCH_CONFIG, WordSweepSpec, run_word_sweep


def test_streamed_word_rows_match_in_memory(word_caches):
    spec = WordSweepSpec(
        str(word_caches[0]),
        str(word_caches[1]),
        label="upos",
        layers=(2,),
        poolings=("mean",),
        methods=("rank", "pairs", "greedy"),
        config=replace(WORD_SEARCH_CONFIG, k=2),
        chunk_tokens=40,  # many chunks
    )
    in_memory = run_word_sweep(replace(spec, out_of_core="never"))
    streamed = run_word_sweep(replace(spec, out_of_core="always"))
    assert streamed.provenance["out_of_core"]["methods"] == ["rank", "pairs", "greedy"]
    by_method = {cell.method: cell for cell in in_memory.cells}
    for cell in streamed.cells:
        if cell.method in ("rank", "pairs"):
            assert cell.dims == by_method[cell.method].dims, cell.method
            for metric in ("accuracy", "f1_macro"):
                assert (
                    abs(cell.eval_score(metric) - by_method[cell.method].eval_score(metric)) < 1e-9
                )
        assert set(cell.scores["eval"]) >= {"accuracy", "f1_macro"}
