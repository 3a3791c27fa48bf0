"""``backward``: from a chosen set, drop one dim at a time and report what it costs.

The start set is greedy's k-set by default (``config.backward_start``), or the best pair /
triple. Each step re-fits every "current set minus one dim" exactly (at most k candidates)
and drops the dim whose removal hurts validation least; ``steps`` record the subset, the dim
dropped and its validation / eval scores, from the full start set (``dropped`` None) down to
one dim.
"""

from __future__ import annotations

import numpy as np

from probe.linear import SubsetFit
from probe.search import greedy, pairs, triples
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.problem import Problem
from probe.search.select import exact_shortlist, final_scores


def start_set(problem: Problem, config: SearchConfig) -> list[int]:
    if config.backward_start == "pairs":
        return [int(d) for d in pairs.search(problem, config).dims[0]]
    if config.backward_start == "triples":
        return [int(d) for d in triples.search(problem, config).dims[0]]
    return greedy.search(problem, config)[-1]["dims"]


def drop_one_start(fit: SubsetFit, candidates: np.ndarray) -> SubsetFit:
    """Warm start for "current set minus dim j" (row j of ``candidates`` (k, k-1)): the
    current set's probe ``fit`` without coefficient j. Why: Newton from there needs about
    half the iterations of a cold start, and the optimum (strictly convex) is the same."""
    size = fit.dims.shape[1]
    keep = ~np.eye(size, dtype=bool)  # row j drops position j
    coef = np.stack([fit.coef[0][row] for row in keep])  # (k, k-1, r)
    intercept = np.repeat(fit.intercept[:1], size, axis=0)
    return SubsetFit(fit.kind, candidates, coef, intercept)


def run(problem: Problem, config: SearchConfig) -> MethodOutcome:
    current = np.array(start_set(problem, config), dtype=np.int64)
    start = exact_shortlist(problem, current[None, :])
    start_finals = final_scores(problem, start)
    fit = start.exact  # the current set's exact probe on the fit rows
    steps = [
        {
            "k": int(current.size),
            "dims": current.tolist(),
            "dropped": None,
            "validation": float(start.validation[0]),
            "eval": start_finals.eval[0],
        }
    ]
    while current.size > 1:
        keep = ~np.eye(current.size, dtype=bool)  # row j drops position j
        candidates = np.stack([current[row] for row in keep])  # (k, k-1), k <= 16
        init = drop_one_start(fit, candidates) if problem.is_classification else None
        chosen = exact_shortlist(problem, candidates, init=init)
        fit = chosen.exact.take(np.array([0]))
        finals = final_scores(problem, chosen.head(1))
        dropped = int(np.setdiff1d(current, chosen.dims[0])[0])
        current = chosen.dims[0]
        steps.append(
            {
                "k": int(current.size),
                "dims": current.tolist(),
                "dropped": dropped,
                "validation": float(chosen.validation[0]),
                "eval": finals.eval[0],
            }
        )
    return MethodOutcome(
        dims=[int(d) for d in start.dims[0]],
        scores=start_finals.scores(),
        steps=steps,
        details={"start": config.backward_start},
    )
