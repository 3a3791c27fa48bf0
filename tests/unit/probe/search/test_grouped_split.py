"""The inner split with groups: whole groups (sentences) on each side, stratified, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from probe.errors import DataError
from probe.search.problem import Problem, inner_split

pytestmark = pytest.mark.torch_free


def sentences_of_words(seed: int = 0, n_sentences: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """(labels, groups) of word rows: sentences of 3-20 words, 12 classes of Zipfian
    frequency, two rare classes in 2 and 3 sentences only (with 2 words in one of them)."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, 21, size=n_sentences)
    groups = np.repeat(np.arange(n_sentences) * 7 + 5, lengths)  # ids need not be 0..n-1
    share = 1.0 / np.arange(1, 11)
    labels = rng.choice(10, size=groups.size, p=share / share.sum())
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    labels[[starts[4], starts[4] + 1, starts[90]]] = 10  # rare: 2 sentences, 3 words
    labels[[starts[10], starts[150], starts[299]]] = 11  # rare: 3 sentences
    return labels, groups


def test_no_group_straddles_and_every_class_is_on_both_sides():
    labels, groups = sentences_of_words()
    fit_rows, validation_rows = inner_split(labels, "multiclass", 3, 0.2, groups)
    assert np.intersect1d(fit_rows, validation_rows).size == 0
    assert fit_rows.size + validation_rows.size == labels.size
    assert np.intersect1d(groups[fit_rows], groups[validation_rows]).size == 0
    for label in range(12):
        assert (labels[fit_rows] == label).any() and (labels[validation_rows] == label).any()
    # stratified: each common class has close to 20% of its words in validation
    for label in range(6):
        share = (labels[validation_rows] == label).sum() / (labels == label).sum()
        assert 0.17 < share < 0.23, (label, share)
    assert 0.18 < validation_rows.size / labels.size < 0.22


def test_grouped_split_is_deterministic_under_the_seed():
    labels, groups = sentences_of_words()
    first = inner_split(labels, "multiclass", 3, 0.2, groups)
    again = inner_split(labels.copy(), "multiclass", 3, 0.2, groups.copy())
    for got, expected in zip(again, first, strict=True):
        np.testing.assert_array_equal(got, expected)
    other = inner_split(labels, "multiclass", 4, 0.2, groups)
    assert not np.array_equal(other[1], first[1])  # another seed, other sentences


def test_groups_of_one_row_keep_the_split_honest():
    """With every row its own group the split is still stratified and disjoint."""
    labels = np.array([0] * 80 + [1] * 20)
    fit_rows, validation_rows = inner_split(labels, "binary", 3, 0.2, np.arange(100))
    assert np.bincount(labels[validation_rows]).tolist() == [16, 4]
    assert fit_rows.size == 80


def test_a_class_in_one_sentence_is_refused_by_name():
    labels, groups = sentences_of_words()
    labels[labels == 10] = 3
    labels[:2] = 10  # both words of sentence 0
    with pytest.raises(DataError, match="Class 10 occurs in 1 training sentence only"):
        inner_split(labels, "multiclass", 0, 0.2, groups)


def test_grouped_regression_split_keeps_groups_whole():
    rng = np.random.default_rng(1)
    groups = np.repeat(np.arange(50), rng.integers(1, 9, size=50))
    targets = rng.normal(size=groups.size)
    fit_rows, validation_rows = inner_split(targets, "regression", 2, 0.25, groups)
    assert np.intersect1d(groups[fit_rows], groups[validation_rows]).size == 0
    assert fit_rows.size + validation_rows.size == groups.size
    assert 0.2 < validation_rows.size / groups.size < 0.33


def test_problem_orders_rows_by_the_grouped_split():
    labels, groups = sentences_of_words()
    rng = np.random.default_rng(2)
    x = rng.normal(size=(labels.size, 5)).astype(np.float32)
    x[:, 0] = np.arange(labels.size)  # remembers each row
    problem = Problem.from_arrays(
        x,
        labels,
        x[:10],
        labels[:10],
        kind="multiclass",
        metrics=("accuracy",),
        primary_metric="accuracy",
        n_classes=12,
        seed=3,
        groups=groups,
    )
    fit_rows, validation_rows = inner_split(labels, "multiclass", 3, 0.2, groups)
    rows = problem.x_train[:, 0] * problem.feature_scale[0] + problem.feature_mean[0]
    np.testing.assert_allclose(rows, np.concatenate([fit_rows, validation_rows]), atol=1e-2)
    assert problem.n_fit == fit_rows.size
    np.testing.assert_array_equal(problem.y_val, labels[validation_rows])
    with pytest.raises(DataError, match="Row groups"):
        Problem.from_arrays(
            x,
            labels,
            x,
            labels,
            kind="multiclass",
            metrics=("accuracy",),
            primary_metric="accuracy",
            n_classes=12,
            groups=groups[:-1],
        )
