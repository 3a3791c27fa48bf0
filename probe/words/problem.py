"""Word rows of a train and an eval cache as one multi-class probing problem.

The two caches have their own label vocabularies (each file's tags), so labels are matched
*by name*. The probe's classes are the train labels whose kept words lie in at least
``MIN_TRAIN_SENTENCES`` sentences; words of rarer train labels are left out and counted.
Why sentences: the inner fit / validation split keeps the words of one sentence on one
side (``LabelPlan.train_sentences`` are its groups) — a dim chosen on validation words
whose sentence-mates were fitted would be chosen on the fitted sentence — so a class needs
two sentences to have words on both sides.

Eval words whose label is not among the classes cannot be predicted right by any probe:
they are left out of scoring and counted per label (``LabelPlan.unseen_eval``), so a report
can say how many there were — never a crash.

Label names: ``upos``, ``xpos``, ``deprel`` (the universal relation: ``nmod:poss`` counts as
``nmod``, 37 classes in UD v2) and ``deprel_full`` (with subtypes).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from probe.cache import Cache
from probe.errors import DataError, FewdimsError
from probe.search.problem import Problem, inner_split
from probe.words.rows import kept_words, word_rows

LABELS: tuple[str, ...] = ("upos", "xpos", "deprel", "deprel_full")
MIN_TRAIN_SENTENCES = 2
WORD_METRICS: tuple[str, ...] = ("accuracy", "f1_macro")


def stored_label(label: str) -> str:
    """The cache's word-label dataset that ``label`` is read from."""
    check_label(label)
    return "deprel" if label.startswith("deprel") else label


def check_label(label: str) -> None:
    if label not in LABELS:
        raise FewdimsError(f"Unknown word label {label!r}; choose from {', '.join(LABELS)}.")


def label_strings(cache: Cache, label: str) -> np.ndarray:
    """(n_kept_words,) object array: each kept word's label name (``deprel``: universal part)."""
    names = np.asarray(cache.word_label_names(stored_label(label)), dtype=object)
    if label == "deprel":
        names = np.asarray([name.split(":")[0] for name in names], dtype=object)
    return names[cache.word_labels(stored_label(label))[kept_words(cache)]]


@dataclass
class LabelPlan:
    """How word labels of both caches become class indices.

    ``classes``: class names (index = class). ``train_rows`` / ``eval_rows``: the kept-word
    rows of each cache that take part; ``y_train`` / ``y_eval`` their classes;
    ``train_sentences`` (n_train_rows,) the example (sentence) of each train row, the groups
    of the inner split. ``rare_train``: {label: words} left out of training (words in fewer
    than MIN_TRAIN_SENTENCES sentences);
    ``unseen_eval``: {label: words} of eval labels the probe has no class for.
    """

    label: str
    classes: list[str]
    train_rows: np.ndarray
    eval_rows: np.ndarray
    y_train: np.ndarray
    y_eval: np.ndarray
    train_sentences: np.ndarray
    rare_train: dict[str, int] = field(default_factory=dict)
    unseen_eval: dict[str, int] = field(default_factory=dict)

    def record(self) -> dict[str, Any]:
        """The plan's facts for the results' provenance."""
        return {
            "label": self.label,
            "classes": self.classes,
            "n_train_words": int(self.train_rows.size),
            "n_eval_words": int(self.eval_rows.size),
            "rare_train_labels": self.rare_train,
            "unseen_eval_labels": self.unseen_eval,
            "n_eval_unseen": int(sum(self.unseen_eval.values())),
        }


def kept_word_sentences(cache: Cache) -> np.ndarray:
    """(n_kept_words,) int64: the example (sentence) index of each kept word."""
    example_of_word = np.repeat(np.arange(cache.n_examples), np.diff(cache.word_offsets))
    return example_of_word[kept_words(cache)]


def plan_labels(train: Cache, evaluation: Cache, label: str) -> LabelPlan:
    """Match the caches' labels by name; see the module docstring."""
    train_names = label_strings(train, label)
    eval_names = label_strings(evaluation, label)
    sentences = kept_word_sentences(train)
    counts = Counter(train_names.tolist())
    pairs = set(zip(train_names.tolist(), sentences.tolist(), strict=True))
    sentence_counts = Counter(name for name, _ in pairs)  # sentences holding each label
    classes = sorted(name for name in counts if sentence_counts[name] >= MIN_TRAIN_SENTENCES)
    if len(classes) < 2:
        raise DataError(
            f"The train cache {train.path} has {len(classes)} {label} label(s) with words in at "
            f"least {MIN_TRAIN_SENTENCES} sentences; a probe needs two. Use a larger training "
            "treebank file."
        )
    index = {name: code for code, name in enumerate(classes)}
    rare = {name: count for name, count in sorted(counts.items()) if name not in index}
    train_rows = np.flatnonzero([name in index for name in train_names])
    eval_known = np.array([name in index for name in eval_names], dtype=bool)
    unseen = Counter(eval_names[~eval_known].tolist())
    eval_rows = np.flatnonzero(eval_known)
    if eval_rows.size == 0:
        raise DataError(
            f"No word of the eval cache {evaluation.path} has a {label} label seen in training; "
            "pass an eval file of the same treebank (or tag set)."
        )
    return LabelPlan(
        label=label,
        classes=classes,
        train_rows=train_rows,
        eval_rows=eval_rows,
        y_train=np.array([index[name] for name in train_names[train_rows]], dtype=np.int64),
        y_eval=np.array([index[name] for name in eval_names[eval_rows]], dtype=np.int64),
        train_sentences=sentences[train_rows],
        rare_train=rare,
        unseen_eval=dict(sorted(unseen.items())),
    )


def train_row_order(plan: LabelPlan, seed: int, validation_fraction: float) -> np.ndarray:
    """The row order :func:`load_word_problem` gives the train rows (fit rows, then
    validation rows; sentences kept whole). Control labels must follow the same reordering
    as the real ones.
    """
    fit_rows, validation_rows = inner_split(
        plan.y_train, "multiclass", seed, validation_fraction, plan.train_sentences
    )
    return np.concatenate([fit_rows, validation_rows])


def load_word_problem(
    train: Cache,
    evaluation: Cache,
    plan: LabelPlan,
    layer: int,
    pooling: str,
    *,
    seed: int = 0,
    validation_fraction: float = 0.2,
    C: float = 1.0,
    balanced: bool = True,
) -> Problem:
    """One (layer, subword pooling) slice of word rows as a standardised multi-class Problem."""
    x_train = word_rows(train, layer, pooling)[plan.train_rows]  # (n_train_words, H)
    x_eval = word_rows(evaluation, layer, pooling)[plan.eval_rows]  # (n_eval_words, H)
    return Problem.from_arrays(
        x_train,
        plan.y_train,
        x_eval,
        plan.y_eval,
        kind="multiclass" if len(plan.classes) > 2 else "binary",
        metrics=WORD_METRICS if len(plan.classes) > 2 else ("accuracy", "f1", "f1_macro"),
        primary_metric="accuracy",
        n_classes=len(plan.classes),
        seed=seed,
        validation_fraction=validation_fraction,
        C=C,
        balanced=balanced,
        groups=plan.train_sentences,
    )
