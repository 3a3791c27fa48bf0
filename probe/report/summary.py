"""The numbers a report shows, computed from results cells only (no refitting).

The central question of a report is "for each layer and token vector (pooling), how good is
the best k-dim subset, against all dims, chance (random k-subsets) and a control task?". This
module answers it per (layer, pooling) row:

* ``full`` — the eval score of the all-dims probe;
* ``best_by_k`` — among every k-dim subset any method evaluated at that layer/pooling (rank
  top-k, pairs/triples top lists, greedy and backward steps), the one with the best
  **validation** score, reported with its **eval** score. Choosing on validation keeps the
  eval split untouched by selection, so the reported number is an honest held-out score;
* ``random_by_k`` / ``selectivity_by_k`` — the random-subset baseline and control-task
  selectivity at each k, as the results file recorded them.

Scores are the task's primary metric unless a caller asks for another one.

Seeds: when probe results repeat the sweep over several inner-split seeds (``--seeds``), the
rows are built from the first seed's cells (so CIs, claims and the single-cell figures read
one consistent sweep), and each row also gets, in ``spread``, the same numbers computed from
every seed's own cells — each seed choosing its own best subset on its own validation split
— as a :class:`~probe.seeds.SeedSpread` (mean ± sample sd over seeds). Fine-tuning cells of
one run repeated over seeds become one :class:`FinetuneResult` with such a spread.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from probe.report.inputs import TaskGroup
from probe.results import ResultCell
from probe.seeds import SeedSpread, cell_seeds
from probe.vocabulary import TOKEN_ROWS

SUMMARY_KS: tuple[int, ...] = (1, 2, 3)
POOLING_ORDER: tuple[str, ...] = ("cls", "last", "mean", "maxnorm")
# Methods whose cells describe something other than a selected subset.
NON_SUBSET_METHODS = frozenset({"full", "random", "control", "finetune", "mdl"})
DEFAULT_EVAL_SPLIT = "dev"


@dataclass
class Subset:
    """One evaluated set of dims: where it came from and how it scored."""

    layer: int
    pooling: str
    method: str
    dims: tuple[int, ...]
    validation: float  # primary metric on the selection split; NaN when not recorded
    eval_scores: dict[str, float]  # {metric: value} on the held-out eval split
    # Where the scores sit in the cell ("eval", "steps/3", "top/0"): the key of its interval
    # and kept predictions (probe.results), read by probe.report.uncertainty.
    key: str = "eval"
    cell: ResultCell | None = field(default=None, repr=False)

    @property
    def k(self) -> int:
        return len(self.dims)

    def eval(self, metric: str) -> float:
        return _as_float(self.eval_scores.get(metric))


@dataclass(frozen=True)
class RandomBaseline:
    """Eval primary metric over random k-subsets (mean, sd and quantiles as recorded)."""

    k: int
    mean: float
    sd: float
    n_draws: int
    q25: float
    q75: float


@dataclass
class LayerPoolingRow:
    """Everything the summary table and plots say about one (layer, pooling)."""

    layer: int
    pooling: str
    full_eval: float = math.nan
    full_cell: ResultCell | None = field(default=None, repr=False)
    full_validation: float = math.nan  # the all-dims probe's validation score (selection)
    best_by_k: dict[int, Subset] = field(default_factory=dict)
    random_by_k: dict[int, RandomBaseline] = field(default_factory=dict)
    selectivity_by_k: dict[int, float] = field(default_factory=dict)
    greedy_curve: list[tuple[int, float]] = field(default_factory=list)  # (k, eval primary)
    greedy_cell: ResultCell | None = field(default=None, repr=False)  # steps/<k-1> = k dims
    finetuned: FinetuneResult | None = None
    # Over seeds (several-seed results only): "all", "best/<k>" and "greedy/<k>" -> spread of
    # the eval primary metric; best_dims_by_seed[k] = each seed's own best k dims.
    spread: dict[str, SeedSpread] = field(default_factory=dict)
    best_dims_by_seed: dict[int, list[tuple[int, ...]]] = field(default_factory=dict)

    def best_eval(self, k: int, metric: str) -> float:
        subset = self.best_by_k.get(k)
        return subset.eval(metric) if subset else math.nan

    def spread_of(self, key: str) -> SeedSpread | None:
        """The spread over seeds of ``key`` ("all", "best/2", "greedy/3") when two or more
        seeds scored it; None otherwise (a single-seed number is shown as it is)."""
        spread = self.spread.get(key)
        return spread if spread is not None and spread.n > 1 else None

    def shown(self, key: str, value: float) -> float:
        """What tables and plots show for ``key``: the mean over seeds, else ``value``."""
        spread = self.spread_of(key)
        return spread.mean if spread is not None else value


@dataclass(frozen=True)
class TrainingRecipe:
    """How a fine-tune was trained, as recorded: the model, epochs and training rows, and the
    optimiser ``settings`` (lr, head lr, weight decay, warm-up, batch size, max length)."""

    model: Any
    epochs: Any
    n_train: Any
    settings: tuple[Any, ...]


@dataclass
class FinetuneResult:
    """One fine-tuning cell, paired with the frozen probe it should be compared with.

    ``own_stage`` is False for a cell that re-evaluates this task after a later stage trained
    on another task (a cross-task run); ``forgetting`` is then the drop since its own stage.
    """

    label: str
    layer: int
    pooling: str
    dims: tuple[int, ...]
    eval_scores: dict[str, float]
    seconds: float
    frozen_encoder: bool | None
    head: str
    epochs: list[dict[str, Any]]
    own_stage: bool = True
    forgetting: float = math.nan
    n_train: int | None = None  # examples trained on / scored on, when the run recorded them
    n_eval: int | None = None
    frozen_probe_eval: float = math.nan
    frozen_probe_source: str = ""
    cell: ResultCell | None = field(default=None, repr=False)
    # A run repeated over seeds: every seed's cell (first = ``cell``, whose numbers the fields
    # above hold) and the spread of the primary eval metric; ``seconds`` is then the mean.
    seed_cells: list[ResultCell] = field(default_factory=list, repr=False)
    spread: SeedSpread | None = None
    # How it was trained: model, epochs, rows, and the optimiser settings the run recorded.
    # Claims only pit runs with the same recipe against each other, so that a 2-dim head on
    # 8,000 rows is never judged against an all-dim head trained on 2,000 at another rate.
    recipe: TrainingRecipe | None = None

    def eval(self, metric: str) -> float:
        return _as_float(self.eval_scores.get(metric))

    def spread_of(self) -> SeedSpread | None:
        """The spread of the primary metric over seeds, when two or more seeds scored it."""
        return self.spread if self.spread is not None and self.spread.n > 1 else None

    def shown(self, metric: str) -> float:
        """The score tables and plots show for the section's primary ``metric``: the mean
        over seeds, else the one run's score."""
        spread = self.spread_of()
        return spread.mean if spread is not None else self.eval(metric)


