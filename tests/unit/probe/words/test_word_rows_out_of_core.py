"""Word rows streamed out of core give the in-memory answers, method by method.

One small multi-class word problem (the toy treebank, 9 UPOS classes, layer 2, mean
subword pooling) is swept in memory and streamed in chunks of 40 tokens. Selection, the
all-dims probe's C (``c_grid`` is the one C out of core fits) and the random baseline's
rows are the same on both paths, so dims and scores agree to rounding — except greedy,
whose steps out of core are picked by the screen criterion alone (documented in
``probe.outofcore.methods``; here it picks another first dim). ``backward`` therefore
starts from the best pair, which both paths find.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from probe.words.sweep import WORD_SEARCH_CONFIG, WordSweepSpec, run_word_sweep

METHODS = ("full", "rank", "pairs", "greedy", "backward", "random", "control", "triples")


@pytest.fixture(scope="module")
def both_paths(word_caches):
    spec = WordSweepSpec(
        str(word_caches[0]),
        str(word_caches[1]),
        label="upos",
        layers=(2,),
        poolings=("mean",),
        methods=METHODS,
        config=replace(
            WORD_SEARCH_CONFIG,
            k=3,
            random_ks=(1, 2, 3),
            n_random_draws=5,
            c_grid=(1.0,),
            backward_start="pairs",
        ),
        chunk_tokens=40,  # many chunks
    )
    in_memory = run_word_sweep(replace(spec, out_of_core="never"))
    streamed = run_word_sweep(replace(spec, out_of_core="always"))
    return {c.method: c for c in in_memory.cells}, {c.method: c for c in streamed.cells}, streamed


def test_every_method_but_triples_runs_out_of_core(both_paths):
    _, streamed_cells, streamed = both_paths
    record = streamed.provenance["out_of_core"]
    assert record["methods"] == [m for m in METHODS if m != "triples"]
    assert record["skipped_methods"] == ["triples"]
    assert set(streamed_cells) == set(METHODS) - {"triples"}
    assert all(cell.details["out_of_core"] for cell in streamed_cells.values())


@pytest.mark.parametrize("method", ["full", "rank", "pairs", "backward"])
def test_searches_pick_the_same_dims_and_scores(both_paths, method):
    memory, streamed, _ = both_paths
    assert streamed[method].dims == memory[method].dims
    for metric in ("accuracy", "f1_macro"):
        assert streamed[method].eval_score(metric) == pytest.approx(
            memory[method].eval_score(metric), abs=1e-9
        )
    for memory_step, streamed_step in zip(
        memory[method].steps, streamed[method].steps, strict=True
    ):
        assert streamed_step["dims"] == memory_step["dims"]
        assert streamed_step["validation"] == pytest.approx(memory_step["validation"], abs=1e-9)
        assert streamed_step["eval"]["accuracy"] == pytest.approx(
            memory_step["eval"]["accuracy"], abs=1e-9
        )


def test_backward_drops_one_dim_per_step(both_paths):
    _, streamed, _ = both_paths
    steps = streamed["backward"].steps
    assert [step["k"] for step in steps] == [2, 1]
    assert steps[0]["dims"] == streamed["pairs"].dims and steps[0]["dropped"] is None
    assert streamed["backward"].details["start"] == "pairs"
    for before, after in itertools.pairwise(steps):
        assert sorted(after["dims"] + [after["dropped"]]) == sorted(before["dims"])


def test_random_draws_fit_the_same_rows_and_score_the_same(both_paths):
    memory, streamed, _ = both_paths
    assert streamed["random"].details["fit_rows"] == memory["random"].details["fit_rows"]
    assert len(streamed["random"].steps) == 3
    for memory_step, streamed_step in zip(
        memory["random"].steps, streamed["random"].steps, strict=True
    ):
        assert streamed_step["k"] == memory_step["k"]
        assert streamed_step["draw_scores"] == pytest.approx(memory_step["draw_scores"], abs=1e-12)
        assert streamed_step["mean"] == pytest.approx(memory_step["mean"], abs=1e-12)


def test_control_selectivity_per_method_and_k(both_paths):
    memory, streamed, _ = both_paths
    memory_steps = {(s["method"], s["k"]): s for s in memory["control"].steps}
    streamed_steps = {(s["method"], s["k"]): s for s in streamed["control"].steps}
    assert (
        set(streamed_steps)
        == set(memory_steps)
        == {
            ("full", 32),
            ("pairs", 2),
            ("greedy", 1),
            ("greedy", 2),
            ("greedy", 3),
        }
    )
    for key, step in streamed_steps.items():
        assert step["selectivity"] == step["real"] - step["control"]
        if key[0] != "greedy":  # greedy: picked by the screen out of core
            assert step["real"] == pytest.approx(memory_steps[key]["real"], abs=1e-9), key
            assert step["control"] == pytest.approx(memory_steps[key]["control"], abs=1e-9), key
    for greedy_step in streamed["greedy"].steps:  # the real side is this path's greedy cell
        step = streamed_steps[("greedy", greedy_step["k"])]
        assert step["real"] == greedy_step["eval"]["accuracy"]
        assert step["dims"] == greedy_step["dims"]
    for name in ("control_classes", "control_eval_rows_left_out"):
        assert streamed["control"].details[name] == memory["control"].details[name]


def test_cli_says_which_methods_were_skipped_out_of_core(word_caches, tmp_path, capsys):
    from probe.cli import main

    out = tmp_path / "upos.json"
    argv = ["probe", "--train", str(word_caches[0]), "--eval", str(word_caches[1])]
    argv += ["--label", "upos", "--layers", "2", "--k", "2", "--subword-pooling", "first"]
    argv += ["--methods", "pairs,triples", "--out-of-core", "always", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "word rows were probed out of core, where triples do not run" in printed
    assert "layer  2 first pairs" in printed
