"""Labels matched by name across caches; unseen eval labels counted; control labels per type."""

from __future__ import annotations

import numpy as np

from probe.cache import Cache
from probe.words.control import control_labels
from probe.words.problem import label_strings, plan_labels


def test_unseen_eval_label_is_counted_not_scored(word_caches):
    with Cache.open(word_caches[0]) as train, Cache.open(word_caches[1]) as evaluation:
        plan = plan_labels(train, evaluation, "upos")
        eval_names = label_strings(evaluation, "upos")
    assert "INTJ" not in plan.classes
    assert plan.unseen_eval == {"INTJ": 1}
    assert plan.eval_rows.size == eval_names.size - 1
    # classes index by name: every scored eval row's class name is its own label
    assert [plan.classes[c] for c in plan.y_eval] == list(eval_names[plan.eval_rows])
    # train labels of one sentence only (the tricky sentence's tags; PART twice in it) are
    # left out and listed with their word counts: the split keeps sentences whole
    assert plan.rare_train == {"AUX": 1, "PART": 2}


def test_deprel_is_the_universal_relation(word_caches):
    with Cache.open(word_caches[0]) as train, Cache.open(word_caches[1]) as evaluation:
        universal = set(label_strings(train, "deprel"))
        full = set(label_strings(train, "deprel_full"))
        plan = plan_labels(train, evaluation, "deprel")
    assert not any(":" in name for name in universal)
    assert universal <= {name.split(":")[0] for name in full}
    assert set(plan.classes) <= universal


def test_control_labels_are_one_per_type_from_the_train_distribution():
    rng = np.random.default_rng(0)
    vocabulary = np.array([f"w{i}" for i in range(400)], dtype=object)
    train_types = vocabulary[rng.integers(0, 400, 20_000)]
    eval_types = np.concatenate([vocabulary[rng.integers(0, 400, 500)], ["unseen"]]).astype(object)
    y_train = rng.choice(3, size=20_000, p=[0.6, 0.3, 0.1])
    train_control, eval_control = control_labels(train_types, eval_types, y_train, 3, seed=5)
    for types, labels in ((train_types, train_control), (eval_types, eval_control)):
        for word in set(types[:200]):
            assert len(set(labels[types == word])) == 1  # fixed for every occurrence
    same_word = dict(zip(train_types, train_control, strict=True))
    assert all(
        same_word[w] == label
        for w, label in zip(eval_types, eval_control, strict=True)
        if w in same_word
    )
    per_type = np.array([same_word[w] for w in sorted(same_word)])
    share = np.bincount(per_type, minlength=3) / per_type.size
    np.testing.assert_allclose(
        share, [0.6, 0.3, 0.1], atol=0.07
    )  # drawn from the train distribution
    again = control_labels(train_types[::-1], eval_types, y_train[::-1], 3, seed=5)
    assert (again[1] == eval_control).all()  # the draw does not depend on row order