@dataclass
class TaskSummary:
    """A task section's data: one row per (layer, pooling) plus fine-tuning results."""

    group: TaskGroup
    primary_metric: str
    eval_split: str
    cells: dict[tuple[int, str, str], ResultCell]  # (layer, pooling, method) → cell
    rows: list[LayerPoolingRow]
    finetunes: list[FinetuneResult]
    probe_eval_examples: int | None = None  # size of the eval cache the probes were scored on
    seeds: tuple[int, ...] = ()  # inner-split seeds of the probe cells (() = a single sweep)

    @property
    def task(self) -> str:
        return self.group.task

    def cell(self, layer: int, pooling: str, method: str) -> ResultCell | None:
        return self.cells.get((layer, pooling, method))

    def best_row(self, k: int | None) -> LayerPoolingRow | None:
        """The row a headline reports at k dims (``None`` = all dims), chosen on validation.

        The choice of layer and pooling is made on the *validation* score (the inner split
        of train every row shares), never on the eval split it is then reported on: picking
        the maximum eval score over 20-odd rows would be optimistically biased. Rows without
        a validation score fall back to their eval score, ranked after every validated row.
        Ties keep the first row. Token-level rows are scored per token, not per sentence, so
        they compete only when no sentence-level row has a score.
        """
        sentence_rows = [row for row in self.rows if row.pooling != TOKEN_ROWS]
        scored = []
        for row in sentence_rows or self.rows:
            if k is None:
                validation, score = row.full_validation, row.full_eval
            else:
                subset = row.best_by_k.get(k)
                validation = subset.validation if subset else math.nan
                score = subset.eval(self.primary_metric) if subset else math.nan
            if math.isfinite(validation):
                scored.append(((1, validation), row))
            elif math.isfinite(score):
                scored.append(((0, score), row))
        if not scored:
            return None
        return max(scored, key=lambda pair: pair[0])[1]


