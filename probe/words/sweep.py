"""The word-level grid: layer x subword pooling x method, for one word label.

``run_word_sweep`` is what ``fewdims probe --label upos`` calls. Each (layer, subword
pooling) group reads the word rows of both caches (``probe.words.rows``), builds one
multi-class :class:`~probe.search.problem.Problem` (``probe.words.problem``: classes matched
by name, unseen eval labels counted) and runs the requested methods of ``probe.search``
on it — the same vectorised searches as sentence-level probing; ``control`` is the per-word-
type control task of ``probe.words.control``. Cells of ``full`` and ``greedy`` also carry
eval confusion matrices (``details["confusion"]``; per k for greedy), from which reports
build per-tag F1 and top-confusion tables without rerunning anything.

Defaults (:data:`WORD_SEARCH_CONFIG`) are smaller than the sentence-level ones: a softmax
probe over 17-50 classes costs c(c+1)/2 Hessian blocks per Newton step, and word rows are
tens of thousands. Word rows that would not fit in memory (``out_of_core="auto"``, or
``"always"``) are streamed (``probe.words.streamed``: ``full``, ``rank``, ``pairs``,
``greedy``, ``backward``, ``random`` and ``control``; ``triples`` and ``mdl`` are skipped
and listed in the provenance, as for token rows).
``balanced`` is off by default: POS / relation probing reports accuracy,
which class weighting trades for macro-F1 (``--balanced`` turns it on).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np

from probe.cache import Cache, check_compatible
from probe.errors import DataError, FewdimsError
from probe.metrics import confusion_counts
from probe.outofcore.budget import available_bytes, in_memory_bytes
from probe.results import ResultCell, ResultsFile
from probe.search import get_method
from probe.search.base import MethodOutcome
from probe.search.problem import Problem
from probe.words import control as word_control
from probe.words.problem import (
    check_label,
    load_word_problem,
    plan_labels,
    train_row_order,
)
from probe.words.rows import SUBWORD_POOLINGS, check_subword_pooling
from probe.words.spec import WORD_PROTOCOL, WORD_SEARCH_CONFIG, WordSweepSpec
from probe.words.streamed import STREAMED_WORD_METHODS, run_word_group_streamed


def plan_word_sweep(spec: WordSweepSpec) -> tuple[list[tuple[int, str]], dict[str, Any]]:
    """Validate caches and settings; return the (layer, pooling) groups and provenance."""
    from probe.sweep import resolve_layers

    check_label(spec.label)
    for pooling in spec.poolings:
        check_subword_pooling(pooling)
    for method in spec.methods:
        get_method(method)
    with Cache.open(spec.train_path) as train, Cache.open(spec.eval_path) as evaluation:
        for cache, flag in ((train, "--train"), (evaluation, "--eval")):
            if cache.has_words and not cache.meta.has_token_vectors:
                raise DataError(
                    f"{flag} {cache.path} holds pooled vectors only (--store pooled); word rows "
                    "are pooled from token vectors. Re-extract the CoNLL-U file without "
                    "--store pooled."
                )
            if not cache.has_words:
                raise DataError(
                    f"{flag} {cache.path} has no word tables; word labels (--label) need caches "
                    "extracted from CoNLL-U files (`fewdims extract --data-file F.conllu`)."
                )
        check_compatible(train.meta, evaluation.meta, spec.train_path, spec.eval_path)
        if train.meta.source_sha256 == evaluation.meta.source_sha256:
            raise DataError(
                f"--train {spec.train_path} and --eval {spec.eval_path} hold the same sentences; "
                "pass caches of two different CoNLL-U files (e.g. dev to train, test to eval)."
            )
        spec.config.check(train.hidden_size)
        layers = resolve_layers(spec.layers, train, evaluation)
        plan = plan_labels(train, evaluation, spec.label)
        provenance = {
            "model": train.meta.model,
            "weights_sha256": train.meta.weights_sha256,
            "task": f"{train.meta.task}-{spec.label}",
            "rows": "words",
            "train_cache": {"path": spec.train_path, **train.meta.to_dict()},
            "eval_cache": {"path": spec.eval_path, **evaluation.meta.to_dict()},
            "seed": spec.config.seed,
            "spec": {**asdict(spec), "layers": layers},
            "protocol": WORD_PROTOCOL,
            "splits_note": (
                f"probe trained on the {train.meta.split} file ({train.meta.source}), "
                f"evaluated on the {evaluation.meta.split} file ({evaluation.meta.source})"
            ),
            "labels": plan.record(),
            "inner_split_groups": "sentence",  # the inner split keeps sentences whole
        }
        if streams(spec, plan.train_rows.size, plan.eval_rows.size, train.hidden_size):
            provenance["out_of_core"] = {
                "row_kinds": list(spec.poolings),
                "methods": [m for m in spec.methods if m in STREAMED_WORD_METHODS],
                "skipped_methods": [m for m in spec.methods if m not in STREAMED_WORD_METHODS],
            }
    return [(layer, pooling) for layer in layers for pooling in spec.poolings], provenance


def streams(spec: WordSweepSpec, n_train: int, n_eval: int, hidden_size: int) -> bool:
    """Whether word rows are probed out of core (``auto``: when holding them would take
    more than half of what the process may still allocate)."""
    from probe.spec import OUT_OF_CORE_MODES

    if spec.out_of_core not in OUT_OF_CORE_MODES:
        raise FewdimsError(
            f"out_of_core={spec.out_of_core!r}; choose from {', '.join(OUT_OF_CORE_MODES)}."
        )
    if spec.out_of_core != "auto":
        return spec.out_of_core == "always"
    budget = available_bytes()
    return budget is not None and in_memory_bytes(n_train, n_eval, hidden_size) > budget // 2


def run_word_group(
    spec: WordSweepSpec, layer: int, pooling: str, streamed: bool = False
) -> list[ResultCell]:
    """Every method of ``spec`` on one (layer, subword pooling) slice -> one cell per method."""
    if streamed:
        return run_word_group_streamed(spec, layer, pooling)
    started, cpu_started = time.perf_counter(), time.process_time()
    with Cache.open(spec.train_path) as train, Cache.open(spec.eval_path) as evaluation:
        plan = plan_labels(train, evaluation, spec.label)
        problem = load_word_problem(
            train,
            evaluation,
            plan,
            layer,
            pooling,
            seed=spec.config.seed,
            validation_fraction=spec.validation_fraction,
            C=spec.C,
            balanced=spec.balanced,
        )
        if "control" in spec.methods:
            control_train, control_eval = word_control.word_type_control_labels(
                train, evaluation, plan, spec.config.seed
            )
            order = train_row_order(plan, spec.config.seed, spec.validation_fraction)
            control = word_control.control_problem(problem, control_train[order], control_eval)
    prepare_cpu_seconds = time.process_time() - cpu_started
    prepare_seconds = time.perf_counter() - started
    outcomes: dict[str, MethodOutcome] = {}
    cells = []
    # control last: it reuses the real full / pairs / greedy outcomes
    for method in sorted(spec.methods, key=lambda name: name == "control"):
        started, cpu_started = time.perf_counter(), time.process_time()
        if method == "control":
            outcome = word_control.run(problem, control, spec.config, outcomes)
        else:
            outcome = get_method(method)(problem, spec.config)
            outcomes[method] = outcome
            _add_confusions(problem, method, outcome)
        seconds = time.perf_counter() - started
        cell = outcome.cell(layer, pooling, method, seconds, prepare_seconds)
        # CPU seconds beside the wall seconds: on a shared machine the wall ones move with
        # the load (tests/benchmarks/bench_words.py sums both)
        cell.details["cpu_seconds"] = time.process_time() - cpu_started
        cell.details["prepare_cpu_seconds"] = prepare_cpu_seconds
        cells.append((method, cell))
    by_method = dict(cells)
    return [by_method[method] for method in spec.methods]


def _add_confusions(problem: Problem, method: str, outcome: MethodOutcome) -> None:
    """Eval confusion matrices of the ``full`` probe and of greedy's probe at each k."""
    if method == "full" and "full_probe" in problem.memo:
        predictions = problem.memo["full_probe"].predict(problem.x_eval)
        outcome.details["confusion"] = _confusion(problem, predictions)
    elif method == "greedy" and "greedy" in problem.memo:
        by_k = {}
        steps = problem.memo["greedy"]
        refits = problem.memo.get("greedy_refits", {})  # greedy.run's refits on all train rows
        # the per-tag tables show k = 1, 2, 4 and the largest k
        for step in [s for s in steps if s["k"] in (1, 2, 4) or s is steps[-1]]:
            refit = refits.get(step["k"]) or problem.fit_on_train(
                step["fit"].dims, init=step["fit"]
            )
            by_k[str(step["k"])] = _confusion(problem, refit.predict(problem.x_eval))
        outcome.details["confusion_by_k"] = by_k


