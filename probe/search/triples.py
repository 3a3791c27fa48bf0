"""``triples``: all D*(D-1)*(D-2)/6 triples (75 M at D = 768), screened without the data.

Why blocks by first dim: the triples (i, j, k), i < j < k, sharing ``i`` are the pairs
(j, k) above ``i`` extended by a fixed dim, so one Schur elimination of ``i`` turns each
block into the vectorised pair screen. Memory stays at one block (at most D^2/2
candidates) plus the running pool; the loop runs over D first dims, never over triples.
Not a default method at D = 768: 75 M candidates cost 5-10 s per (layer, pooling) cell on a
2-core laptop (``reports/benchmarks/probe.md``), where pairs cost about one.
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
    single_output = screen.fit_cross.shape[1] == 1
    if single_output:  # pair entries of both Grams, gathered once for all blocks
        first, second = pairs[:, 0], pairs[:, 1]
        pair_fit_gram = screen.fit_gram[first, second]
        pair_val_gram = screen.val_gram[first, second]
    pool_dims = np.empty((0, 3), np.int64)
    pool_coef = np.empty((0, 3, screen.fit_cross.shape[1]))
    pool_criterion = np.empty(0)
    for fixed in range(n_dims - 2):
        begin = pair_start[fixed + 1]
        block = pairs[begin:]  # (j, k) with fixed < j < k
        if single_output:
            coef, criterion = _block_single_output(
                screen, fixed, block, pair_fit_gram[begin:], pair_val_gram[begin:]
            )
        else:
            coef, criterion = screen.extend(np.array([fixed]), block)
        if pool_criterion.size >= pool_size:  # only candidates that can enter the pool
            keep = np.flatnonzero(criterion < pool_criterion.max())
            block, coef, criterion = block[keep], coef[keep], criterion[keep]
        dims = np.concatenate([np.full((len(block), 1), fixed), block], axis=1)
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
            progress(fixed + 1, n_dims - 2)
    return pool_dims, pool_coef, pool_criterion


def _block_single_output(
    screen: GramScreen,
    fixed: int,
    block: np.ndarray,
    pair_fit_gram: np.ndarray,
    pair_val_gram: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``screen.extend([fixed], block)`` for one output column (binary, regression), written
    out as flat elementwise passes over the block's ~D^2/3 pairs.

    Why: the general ``extend`` handles any number of fixed dims and outputs with einsums
    over (m, p, r) stacks, which at 75 M triples spent more time on stacking and small
    einsum dispatch than on arithmetic. Same formulas in the same order (a test checks the
    two agree); ``pair_fit_gram`` / ``pair_val_gram`` are ``A[j, k]`` / ``Gv[j, k]`` of the
    block's pairs, gathered once for all blocks by the caller. Returns coef (m, 3, 1) in the
    order fixed, j, k and the criterion (m,).
    """
    gram, cross = screen.fit_gram, screen.fit_cross[:, 0]
    val_gram, val_cross = screen.val_gram, screen.val_cross[:, 0]
    gram_fixed = gram[fixed]  # (D,)
    eliminator = gram_fixed / gram[fixed, fixed]  # z (D,)
    fixed_solution = cross[fixed] / gram[fixed, fixed]  # u
    reduced_diag = np.diag(gram) - gram_fixed * eliminator
    reduced_cross = cross - gram_fixed * fixed_solution
    first, second = block[:, 0], block[:, 1]
    diag_first, diag_second = reduced_diag[first], reduced_diag[second]
    cross_first, cross_second = reduced_cross[first], reduced_cross[second]
    off = pair_fit_gram - gram_fixed[first] * eliminator[second]
    inverse_det = 1.0 / (diag_first * diag_second - off * off)
    coef_first = (diag_second * cross_first - off * cross_second) * inverse_det
    coef_second = (diag_first * cross_second - off * cross_first) * inverse_det
    del diag_first, diag_second, cross_first, cross_second, off, inverse_det
    fixed_coef = fixed_solution - (
        eliminator[first] * coef_first + eliminator[second] * coef_second
    )
    # validation weighted squared error, as GramScreen._criterion sums it
    linear = coef_first * val_cross[first] + coef_second * val_cross[second]
    linear += fixed_coef * val_cross[fixed]
    val_diag = np.diag(val_gram)
    quad = val_diag[first] * (coef_first * coef_first)
    quad += val_diag[second] * (coef_second * coef_second)
    quad += 2 * pair_val_gram * (coef_first * coef_second)
    quad += fixed_coef * val_gram[fixed, fixed] * fixed_coef
    val_fixed = val_gram[fixed]
    cross_term = val_fixed[first] * coef_first + val_fixed[second] * coef_second
    quad += 2 * (fixed_coef * cross_term)
    criterion = screen.val_total - 2 * linear + quad
    coef = np.stack([fixed_coef, coef_first, coef_second], axis=1)[:, :, None]
    return coef, criterion


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
