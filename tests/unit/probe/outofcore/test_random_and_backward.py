"""``random`` and ``backward`` out of core: the in-memory answers, from chunked passes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from probe.cache import Cache
from probe.search import SearchConfig
from probe.sweep import SweepSpec, plan, run_sweep
from tests.synthetic_cache import SIGNAL_DIMS, write_synthetic_cache

pytestmark = pytest.mark.torch_free

CONFIG = SearchConfig(k=3, top_k=10, pool_size=40, n_random_draws=7, random_ks=(1, 2, 3))


@pytest.fixture(scope="module")
def caches(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ooc-baselines")
    # 3,000 training examples: more than the random baseline's 2,048 fit rows
    train = write_synthetic_cache(folder / "train.h5", n_examples=3000, seed=1, split="train")
    dev = write_synthetic_cache(folder / "dev.h5", n_examples=300, seed=2, split="dev")
    return train, dev


def test_gathered_token_rows_are_the_positions_of_the_in_memory_row_order(caches):
    """Several rows per example: positions count rows example by example, fit examples
    first, then validation examples (the order Problem.x_train would hold them in)."""
    from probe.outofcore.group import load_problem

    train, dev = caches
    spec = SweepSpec(
        str(train), str(dev), poolings=("tokens",), methods=("random",), chunk_rows=333
    )
    facts, _, _ = plan(spec)
    problem = load_problem(spec, facts, 1, "tokens")
    with Cache.open(train) as cache:
        words = ~cache.special_tokens()
        owner = np.repeat(np.arange(cache.n_examples), cache.lengths)[words]
        rows = cache.layer_tokens(1)[words]
    rows -= problem.feature_mean.astype(np.float32)
    rows *= (1.0 / problem.feature_scale).astype(np.float32)
    examples = np.concatenate(
        [np.flatnonzero(~problem.is_validation), np.flatnonzero(problem.is_validation)]
    )
    in_order = np.concatenate([np.flatnonzero(owner == example) for example in examples])
    positions = np.sort(np.random.default_rng(5).choice(in_order.size, 500, replace=False))
    x, y = problem.gather_train_rows(positions)
    np.testing.assert_array_equal(x, rows[in_order[positions]])
    np.testing.assert_array_equal(y, problem.train_labels[owner[in_order[positions]]])
    np.testing.assert_array_equal(problem.rows_per_example, np.bincount(owner))


@pytest.fixture(scope="module")
def pooled_runs(caches):
    train, dev = caches
    spec = SweepSpec(
        str(train),
        str(dev),
        layers=(1,),
        poolings=("mean",),
        methods=("random", "backward"),
        config=replace(CONFIG, backward_start="pairs"),
        chunk_rows=97,
    )
    in_memory = run_sweep(replace(spec, out_of_core="never"))
    streamed = run_sweep(replace(spec, out_of_core="always"))
    return {c.method: c for c in in_memory.cells}, {c.method: c for c in streamed.cells}


def draw_scores(cell) -> list[np.ndarray]:
    """Per-draw eval scores of each k (the sweep keeps them in the predictions sidecar)."""
    return [cell.predictions[f"steps/{i}/draw_scores"] for i in range(len(cell.steps))]


def test_random_baseline_fits_the_same_capped_rows(pooled_runs):
    memory, streamed = pooled_runs
    assert streamed["random"].details["fit_rows"] == memory["random"].details["fit_rows"] == 2048
    assert [s["k"] for s in streamed["random"].steps] == [s["k"] for s in memory["random"].steps]
    for memory_draws, streamed_draws in zip(
        draw_scores(memory["random"]), draw_scores(streamed["random"]), strict=True
    ):
        assert len(streamed_draws) == 7
        np.testing.assert_array_equal(streamed_draws, memory_draws)
    for memory_step, streamed_step in zip(
        memory["random"].steps, streamed["random"].steps, strict=True
    ):
        assert streamed_step["mean"] == pytest.approx(memory_step["mean"], abs=1e-12)
    assert streamed["random"].details["metric"] == memory["random"].details["metric"] == "accuracy"


def test_backward_from_the_best_pair_matches_in_memory(pooled_runs):
    memory, streamed = pooled_runs
    assert sorted(streamed["backward"].dims) == sorted(SIGNAL_DIMS)
    assert streamed["backward"].dims == memory["backward"].dims
    assert streamed["backward"].details["start"] == "pairs"
    for memory_step, streamed_step in zip(
        memory["backward"].steps, streamed["backward"].steps, strict=True
    ):
        assert streamed_step["dims"] == memory_step["dims"]
        assert streamed_step["dropped"] == memory_step["dropped"]
        assert streamed_step["validation"] == pytest.approx(memory_step["validation"], abs=1e-9)
        for metric, value in memory_step["eval"].items():
            assert streamed_step["eval"][metric] == pytest.approx(value, abs=1e-9)
    for metric, value in memory["backward"].scores["train"].items():
        assert streamed["backward"].scores["train"][metric] == pytest.approx(value, abs=1e-9)