def summarize(group: TaskGroup) -> TaskSummary:
    """Build a task section's numbers from the group's cells."""
    primary = group.primary_metric
    seeds = cell_seeds(cell for item in group.probe_files for cell in item.results.cells)
    cells = _merge_cells(group, seeds[0] if seeds else None)
    keys = sorted({(layer, pooling) for (layer, pooling, _) in cells}, key=_row_order)
    rows = [_summarize_row(layer, pooling, cells, primary) for layer, pooling in keys]
    rows = [row for row in rows if _row_has_numbers(row)]
    if len(seeds) > 1:
        per_seed = {seed: _merge_cells(group, seed, exact=True) for seed in seeds}
        for row in rows:
            _attach_spread(row, per_seed, primary)
    finetunes = _summarize_finetunes(group, cells, primary)
    for result in (result for result in finetunes if result.own_stage):
        for row in rows:
            if (row.layer, row.pooling) == (result.layer, result.pooling) and (
                row.finetuned is None
                or _rank_value(result.eval(primary)) > _rank_value(row.finetuned.eval(primary))
            ):
                row.finetuned = result
    return TaskSummary(
        group=group,
        primary_metric=primary,
        eval_split=_eval_split(group),
        cells=cells,
        rows=rows,
        finetunes=finetunes,
        probe_eval_examples=next(
            (
                n
                for item in group.probe_files
                if (n := _as_int(_get(item.results.provenance, "eval_cache", "n_examples")))
            ),
            None,
        ),
        seeds=seeds if len(seeds) > 1 else (),
    )


def _attach_spread(
    row: LayerPoolingRow,
    per_seed: dict[int, dict[tuple[int, str, str], ResultCell]],
    primary: str,
) -> None:
    """The row's numbers recomputed from each seed's own cells, as spreads over seeds."""
    seeds = list(per_seed)
    seed_rows = [_summarize_row(row.layer, row.pooling, per_seed[seed], primary) for seed in seeds]
    row.spread["all"] = SeedSpread.of(seeds, [seed_row.full_eval for seed_row in seed_rows])
    for k in sorted({k for seed_row in seed_rows for k in seed_row.best_by_k}):
        row.spread[f"best/{k}"] = SeedSpread.of(
            seeds, [seed_row.best_eval(k, primary) for seed_row in seed_rows]
        )
        row.best_dims_by_seed[k] = [
            seed_row.best_by_k[k].dims if k in seed_row.best_by_k else () for seed_row in seed_rows
        ]
    curves = [dict(seed_row.greedy_curve) for seed_row in seed_rows]
    for k in sorted({k for curve in curves for k in curve}):
        row.spread[f"greedy/{k}"] = SeedSpread.of(seeds, [curve.get(k) for curve in curves])


def subsets_in(cell: ResultCell, primary: str) -> list[Subset]:
    """Every evaluated subset a cell records: the cell itself, its steps, its top list."""
    if cell.method in NON_SUBSET_METHODS:
        return []
    found = []
    if cell.dims:
        found.append(
            _subset(
                cell,
                cell.dims,
                cell.scores.get("validation", {}).get(primary),
                cell.scores.get("eval", {}),
                "eval",
            )
        )
    keyed = [(f"steps/{index}", record) for index, record in enumerate(cell.steps)]
    keyed += [(f"top/{index}", record) for index, record in enumerate(cell.details.get("top", []))]
    for key, record in keyed:
        if isinstance(record, dict) and record.get("dims"):
            found.append(
                _subset(cell, record["dims"], record.get("validation"), record.get("eval", {}), key)
            )
    return found


def best_subsets(subsets: Iterable[Subset], primary: str) -> dict[int, Subset]:
    """Best subset per size, chosen on validation (eval only when validation is missing).

    Ties keep the first subset seen, so the choice is deterministic for a given file.
    """
    best: dict[int, Subset] = {}
    for subset in subsets:
        current = best.get(subset.k)
        if current is None or _selection_key(subset, primary) > _selection_key(current, primary):
            best[subset.k] = subset
    return best


def primary_eval(record: dict[str, Any], primary: str) -> float:
    """The primary metric from a step/top record's ``eval`` dict (NaN when absent)."""
    scores = record.get("eval")
    if isinstance(scores, dict):
        return _as_float(scores.get(primary))
    return _as_float(scores)


