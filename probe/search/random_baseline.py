"""``random``: how good are k *random* dims? The floor a selected subset must beat.

For each k, ``n_random_draws`` subsets of k distinct dims are drawn (seeded by seed and k),
fitted exactly on training rows and scored on eval; ``steps`` give the distribution of the
eval primary metric. No selection happens, so no validation split is involved.

Why at most ``RANDOM_FIT_ROWS`` (2,048) training rows: 200 draws x 6 sizes is 1,200 exact
probes of up to 17 parameters per (layer, pooling) cell. Each Newton iteration streams every
draw's rows, so the baseline's cost is proportional to the rows it fits on: on 20,000 rows
it was 59% of a default ``fewdims run`` sweep (121 of 206 s); on 2,048 rows it is 7-9x
faster on a MiniLM SST-2 slice (``reports/benchmarks/probe.md``). What it costs in fidelity,
measured on three MiniLM SST-2 slices against fitting on all 20,000 rows
(``tests/benchmarks/bench_probe.py``): every k's mean, sd and quantiles moved by at most
0.010 accuracy (0.35 sd of the draws), the means by -0.002 on average (fewer rows, slightly
worse probes: the floor a selection must beat is that much lower). The subsample is seeded
and recorded in ``details``; every draw of every k fits on the same rows, and all draws
of one k are one batched Newton problem. Binary draws start from the first Newton step, for
all draws at once from one Gram matrix of those rows (:func:`first_steps`), and each leaves
the batch when it has converged: together 1.5x faster over the 21 slices of the MiniLM
SST-2 sweep (6.0 s -> 3.9 s), every draw's eval score unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from probe.linear import SubsetFit
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.gram import GramScreen
from probe.search.problem import Problem

RANDOM_FIT_ROWS = 2_048
QUANTILES = {"q05": 0.05, "q25": 0.25, "median": 0.5, "q75": 0.75, "q95": 0.95}


def draw_subsets(n_dims: int, size: int, n_draws: int, seed: int) -> np.ndarray:
    """(n_draws, size) distinct dims per row, sorted; seeded by (seed, size)."""
    rng = np.random.default_rng([seed, size])
    keys = rng.random((n_draws, n_dims))
    # the dims of the `size` smallest keys per row (what a full argsort's first `size` are:
    # the keys are distinct), found by partitioning instead of sorting all n_dims
    if size < n_dims:
        return np.sort(np.argpartition(keys, size - 1, axis=1)[:, :size], axis=1)
    return np.sort(np.argsort(keys, axis=1)[:, :size], axis=1)


def fit_rows(n_train: int, seed: int) -> np.ndarray | None:
    """The training rows every draw is fitted on (sorted positions in the problem's row order:
    fit rows, then validation rows), or None for all of them. Out-of-core probing
    (``probe.outofcore.random_baseline``) draws the same positions."""
    if n_train <= RANDOM_FIT_ROWS:
        return None
    rng = np.random.default_rng([seed, 1])
    return np.sort(rng.choice(n_train, RANDOM_FIT_ROWS, replace=False))


def first_steps(
    x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None, C: float
) -> Callable[[np.ndarray], SubsetFit]:
    """Warm starts for binary draws fitted on rows ``x`` / ``y``: draws (m, k) -> their probes
    after the first Newton step from zero, solved from one Gram matrix of the rows.

    Why: from zero, every draw's first Newton pass over its rows only computes that step,
    which the Gram screen gives for all draws of all k at once (one ``X'X`` of the rows plus a
    k x k solve per draw); starting there the exact fits reach the same optimum one pass
    sooner (the random baseline measured 14-26% faster on MiniLM SST-2 slices, every draw's
    eval score unchanged).
    """
    screen = GramScreen.for_rows(x, y, sample_weight, C)
    return lambda draws: screen.subset_fit(draws, screen.solve(draws))


def sizes(n_dims: int, config: SearchConfig) -> list[int]:
    """The subset sizes the baseline draws (those of ``config`` that fit in ``n_dims``)."""
    return [size for size in config.ks_for_random if size <= n_dims]


def step_record(size: int, scores: np.ndarray) -> dict[str, Any]:
    """One k's step: the draws' eval scores (n_draws,) summarised (NaN draws left out).

    A draw's score is NaN where the metric is undefined, e.g. Spearman of a probe that
    predicts one constant (layer 0 ``cls`` is the same vector for every example); when no
    draw has a score the summary is NaN too (null in the results file), not an error.
    """
    finite = scores[np.isfinite(scores)]
    step = {
        "k": size,
        "n_draws": len(scores),
        "mean": float(np.mean(finite)) if finite.size else math.nan,
        "sd": float(np.std(finite, ddof=1))
        if finite.size > 1
        else 0.0
        if finite.size
        else math.nan,
        # per-draw eval scores; the sweep moves them to the predictions sidecar
        "draw_scores": scores.tolist(),
    }
    step.update(
        {
            name: float(np.quantile(finite, q)) if finite.size else math.nan
            for name, q in QUANTILES.items()
        }
    )
    return step


def run(problem: Problem, config: SearchConfig) -> MethodOutcome:
    rows = fit_rows(problem.x_train.shape[0], config.seed)
    if rows is not None:
        x_rows, y_rows = problem.x_train[rows], problem.y_train[rows]
    else:
        x_rows, y_rows = problem.x_train, problem.y_train
    start = None
    if problem.kind == "binary":
        start = first_steps(x_rows, y_rows, problem.sample_weight(y_rows), problem.C)
    steps = []
    for size in sizes(problem.n_dims, config):
        draws = draw_subsets(problem.n_dims, size, config.n_random_draws, config.seed)
        fit = problem.fit(x_rows, y_rows, draws, init=None if start is None else start(draws))
        steps.append(
            step_record(size, problem.primary(problem.y_eval, fit.predict(problem.x_eval)))
        )
    return MethodOutcome(
        dims=[], steps=steps, details={"fit_rows": len(y_rows), "metric": problem.primary_metric}
    )
