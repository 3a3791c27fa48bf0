"""The layer x pooling x method grid over a train cache and an eval cache.

``run_sweep`` is what ``fewdims probe`` calls. Each (layer, pooling) *cell group* is
independent: it reads that one slice from each cache, builds a standardised
:class:`~probe.search.problem.Problem` (select on an inner validation split of the train
cache, report on the eval cache) and runs every requested method on it, sharing the Gram
screen and intermediate searches between methods. Memory is bounded by one slice (plus the
small eval slice) per worker.

Cell groups run serially, with ``jobs > 1`` in joblib's process backend, or with a
``scheduler`` address on a Dask cluster (:mod:`probe.cluster`). Every random choice is
seeded from ``(seed, ...)`` inside the group — never from execution order — so all three
give the same results (tests check it). Workers open the caches themselves; only paths and
settings cross process boundaries.

Slices that do not fit in memory — token-level rows (``pooling="tokens"``: every word token
a row) always, and pooled slices whose in-memory cost exceeds half of what this process may
still allocate when ``out_of_core="auto"`` — go to :mod:`probe.outofcore`, which reads them
in chunks and supports ``full``, ``rank``, ``pairs`` and ``greedy``; other requested methods
are skipped for those slices and listed in ``provenance["out_of_core"]``.

Seeds: with ``spec.seeds`` every group reads its slice once and builds one problem per seed
(that seed's inner split, standardised again), running every method on each; the cells carry
their ``seed`` and equal those of a separate sweep with ``config.seed`` = that seed.
Out-of-core slices are streamed once per seed.

Timing: a cell's ``seconds`` is its method's wall time on an already loaded slice; the
method that first needs a shared intermediate (the Gram screen, the greedy path) pays for
it. Loading and standardising the slice is ``details["prepare_seconds"]`` (over several
seeds, only the first seed's cells include the read); bootstrap CIs of the cell's eval
scores (:mod:`probe.stats.attach`) are ``details["ci_seconds"]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from probe.cache import Cache, CacheMeta, check_compatible
from probe.cluster import Execution, map_in_order
from probe.errors import CacheError, DataError, FewdimsError
from probe.outofcore import SUPPORTED_METHODS as OUT_OF_CORE_METHODS
from probe.outofcore.budget import available_bytes, in_memory_bytes
from probe.outofcore.group import run_group as run_out_of_core
from probe.results import ResultCell, ResultsFile
from probe.search import METHOD_MODULES, get_method
from probe.search.problem import Problem
from probe.seeds import check_seeds
from probe.spec import OUT_OF_CORE_MODES, SweepSpec, TaskFacts, problem_settings
from probe.stats.attach import EvalSet, attach_uncertainty
from probe.tasks import GLUE_TASKS, TASK_ALIASES
from probe.vocabulary import ROW_KINDS, TOKEN_ROWS, parse_layers, parse_names

PROTOCOL = (
    "dims / C selected on a seeded inner validation split of the train cache (probe fitted on "
    "the rest); the selected probe refit on all train rows and scored on the eval cache, which "
    "no choice was made on; features standardised with train-cache statistics."
)


@dataclass
class CellGroupDone:
    """Progress report passed to the callback after each (layer, pooling) group."""

    layer: int
    pooling: str
    index: int
    total: int
    cells: list[ResultCell]


def task_facts(meta: CacheMeta) -> TaskFacts:
    """Kind and metrics from the GLUE table, or inferred from the labels for other data."""
    kind = (
        "regression"
        if meta.is_regression
        else "binary"
        if len(meta.label_names) <= 2
        else "multiclass"
    )
    n_classes = 1 if meta.is_regression else max(2, len(meta.label_names))
    key = TASK_ALIASES.get(meta.task.lower(), meta.task.lower())
    if key in GLUE_TASKS:
        spec = GLUE_TASKS[key]
        return TaskFacts(spec.name, kind, n_classes, spec.metrics, spec.primary_metric)
    if meta.is_regression:
        return TaskFacts(meta.task, kind, n_classes, ("pearson", "spearman"), "pearson")
    metrics = ("accuracy", "f1", "mcc") if kind == "binary" else ("accuracy", "mcc")
    return TaskFacts(meta.task, kind, n_classes, metrics, "accuracy")


def _check_labeled(cache: Cache, role: str, flag: str) -> np.ndarray:
    labels = cache.labels
    missing = np.isnan(labels) if labels.dtype.kind == "f" else labels < 0
    if not cache.meta.labeled or missing.all():
        raise DataError(
            f"The {role} cache {cache.path} ({cache.meta.task} {cache.meta.split}) has no labels; "
            f"probing needs labels. Pass a labeled split's cache as {flag} (GLUE test splits are "
            "unlabeled: use train for --train and dev for --eval)."
        )
    if missing.any():
        raise DataError(
            f"The {role} cache {cache.path} has {int(missing.sum())} unlabeled examples; "
            "re-extract a fully labeled split."
        )
    return labels


def resolve_layers(requested: Sequence[int], train: Cache, evaluation: Cache) -> list[int]:
    """Requested layers (all stored if empty) as indices stored in *both* caches."""
    train_layers = train.layers
    if not requested:
        layers = [layer for layer in train_layers if layer in evaluation.layers]
        if not layers:
            raise CacheError(
                f"The caches share no layer (train {train_layers}, eval {evaluation.layers}); "
                "extract both with the same --layers."
            )
        return layers
    resolved = []
    for layer in requested:
        position = train.layer_position(layer)  # raises CacheError naming stored layers
        absolute = train_layers[position]
        evaluation.layer_position(absolute)
        if absolute not in resolved:
            resolved.append(absolute)
    return resolved


def plan(spec: SweepSpec) -> tuple[TaskFacts, list[tuple[int, str]], dict[str, Any]]:
    """Validate the caches and settings; return task facts, (layer, pooling) groups, provenance.

    Raises ``CacheError`` / ``DataError`` (mismatched or unlabeled caches) and
    ``FewdimsError`` subclasses for bad settings, before any heavy work starts.
    """
    for method in spec.methods:
        get_method(method)  # raises UnknownMethodError listing the options
    for pooling in spec.poolings:
        if pooling not in ROW_KINDS:
            raise FewdimsError(f"Unknown pooling {pooling!r}; choose from {', '.join(ROW_KINDS)}.")
    if spec.out_of_core not in OUT_OF_CORE_MODES:
        raise FewdimsError(
            f"out_of_core={spec.out_of_core!r}; choose from {', '.join(OUT_OF_CORE_MODES)}."
        )
    if spec.out_of_core == "never" and TOKEN_ROWS in spec.poolings:
        raise FewdimsError(
            "Token rows (--pooling tokens) are only probed out of core; drop --out-of-core never."
        )
    if spec.chunk_rows is not None and spec.chunk_rows < 1:
        raise FewdimsError(f"--chunk-rows must be at least 1, got {spec.chunk_rows}.")
    if spec.jobs < 1:
        raise FewdimsError(
            f"--jobs must be at least 1 (1 runs the (layer, pooling) groups one after another, "
            f"N runs N at once), got {spec.jobs}."
        )
    if spec.bootstrap is not None:
        spec.bootstrap.check()
    check_seeds(spec.seeds)
    with Cache.open(spec.train_path) as train, Cache.open(spec.eval_path) as evaluation:
        check_compatible(train.meta, evaluation.meta, str(spec.train_path), str(spec.eval_path))
        spec = replace(spec, poolings=spec.poolings or tuple(train.meta.poolings))
        for cache in (train, evaluation):
            for kind in spec.poolings:
                if kind == TOKEN_ROWS:
                    cache.check_token_vectors()  # a pooled-only cache has no token rows
                else:
                    cache.check_pooling(kind)  # e.g. cls of a decoder: names the stored ones
        if train.meta.source_sha256 == evaluation.meta.source_sha256:
            raise DataError(
                f"--train {spec.train_path} and --eval {spec.eval_path} hold the same examples "
                f"({train.meta.task} {train.meta.split}): scores would be measured on the data the "
                "dims were selected on. Pass a train-split cache and a dev-split cache."
            )
        _check_labeled(train, "train", "--train")
        _check_labeled(evaluation, "eval", "--eval")
        spec.config.check(train.hidden_size)
        layers = resolve_layers(spec.layers, train, evaluation)
        facts = task_facts(train.meta)
        streamed = out_of_core_kinds(
            spec, train.n_examples, evaluation.n_examples, train.hidden_size
        )
        facts = replace(facts, out_of_core=streamed)
        provenance = {
            "model": train.meta.model,
            "weights_sha256": train.meta.weights_sha256,
            "task": facts.name,
            "train_cache": {"path": str(spec.train_path), **train.meta.to_dict()},
            "eval_cache": {"path": str(spec.eval_path), **evaluation.meta.to_dict()},
            **({"seeds": list(spec.seeds)} if spec.seeds else {"seed": spec.config.seed}),
            "bootstrap": spec.bootstrap.record() if spec.bootstrap else None,
            "spec": _spec_record(spec, layers),
            "protocol": PROTOCOL,
        }
        if streamed and not any(method in OUT_OF_CORE_METHODS for method in spec.methods):
            raise FewdimsError(
                f"{', '.join(streamed)} rows are probed out of core, where only "
                f"{', '.join(OUT_OF_CORE_METHODS)} run; --methods asked for "
                f"{', '.join(spec.methods)}. Add one of those methods."
            )
        if streamed:
            provenance["out_of_core"] = {
                "row_kinds": list(streamed),
                "methods": [m for m in spec.methods if m in OUT_OF_CORE_METHODS],
                "skipped_methods": [m for m in spec.methods if m not in OUT_OF_CORE_METHODS],
            }
    groups = [(layer, pooling) for layer in layers for pooling in spec.poolings]
    return facts, groups, provenance


def out_of_core_kinds(
    spec: SweepSpec, n_train: int, n_eval: int, hidden_size: int
) -> tuple[str, ...]:
    """The requested row kinds to read in chunks (see the module docstring)."""
    if spec.out_of_core == "always":
        return tuple(spec.poolings)
    streamed = [kind for kind in spec.poolings if kind == TOKEN_ROWS]
    if spec.out_of_core == "auto":
        budget = available_bytes()
        needed = in_memory_bytes(n_train, n_eval, hidden_size)
        if budget is not None and needed > budget // 2:
            streamed += [kind for kind in spec.poolings if kind != TOKEN_ROWS]
    return tuple(kind for kind in spec.poolings if kind in streamed)


def _spec_record(spec: SweepSpec, layers: list[int]) -> dict[str, Any]:
    record = asdict(spec)
    record.pop("scheduler")  # where the groups ran, not what determines the numbers
    record["layers"] = layers
    record["class_weight"] = "balanced" if spec.balanced else None
    return record


@dataclass(frozen=True)
class Slice:
    """One (layer, pooling) slice of both caches as read, before any split or scaling.

    ``x_train`` (n_train, H) and ``x_eval`` (n_eval, H) float32; read once and shared by
    every seed's :class:`Problem` (``Problem.from_arrays`` copies, never writes them).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    y_eval: np.ndarray

    def problem(self, spec: SweepSpec, facts: TaskFacts) -> Problem:
        """The standardised problem of this slice under ``spec``'s seed and protocol."""
        return Problem.from_arrays(
            self.x_train, self.y_train, self.x_eval, self.y_eval, **problem_settings(spec, facts)
        )


