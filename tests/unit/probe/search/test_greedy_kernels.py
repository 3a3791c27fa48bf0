"""Greedy's picks and scores do not depend on which exact kernel re-fits a step.

Steps of 4+ dims re-fit their candidates with the shared-prefix kernel
(:mod:`probe.linear_prefix`) and read columns through the problem's column cache
(:mod:`probe.columns`), and the steps' picks are refit on all training rows in one loop
(:func:`probe.linear_prefix.fit_logistic_prefixes`); forcing every step through the
per-candidate kernel, the plain row-major slice and one refit per step must give the same
dims, the same validation and eval scores.
"""

from __future__ import annotations

import numpy as np
import pytest

import probe.linear_prefix
import probe.search.problem as problem_module
from probe.columns import ColumnCache
from probe.search import SearchConfig, get_method
from probe.search.problem import Problem

pytestmark = pytest.mark.torch_free


def planted_problem() -> Problem:
    """Hidden-state-like features; a dozen weakly informative dims decide late steps."""
    rng = np.random.default_rng(7)
    n_rows, n_dims = 4000, 48
    features = rng.standard_t(df=6, size=(n_rows, n_dims)) + 0.3 * rng.standard_normal((n_rows, 1))
    weights = np.zeros(n_dims)
    weights[[2, 9, 14, 21, 30, 33, 41, 44, 5, 17, 26, 38]] = np.linspace(1.0, 0.15, 12)
    labels = (features @ weights + rng.logistic(size=n_rows) > 0.2).astype(np.int64)
    features = features.astype(np.float32)
    return Problem.from_arrays(
        features[:3200],
        labels[:3200],
        features[3200:],
        labels[3200:],
        kind="binary",
        metrics=("accuracy", "mcc"),
        primary_metric="accuracy",
    )


def test_greedy_is_the_same_with_the_shared_prefix_kernel_and_column_cache(monkeypatch):
    config = SearchConfig(k=10)
    shared_prefix_fits: list[int] = []
    kernel = problem_module.fit_logistic_extensions
    monkeypatch.setattr(
        problem_module,
        "fit_logistic_extensions",
        lambda x, y, dims, **options: (
            shared_prefix_fits.append(len(dims)) or kernel(x, y, dims, **options)
        ),
    )
    fast = get_method("greedy")(planted_problem(), config)
    assert shared_prefix_fits == [config.greedy_top_k] * (
        config.k - probe.linear_prefix.MIN_SIZE_SHARED_START + 1
    )

    monkeypatch.setattr(probe.linear_prefix, "MIN_SIZE", 10**6)  # every step per candidate
    monkeypatch.setattr(probe.linear_prefix, "MIN_SIZE_SHARED_START", 10**6)
    monkeypatch.setattr(
        ColumnCache,
        "rows_major",
        lambda self, dims, rows: np.take(self.features[rows], dims, axis=1),
    )
    monkeypatch.setattr(
        ColumnCache,
        "features_major",
        lambda self, dims, rows: np.ascontiguousarray(self.features[rows][:, dims].T),
    )
    monkeypatch.setattr(  # every step's refit on all training rows on its own
        Problem,
        "fit_path_on_train",
        lambda self, fits: [self.fit_on_train(fit.dims, init=fit) for fit in fits],
    )
    plain = get_method("greedy")(planted_problem(), config)

    assert fast.dims == plain.dims
    assert len(set(fast.dims)) == 10
    assert fast.scores == plain.scores
    for ours, theirs in zip(fast.steps, plain.steps, strict=True):
        assert ours["dims"] == theirs["dims"]
        assert ours["validation"] == theirs["validation"]
        assert ours["eval"] == pytest.approx(theirs["eval"], abs=1e-12)
