"""``full``, ``rank``, ``pairs`` and ``greedy`` on a slice read in chunks (``backward`` and
``random`` have their own modules; ``runners`` names them all).

They follow the in-memory methods' protocol and result conventions (``probe.results``), with
the differences that out-of-core reading forces, each recorded in the cell's ``details``:

* ``full`` fits one C (``--C``) instead of choosing from ``c_grid``: every C is a Newton
  fit of several passes over the slice. Ridge (regression) uses ``--alpha`` likewise.
* ``greedy`` picks each step by the Gram screen's validation criterion (one solve per
  remaining dim, no row pass), then fits all k prefixes exactly in one batch; the
  in-memory greedy re-fits the best few candidates exactly at every step.
* ``rank``'s ``weight`` ordering needs the all-dims probe; it is given when ``full`` ran
  on the same slice (otherwise left out rather than paying for another full fit).
* Candidates are ranked on validation by the primary metric, or by Pearson where the primary
  metric is Spearman (no chunk sums exist for it); eval scores include every metric.

Every method selects on the fit / validation rows of the training cache and scores the eval
cache only at the end, as in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from probe.linear import SubsetFit
from probe.metrics import rank_key
from probe.outofcore.newton import fit_logistic_stream, fit_ridge_stream
from probe.outofcore.problem import StreamProblem
from probe.outofcore.scoring import (
    eval_scores,
    metric_dicts,
    part_scores,
    selection_metric,
    streamed_scores,
    validation_primary,
)
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.gram import GramScreen
from probe.search.pairs import all_pairs
from probe.search.rank import l1_order
from probe.search.select import best_first, keep_best


def fit_part(
    problem: StreamProblem, part: str, dims: np.ndarray, init: SubsetFit | None = None
) -> SubsetFit:
    """Exact probes of ``dims`` (m, s) on the training ``part`` (fit or train)."""
    if not problem.is_classification:
        return fit_ridge_stream(problem.pass_of(part), dims, alpha=problem.alpha)
    fit, _ = fit_logistic_stream(
        problem.pass_of(part), dims, C=problem.C, n_classes=problem.n_classes, init=init
    )
    return fit


def cell_details(problem: StreamProblem, **extra: Any) -> dict[str, Any]:
    return {
        "out_of_core": True,
        "rows": problem.train.kind,
        "n_rows": dict(problem.row_counts),
        "selection_metric": selection_metric(problem),
        **extra,
    }


def validated(problem: StreamProblem, fit: SubsetFit) -> tuple[np.ndarray, list[dict[str, float]]]:
    """One validation pass: every candidate's selection metric (m,) and its metric dicts."""
    sums = part_scores(problem, fit, "validation")
    return sums.value(selection_metric(problem)), metric_dicts(problem, sums)


def final_scores(
    problem: StreamProblem, dims: np.ndarray, fit_rows_fit: SubsetFit, report_row: int = 0
) -> tuple[SubsetFit, dict[str, float], list[dict[str, float]]]:
    """Refit ``dims`` on all training rows: the refit probes, the train metrics of the
    reported candidate ``report_row``, and every candidate's eval metrics."""
    init = fit_rows_fit if problem.is_classification else None
    train_fit = fit_part(problem, "train", dims, init)
    reported = train_fit.take(np.array([report_row]))
    train = streamed_scores(problem, reported, "train")[0]
    return train_fit, train, eval_scores(problem, train_fit)


def run_full(problem: StreamProblem, config: SearchConfig) -> MethodOutcome:
    dims = np.arange(problem.n_dims, dtype=np.int64)[None, :]
    fit = fit_part(problem, "fit", dims)
    validation = streamed_scores(problem, fit, "validation")
    train_fit, train, evaluation = final_scores(problem, dims, fit)
    problem.memo["full_probe"] = train_fit
    strength = (
        {"C": problem.C} if problem.is_classification else {"C": None, "alpha": problem.alpha}
    )
    return MethodOutcome(
        dims=[],
        scores={"train": train, "validation": validation[0], "eval": evaluation[0]},
        details=cell_details(problem, **strength, grid=[], note="one C, not chosen from a grid"),
    )


@dataclass
class Shortlisted:
    """Exact fit-row probes of shortlisted candidates, best first.

    ``dims`` (m, s); ``screen`` (m,) screen models' validation metric; ``validation`` (m,)
    exact probes' selection metric and ``validation_scores`` their metric dicts; ``exact``.
    """

    dims: np.ndarray
    screen: np.ndarray
    validation: np.ndarray
    validation_scores: list[dict[str, float]]
    exact: SubsetFit


def _shortlist(
    problem: StreamProblem,
    screen: GramScreen,
    dims: np.ndarray,
    coef: np.ndarray,
    criterion: np.ndarray,
    *,
    pool_size: int,
    top_k: int,
    pool_metric: np.ndarray | None = None,
) -> Shortlisted:
    """Pool by criterion -> screen models' validation metric -> exact top_k, best first.

    ``pool_metric``: the screen models' validation metric of every candidate, when the
    caller has it already (``rank`` scores all D singles anyway).
    """
    pool = keep_best(criterion, pool_size)
    if pool_metric is None:
        screen_metric = validation_primary(problem, screen.subset_fit(dims[pool], coef[pool]))
    else:
        screen_metric = pool_metric[pool]
    ranked = np.lexsort((criterion[pool], -rank_key(screen_metric)))[:top_k]
    chosen, chosen_screen = pool[ranked], screen_metric[ranked]
    init = screen.subset_fit(dims[chosen], coef[chosen]) if problem.kind == "binary" else None
    exact = fit_part(problem, "fit", dims[chosen], init)
    validation, validation_scores = validated(problem, exact)
    order = best_first(dims[chosen], validation)
    return Shortlisted(
        dims[chosen][order],
        chosen_screen[order],
        validation[order],
        [validation_scores[row] for row in order],
        exact.take(order),
    )