def _merge_cells(
    group: TaskGroup, seed: int | None = None, *, exact: bool = False
) -> dict[tuple[int, str, str], ResultCell]:
    """Probe cells of every file in the group; a later file's cell replaces an earlier one.

    Of several-seed results only seed ``seed``'s cells count; cells without a seed (single-
    seed files) join them unless ``exact``.
    """
    cells: dict[tuple[int, str, str], ResultCell] = {}
    for item in group.probe_files:
        for cell in item.results.cells:
            if cell.seed == seed or (cell.seed is None and not exact):
                cells[(cell.layer, cell.pooling, cell.method)] = cell
    return cells


def _summarize_row(
    layer: int, pooling: str, cells: dict[tuple[int, str, str], ResultCell], primary: str
) -> LayerPoolingRow:
    row = LayerPoolingRow(layer=layer, pooling=pooling)
    here = {
        method: cell
        for (lay, pool, method), cell in cells.items()
        if (lay, pool) == (layer, pooling)
    }
    if "full" in here:
        row.full_eval = here["full"].eval_score(primary)
        row.full_cell = here["full"]
        row.full_validation = _as_float(here["full"].scores.get("validation", {}).get(primary))
    subsets = [subset for cell in here.values() for subset in subsets_in(cell, primary)]
    row.best_by_k = best_subsets(subsets, primary)
    if "random" in here:
        for step in here["random"].steps:
            baseline = RandomBaseline(
                k=int(step["k"]),
                mean=_as_float(step.get("mean")),
                sd=_as_float(step.get("sd")),
                n_draws=int(step.get("n_draws", 0)),
                q25=_as_float(step.get("q25")),
                q75=_as_float(step.get("q75")),
            )
            row.random_by_k[baseline.k] = baseline
    if "control" in here:
        for step in here["control"].steps:
            row.selectivity_by_k[int(step["k"])] = _as_float(step.get("selectivity"))
    if "greedy" in here:
        row.greedy_cell = here["greedy"]
        row.greedy_curve = sorted(
            (int(step["k"]), primary_eval(step, primary))
            for step in here["greedy"].steps
            if "k" in step
        )
    return row


def _summarize_finetunes(
    group: TaskGroup,
    cells: dict[tuple[int, str, str], ResultCell],
    primary: str,
) -> list[FinetuneResult]:
    """One entry per fine-tuning cell of the group, in file order (``details`` per the
    ``finetune`` convention of ``probe.results``: stage, frozen, head, task, trained_on, ...)."""
    results = []
    repeated: dict[tuple[int, Any, int, str], FinetuneResult] = {}
    for index, (item, cell) in enumerate(group.finetune_cells):
        details = cell.details
        if cell.seed is not None:
            key = (id(item), details.get("stage"), cell.layer, cell.pooling)
            if key in repeated:  # another seed of a run already listed
                repeated[key].seed_cells.append(cell)
                continue
        stage = details.get("stage") or f"stage {index + 1}"
        dims_text = f"{len(cell.dims)} dims" if cell.dims else "all dims"
        frozen = details.get("frozen")
        result = FinetuneResult(
            label=f"{stage} · {dims_text}",
            layer=cell.layer,
            pooling=cell.pooling,
            dims=tuple(int(dim) for dim in cell.dims),
            eval_scores={k: _as_float(v) for k, v in cell.scores.get("eval", {}).items()},
            seconds=float(cell.seconds or 0.0),
            frozen_encoder=frozen if isinstance(frozen, bool) else None,
            head=str(details.get("head", ""))
            + (", balanced loss" if details.get("class_weight") == "balanced" else ""),
            epochs=[step for step in cell.steps if isinstance(step, dict)],
            own_stage=details.get("trained_on", group.task) == group.task,
            forgetting=_as_float(details.get("forgetting")),
            n_train=_as_int(details.get("n_train")),
            n_eval=_as_int(details.get("n_eval")),
            cell=cell,
            recipe=_training_recipe(details, item.results.provenance),
        )
        result.frozen_probe_eval, result.frozen_probe_source = _frozen_probe_score(
            result, details, cells, primary
        )
        if cell.seed is not None:
            result.seed_cells.append(cell)
            repeated[key] = result
        results.append(result)
    for result in repeated.values():
        seed_cells = result.seed_cells
        result.spread = SeedSpread.of(
            [int(cell.seed or 0) for cell in seed_cells],
            [cell.scores.get("eval", {}).get(primary) for cell in seed_cells],
        )
        result.seconds = sum(float(cell.seconds or 0.0) for cell in seed_cells) / len(seed_cells)
        if len(seed_cells) > 1:
            result.label += f" · seeds {', '.join(str(cell.seed) for cell in seed_cells)}"
    return results