def read_slice(spec: SweepSpec, layer: int, pooling: str) -> Slice:
    """Read one (layer, pooling) slice of the train and eval caches."""
    with Cache.open(spec.train_path) as train, Cache.open(spec.eval_path) as evaluation:
        return Slice(
            train.pooled(layer, pooling),  # (n_train, H) float32
            train.labels,
            evaluation.pooled(layer, pooling),  # (n_eval, H) float32
            evaluation.labels,
        )


def load_problem(spec: SweepSpec, facts: TaskFacts, layer: int, pooling: str) -> Problem:
    """Read one (layer, pooling) slice of both caches into a standardised Problem."""
    return read_slice(spec, layer, pooling).problem(spec, facts)


def run_group(spec: SweepSpec, facts: TaskFacts, layer: int, pooling: str) -> list[ResultCell]:
    """All methods on one (layer, pooling) slice -> one ResultCell per method (and seed), in
    spec order (seed-major when ``spec.seeds`` repeats the sweep)."""
    cells: list[ResultCell] = []
    if pooling in facts.out_of_core:
        for seed, single in spec.per_seed():
            cells += _with_seed(run_out_of_core(single, facts, layer, pooling), seed)
        return cells
    started = time.perf_counter()
    read = read_slice(spec, layer, pooling)
    read_seconds = time.perf_counter() - started
    for seed, single in spec.per_seed():
        started = time.perf_counter()
        problem = read.problem(single, facts)
        prepare_seconds = time.perf_counter() - started + read_seconds
        read_seconds = 0.0  # paid once, by the first seed
        cells += _with_seed(_run_methods(single, problem, layer, pooling, prepare_seconds), seed)
    return cells


