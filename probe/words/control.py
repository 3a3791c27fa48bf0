"""Control tasks per word type (Hewitt & Liang, 2019) and selectivity per method and k.

A control task keeps the words and their vectors but replaces each label by one that is a
function of the word *type* alone: every type (form) gets one label, drawn once (seeded)
from the empirical distribution of the real training labels, and keeps it in every
occurrence, train and eval alike. A probe can score well on it only by memorising types —
so real − control accuracy (*selectivity*) says how much of a probe's score is the
representation's linguistic structure rather than the probe's capacity to memorise.

The same searches run on the control task as on the real one (``full`` at the C the real
``full`` chose, ``pairs``, ``greedy`` to k); each control probe is selected on the control
labels of the inner validation split and scored on the control labels of the eval words.
The control cell is assembled by :func:`selectivity`, which the out-of-core word sweep
(``probe.words.streamed``) shares.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from probe.cache import Cache
from probe.linear import fit_full
from probe.search import greedy, pairs
from probe.search.base import MethodOutcome, SearchConfig
from probe.search.problem import Problem
from probe.words.problem import LabelPlan
from probe.words.rows import kept_words


def control_labels(
    train_types: np.ndarray, eval_types: np.ndarray, y_train: np.ndarray, n_classes: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """One label per word type, drawn from the train label distribution -> (train, eval) labels.

    ``train_types`` / ``eval_types`` (n,) word forms per row; ``y_train`` (n_train,) real
    classes. Types are sorted before drawing, so the draw does not depend on row order.
    """
    types = sorted(set(train_types.tolist()) | set(eval_types.tolist()))
    distribution = np.bincount(y_train, minlength=n_classes) / len(y_train)
    drawn = np.random.default_rng([seed, 3]).choice(n_classes, size=len(types), p=distribution)
    label_of = dict(zip(types, drawn.tolist(), strict=True))
    return (
        np.array([label_of[t] for t in train_types.tolist()], dtype=np.int64),
        np.array([label_of[t] for t in eval_types.tolist()], dtype=np.int64),
    )


def word_type_control_labels(
    train: Cache, evaluation: Cache, plan: LabelPlan, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Control labels of the plan's train and eval rows (in the plan's row order), from the
    caches' word forms: :func:`control_labels` of the kept words that take part."""
    train_types = np.asarray(train.word_forms(), dtype=object)[kept_words(train)]
    eval_types = np.asarray(evaluation.word_forms(), dtype=object)[kept_words(evaluation)]
    return control_labels(
        train_types[plan.train_rows],
        eval_types[plan.eval_rows],
        plan.y_train,
        len(plan.classes),
        seed,
    )


def present_classes(control_train: np.ndarray, n_classes: int) -> np.ndarray:
    """Renumbering of the control classes: (n_classes,) new code of each drawn class, -1 for
    one no training row drew (its eval rows cannot be scored and are left out)."""
    present = np.unique(control_train)
    code = np.full(max(n_classes, int(present.max()) + 1), -1, dtype=np.int64)
    code[present] = np.arange(present.size)
    return code


def control_problem(
    problem: Problem, control_train_ordered: np.ndarray, control_eval: np.ndarray
) -> Problem:
    """The problem's rows with control labels (train rows already in the problem's order).

    A rare class can be drawn for no training type; the control problem's classes are the
    ones its training rows have (renumbered), and eval rows of any other class — types
    seen only in eval that drew such a class — are left out of its eval rows (counted in
    ``memo["n_eval_left_out"]``).
    """
    code = present_classes(np.asarray(control_train_ordered, dtype=np.int64), problem.n_classes)
    n_present = int((code >= 0).sum())
    y_eval = code[np.asarray(control_eval, dtype=np.int64)]
    keep = y_eval >= 0
    control = replace(
        problem,
        kind="multiclass" if n_present > 2 else "binary",
        n_classes=n_present,
        metrics=tuple(m for m in problem.metrics if n_present == 2 or m != "f1"),
        y_train=code[np.asarray(control_train_ordered, dtype=np.int64)],
        x_eval=problem.x_eval[keep],
        y_eval=y_eval[keep],
        balanced=False,
        memo={},
    )
    control.memo["n_eval_left_out"] = int((~keep).sum())
    return control


def _eval_accuracy(outcome: MethodOutcome) -> float:
    return float(outcome.scores.get("eval", {}).get("accuracy", np.nan))


def run(
    problem: Problem,
    control: Problem,
    config: SearchConfig,
    real: dict[str, MethodOutcome],
) -> MethodOutcome:
    """Selectivity of ``full``, ``pairs`` and ``greedy`` (per k): real minus control eval accuracy.

    ``real`` holds the real task's outcomes already computed in this group; missing ones are
    run here.
    """
    from probe.search import full as full_method

    for name, module in (("full", full_method), ("pairs", pairs), ("greedy", greedy)):
        if name not in real:
            real[name] = module.run(problem, config)
    chosen_c = real["full"].details.get("C") or problem.C
    full_fit = fit_full(
        control.x_train,
        control.y_train,
        kind=control.kind,
        C=chosen_c,
        n_classes=control.n_classes,
    )
    control_full = float(np.mean(full_fit.predict(control.x_eval)[:, 0] == control.y_eval))
    return selectivity(
        real,
        {
            "full": control_full,
            "pairs": pairs.run(control, config),
            "greedy": greedy.run(control, config),
        },
        n_dims=problem.n_dims,
        details={
            "control_classes": control.n_classes,
            "control_eval_rows_left_out": control.memo.get("n_eval_left_out", 0),
        },
    )


def selectivity(
    real: dict[str, MethodOutcome], control: dict[str, Any], n_dims: int, details: dict[str, Any]
) -> MethodOutcome:
    """The control cell from the real and control searches: ``real`` full / pairs / greedy
    outcomes, ``control`` the control full probe's eval accuracy and the control pairs /
    greedy outcomes. Shared by the in-memory and the out-of-core (``probe.words.streamed``)
    word sweeps."""
    steps = [_step("full", n_dims, _eval_accuracy(real["full"]), control["full"])]
    steps.append(_step("pairs", 2, _eval_accuracy(real["pairs"]), _eval_accuracy(control["pairs"])))
    for real_step, control_step in zip(real["greedy"].steps, control["greedy"].steps, strict=True):
        step = _step(
            "greedy",
            real_step["k"],
            real_step["eval"]["accuracy"],
            control_step["eval"]["accuracy"],
        )
        step.update(
            {
                # the columns the sentence-level control cells carry (validation scores)
                "real_validation": real_step["validation"],
                "control_validation": control_step["validation"],
                "dims": real_step["dims"],
                "control_dims": control_step["dims"],
            }
        )
        steps.append(step)
    return MethodOutcome(
        dims=[],
        steps=steps,
        details={
            "search": "full, pairs, greedy",
            "labels": "one random label per word type, drawn from the train label distribution",
            "scores": "eval accuracy on real labels vs on control labels",
            **details,
        },
    )


def _step(method: str, k: int, real_score: float, control_score: float) -> dict[str, Any]:
    return {
        "method": method,
        "k": int(k),
        "real": float(real_score),
        "control": float(control_score),
        "selectivity": float(real_score - control_score),
    }
