"""Speed work must not move results: every method's outcome equals the one recorded before.

``golden_outcomes.json`` was written by the code *before* the kernel speed-ups (commit
cdf5fbd: batched Newton with float64 einsums, no Hessian reuse, no transposed gathers), by
running this file as a script. The problems are small enough (n_train <= 1,600) that the
random baseline fits on all rows, so its algorithm is unchanged too; every method must pick
the same dims and report the same scores to 1e-6.

Regenerate only when an algorithm changes on purpose: ``python -m
tests.unit.probe.search.test_results_unchanged`` and say why in the commit.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from probe.search import DEFAULT_METHODS, SearchConfig, get_method
from probe.search.problem import Problem

GOLDEN = Path(__file__).with_name("golden_outcomes.json")
CONFIG = SearchConfig(k=6, top_k=20, pool_size=100, n_random_draws=40, random_ks=(1, 2, 4, 6))
METHODS = (*DEFAULT_METHODS, "triples")
KINDS = ("binary", "multiclass", "regression")


def golden_problem(kind: str) -> Problem:
    """A seeded hidden-state-shaped problem with a few informative dims and a synergy pair."""
    rng = np.random.default_rng({"binary": 0, "multiclass": 1, "regression": 2}[kind])
    n_rows, n_dims = 2000 + 500, 40
    features = rng.standard_t(df=6, size=(n_rows, n_dims))
    nuisance = 3.0 * rng.standard_normal(n_rows)
    synergy = rng.standard_normal(n_rows)
    features[:, 7], features[:, 19] = nuisance + synergy, nuisance - synergy
    features[:, 0] *= 8.0  # an outlier dim
    signal = 0.8 * features[:, 3] - 0.6 * features[:, 11] + synergy
    noisy = signal + rng.logistic(size=n_rows)
    if kind == "binary":
        labels = (noisy > 0.5).astype(np.int64)
        metrics = ("accuracy", "f1", "mcc")
    elif kind == "multiclass":
        labels = np.digitize(noisy, [-1.0, 1.0]).astype(np.int64)
        metrics = ("accuracy", "mcc")
    else:
        labels = noisy
        metrics = ("pearson", "spearman")
    features = features.astype(np.float32)
    return Problem.from_arrays(
        features[:2000],
        labels[:2000],
        features[2000:],
        labels[2000:],
        kind=kind,
        metrics=metrics,
        primary_metric=metrics[0],
        n_classes=3 if kind == "multiclass" else 2,
    )


def outcomes(kind: str) -> dict[str, Any]:
    """method -> {dims, scores, steps, details} as JSON-ready data (timings left out)."""
    problem = golden_problem(kind)
    recorded = {}
    for method in METHODS:
        outcome = get_method(method)(problem, CONFIG)
        recorded[method] = json.loads(
            json.dumps(
                {
                    "dims": outcome.dims,
                    "scores": outcome.scores,
                    "steps": [
                        # draw_scores: added after the recording (per-draw random scores)
                        {k: v for k, v in step.items() if k not in ("fit", "draw_scores")}
                        for step in outcome.steps
                    ],
                    "details": outcome.details,
                },
                default=float,
            )
        )
    return recorded


def assert_same(ours: Any, golden: Any, where: str) -> None:
    """Equal structure; integers and strings exactly, floats to 1e-6 (NaN equals NaN)."""
    if isinstance(golden, dict):
        assert set(ours) == set(golden), f"{where}: keys {sorted(ours)} vs {sorted(golden)}"
        for key in golden:
            assert_same(ours[key], golden[key], f"{where}.{key}")
    elif isinstance(golden, list):
        assert len(ours) == len(golden), f"{where}: length {len(ours)} vs {len(golden)}"
        for index, (mine, theirs) in enumerate(zip(ours, golden, strict=True)):
            assert_same(mine, theirs, f"{where}[{index}]")
    elif isinstance(golden, float):
        both_nan = math.isnan(golden) and math.isnan(float(ours))
        assert both_nan or ours == pytest.approx(golden, rel=1e-6, abs=1e-6), (
            f"{where}: {ours} vs recorded {golden}"
        )
    else:
        assert ours == golden, f"{where}: {ours!r} vs recorded {golden!r}"


@pytest.mark.parametrize("kind", KINDS)
def test_every_method_reproduces_the_recorded_outcome(kind):
    golden = json.loads(GOLDEN.read_text())[kind]
    ours = outcomes(kind)
    for method in METHODS:
        assert_same(ours[method], golden[method], f"{kind}.{method}")


if __name__ == "__main__":
    GOLDEN.write_text(json.dumps({kind: outcomes(kind) for kind in KINDS}, indent=None) + "\n")