def _with_seed(cells: list[ResultCell], seed: int | None) -> list[ResultCell]:
    for cell in cells:
        cell.seed = seed
    return cells


def _run_methods(
    spec: SweepSpec, problem: Problem, layer: int, pooling: str, prepare_seconds: float
) -> list[ResultCell]:
    """Every method of ``spec`` on one prepared problem, with CIs when the spec asks."""
    eval_set = eval_set_of(problem, spec)
    cells = []
    for method in spec.methods:
        started = time.perf_counter()
        outcome = get_method(method)(problem, spec.config)
        seconds = time.perf_counter() - started
        cell = outcome.cell(layer, pooling, method, seconds, prepare_seconds)
        if eval_set is not None:
            started = time.perf_counter()
            attach_uncertainty(outcome, eval_set)
            cell.intervals, cell.predictions = outcome.intervals, outcome.predictions
            cell.details["ci_seconds"] = time.perf_counter() - started
        cells.append(cell)
    return cells


def eval_set_of(problem: Problem, spec: SweepSpec) -> EvalSet | None:
    """The eval labels and resampling settings of a slice; None when CIs are switched off."""
    if spec.bootstrap is None:
        return None
    n_classes = max(problem.n_classes, 2)
    return EvalSet(problem.y_eval, problem.metrics, n_classes, spec.bootstrap)


