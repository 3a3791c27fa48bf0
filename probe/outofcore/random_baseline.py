"""``random`` out of core: the in-memory baseline's draws, fitted on its capped rows.

The in-memory baseline (``probe.search.random_baseline``) fits every draw on at most
``RANDOM_FIT_ROWS`` (2,048) training rows. Those rows are few enough to hold whatever the
slice's size (3 MiB at H = 384), so out of core they are gathered in one pass — the same
positions of the same row order, so pooled and word rows give the in-memory fits exactly —
and every k's draws are fitted in memory by the same batched Newton
(``probe.linear.fit_logistic_subsets``). Only the eval rows are streamed: one pass scores
every draw of every k, its metric accumulated over chunks (:class:`MetricSums`); a Spearman
task is scored by Pearson there (recorded in ``details["metric"]``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from probe.linear import SubsetFit, balanced_sample_weight, fit_logistic_subsets, fit_ridge_subsets
from probe.outofcore.problem import StreamProblem
from probe.outofcore.scoring import PREDICT_BLOCK, MetricSums, selection_metric
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.random_baseline import (
    draw_subsets,
    first_steps,
    fit_rows,
    sizes,
    step_record,
)


def row_weight(problem: StreamProblem, y: np.ndarray) -> np.ndarray | None:
    """Balanced problems weight the gathered rows by their own classes, as in memory."""
    if problem.class_weight.get("train") is None:
        return None
    return balanced_sample_weight(y, problem.n_classes)


def fit_draws(
    problem: StreamProblem,
    x: np.ndarray,
    y: np.ndarray,
    draws: np.ndarray,
    start: Callable[[np.ndarray], SubsetFit] | None = None,
) -> SubsetFit:
    """Exact probes of ``draws`` (m, k) on the gathered rows ``x`` (s, H), ``y`` (s,), with the
    problem's C / alpha, from ``start(draws)`` where given (binary: :func:`first_steps`)."""
    if not problem.is_classification:
        return fit_ridge_subsets(x, y, draws, alpha=problem.alpha)
    return fit_logistic_subsets(
        x,
        y,
        draws,
        C=problem.C,
        sample_weight=row_weight(problem, y),
        n_classes=problem.n_classes,
        init=None if start is None else start(draws),
    )


def run_random(problem: StreamProblem, config: SearchConfig) -> MethodOutcome:
    positions = fit_rows(problem.row_counts["train"], config.seed)
    x, y = problem.gather_train_rows(positions)
    start = None
    if problem.kind == "binary":
        start = first_steps(x, y, row_weight(problem, y), problem.C)
    fits = {
        size: fit_draws(
            problem,
            x,
            y,
            draw_subsets(problem.n_dims, size, config.n_random_draws, config.seed),
            start,
        )
        for size in sizes(problem.n_dims, config)
    }
    sums = {
        size: MetricSums(problem.kind, problem.n_classes, config.n_random_draws) for size in fits
    }
    for batch in problem.batches("eval"):  # one eval pass scores every draw of every k
        for size, fit in fits.items():
            step = max(1, PREDICT_BLOCK // (config.n_random_draws * (size + 1)))
            for start in range(0, batch.y.size, step):
                rows = slice(start, start + step)
                sums[size].add(batch.y[rows], fit.predict(batch.x[rows]))
    metric = selection_metric(problem)
    steps = [step_record(size, sums[size].value(metric)) for size in fits]
    return MethodOutcome(
        dims=[],
        steps=steps,
        details={
            "fit_rows": int(y.size),
            "metric": metric,
            "out_of_core": True,
            "rows": problem.train.kind,
        },
    )
