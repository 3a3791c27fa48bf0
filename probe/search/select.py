"""From screened candidates to exact, honestly scored probes (shared by all searches).

The three stages after a Gram screen (``probe.search.gram``):

1. keep a pool of the best candidates by the screen criterion (``keep_best``);
2. score the pool's screen models on the validation rows by the task's primary metric, and
   re-fit the ``top_k`` best exactly on the fit rows (``shortlist``);
3. refit the shortlist on all training rows and score it on the eval rows (``final_scores``).

Ties in the exact validation metric are broken by the lexicographically smallest dims, the
order a brute-force loop over ``itertools.combinations`` would keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from probe.linear import SubsetFit
from probe.metrics import rank_key
from probe.search.base import MethodOutcome
from probe.search.gram import GramScreen
from probe.search.problem import Problem


@dataclass
class Shortlist:
    """Exactly re-fitted candidates, best first.

    ``dims`` (m, s); ``screen`` (m,) primary metric of the screen model on validation;
    ``validation`` (m,) of the exact probe fitted on the fit rows; ``exact`` those probes.
    """

    dims: np.ndarray
    screen: np.ndarray
    validation: np.ndarray
    exact: SubsetFit

    def head(self, n_rows: int) -> Shortlist:
        """The best ``n_rows`` candidates (e.g. to refit only the winner on all rows)."""
        rows = np.arange(min(n_rows, len(self.dims)))
        return Shortlist(
            self.dims[rows], self.screen[rows], self.validation[rows], self.exact.take(rows)
        )


def keep_best(criterion: np.ndarray, n_keep: int) -> np.ndarray:
    """Indices of the ``n_keep`` smallest criterion values (NaN last), best first."""
    criterion = np.where(np.isnan(criterion), np.inf, criterion)
    if criterion.size > n_keep:
        rows = np.argpartition(criterion, n_keep - 1)[:n_keep]
    else:
        rows = np.arange(criterion.size)
    return rows[np.argsort(criterion[rows], kind="stable")]


def best_first(dims: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Order rows by score (desc), then lexicographically by dims."""
    keys = tuple(dims[:, column] for column in range(dims.shape[1] - 1, -1, -1))
    return np.lexsort((*keys, -rank_key(score)))


def shortlist(
    problem: Problem,
    screen: GramScreen,
    dims: np.ndarray,
    coef: np.ndarray,
    criterion: np.ndarray,
    *,
    top_k: int,
    previous: SubsetFit | None = None,
) -> Shortlist:
    """Stages 2 and 3 for a pool of screened candidates ``dims`` (m, s) with ``coef`` (m, s, r).

    ``previous``: the exact probe of the first s-1 dims shared by every candidate (a greedy
    step); the exact fits then warm-start from it (new dim at 0) instead of the screen.
    """
    screen_fit = screen.subset_fit(dims, coef)
    screen_metric = problem.validation_primary(screen_fit, np.float32)
    chosen = np.lexsort((criterion, -rank_key(screen_metric)))[:top_k]
    if previous is not None:
        init = extend_fit(previous, dims[chosen])
    else:
        init = screen_fit.take(chosen) if problem.kind == "binary" else None
    exact = problem.fit_on_fit(dims[chosen], init=init)
    validation = problem.validation_primary(exact)
    order = best_first(dims[chosen], validation)
    return Shortlist(
        dims[chosen][order], screen_metric[chosen][order], validation[order], exact.take(order)
    )


def extend_fit(previous: SubsetFit, dims: np.ndarray) -> SubsetFit:
    """Warm start for ``dims`` (m, s): ``previous``'s one probe on the first s-1 dims, 0 after."""
    n_candidates, size = dims.shape
    coef = np.zeros((n_candidates, size, previous.coef.shape[2]))
    coef[:, : size - 1] = previous.coef[0]
    intercept = np.repeat(previous.intercept[:1], n_candidates, axis=0)
    return SubsetFit(previous.kind, dims, coef, intercept)


def exact_shortlist(problem: Problem, dims: np.ndarray, init: SubsetFit | None = None) -> Shortlist:
    """Exact fit-row probes for given candidates ``dims`` (m, s), best first (no screen)."""
    dims = np.atleast_2d(np.asarray(dims, dtype=np.int64))
    exact = problem.fit_on_fit(dims, init=init)
    validation = problem.validation_primary(exact)
    order = best_first(dims, validation)
    return Shortlist(dims[order], np.full(len(order), np.nan), validation[order], exact.take(order))


@dataclass
class FinalScores:
    """Shortlisted probes refit on all training rows.

    ``eval`` and ``validation``: per-candidate metric dicts (``validation`` from the fit-row
    probe that was selected); ``train``: metric dict of the first (winning) candidate only.
    """

    train: dict[str, float]
    validation: list[dict[str, float]]
    eval: list[dict[str, float]]
    train_fit: SubsetFit

    def scores(self) -> dict[str, dict[str, float]]:
        """The winner's ``{"train", "validation", "eval"}`` scores for a result cell."""
        return {"train": self.train, "validation": self.validation[0], "eval": self.eval[0]}


def final_scores(problem: Problem, selected: Shortlist) -> FinalScores:
    """Refit every shortlisted subset on all training rows; score train, validation, eval."""
    init = selected.exact if problem.is_classification else None
    train_fit = problem.fit_on_train(selected.dims, init=init)
    eval_scores = problem.all_metrics(problem.y_eval, train_fit.predict(problem.x_eval))
    validation = problem.all_metrics(problem.y_val, selected.exact.predict(problem.val_columns))
    winner = train_fit.take(np.array([0]))
    train = problem.all_metrics(problem.y_train, winner.predict(problem.train_columns))[0]
    return FinalScores(train, validation, eval_scores, train_fit)


def top_records(selected: Shortlist, finals: FinalScores) -> list[dict[str, Any]]:
    """``details["top"]`` entries: dims, screen, validation (primary) and eval (dict)."""
    return [
        {
            "dims": [int(d) for d in selected.dims[row]],
            "screen": float(selected.screen[row]),
            "validation": float(selected.validation[row]),
            "eval": finals.eval[row],
        }
        for row in range(len(selected.dims))
    ]


def exhaustive_outcome(
    problem: Problem, selected: Shortlist, n_candidates: int, pool_size: int
) -> MethodOutcome:
    """The outcome of an exhaustive search (pairs, triples): the winner after the exact
    re-fit, its final scores, and the re-fitted top list."""
    finals = final_scores(problem, selected)
    return MethodOutcome(
        dims=[int(d) for d in selected.dims[0]],
        scores=finals.scores(),
        details={
            "top": top_records(selected, finals),
            "n_candidates": n_candidates,
            "pool_size": min(pool_size, n_candidates),
        },
    )
