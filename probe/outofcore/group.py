"""One (layer, row kind) group of a sweep, out of core: the counterpart of ``probe.sweep.run_group``.

Builds the :class:`~probe.outofcore.problem.StreamProblem` of the slice (one pass for
statistics), runs the requested methods that work out of core in spec order (``full``
first when requested, so ``rank`` can reuse its probe), and returns one result cell each,
with bootstrap CIs that resample whole sentences (token rows) and the kept predictions.
"""

from __future__ import annotations

import time
from pathlib import Path

from probe.cache import Cache
from probe.outofcore.problem import StreamProblem
from probe.outofcore.rows import RowSource
from probe.outofcore.runners import RUNNERS
from probe.results import ResultCell
from probe.spec import SweepSpec, TaskFacts, problem_settings
from probe.stats.attach import attach_uncertainty, eval_set_from_scores


def load_problem(spec: SweepSpec, facts: TaskFacts, layer: int, kind: str) -> StreamProblem:
    """Row sources of both caches and the statistics pass over the training rows."""
    with Cache.open(spec.train_path) as train, Cache.open(spec.eval_path) as evaluation:
        train_labels, eval_labels = train.labels, evaluation.labels
    return StreamProblem.build(
        RowSource(Path(spec.train_path), layer, kind, spec.chunk_rows),
        RowSource(Path(spec.eval_path), layer, kind, spec.chunk_rows),
        train_labels,
        eval_labels,
        **problem_settings(spec, facts),
    )


def run_group(spec: SweepSpec, facts: TaskFacts, layer: int, kind: str) -> list[ResultCell]:
    """The out-of-core methods of ``spec.methods`` on one slice, one ResultCell each."""
    methods = [method for method in spec.methods if method in RUNNERS]
    if not methods:
        return []
    started = time.perf_counter()
    problem = load_problem(spec, facts, layer, kind)
    prepare_seconds = time.perf_counter() - started
    outcomes = {}
    for method in sorted(methods, key=lambda name: name != "full"):
        started = time.perf_counter()
        outcome = RUNNERS[method](problem, spec.config)
        outcomes[method] = (outcome, time.perf_counter() - started)
    cells = []
    eval_set = None
    if spec.bootstrap is not None:  # from the first outcome with eval predictions (random has none)
        n_classes = max(facts.n_classes, 2)
        for outcome, _ in outcomes.values():
            eval_set = eval_set or eval_set_from_scores(
                outcome, facts.metrics, n_classes, spec.bootstrap
            )
    for method in methods:
        outcome, seconds = outcomes[method]
        cell = outcome.cell(layer, kind, method, seconds, prepare_seconds)
        if spec.bootstrap is not None:
            started = time.perf_counter()
            if eval_set is not None:
                attach_uncertainty(outcome, eval_set)
                cell.intervals, cell.predictions = outcome.intervals, outcome.predictions
            cell.details["ci_seconds"] = time.perf_counter() - started
        cells.append(cell)
    return cells
