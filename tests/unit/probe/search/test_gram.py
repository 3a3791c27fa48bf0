"""The closed-form Gram screen equals the direct computations it replaces."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from probe.linear import fit_logistic_subsets
from probe.search.gram import GramScreen, screen_ridge, screen_targets
from probe.search.problem import Problem
from probe.search.triples import screen_triples

pytestmark = pytest.mark.torch_free


def make(kind: str = "binary", n_classes: int = 2, seed: int = 0) -> Problem:
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((900, 10)).astype(np.float32) * np.linspace(0.5, 3, 10).astype(
        np.float32
    )
    score = features[:, 1] - 0.5 * features[:, 4] + rng.standard_normal(900)
    if kind == "regression":
        labels, metrics, primary = score, ("pearson",), "pearson"
    elif kind == "multiclass":
        labels, metrics, primary = np.digitize(score, [-1.0, 1.0]), ("accuracy",), "accuracy"
    else:
        labels, metrics, primary = (score > 0.8).astype(np.int64), ("accuracy",), "accuracy"
    return Problem.from_arrays(
        features[:700],
        labels[:700],
        features[700:],
        labels[700:],
        kind=kind,
        n_classes=n_classes,
        metrics=metrics,
        primary_metric=primary,
        C=0.7,
    )


def direct_ridge(problem: Problem, dims) -> np.ndarray:
    """Weighted ridge on the screen's targets, by scikit-learn, one output column at a time."""
    targets = screen_targets(problem.kind, problem.n_classes, problem.y_fit)
    ridge = screen_ridge(problem.kind, problem.C, problem.alpha)
    weight = problem.sample_weight(problem.y_fit)
    columns = problem.x_fit[:, list(dims)].astype(np.float64)
    return np.stack(
        [
            Ridge(alpha=ridge).fit(columns, targets[:, r], sample_weight=weight).coef_
            for r in range(targets.shape[1])
        ],
        axis=1,
    )


def direct_criterion(problem: Problem, screen: GramScreen, dims, coef) -> float:
    targets = screen_targets(problem.kind, problem.n_classes, problem.y_val)
    weight = problem.sample_weight(problem.y_val)
    weight = np.ones(len(targets)) if weight is None else weight
    fit = screen.subset_fit(np.array([dims]), coef[None])
    residual = targets - fit.decision(problem.x_val)[:, 0, :]
    return float(weight @ np.sum(residual**2, axis=1))


@pytest.mark.parametrize(
    ("kind", "n_classes"), [("binary", 2), ("multiclass", 3), ("regression", 1)]
)
def test_extend_equals_direct_ridge_and_criterion(kind, n_classes):
    problem = make(kind, n_classes)
    screen = GramScreen.build(problem)
    cases = [
        (np.empty(0, np.int64), np.array([[3]])),
        (np.empty(0, np.int64), np.array([[1, 4]])),
        (np.array([7]), np.array([[1, 4]])),  # a triple block
        (np.array([2, 9, 0]), np.array([[4]])),  # a greedy step
    ]
    for fixed, candidates in cases:
        coef, criterion = screen.extend(fixed, candidates)
        dims = [*fixed.tolist(), *candidates[0].tolist()]
        np.testing.assert_allclose(coef[0], direct_ridge(problem, dims), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(
            coef[0], screen.solve(np.array([dims]))[0], rtol=1e-8, atol=1e-10
        )
        assert criterion[0] == pytest.approx(
            direct_criterion(problem, screen, dims, coef[0]), rel=1e-4
        )


def test_binary_screen_is_the_first_newton_step():
    """One Newton iteration of the exact logistic probe from w = 0 lands on the screen."""
    problem = make()
    screen = GramScreen.build(problem)
    coef, _ = screen.extend(np.empty(0, np.int64), np.array([[1, 4]]))
    one_step = fit_logistic_subsets(
        problem.x_fit,
        problem.y_fit,
        np.array([[1, 4]]),
        C=problem.C,
        sample_weight=problem.sample_weight(problem.y_fit),
        max_iter=1,
    )
    np.testing.assert_allclose(one_step.coef[0], coef[0], rtol=1e-5)


def test_regression_screen_is_exact_ridge():
    problem = make("regression", 1)
    screen = GramScreen.build(problem)
    coef, _ = screen.extend(np.empty(0, np.int64), np.array([[1, 4]]))
    exact = problem.fit_on_fit(np.array([[1, 4]]))
    np.testing.assert_allclose(coef[0], exact.coef[0], rtol=1e-5)


def test_triple_pool_equals_brute_force_screen():
    problem = make()
    screen = GramScreen.build(problem)
    dims, _, criterion = screen_triples(screen, pool_size=15)
    import itertools

    every = np.array(list(itertools.combinations(range(10), 3)))
    all_coef = screen.solve(every)
    all_criterion = np.array(
        [direct_criterion(problem, screen, d, c) for d, c in zip(every, all_coef, strict=True)]
    )
    expected = every[np.argsort(all_criterion)[:15]]
    np.testing.assert_array_equal(dims, expected)
    np.testing.assert_allclose(criterion, np.sort(all_criterion)[:15], rtol=1e-4)
