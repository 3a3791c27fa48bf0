"""``full``: the all-dimensions probe, the reference line every subset is compared with.

Regularisation is chosen on the inner validation split from ``config.c_grid`` (logistic)
or ``config.alpha_grid`` (ridge), then the probe is refit on all training rows. Fitted by
scikit-learn itself (``probe.linear.fit_full``). The refit probe is memoised for ``rank``'s
weight-mass ordering.
"""

from __future__ import annotations

import numpy as np

from probe.linear import SubsetFit, fit_full
from probe.metrics import rank_key
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.problem import Problem


def _fit(
    problem: Problem, x: np.ndarray, y: np.ndarray, strength: float, init: SubsetFit | None = None
) -> SubsetFit:
    if problem.is_classification:
        return fit_full(
            x,
            y,
            kind=problem.kind,
            C=strength,
            sample_weight=problem.sample_weight(y),
            n_classes=problem.n_classes,
            init=init,
        )
    return fit_full(x, y, kind="regression", alpha=strength)


def run(problem: Problem, config: SearchConfig) -> MethodOutcome:
    grid = config.c_grid if problem.is_classification else config.alpha_grid
    # Classification: walk C upwards, each fit warm-started from the previous (weak
    # regularisation is where L-BFGS needs many iterations; a nearby start saves most).
    order = np.argsort(grid) if problem.is_classification else np.arange(len(grid))
    fits: list[SubsetFit | None] = [None] * len(grid)
    previous = None
    for position in order:
        fits[position] = previous = _fit(
            problem, problem.x_fit, problem.y_fit, grid[position], previous
        )
    validation = np.array([problem.validation_primary(fit)[0] for fit in fits])
    best = int(np.argmax(rank_key(validation)))  # first in grid order among ties
    init = fits[best] if problem.is_classification else None
    train_fit = _fit(problem, problem.x_train, problem.y_train, grid[best], init)
    problem.memo["full_probe"] = train_fit
    scores = {
        "train": problem.all_metrics(problem.y_train, train_fit.predict(problem.x_train))[0],
        "validation": problem.all_metrics(problem.y_val, fits[best].predict(problem.x_val))[0],
        "eval": problem.all_metrics(problem.y_eval, train_fit.predict(problem.x_eval))[0],
    }
    details = {
        "C": grid[best] if problem.is_classification else None,
        "grid": [
            {"value": value, "validation": float(score)}
            for value, score in zip(grid, validation, strict=True)
        ],
    }
    if not problem.is_classification:
        details["alpha"] = grid[best]
    unconverged = [
        line for fit in (*fits, train_fit) if fit is not None for line in fit.solver_warnings
    ]
    if unconverged:
        details["solver_warnings"] = list(dict.fromkeys(unconverged))
    return MethodOutcome(dims=[], scores=scores, details=details)


def full_probe(problem: Problem) -> SubsetFit:
    """The memoised all-dims probe, or one fitted at the problem's C / alpha on all train rows."""
    if "full_probe" not in problem.memo:
        strength = problem.C if problem.is_classification else problem.alpha
        problem.memo["full_probe"] = _fit(problem, problem.x_train, problem.y_train, strength)
    return problem.memo["full_probe"]
