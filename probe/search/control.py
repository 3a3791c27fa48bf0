"""``control``: the same search on shuffled labels (Hewitt & Liang, 2019), and selectivity.

A probe that finds "good" dims for labels that mean nothing measures the search's own
capacity to fit noise (max over many candidates on a finite validation split). The control
task here permutes the training labels (seeded; fit and validation rows alike) — the
sentence-level analogue of Hewitt & Liang's per-word-type random labels — and runs greedy
forward selection to k on both. ``steps`` report the validation primary metric of the
real and control searches per k and their difference, the selectivity.
"""

from __future__ import annotations

import numpy as np

from probe.search import greedy
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.problem import Problem


def control_problem(problem: Problem, seed: int) -> Problem:
    rng = np.random.default_rng([seed, 2])
    return problem.with_train_labels(rng.permutation(problem.y_train))


def run(problem: Problem, config: SearchConfig) -> MethodOutcome:
    real_steps = greedy.search(problem, config)
    control_steps = greedy.search(control_problem(problem, config.seed), config)
    steps = [
        {
            "k": real["k"],
            "real": real["validation"],
            "control": control["validation"],
            "selectivity": real["validation"] - control["validation"],
            "dims": real["dims"],
            "control_dims": control["dims"],
        }
        for real, control in zip(real_steps, control_steps, strict=True)
    ]
    return MethodOutcome(
        dims=[], steps=steps, details={"search": "greedy", "labels": "permuted train labels"}
    )
