"""``pairs``: every one of the D*(D-1)/2 dimension pairs, screened at once, top-K exact.

All pairs are priced from the Gram screen as one vectorised 2x2 solve (about 0.3 M
candidates at D = 768), the best ``pool_size`` are scored by the task metric, and the best
``top_k`` of those are re-fitted exactly; the winner is the best exact validation score.
"""

from __future__ import annotations

import numpy as np

from probe.search.base import MethodOutcome, SearchConfig
from probe.search.gram import GramScreen
from probe.search.problem import Problem
from probe.search.select import Shortlist, exhaustive_outcome, keep_best, shortlist


def all_pairs(n_dims: int) -> np.ndarray:
    """(D*(D-1)/2, 2) int64 pairs (j < k), lexicographic order."""
    first, second = np.triu_indices(n_dims, 1)
    return np.stack([first, second], axis=1).astype(np.int64)


def search(problem: Problem, config: SearchConfig) -> Shortlist:
    """The exact-refitted shortlist of pairs (memoised per problem for ``backward``)."""
    if "pairs" not in problem.memo:
        screen = GramScreen.for_problem(problem)
        candidates = all_pairs(problem.n_dims)
        coef, criterion = screen.extend(np.empty(0, np.int64), candidates)
        pool = keep_best(criterion, config.pool_size)
        problem.memo["pairs"] = shortlist(
            problem, screen, candidates[pool], coef[pool], criterion[pool], top_k=config.top_k
        )
    return problem.memo["pairs"]


def run(problem: Problem, config: SearchConfig) -> MethodOutcome:
    selected = search(problem, config)
    n_candidates = problem.n_dims * (problem.n_dims - 1) // 2
    return exhaustive_outcome(problem, selected, n_candidates, config.pool_size)
