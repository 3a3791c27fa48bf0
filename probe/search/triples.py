"""``triples``: all D*(D-1)*(D-2)/6 triples (75 M at D = 768), screened without the data.

Why blocks by first dim: the triples (i, j, k), i < j < k, sharing ``i`` are the pairs
(j, k) above ``i`` extended by a fixed dim, so one Schur elimination of ``i`` turns each
block into the vectorised pair screen. Memory stays at one block (at most D^2/2
candidates) plus the running pool; the loop runs over D first dims, never over triples.
Not a default method at D = 768: 75 M candidates cost tens of seconds per (layer, pooling)
cell on a laptop, where pairs cost about one.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from probe.search.base import MethodOutcome, SearchConfig
from probe.search.gram import GramScreen
from probe.search.pairs import all_pairs
from probe.search.problem import Problem
from probe.search.select import Shortlist, exhaustive_outcome, keep_best, shortlist


def screen_triples(
    screen: GramScreen, pool_size: int, progress: Callable[[int, int], None] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best ``pool_size`` triples by the screen criterion -> dims (P, 3), coef (P, 3, r), criterion (P,)."""
    n_dims = screen.n_dims
    pairs = all_pairs(n_dims)
    # pairs with first element >= i start at pair_start[i]
    pair_start = np.concatenate([[0], np.cumsum(np.arange(n_dims - 1, 0, -1))])
    pool_dims = np.empty((0, 3), np.int64)
    pool_coef = np.empty((0, 3, screen.fit_cross.shape[1]))
    pool_criterion = np.empty(0)
    for first in range(n_dims - 2):
        block = pairs[pair_start[first + 1] :]  # (j, k) with first < j < k
        coef, criterion = screen.extend(np.array([first]), block)
        if pool_criterion.size >= pool_size:  # only candidates that can enter the pool
            keep = criterion < pool_criterion.max()
            block, coef, criterion = block[keep], coef[keep], criterion[keep]
        dims = np.concatenate([np.full((len(block), 1), first), block], axis=1)
        pool_dims = np.concatenate([pool_dims, dims])
        pool_coef = np.concatenate([pool_coef, coef])
        pool_criterion = np.concatenate([pool_criterion, criterion])
        best = keep_best(pool_criterion, pool_size)
        pool_dims, pool_coef, pool_criterion = (
            pool_dims[best],
            pool_coef[best],
            pool_criterion[best],
        )
        if progress is not None:
            progress(first + 1, n_dims - 2)
    return pool_dims, pool_coef, pool_criterion


def search(problem: Problem, config: SearchConfig) -> Shortlist:
    """The exact-refitted shortlist of triples (memoised per problem for ``backward``)."""
    if "triples" not in problem.memo:
        screen = GramScreen.for_problem(problem)
        dims, coef, criterion = screen_triples(screen, config.pool_size)
        problem.memo["triples"] = shortlist(
            problem, screen, dims, coef, criterion, top_k=config.top_k
        )
    return problem.memo["triples"]


def run(problem: Problem, config: SearchConfig) -> MethodOutcome:
    selected = search(problem, config)
    n_dims = problem.n_dims
    n_candidates = n_dims * (n_dims - 1) * (n_dims - 2) // 6
    return exhaustive_outcome(problem, selected, n_candidates, config.pool_size)