def run_sweep(
    spec: SweepSpec, progress: Callable[[CellGroupDone], None] | None = None
) -> ResultsFile:
    """Run every (layer x pooling x method) cell; return one ``kind="probe"`` ResultsFile.

    ``progress`` is called after each (layer, pooling) group, in grid order.
    """
    facts, groups, provenance = plan(spec)
    # With jobs > 1 and no scheduler, joblib's default backend (loky processes) applies, and
    # a caller's `with joblib.parallel_config(backend=...)` (threads, Ray) takes its place.
    # Workers get absolute cache paths: a reused worker process (loky keeps its pool between
    # sweeps) or a cluster worker does not share this process's current directory.
    worker_spec = replace(
        spec,
        train_path=str(Path(spec.train_path).resolve()),
        eval_path=str(Path(spec.eval_path).resolve()),
    )
    outputs = map_in_order(
        Execution(jobs=spec.jobs, scheduler=spec.scheduler),
        run_group,
        [(worker_spec, facts, layer, pooling) for layer, pooling in groups],
    )
    results = ResultsFile(
        kind="probe", task=facts.name, primary_metric=facts.primary_metric, provenance=provenance
    )
    for index, ((layer, pooling), cells) in enumerate(zip(groups, outputs, strict=True)):
        results.cells.extend(cells)
        if progress is not None:
            progress(CellGroupDone(layer, pooling, index + 1, len(groups), cells))
    return results


def solver_warning_summary(results: ResultsFile) -> str | None:
    """One readable line about cells whose solver stopped early, or None if none did.

    The solver's own messages stay in each cell's ``details["solver_warnings"]``; the
    command line shows this line once instead of scikit-learn's warning blocks.
    """
    flagged = [cell for cell in results.cells if cell.details.get("solver_warnings")]
    if not flagged:
        return None
    places = [f"layer {cell.layer} {cell.pooling} {cell.method}" for cell in flagged]
    shown = ", ".join(places[:3]) + (f" and {len(places) - 3} more" if len(places) > 3 else "")
    return (
        f"{len(flagged)} of {len(results.cells)} cells had a solver stop before converging "
        f"or meet an ill-conditioned matrix ({shown}); their scores are reported as fitted, "
        "and the solver's message is in the cell's details[\"solver_warnings\"]."
    )


__all__ = [
    "METHOD_MODULES",
    "PROTOCOL",
    "CellGroupDone",
    "SweepSpec",
    "TaskFacts",
    "parse_layers",  # from probe.vocabulary, re-exported for callers of the old home
    "parse_names",
    "plan",
    "problem_settings",
    "run_group",
    "run_sweep",
    "solver_warning_summary",
    "task_facts",
]