# The run arguments that change what a fine-tune learns (the seed is not one: seeds repeat
# one recipe). Missing keys read as None, so older files still compare among themselves.
_RECIPE_ARGS = ("lr", "head_lr", "weight_decay", "warmup_ratio", "batch_size", "max_length")


def _training_recipe(details: dict[str, Any], provenance: dict[str, Any]) -> TrainingRecipe:
    args = provenance.get("args") if isinstance(provenance.get("args"), dict) else {}
    return TrainingRecipe(
        details.get("model"),
        details.get("epochs"),
        details.get("n_train"),
        tuple(args.get(name) for name in _RECIPE_ARGS),
    )


def _frozen_probe_score(
    result: FinetuneResult,
    details: dict[str, Any],
    cells: dict[tuple[int, str, str], ResultCell],
    primary: str,
) -> tuple[float, str]:
    """The frozen-encoder probe score to set beside a fine-tuned score, and where it came from.

    Preference: the score the fine-tuning run recorded from the cell its dims came from
    (``details["frozen_probe_eval"]``); the probe of exactly these dims at this layer/pooling
    in the probe results; the all-dims probe when no dims were selected; else NaN.
    """
    recorded = _as_float(details.get("frozen_probe_eval"))
    if math.isfinite(recorded):
        source = details.get("frozen_probe")
        method = source.get("method") if isinstance(source, dict) else None
        return recorded, f"{method} probe, recorded by fine-tuning" if method else "recorded"
    wanted = set(result.dims)
    if not wanted:
        full = cells.get((result.layer, result.pooling, "full"))
        if full is not None:
            return full.eval_score(primary), "full-dim probe"
        return math.nan, ""
    for (layer, pooling, _), cell in cells.items():
        if (layer, pooling) != (result.layer, result.pooling):
            continue
        for subset in subsets_in(cell, primary):
            if set(subset.dims) == wanted:
                return subset.eval(primary), f"{subset.method} probe, same dims"
    return math.nan, ""


def _subset(
    cell: ResultCell, dims: Iterable[int], validation: Any, eval_scores: Any, key: str
) -> Subset:
    if not isinstance(eval_scores, dict):
        eval_scores = {}
    return Subset(
        layer=cell.layer,
        pooling=cell.pooling,
        method=cell.method,
        dims=tuple(int(dim) for dim in dims),
        validation=_as_float(validation),
        eval_scores={metric: _as_float(value) for metric, value in eval_scores.items()},
        key=key,
        cell=cell,
    )


def _selection_key(subset: Subset, primary: str) -> tuple[int, float]:
    if math.isfinite(subset.validation):
        return (1, subset.validation)
    score = subset.eval(primary)
    return (0, score if math.isfinite(score) else -math.inf)


def _row_has_numbers(row: LayerPoolingRow) -> bool:
    return bool(
        math.isfinite(row.full_eval) or row.best_by_k or row.random_by_k or row.selectivity_by_k
    )


def _row_order(key: tuple[int, str]) -> tuple[int, int, str]:
    layer, pooling = key
    rank = POOLING_ORDER.index(pooling) if pooling in POOLING_ORDER else len(POOLING_ORDER)
    return (layer, rank, pooling)


def _eval_split(group: TaskGroup) -> str:
    """Name of the held-out split, from the provenance the probe and fine-tune runs record."""
    for item in group.files:
        provenance = item.results.provenance
        candidates = [provenance.get("eval_split"), _get(provenance, "eval_cache", "split")]
        candidates += [
            _get(entry, "eval", "split")
            for entry in provenance.get("data") or []
            if _get(entry, "eval", "task") in (None, group.task)
        ]
        for split in candidates:
            if isinstance(split, str) and split:
                return split
    return DEFAULT_EVAL_SPLIT


def _get(record: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def _rank_value(score: float) -> float:
    """A score for max(): missing (NaN) ranks below every real score."""
    return score if math.isfinite(score) else -math.inf


def _as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_float(value: Any) -> float:
    """Results store missing or non-finite numbers as null; NaN is easier to carry around."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan
