"""``backward`` out of core: from greedy's (or the best pair's) set, drop one dim at a time.

As ``probe.search.backward``: each step fits every "current set minus one dim" exactly on
the fit rows — the k candidates share one batched Newton fit over passes, each warm-started
from the current probe without that dim — and drops the dim whose removal hurts validation
least (ties: lexicographically smallest dims). Steps run from the start set (``dropped``
None) down to one dim. What out-of-core reading changes, recorded in ``details``:

* the start set is out-of-core greedy's (picked by the screen criterion, see
  ``probe.outofcore.methods``) or the best pair; triples do not run out of core, so
  ``backward_start="triples"`` starts from greedy's set;
* the steps' probes are refit on all training rows as one padded batch at the end (dims of
  -1 are zero columns whose weight stays 0), and one eval pass scores them all.

Cost: per step one Newton fit of k candidates (a few passes over the fit rows) and one
validation pass; then one batched refit and one train and one eval pass.
"""

from __future__ import annotations

import numpy as np

from probe.linear import SubsetFit
from probe.outofcore.methods import (
    cell_details,
    final_scores,
    fit_part,
    pairs_shortlist,
    screen_greedy,
    validated,
)
from probe.outofcore.problem import StreamProblem
from probe.search.backward import drop_one_start
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.select import best_first


def start_set(problem: StreamProblem, config: SearchConfig) -> tuple[np.ndarray, str]:
    """The start dims and where they came from."""
    if config.backward_start == "pairs":
        return pairs_shortlist(problem, config).dims[0], "pairs"
    order, _ = screen_greedy(problem.screen(), config.k)
    if config.backward_start == "triples":
        return order, "greedy (triples do not run out of core)"
    return order, "greedy"


def padded(fits: list[SubsetFit]) -> SubsetFit:
    """One batch of probes of different sizes: dims padded with -1, their weights 0."""
    size = max(fit.dims.shape[1] for fit in fits)
    dims = np.full((len(fits), size), -1, dtype=np.int64)
    coef = np.zeros((len(fits), size, fits[0].coef.shape[2]))
    for row, fit in enumerate(fits):
        dims[row, : fit.dims.shape[1]] = fit.dims[0]
        coef[row, : fit.dims.shape[1]] = fit.coef[0]
    intercept = np.concatenate([fit.intercept for fit in fits])
    return SubsetFit(fits[0].kind, dims, coef, intercept)


def run_backward(problem: StreamProblem, config: SearchConfig) -> MethodOutcome:
    current, start = start_set(problem, config)
    fit = fit_part(problem, "fit", current[None, :])
    validation, validation_scores = validated(problem, fit)
    steps = [{"k": int(current.size), "dims": current.tolist(), "dropped": None}]
    step_validation = [float(validation[0])]
    step_fits = [fit]
    while current.size > 1:
        keep = ~np.eye(current.size, dtype=bool)  # row j drops position j
        candidates = np.stack([current[row] for row in keep])  # (k, k-1)
        init = drop_one_start(fit, candidates) if problem.is_classification else None
        exact = fit_part(problem, "fit", candidates, init)
        scores, _ = validated(problem, exact)
        best = int(best_first(candidates, scores)[0])
        fit = exact.take(np.array([best]))
        dropped = int(np.setdiff1d(current, candidates[best])[0])
        current = candidates[best]
        steps.append({"k": int(current.size), "dims": current.tolist(), "dropped": dropped})
        step_validation.append(float(scores[best]))
        step_fits.append(fit)
    batch = padded(step_fits)
    _, train, evaluation = final_scores(problem, batch.dims, batch, report_row=0)
    for step, score, scores in zip(steps, step_validation, evaluation, strict=True):
        step.update(validation=score, eval=scores)
    return MethodOutcome(
        dims=steps[0]["dims"],
        scores={"train": train, "validation": validation_scores[0], "eval": evaluation[0]},
        steps=steps,
        details=cell_details(problem, start=start),
    )
