"""Repeating one run over several seeds: the ``--seeds`` list and mean ± sd across seeds.

``fewdims probe --seeds 0,1,2`` repeats the sweep once per inner-split seed (the dev split it
is scored on stays fixed); ``fewdims finetune --seeds 0,1,2`` repeats the fine-tuning run once
per seed (head init, data order, dropout). Either way every seed's cells are kept in the one
results file, each with its ``seed`` (:class:`probe.results.ResultCell`), and this module
says how much the numbers move between seeds:

* :func:`parse_seeds` — the one grammar of ``--seeds`` (comma-separated distinct integers);
* :class:`SeedSpread` — mean, *sample* sd (``ddof=1``, the spread of a new seed's score) and
  the per-seed values of one number;
* :func:`seed_summary` — a spread per (layer, pooling, method, k[, stage]) and metric,
  written into the results file beside the cells it is computed from.

Torch-free; used by the sweep, the fine-tuning runner and the report alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from probe.errors import FewdimsError


class ResultCell(Protocol):
    """What this module reads of a :class:`probe.results.ResultCell` (which imports this
    module to write its summary, so the class itself is not imported here)."""

    layer: int
    pooling: str
    method: str
    dims: list[int]
    scores: dict[str, dict[str, float]]
    steps: list[dict[str, Any]]
    details: dict[str, Any]
    seed: int | None


def parse_seeds(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """``"0,1,2"`` -> ``(0, 1, 2)``; raise ``FewdimsError`` naming the flag for anything else.

    Empty items, non-integers and repeated seeds are refused: a repeated seed would count one
    run twice and shrink the sd.
    """
    parts = [part.strip() for part in text.split(",")]
    if not text.strip() or any(not part for part in parts):
        raise FewdimsError(
            f"{flag} takes comma-separated integer seeds like 0,1,2; got {text!r} (an empty seed)."
        )
    try:
        seeds = tuple(int(part) for part in parts)
    except ValueError as error:
        raise FewdimsError(
            f"{flag} takes comma-separated integer seeds like 0,1,2; got {text!r}."
        ) from error
    check_seeds(seeds, flag)
    return seeds


def check_seeds(seeds: Sequence[int], flag: str = "--seeds") -> None:
    """Raise ``FewdimsError`` when ``seeds`` repeats one (the library's guard of the same rule)."""
    repeated = sorted({seed for seed in seeds if list(seeds).count(seed) > 1})
    if repeated:
        raise FewdimsError(
            f"{flag} lists seed(s) {', '.join(map(str, repeated))} more than once; each seed "
            "is one run, so list every seed once (e.g. 0,1,2)."
        )


@dataclass(frozen=True)
class SeedSpread:
    """One number over seeds: ``values`` in seed order, their mean and sample sd (ddof=1).

    Missing values (None/NaN: a metric undefined for one seed) are left out of ``n``; the sd
    is NaN with fewer than two values.
    """

    seeds: tuple[int, ...]
    values: tuple[float, ...]

    @classmethod
    def of(cls, seeds: Iterable[int], values: Iterable[Any]) -> SeedSpread:
        return cls(tuple(seeds), tuple(_as_float(value) for value in values))

    @property
    def finite(self) -> np.ndarray:
        values = np.asarray(self.values, dtype=np.float64)
        return values[np.isfinite(values)]

    @property
    def n(self) -> int:
        return int(self.finite.size)

    @property
    def mean(self) -> float:
        return float(self.finite.mean()) if self.n else math.nan

    @property
    def sd(self) -> float:
        return float(self.finite.std(ddof=1)) if self.n > 1 else math.nan

    def record(self) -> dict[str, Any]:
        """The JSON form written into results files (NaN becomes null there)."""
        return {
            "mean": self.mean,
            "sd": self.sd,
            "n": self.n,
            "seeds": list(self.seeds),
            "values": list(self.values),
        }

    def text(self, digits: int = 3) -> str:
        """``0.812 ± 0.010 (3 seeds)``, as every report table prints a spread."""
        if not self.n:
            return "—"
        if self.n == 1:
            return f"{self.mean:.{digits}f} (1 seed)"
        return f"{self.mean:.{digits}f} ± {self.sd:.{digits}f} ({self.n} seeds)"


def cell_seeds(cells: Iterable[ResultCell]) -> tuple[int, ...]:
    """The distinct seeds the cells carry, in first-seen order (empty for a single-seed file)."""
    return tuple(dict.fromkeys(cell.seed for cell in cells if cell.seed is not None))


def seed_summary(cells: Sequence[ResultCell], primary_metric: str) -> list[dict[str, Any]]:
    """Mean ± sd across seeds per (layer, pooling, method, k[, stage]) and split / metric.

    One entry per cell shape that several seeds share: the cell's own scores at ``k`` =
    its number of dims (0 = all), and each step that records its own ``k``, dims and eval
    scores (greedy, rank, backward), with the step's validation score as
    ``scores["validation"][primary_metric]``. Fine-tuning cells are told apart by their
    ``details["stage"]``. Each entry holds ``dims`` per seed, since selection may pick other
    dims on another inner split. Cells without a seed are not summarised.
    """
    groups: dict[tuple[Any, ...], list[ResultCell]] = {}
    for cell in cells:
        if cell.seed is None:
            continue
        key = (cell.layer, cell.pooling, cell.method, cell.details.get("stage"))
        groups.setdefault(key, []).append(cell)
    entries = []
    for (layer, pooling, method, stage), members in groups.items():
        rows: dict[int, list[tuple[int, list[int], dict[str, dict[str, Any]]]]] = {}
        for cell in members:
            for k, dims, scores in _scored_records(cell, primary_metric):
                rows.setdefault(k, []).append((int(cell.seed or 0), dims, scores))
        for k, per_seed in sorted(rows.items()):
            entry: dict[str, Any] = {"layer": layer, "pooling": pooling, "method": method, "k": k}
            if stage is not None:
                entry["stage"] = stage
            seeds = [seed for seed, _, _ in per_seed]
            entry["seeds"] = seeds
            entry["dims"] = [dims for _, dims, _ in per_seed]
            splits = dict.fromkeys(split for _, _, scores in per_seed for split in scores)
            entry["scores"] = {
                split: {
                    metric: SeedSpread.of(
                        seeds, [scores.get(split, {}).get(metric) for _, _, scores in per_seed]
                    ).record()
                    for metric in dict.fromkeys(
                        name for _, _, scores in per_seed for name in scores.get(split, {})
                    )
                }
                for split in splits
            }
            entries.append(entry)
    return entries


def _scored_records(
    cell: ResultCell, primary_metric: str
) -> list[tuple[int, list[int], dict[str, dict[str, Any]]]]:
    """``(k, dims, {split: {metric: value}})`` of the cell itself and of its k-steps."""
    records = []
    own_k = len(cell.dims)
    step_ks = set()
    for step in cell.steps:
        if not isinstance(step, dict) or "k" not in step or not isinstance(step.get("eval"), dict):
            continue
        scores: dict[str, dict[str, Any]] = {"eval": dict(step["eval"])}
        if isinstance(step.get("validation"), (int, float)):
            scores["validation"] = {primary_metric: step["validation"]}
        records.append((int(step["k"]), [int(dim) for dim in step.get("dims") or []], scores))
        step_ks.add(int(step["k"]))
    if cell.scores and own_k not in step_ks:
        records.append((own_k, [int(dim) for dim in cell.dims], cell.scores))
    return records


def _as_float(value: Any) -> float:
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def summary_lines(
    entries: Sequence[dict[str, Any]], metric: str, *, max_k: int | None = None
) -> list[str]:
    """One readable line per :func:`seed_summary` entry: its eval ``metric`` as mean ± sd.

    ``max_k`` leaves out larger subsets (a sweep's greedy path has a step per k).
    """
    lines = []
    for entry in entries:
        if max_k is not None and entry["k"] > max_k:
            continue
        record = entry["scores"].get("eval", {}).get(metric)
        if record is None:
            continue
        spread = SeedSpread.of(record["seeds"], record["values"])
        where = f"layer {entry['layer']} {entry['pooling']} {entry['method']}"
        if entry.get("stage"):
            where = f"{entry['stage']} ({where})"
        size = f"{entry['k']} dims" if entry["k"] else "all dims"
        lines.append(f"{where} {size}: eval {metric} {spread.text(4)}")
    return lines