def pairs_shortlist(problem: StreamProblem, config: SearchConfig) -> Shortlisted:
    """The exact-refitted shortlist of pairs, best first (memoised for ``backward``)."""
    if "pairs" not in problem.memo:
        screen = problem.screen()
        candidates = all_pairs(problem.n_dims)
        coef, criterion = screen.extend(np.empty(0, np.int64), candidates)
        problem.memo["pairs"] = _shortlist(
            problem,
            screen,
            candidates,
            coef,
            criterion,
            pool_size=config.pool_size,
            top_k=config.top_k,
        )
    return problem.memo["pairs"]


def run_pairs(problem: StreamProblem, config: SearchConfig) -> MethodOutcome:
    chosen = pairs_shortlist(problem, config)
    n_candidates = problem.n_dims * (problem.n_dims - 1) // 2
    _, train, evaluation = final_scores(problem, chosen.dims, chosen.exact)
    top = [
        {
            "dims": [int(d) for d in chosen.dims[row]],
            "screen": float(chosen.screen[row]),
            "validation": float(chosen.validation[row]),
            "eval": evaluation[row],
        }
        for row in range(len(chosen.dims))
    ]
    return MethodOutcome(
        dims=[int(d) for d in chosen.dims[0]],
        scores={
            "train": train,
            "validation": chosen.validation_scores[0],
            "eval": evaluation[0],
        },
        details=cell_details(
            problem,
            top=top,
            n_candidates=n_candidates,
            pool_size=min(config.pool_size, n_candidates),
        ),
    )


def prefix_steps(
    problem: StreamProblem, order: np.ndarray, max_k: int
) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """Exact probes of ``order[:k]`` for k = 1..max_k, all in one padded batch per fit.

    Returns the step records and the last prefix's ``{"train", "validation", "eval"}``.
    """
    sizes = np.arange(1, max_k + 1)
    padded = np.where(np.arange(max_k)[None, :] < sizes[:, None], order[None, :max_k], -1)
    fit = fit_part(problem, "fit", padded)
    validation, validation_scores = validated(problem, fit)
    _, train, evaluation = final_scores(problem, padded, fit, report_row=max_k - 1)
    steps = [
        {
            "k": int(size),
            "dims": [int(d) for d in order[:size]],
            "validation": float(validation[row]),
            "eval": evaluation[row],
        }
        for row, size in enumerate(sizes)
    ]
    last = {"train": train, "validation": validation_scores[-1], "eval": evaluation[-1]}
    return steps, last


def screen_greedy(screen: GramScreen, max_k: int) -> tuple[np.ndarray, list[float]]:
    """Forward selection by the screen's validation criterion alone -> dims, criteria."""
    selected = np.empty(0, dtype=np.int64)
    criteria = []
    for _ in range(max_k):
        remaining = np.setdiff1d(np.arange(screen.n_dims), selected)
        _, criterion = screen.extend(selected, remaining[:, None])
        best = int(np.argmin(np.where(np.isnan(criterion), np.inf, criterion)))
        selected = np.append(selected, remaining[best])
        criteria.append(float(criterion[best]))
    return selected, criteria


def run_greedy(problem: StreamProblem, config: SearchConfig) -> MethodOutcome:
    order, criteria = screen_greedy(problem.screen(), config.k)
    steps, last = prefix_steps(problem, order, config.k)
    for step, criterion in zip(steps, criteria, strict=True):
        step["screen_criterion"] = criterion
    return MethodOutcome(
        dims=[int(d) for d in order],
        scores=last,
        steps=steps,
        details=cell_details(problem, step_selection="screen criterion"),
    )


def run_rank(problem: StreamProblem, config: SearchConfig) -> MethodOutcome:
    screen = problem.screen()
    singles = np.arange(problem.n_dims, dtype=np.int64)[:, None]
    coef, criterion = screen.extend(np.empty(0, np.int64), singles)
    per_dim = validation_primary(problem, screen.subset_fit(singles, coef))
    chosen = _shortlist(
        problem,
        screen,
        singles,
        coef,
        criterion,
        pool_size=problem.n_dims,
        top_k=config.top_k,
        pool_metric=per_dim,
    )
    _, train, evaluation = final_scores(problem, chosen.dims[:1], chosen.exact.take(np.array([0])))
    leaders = chosen.dims[:, 0]
    rest = np.setdiff1d(np.arange(problem.n_dims), leaders)
    rest = rest[np.lexsort((criterion[rest], -rank_key(per_dim[rest])))]
    univariate = np.concatenate([leaders, rest])
    n_fit = problem.row_counts["fit"]
    orderings: dict[str, list[int]] = {
        "univariate": univariate.tolist(),
        "l1": l1_order(screen, n_fit).tolist(),
    }
    if "full_probe" in problem.memo:
        mass = np.abs(problem.memo["full_probe"].coef[0]).sum(axis=1)
        orderings["weight"] = np.lexsort((np.arange(problem.n_dims), -mass)).tolist()
    steps, _ = prefix_steps(problem, univariate, min(config.k, problem.n_dims))
    return MethodOutcome(
        dims=[int(leaders[0])],
        scores={"train": train, "validation": chosen.validation_scores[0], "eval": evaluation[0]},
        steps=steps,
        details=cell_details(
            problem,
            per_dim_validation=per_dim.tolist(),
            per_dim_source="screen",
            orderings=orderings,
            top=[
                {
                    "dims": [int(leaders[row])],
                    "screen": float(chosen.screen[row]),
                    "validation": float(chosen.validation[row]),
                }
                for row in range(len(leaders))
            ],
        ),
    )
