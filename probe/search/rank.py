"""``rank``: every single dimension on its own, and three rankings users can compare.

* ``univariate``: all D one-dim screens scored on validation by the task metric, the best
  ``top_k`` re-fitted exactly (those lead the ordering, by exact score);
* ``l1``: order of entry along the lasso path of the screen's least-squares problem
  (LARS on the Gram matrix — no extra data pass); one path per output column for
  multiclass tasks, a dim entering at its earliest step;
* ``weight``: NeuroX-style mass ``sum_r |w_dr|`` of the all-dims probe on standardised
  features.

``steps`` fit the top-k of the univariate ordering as a set, k = 1..config.k.
``details["per_dim_validation"]`` holds the screen models' validation scores (all D).
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import lars_path_gram

from probe.linear import solver_warnings
from probe.metrics import rank_key
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.full import full_probe
from probe.search.gram import GramScreen
from probe.search.problem import Problem
from probe.search.select import (
    Shortlist,
    exact_shortlist,
    extend_fit,
    final_scores,
    shortlist,
    top_records,
)

L1_MAX_STEPS = 100


def l1_order(
    screen: GramScreen, n_fit: int, max_steps: int = L1_MAX_STEPS, notes: list[str] | None = None
) -> np.ndarray:
    """Dims by the lasso-path step at which they first enter (ties and never-entered: by index).

    LARS warnings (a degenerate active set, an early stop) are appended to ``notes``.
    """
    n_dims = screen.n_dims
    gram = screen.fit_gram.copy()
    gram[np.diag_indices_from(gram)] -= screen.ridge  # the plain least-squares Gram
    entry = np.full(n_dims, np.inf)
    for column in range(screen.fit_cross.shape[1]):
        with solver_warnings() as caught:
            _, _, coefs = lars_path_gram(
                screen.fit_cross[:, column],
                gram,
                n_samples=n_fit,
                method="lasso",
                max_iter=min(max_steps, n_dims),
            )
        if notes is not None:
            notes.extend(line for line in caught if line not in notes)
        nonzero = coefs != 0  # (D, n_steps)
        first_step = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), np.inf)
        entry = np.minimum(entry, first_step)
    return np.lexsort((np.arange(n_dims), entry))


def best_singles(
    problem: Problem, config: SearchConfig
) -> tuple[Shortlist, np.ndarray, np.ndarray]:
    """Every dim alone: the exact-refitted top ``top_k`` and, for all D dims, the screen
    models' validation scores and criterion (each (D,))."""
    screen = GramScreen.for_problem(problem)
    singles = np.arange(problem.n_dims, dtype=np.int64)[:, None]
    coef, criterion = screen.extend(np.empty(0, np.int64), singles)
    per_dim = problem.validation_primary(screen.subset_fit(singles, coef))
    return (
        shortlist(problem, screen, singles, coef, criterion, top_k=config.top_k),
        per_dim,
        criterion,
    )


def run(problem: Problem, config: SearchConfig) -> MethodOutcome:
    selected, per_dim, criterion = best_singles(problem, config)
    finals = final_scores(problem, selected)
    leaders = selected.dims[:, 0]
    rest = np.setdiff1d(np.arange(problem.n_dims), leaders)
    rest = rest[np.lexsort((criterion[rest], -rank_key(per_dim[rest])))]
    univariate = np.concatenate([leaders, rest])
    fitted_here = "full_probe" not in problem.memo  # else ``full`` recorded its warnings
    full = full_probe(problem)
    weight_mass = np.abs(full.coef[0]).sum(axis=1)  # (D,)
    notes = list(full.solver_warnings) if fitted_here else []
    orderings = {
        "univariate": univariate.tolist(),
        "l1": l1_order(GramScreen.for_problem(problem), problem.n_fit, notes=notes).tolist(),
        "weight": np.lexsort((np.arange(problem.n_dims), -weight_mass)).tolist(),
    }
    steps = []
    previous = None  # the last step's exact probe: each step warm-starts from it, new dim at 0
    for size in range(1, min(config.k, problem.n_dims) + 1):
        dims = univariate[None, :size]
        warm = previous is not None and problem.is_classification
        init = extend_fit(previous, dims) if warm else None
        subset = exact_shortlist(problem, dims, init=init)
        previous = subset.exact
        subset_finals = final_scores(problem, subset)
        steps.append(
            {
                "k": size,
                "dims": univariate[:size].tolist(),
                "validation": float(subset.validation[0]),
                "eval": subset_finals.eval[0],
            }
        )
    details = {
        "per_dim_validation": per_dim.tolist(),
        "per_dim_source": "screen",
        "orderings": orderings,
        "top": top_records(selected, finals),
    }
    if notes:
        details["solver_warnings"] = notes
    return MethodOutcome(
        dims=[int(leaders[0])], scores=finals.scores(), steps=steps, details=details
    )
