"""Word rows are split by sentence: no sentence has words in both the fit and validation parts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from probe.cache import Cache
from probe.outofcore.problem import StreamProblem
from probe.words.problem import load_word_problem, plan_labels, train_row_order
from probe.words.rows import WordRowSource, word_rows
from probe.words.sweep import WORD_SEARCH_CONFIG, WordSweepSpec, run_word_sweep


def test_in_memory_word_problem_keeps_sentences_whole(word_caches):
    with Cache.open(word_caches[0]) as train, Cache.open(word_caches[1]) as evaluation:
        plan = plan_labels(train, evaluation, "upos")
        problem = load_word_problem(train, evaluation, plan, 2, "first", seed=5)
        x_train = word_rows(train, 2, "first")[plan.train_rows]
        offsets = train.word_offsets
    # the plan's sentence of each row is the example that owns the word
    example_of_word = np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))
    kept = np.flatnonzero(example_of_word >= 0)  # every word of the toy files is kept
    np.testing.assert_array_equal(plan.train_sentences, example_of_word[kept][plan.train_rows])
    order = train_row_order(plan, 5, 0.2)
    fit, validation = order[: problem.n_fit], order[problem.n_fit :]
    fit_sentences = set(plan.train_sentences[fit].tolist())
    validation_sentences = set(plan.train_sentences[validation].tolist())
    assert fit_sentences.isdisjoint(validation_sentences)
    assert len(validation_sentences) >= 5
    np.testing.assert_array_equal(problem.y_train, plan.y_train[order])
    standardised = (x_train[order] - problem.feature_mean) / problem.feature_scale
    np.testing.assert_allclose(problem.x_train, standardised, atol=1e-4)
    # every class is fitted and validated on
    assert set(problem.y_fit.tolist()) == set(range(len(plan.classes)))
    assert set(problem.y_val.tolist()) == set(range(len(plan.classes)))
    again = train_row_order(plan, 5, 0.2)
    np.testing.assert_array_equal(again, order)  # deterministic under the seed


def test_streamed_word_problem_splits_the_same_sentences(word_caches):
    with Cache.open(word_caches[0]) as train, Cache.open(word_caches[1]) as evaluation:
        plan = plan_labels(train, evaluation, "upos")
        in_memory = load_word_problem(train, evaluation, plan, 1, "mean", seed=2)
    streamed = StreamProblem.build(
        WordRowSource(Path(word_caches[0]), 1, "mean", plan.train_rows, 40),
        WordRowSource(Path(word_caches[1]), 1, "mean", plan.eval_rows, 40),
        plan.y_train,
        plan.y_eval,
        kind="multiclass",
        metrics=("accuracy",),
        primary_metric="accuracy",
        n_classes=len(plan.classes),
        seed=2,
        groups=plan.train_sentences,
    )
    validation = streamed.is_validation
    assert set(plan.train_sentences[validation].tolist()).isdisjoint(
        plan.train_sentences[~validation].tolist()
    )
    order = train_row_order(plan, 2, 0.2)
    np.testing.assert_array_equal(np.flatnonzero(validation), np.sort(order[in_memory.n_fit :]))


def test_control_rows_follow_the_grouped_order(word_caches):
    """The control task's labels stay on their own words after the grouped reordering."""
    spec = WordSweepSpec(
        str(word_caches[0]),
        str(word_caches[1]),
        label="upos",
        layers=(1,),
        poolings=("first",),
        methods=("full", "pairs", "greedy", "control"),
        config=replace(WORD_SEARCH_CONFIG, k=2),
    )
    results = run_word_sweep(spec)
    control = next(cell for cell in results.cells if cell.method == "control")
    full = next(step for step in control.steps if step["method"] == "full")
    # toy words have one tag each, so a probe memorising types gets control labels right too
    assert full["control"] > 0.9 and full["real"] > 0.9
