"""``greedy``: forward selection to k dims, every step's score recorded.

Each step screens all remaining dims as extensions of the current set (one Schur
elimination, then a 1x1 solve per candidate), scores the best ``pool_size`` by the task
metric (at most ``POOL_PER_EXACT * greedy_top_k`` of them), and re-fits the best
``greedy_top_k`` exactly, warm-started from the current exact
probe; the pick is the best exact validation score. With ``greedy_top_k >= D`` this is the
brute-force greedy loop exactly (a test checks it).

Known blind spot (tested): a pair that only works jointly — neither dim informative alone —
is invisible to step 1, so greedy can miss what ``pairs`` finds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from probe.linear import SubsetFit
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.gram import GramScreen
from probe.search.problem import Problem
from probe.search.select import keep_best, shortlist

# Screened candidates scored by the task metric per exact re-fit. Smaller than the pair
# search's pool: a step has only D candidates, and the metric pass over them is the cost.
POOL_PER_EXACT = 8


def search(
    problem: Problem, config: SearchConfig, max_k: int | None = None
) -> list[dict[str, Any]]:
    """Greedy steps ``[{"k", "dims", "validation", "fit"}]`` up to ``max_k`` (default config.k).

    ``fit`` is the exact fit-row probe of the step (kept for warm starts, dropped in results).
    Memoised per problem so ``backward`` and ``control`` reuse it.
    """
    max_k = config.k if max_k is None else max_k
    memo = problem.memo.get("greedy", [])
    if len(memo) >= max_k:
        return memo[:max_k]
    screen = GramScreen.for_problem(problem)
    steps = list(memo)
    selected = np.array(steps[-1]["dims"] if steps else [], dtype=np.int64)
    previous: SubsetFit | None = steps[-1]["fit"] if steps else None
    for size in range(len(steps) + 1, max_k + 1):
        remaining = np.setdiff1d(np.arange(problem.n_dims), selected)
        coef, criterion = screen.extend(selected, remaining[:, None])
        dims = np.concatenate([np.tile(selected, (remaining.size, 1)), remaining[:, None]], axis=1)
        pool = keep_best(criterion, min(config.pool_size, POOL_PER_EXACT * config.greedy_top_k))
        chosen = shortlist(
            problem,
            screen,
            dims[pool],
            coef[pool],
            criterion[pool],
            top_k=config.greedy_top_k,
            previous=previous,
        )
        selected = chosen.dims[0]
        previous = chosen.exact.take(np.array([0]))
        steps.append(
            {
                "k": size,
                "dims": [int(d) for d in selected],
                "validation": float(chosen.validation[0]),
                "fit": previous,
            }
        )
    problem.memo["greedy"] = steps
    return steps


def run(problem: Problem, config: SearchConfig) -> MethodOutcome:
    steps = search(problem, config)
    train_fits = problem.fit_path_on_train([step["fit"] for step in steps])
    records = []
    for step, train_fit in zip(steps, train_fits, strict=True):
        eval_scores = problem.all_metrics(problem.y_eval, train_fit.predict(problem.x_eval))[0]
        records.append(
            {
                "k": step["k"],
                "dims": step["dims"],
                "validation": step["validation"],
                "eval": eval_scores,
            }
        )
    # each step's probe refit on all training rows, for callers that score it again (the word
    # sweep's per-k confusion matrices) without refitting
    problem.memo["greedy_refits"] = {
        step["k"]: train_fit for step, train_fit in zip(steps, train_fits, strict=True)
    }
    last = steps[-1]["fit"]
    scores = {
        "train": problem.all_metrics(
            problem.y_train, train_fits[-1].predict(problem.train_columns)
        )[0],
        "validation": problem.all_metrics(problem.y_val, last.predict(problem.val_columns))[0],
        "eval": records[-1]["eval"],
    }
    return MethodOutcome(
        dims=steps[-1]["dims"],
        scores=scores,
        steps=records,
        details={"exact_per_step": config.greedy_top_k},
    )