def _confusion(problem: Problem, predictions: np.ndarray) -> list[list[int]]:
    """(c, c) eval counts, rows = true class, columns = predicted, as nested lists."""
    counts = confusion_counts(problem.y_eval, predictions[:, :1], problem.n_classes)[0]
    return counts.tolist()


def run_word_sweep(
    spec: WordSweepSpec, progress: Callable[[int, str, int, int], None] | None = None
) -> ResultsFile:
    """Run every (layer x subword pooling x method) cell; one ``kind="probe"`` ResultsFile.

    ``progress(layer, pooling, done, total)`` is called after each group, in grid order.
    """
    groups, provenance = plan_word_sweep(spec)
    streamed = "out_of_core" in provenance
    if spec.jobs == 1:
        outputs = (run_word_group(spec, layer, pooling, streamed) for layer, pooling in groups)
    else:
        from joblib import Parallel, delayed

        parallel = Parallel(n_jobs=spec.jobs, return_as="generator")
        outputs = parallel(
            delayed(run_word_group)(spec, layer, pooling, streamed) for layer, pooling in groups
        )
    results = ResultsFile(
        kind="probe", task=provenance["task"], primary_metric="accuracy", provenance=provenance
    )
    for index, ((layer, pooling), cells) in enumerate(zip(groups, outputs, strict=True)):
        results.cells.extend(cells)
        if progress is not None:
            progress(layer, pooling, index + 1, len(groups))
    return results


__all__ = [
    "SUBWORD_POOLINGS",
    "WORD_SEARCH_CONFIG",
    "WordSweepSpec",
    "plan_word_sweep",
    "run_word_group",
    "run_word_sweep",
]
