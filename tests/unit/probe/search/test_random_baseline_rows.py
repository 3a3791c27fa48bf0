"""The random baseline fits every draw of one k as one batched problem, on a seeded subsample
of at most RANDOM_FIT_ROWS training rows, and keeps its summary statistics."""

from __future__ import annotations

import numpy as np

from probe.linear import balanced_sample_weight, fit_logistic_subsets
from probe.search import SearchConfig, random_baseline
from probe.search.problem import Problem


def _problem(n_train: int) -> Problem:
    rng = np.random.default_rng(3)
    features = rng.standard_normal((n_train + 300, 20)).astype(np.float32)
    labels = (features[:, 2] - features[:, 5] + rng.standard_normal(n_train + 300) > 0).astype(
        np.int64
    )
    return Problem.from_arrays(
        features[:n_train],
        labels[:n_train],
        features[n_train:],
        labels[n_train:],
        kind="binary",
        metrics=("accuracy",),
        primary_metric="accuracy",
    )


def test_one_batched_fit_per_k_on_the_capped_rows(monkeypatch):
    monkeypatch.setattr(random_baseline, "RANDOM_FIT_ROWS", 400)
    problem = _problem(1000)
    calls = []
    original = Problem.fit

    def counting_fit(self, x, y, dims, init=None):
        calls.append((x.shape[0], dims.shape))
        return original(self, x, y, dims, init)

    monkeypatch.setattr(Problem, "fit", counting_fit)
    config = SearchConfig(k=4, n_random_draws=200, random_ks=(1, 2, 4))
    outcome = random_baseline.run(problem, config)
    assert calls == [(400, (200, 1)), (400, (200, 2)), (400, (200, 4))]
    assert outcome.details["fit_rows"] == 400
    # draw_scores: per-draw eval scores, moved to the predictions sidecar by the sweep
    expected = {
        "k",
        "n_draws",
        "mean",
        "sd",
        "q05",
        "q25",
        "median",
        "q75",
        "q95",
        "draw_scores",
    }
    assert [step["k"] for step in outcome.steps] == [1, 2, 4]
    assert all(set(step) == expected and step["n_draws"] == 200 for step in outcome.steps)


def test_slices_within_the_cap_fit_on_every_row():
    problem = _problem(600)
    outcome = random_baseline.run(problem, SearchConfig(k=2, n_random_draws=30, random_ks=(2,)))
    assert outcome.details["fit_rows"] == 600 and random_baseline.RANDOM_FIT_ROWS >= 2_048


def test_no_scored_draw_gives_a_null_summary_not_an_error():
    """Spearman is undefined for a constant prediction: layer 0 ``cls`` is one vector for
    every sentence, so every draw scores NaN (this crashed the MPNet STS-B sweep)."""
    rng = np.random.default_rng(5)
    x_train = np.ones((300, 12), dtype=np.float32)
    x_eval = np.ones((80, 12), dtype=np.float32)
    problem = Problem.from_arrays(
        x_train,
        rng.uniform(0, 5, 300),
        x_eval,
        rng.uniform(0, 5, 80),
        kind="regression",
        metrics=("spearman", "pearson"),
        primary_metric="spearman",
    )
    outcome = random_baseline.run(problem, SearchConfig(k=2, n_random_draws=20, random_ks=(1, 2)))
    assert [step["k"] for step in outcome.steps] == [1, 2]
    for step in outcome.steps:
        assert step["n_draws"] == 20
        assert np.isnan(step["mean"]) and np.isnan(step["median"]) and np.isnan(step["q95"])
        assert np.isnan(step["draw_scores"]).all()


def test_warm_start_is_the_first_newton_step_from_zero_and_keeps_the_optimum():
    """``first_steps`` gives each draw the probe after one (undamped) Newton step from zero,
    from one Gram matrix; fits that start there reach the optimum the zero start reaches."""
    problem = _problem(1000)
    x, y = problem.x_train[:700], problem.y_train[:700]
    weight = balanced_sample_weight(y, 2)
    draws = random_baseline.draw_subsets(problem.n_dims, 4, 30, seed=0)
    start = random_baseline.first_steps(x, y, weight, problem.C)(draws)

    # the step by hand: scikit-learn's objective C * sum w_i loss_i + |coef|^2 / 2, at zero
    for row, dims in enumerate(draws):
        design = np.column_stack([x[:, dims].astype(np.float64), np.ones(len(y))])
        scaled = problem.C * weight
        gradient = design.T @ (scaled * (0.5 - y))
        hessian = design.T @ (design * (0.25 * scaled)[:, None])
        hessian[np.arange(4), np.arange(4)] += 1.0  # the intercept (last) is not penalised
        step = -np.linalg.solve(hessian, gradient)
        # the Gram is a float32 product (accumulated in float64 per row block): ~1e-6 relative
        np.testing.assert_allclose(start.coef[row, :, 0], step[:4], rtol=1e-5, atol=1e-8)
        np.testing.assert_allclose(start.intercept[row, 0], step[4], rtol=1e-5, atol=1e-8)

    from_zero = fit_logistic_subsets(x, y, draws, C=problem.C, sample_weight=weight)
    warm = fit_logistic_subsets(x, y, draws, C=problem.C, sample_weight=weight, init=start)
    np.testing.assert_allclose(warm.coef, from_zero.coef, rtol=0, atol=1e-7)
    np.testing.assert_allclose(warm.intercept, from_zero.intercept, rtol=0, atol=1e-7)


def test_draws_are_the_smallest_keys_of_a_seeded_uniform_row():
    """Each draw is the ``size`` dims with the smallest seeded uniform keys, sorted: found by
    partition, the same draws a full argsort of the keys gives (results stay comparable)."""
    for n_dims, size, seed in ((20, 1, 0), (20, 7, 3), (384, 16, 0), (12, 12, 5)):
        keys = np.random.default_rng([seed, size]).random((50, n_dims))
        expected = np.sort(np.argsort(keys, axis=1)[:, :size], axis=1)
        drawn = random_baseline.draw_subsets(n_dims, size, 50, seed)
        np.testing.assert_array_equal(drawn, expected)
