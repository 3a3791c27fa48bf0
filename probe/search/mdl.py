"""``mdl``: online-code description length of the labels (Voita & Titov, 2020).

Accuracy says how well a probe does; description length also says how *easily* — how much
data the probe needs before its predictions get good. "Few dims suffice" can then be judged
by codelength as well as by accuracy: a 2-dim probe whose labels compress as well as the
all-dims probe's carries the task in those dims.

Online (prequential) code on the training rows in a seeded random order, with block
boundaries at the standard fractions ``BLOCK_PERCENTS`` of the rows: the first block is sent
with the uniform code (``log2 K`` bits per label); each later block is sent with a probe
trained on every row before it, costing ``-sum log2 p(label | x)`` bits. Reported per
subset: ``online_bits``, ``uniform_bits = n log2 K`` and ``compression = uniform / online``
(higher = the representation makes the labels easier to learn), plus the bits of each block.

Probes: unweighted L2 logistic regression at the problem's C (class weighting would distort
the probabilities the code is made of), scikit-learn for all dims, the exact Newton fitter for
subsets. A block whose training rows lack a class is coded with the add-one-smoothed class
frequencies of those rows (no probe can be fitted there). Subsets coded: all dims, the best
pair (``pairs``) and greedy's first three dims, all chosen on the inner validation split.
Classification only: a regression codelength needs a noise model this method does not pick.
Not a default method: 10 all-dims fits per (layer, pooling) cost seconds to minutes.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from probe.linear import SubsetFit, fit_full, fit_logistic_subsets
from probe.search import greedy, pairs
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.problem import Problem

BLOCK_PERCENTS: tuple[float, ...] = (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25.0, 50.0, 100.0)


def block_ends(n_rows: int, percents: tuple[float, ...] = BLOCK_PERCENTS) -> list[int]:
    """Row counts at which blocks end: increasing, the first >= 1, the last ``n_rows``."""
    ends: list[int] = []
    for percent in percents:
        end = min(n_rows, max(1, round(percent / 100.0 * n_rows)))
        if not ends or end > ends[-1]:
            ends.append(end)
    return ends


def _log2_probabilities(fit: SubsetFit, x: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """log2 p(label | x) of every row under a fitted logistic probe -> (n,)."""
    decision = fit.decision(x)[:, 0, :]  # (n, r)
    if decision.shape[1] == 1:  # binary: one logit for class 1
        logit = decision[:, 0]
        signed = np.where(labels == 1, logit, -logit)
        return -np.logaddexp(0.0, -signed) / math.log(2)
    log_norm = np.logaddexp.reduce(decision, axis=1)
    return (decision[np.arange(labels.size), labels] - log_norm) / math.log(2)


def _fit(x: np.ndarray, y: np.ndarray, dims: np.ndarray | None, problem: Problem) -> SubsetFit:
    n_classes = max(problem.n_classes, 2)
    if dims is None:
        return fit_full(x, y, kind=problem.kind, C=problem.C, n_classes=n_classes)
    return fit_logistic_subsets(x, y, dims[None, :], C=problem.C, n_classes=n_classes)


def online_codelength(
    x: np.ndarray, y: np.ndarray, dims: np.ndarray | None, problem: Problem
) -> dict[str, Any]:
    """The online code of labels ``y`` given rows ``x`` (already in transmission order).

    ``dims`` None = all columns. Returns bits per block, ``online_bits``, ``uniform_bits``
    and ``compression``.
    """
    n_classes = max(problem.n_classes, 2)
    ends = block_ends(len(y))
    bits_per_label = math.log2(n_classes)
    block_bits = [ends[0] * bits_per_label]
    for start, stop in itertools.pairwise(ends):
        seen = y[:start]
        if np.unique(seen).size < n_classes:
            counts = np.bincount(seen, minlength=n_classes) + 1.0
            block_bits.append(float(-np.log2(counts / counts.sum())[y[start:stop]].sum()))
            continue
        fit = _fit(x[:start], seen, dims, problem)
        block_bits.append(float(-_log2_probabilities(fit, x[start:stop], y[start:stop]).sum()))
    online = float(sum(block_bits))
    uniform = len(y) * bits_per_label
    return {
        "block_ends": ends,
        "block_bits": block_bits,
        "online_bits": online,
        "uniform_bits": uniform,
        "compression": uniform / online if online > 0 else math.inf,
    }


def run(problem: Problem, config: SearchConfig) -> MethodOutcome:
    if not problem.is_classification:
        return MethodOutcome(
            details={"skipped": "MDL is computed for classification tasks only (labels coded "
                     "by a classifier's probabilities); this task is a regression."}
        )  # fmt: skip
    order = np.random.default_rng([config.seed, 3]).permutation(problem.y_train.size)
    x = problem.x_train[order]  # (n_train, D) float32, standardised, in transmission order
    y = problem.y_train[order]
    subsets: list[tuple[str, np.ndarray | None]] = [("all dims", None)]
    subsets.append(("best pair", pairs.search(problem, config).dims[0]))
    subsets.append(("greedy 3", np.array(greedy.search(problem, config, 3)[-1]["dims"])))
    codes = []
    for name, dims in subsets:
        code = online_codelength(x, y, dims, problem)
        codes.append(
            {
                "subset": name,
                "dims": [] if dims is None else [int(d) for d in dims],
                "k": problem.n_dims if dims is None else int(dims.size),
                **code,
            }
        )
    return MethodOutcome(
        details={
            "codes": codes,
            "block_percents": list(BLOCK_PERCENTS),
            "order_seed": [config.seed, 3],
            "C": problem.C,
        }
    )
