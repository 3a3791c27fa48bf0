"""A sweep puts a CI on every eval score and keeps the predictions that recompute them."""

import numpy as np
import pytest

from probe.metrics import metric
from probe.search import SearchConfig, get_method
from probe.search.problem import Problem
from probe.stats.attach import TOP_PREDICTIONS_KEPT, EvalSet, attach_uncertainty, eval_records
from probe.stats.bootstrap import BootstrapSpec, Interval, metric_intervals


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(400, 12)).astype(np.float32)
    y_train = (x_train[:, 2] + 0.5 * x_train[:, 7] + rng.normal(0, 0.5, 400) > 0).astype(int)
    x_eval = rng.normal(size=(150, 12)).astype(np.float32)
    y_eval = (x_eval[:, 2] + 0.5 * x_eval[:, 7] + rng.normal(0, 0.5, 150) > 0).astype(int)
    return Problem.from_arrays(
        x_train,
        y_train,
        x_eval,
        y_eval,
        kind="binary",
        metrics=("accuracy", "f1", "mcc"),
        primary_metric="accuracy",
    )


@pytest.mark.parametrize("method", ["full", "pairs", "greedy", "rank", "backward"])
def test_every_eval_record_gets_an_interval_recomputable_from_its_predictions(problem, method):
    config = SearchConfig(k=3, top_k=8, pool_size=20)
    outcome = get_method(method)(problem, config)
    spec = BootstrapSpec(n_resamples=1000, seed=4)
    eval_set = EvalSet(problem.y_eval, problem.metrics, 2, spec)
    attach_uncertainty(outcome, eval_set)
    keys = [key for key, scores in eval_records(outcome) if scores]
    assert keys and set(keys) == set(outcome.intervals)
    np.testing.assert_array_equal(outcome.predictions["labels"], problem.y_eval)
    for key, scores in eval_records(outcome):
        if not scores:
            continue
        if key.startswith("top/") and int(key.split("/")[1]) >= TOP_PREDICTIONS_KEPT:
            assert key not in outcome.predictions
            continue
        kept = outcome.predictions[key]
        for name, value in scores.items():
            assert metric(name, problem.y_eval, kept) == pytest.approx(value, abs=1e-12)
            again = metric_intervals([name], problem.y_eval, kept, spec)[0][name]
            assert Interval.from_record(outcome.intervals[key][name]) == Interval(
                round(again.low, 6), round(again.high, 6)
            )


def test_random_draw_scores_move_to_the_predictions(problem):
    outcome = get_method("random")(problem, SearchConfig(k=2, n_random_draws=30, random_ks=(1, 2)))
    attach_uncertainty(outcome, EvalSet(problem.y_eval, problem.metrics, 2, BootstrapSpec()))
    assert all("draw_scores" not in step for step in outcome.steps)
    draws = outcome.predictions["steps/1/draw_scores"]
    assert draws.shape == (30,)
    assert np.mean(draws) == pytest.approx(outcome.steps[1]["mean"], abs=1e-6)


def test_equal_prediction_vectors_are_scored_once(problem, monkeypatch):
    import probe.stats.attach as attach

    outcome = get_method("greedy")(problem, SearchConfig(k=3))
    vectors = [scores.predictions for _, scores in eval_records(outcome) if scores]
    distinct = {np.asarray(vector).tobytes() for vector in vectors}
    widths = []

    def spy(names, labels, matrix, spec, **settings):
        widths.append(matrix.shape[1])
        return metric_intervals(names, labels, matrix, spec, **settings)

    monkeypatch.setattr(attach, "metric_intervals", spy)
    attach_uncertainty(outcome, EvalSet(problem.y_eval, problem.metrics, 2, BootstrapSpec()))
    assert widths == [len(distinct)] and len(distinct) < len(vectors)
    assert outcome.intervals["eval"] == outcome.intervals[f"steps/{len(outcome.steps) - 1}"]
