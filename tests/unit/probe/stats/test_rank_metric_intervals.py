"""Spearman CIs are stored for a cell's own eval score; steps keep the predictions that give
theirs on demand, and carry every other metric's CI."""

import numpy as np
import pytest

from probe.report.uncertainty import interval_of
from probe.search import SearchConfig, get_method
from probe.search.problem import Problem
from probe.stats.attach import EvalSet, attach_uncertainty
from probe.stats.bootstrap import BootstrapSpec, Interval, metric_intervals


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(1)
    x_train = rng.normal(size=(300, 10)).astype(np.float32)
    x_eval = rng.normal(size=(120, 10)).astype(np.float32)
    y_train = x_train[:, 1] - 0.5 * x_train[:, 4] + rng.normal(0, 0.5, 300)
    y_eval = np.round(x_eval[:, 1] - 0.5 * x_eval[:, 4] + rng.normal(0, 0.5, 120), 1)
    return Problem.from_arrays(
        x_train,
        y_train,
        x_eval,
        y_eval,
        kind="regression",
        metrics=("pearson", "spearman"),
        primary_metric="pearson",
    )


def test_spearman_ci_on_the_eval_score_and_on_demand_for_steps(regression):
    outcome = get_method("greedy")(regression, SearchConfig(k=3))
    spec = BootstrapSpec(seed=2)
    attach_uncertainty(outcome, EvalSet(regression.y_eval, regression.metrics, 1, spec))
    assert set(outcome.intervals["eval"]) == {"pearson", "spearman"}
    kept = outcome.predictions["eval"]
    again = metric_intervals(["spearman"], regression.y_eval, kept, spec)[0]["spearman"]
    assert Interval.from_record(outcome.intervals["eval"]["spearman"]) == Interval(
        round(again.low, 6), round(again.high, 6)
    )
    cell = outcome.cell(0, "mean", "greedy", 0.0, 0.0)
    cell.intervals, cell.predictions = outcome.intervals, outcome.predictions
    for index in range(len(outcome.steps)):
        key = f"steps/{index}"
        assert set(outcome.intervals[key]) == {"pearson"}
        on_demand = interval_of(cell, key, "spearman", spec)
        direct = metric_intervals(["spearman"], regression.y_eval, outcome.predictions[key], spec)[
            0
        ]["spearman"]
        assert on_demand == direct and on_demand.defined
