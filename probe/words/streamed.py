"""Word rows out of core: one (layer, subword pooling) group read in chunks, never held.

What ``probe.words.sweep`` runs when word rows would not fit in memory (``out_of_core``
``auto`` or ``always``): the word rows of both caches (``WordRowSource``, chunks of whole
sentences) as a :class:`~probe.outofcore.problem.StreamProblem`, and the out-of-core methods
of ``probe.outofcore.runners`` on it — plus ``control``, the per-word-type control task.

Control out of core works because the control task is a *relabelling*: every word type has
one control label, so a streamed row carries its control label as it carries its real one
(labels are indexed by the row's position in the label plan). The control problem keeps
the real problem's inner split (split by the real labels, as in memory), statistics and
rows, with the control labels, unweighted, its classes renumbered to those training rows
drew; eval words whose type drew a class no training word has are left out of its eval
rows (counted). Its searches are the out-of-core ``pairs`` and ``greedy``, and its
all-dims probe is fitted on all training rows at ``--C`` (out of core, ``full`` fits one C).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from probe.cache import Cache
from probe.outofcore import SUPPORTED_METHODS
from probe.outofcore.methods import fit_part
from probe.outofcore.problem import StreamProblem
from probe.outofcore.runners import RUNNERS
from probe.outofcore.scoring import streamed_scores
from probe.results import ResultCell
from probe.search.base import MethodOutcome, SearchConfig
from probe.words import control as word_control
from probe.words.problem import WORD_METRICS, LabelPlan, plan_labels
from probe.words.rows import WordRowSource
from probe.words.spec import WordSweepSpec

# The methods that run on streamed word rows.
STREAMED_WORD_METHODS: tuple[str, ...] = (*SUPPORTED_METHODS, "control")


def stream_problem(spec: WordSweepSpec, plan: LabelPlan, layer: int, pooling: str) -> StreamProblem:
    """The word rows of both caches as a StreamProblem (one statistics pass)."""
    n_classes = len(plan.classes)
    return StreamProblem.build(
        WordRowSource(Path(spec.train_path), layer, pooling, plan.train_rows, spec.chunk_tokens),
        WordRowSource(Path(spec.eval_path), layer, pooling, plan.eval_rows, spec.chunk_tokens),
        plan.y_train,
        plan.y_eval,
        kind="multiclass" if n_classes > 2 else "binary",
        metrics=WORD_METRICS,
        primary_metric="accuracy",
        n_classes=n_classes,
        seed=spec.config.seed,
        validation_fraction=spec.validation_fraction,
        C=spec.C,
        balanced=spec.balanced,
        groups=plan.train_sentences,
    )


def control_stream_problem(
    problem: StreamProblem, plan: LabelPlan, control_train: np.ndarray, control_eval: np.ndarray
) -> StreamProblem:
    """``problem`` with per-word-type control labels (plan row order); see the module docstring."""
    code = word_control.present_classes(control_train, problem.n_classes)
    n_present = int((code >= 0).sum())
    y_eval = code[control_eval]
    keep = y_eval >= 0
    evaluation = problem.evaluation
    control = replace(
        problem,
        kind="multiclass" if n_present > 2 else "binary",
        n_classes=n_present,
        metrics=tuple(m for m in problem.metrics if n_present == 2 or m != "f1"),
        evaluation=replace(evaluation, rows=np.asarray(plan.eval_rows)[keep]),
        train_labels=code[control_train],
        eval_labels=y_eval[keep],
        class_weight={part: None for part in problem.class_weight},
        memo={},
    )
    control.memo["n_eval_left_out"] = int((~keep).sum())
    return control


def run_control(
    problem: StreamProblem,
    control: StreamProblem,
    config: SearchConfig,
    real: dict[str, MethodOutcome],
) -> MethodOutcome:
    """Selectivity of ``full``, ``pairs`` and ``greedy`` (per k) out of core; ``real`` holds
    the real task's outcomes of this group (missing ones are run here)."""
    for name in ("full", "pairs", "greedy"):
        if name not in real:
            real[name] = RUNNERS[name](problem, config)
    every_dim = np.arange(control.n_dims, dtype=np.int64)[None, :]
    full_fit = fit_part(control, "train", every_dim)
    control_full = streamed_scores(control, full_fit, "eval")[0]["accuracy"]
    outcome = word_control.selectivity(
        real,
        {
            "full": control_full,
            "pairs": RUNNERS["pairs"](control, config),
            "greedy": RUNNERS["greedy"](control, config),
        },
        n_dims=problem.n_dims,
        details={
            "control_classes": control.n_classes,
            "control_eval_rows_left_out": control.memo["n_eval_left_out"],
            "out_of_core": True,
            "rows": problem.train.kind,
            "control_full_C": control.C,
        },
    )
    return outcome


def run_word_group_streamed(spec: WordSweepSpec, layer: int, pooling: str) -> list[ResultCell]:
    """The methods of ``spec`` that run out of core, on one slice of word rows read in chunks;
    one cell each, in spec order (``full`` runs first, ``control`` last: they reuse it)."""
    methods = [method for method in spec.methods if method in STREAMED_WORD_METHODS]
    started, cpu_started = time.perf_counter(), time.process_time()
    with Cache.open(spec.train_path) as train, Cache.open(spec.eval_path) as evaluation:
        plan = plan_labels(train, evaluation, spec.label)
        if "control" in methods:
            control_train, control_eval = word_control.word_type_control_labels(
                train, evaluation, plan, spec.config.seed
            )
    problem = stream_problem(spec, plan, layer, pooling)
    if "control" in methods:
        control = control_stream_problem(problem, plan, control_train, control_eval)
    prepare_cpu_seconds = time.process_time() - cpu_started
    prepare_seconds = time.perf_counter() - started
    outcomes: dict[str, MethodOutcome] = {}
    cells = {}
    for method in sorted(methods, key=lambda name: (name != "full", name == "control")):
        started, cpu_started = time.perf_counter(), time.process_time()
        if method == "control":
            outcome = run_control(problem, control, spec.config, outcomes)
        else:
            outcome = outcomes[method] = RUNNERS[method](problem, spec.config)
        cell = outcome.cell(layer, pooling, method, time.perf_counter() - started, prepare_seconds)
        cell.details["cpu_seconds"] = time.process_time() - cpu_started
        cell.details["prepare_cpu_seconds"] = prepare_cpu_seconds
        cells[method] = cell
    return [cells[method] for method in methods]
