"""Results files: plain dataclasses that round-trip through JSON.

Every experiment fewdims runs (a frozen probe cell, a fine-tuning stage) ends up as one
:class:`ResultCell` inside a :class:`ResultsFile`. Reports are rendered from these files
alone, so each cell carries what is needed to read it without rerunning anything: the
selected dimensions, scores on each split, timings, and, at file level, the provenance of the
caches or the model it came from.

Schema (``format = "fewdims-results"``, ``version = RESULTS_VERSION``)::

    {
      "format": "fewdims-results", "version": 2,
      "kind": "probe" | "finetune",
      "task": "sst2", "primary_metric": "accuracy",
      "fewdims_version": "0.1.0", "created_at": "2026-11-25T22:00:00+00:00",
      "provenance": {...},        # model, weights_sha256, caches or data files, seed, args
      "cells": [ResultCell, ...],
      "seed_summary": [...]       # version 3 only: mean ± sd across seeds (probe.seeds)
    }

A ``ResultCell`` is one (layer, pooling, method) outcome:

* ``dims``: selected hidden dimensions, in selection order (empty list = all dims);
* ``scores``: ``{"train": {...}, "validation": {...}, "eval": {...}}`` — each a
  ``{metric_name: value}`` dict. ``validation`` is the inner split selection was made on;
  ``eval`` is the held-out split that nothing was selected on;
* ``steps``: per-step records for methods that build a subset (greedy, backward, the random
  baseline per k, fine-tuning epochs): each a dict with at least ``k`` or ``epoch``;
* ``details``: method-specific extras (screen scores, selectivity, top pairs, ...);
* ``intervals`` (version 2): 95% bootstrap CIs of eval scores, keyed like ``predictions``
  (``"eval"`` = the cell's own eval scores, ``"steps/3"`` = ``steps[3]["eval"]``,
  ``"top/0"`` = ``details["top"][0]["eval"]``), each ``{metric: [low, high]}`` or, when
  undefined or partly undefined, ``{metric: {"low", "high", "n_undefined", "reason"}}``;
  the settings are in ``provenance["bootstrap"]`` (see :mod:`probe.stats.bootstrap`);
* ``predictions`` (version 2): the per-example eval predictions behind those scores,
  ``{key: array}`` in memory plus ``"labels"`` (and ``"groups"``, the sentence of each row,
  for token rows); on disk they live in a compressed ``.npz`` sidecar beside the JSON
  (``predictions_file``), the JSON cell holding ``{key: name of the array in the sidecar}``.
  Enough to recompute any metric, CI or paired test without refitting. Random baselines
  keep their per-draw eval scores as ``"steps/<i>/draw_scores"``.

* ``seed`` (version 3): the seed of this cell's run when the file repeats one run over
  several seeds (``--seeds``): every seed's cells are kept, each with its seed, and the file
  adds ``seed_summary``, the mean ± sample sd over seeds per (layer, pooling, method, k)
  (:func:`probe.seeds.seed_summary`; derived from the cells, so it is rewritten on save and
  not read back). Absent (None) in a single-seed file, whose seed is ``provenance["seed"]``.

Version 1 files (no intervals, no predictions) still load; reports say their CIs are
unavailable and how to get them. A file is written as version 2 unless some cell has a seed
(version 3), so single-seed results stay readable by a fewdims that predates seeds, and a
multi-seed file tells such a fewdims to upgrade instead of failing on the unknown field.

Conventions per ``method`` (reports rely on them):

* ``full`` — all dims (``dims == []``); ``details["C"]`` the regularisation chosen.
* ``rank`` — ``dims`` = the best single dim; ``details["per_dim_validation"]`` (D scores),
  ``details["orderings"]`` = ``{"univariate": [...], "l1": [...], "weight": [...]}``;
  ``steps`` = top-k of the univariate ordering, k = 1..K, each ``{"k", "dims", "validation", "eval"}``.
* ``pairs`` / ``triples`` — ``dims`` = the winner after exact re-fit;
  ``details["top"]`` = ``[{"dims", "screen", "validation", "eval"}, ...]`` (top-K re-fitted).
* ``greedy`` — ``dims`` in pick order; ``steps`` = ``[{"k", "dims", "validation", "eval"}, ...]``.
* ``backward`` — ``dims`` = the start set; ``steps`` = ``[{"k", "dims", "dropped", "validation", "eval"}]``.
* ``random`` — ``dims == []``; ``steps`` = ``[{"k", "n_draws", "mean", "sd", "q05", "q25",
  "median", "q75", "q95"}]`` of the eval primary metric over random k-subsets.
* ``control`` — ``steps`` = ``[{"k", "real", "control", "selectivity"}]`` (validation primary metric).
* ``finetune`` — one cell per (stage, task evaluated): ``details`` holds ``task`` (the task
  scored), ``trained_on`` (tasks fine-tuned so far), ``stage``, ``stages``, ``frozen``,
  ``head``, ``model``, ``primary_metric``, ``n_train``, ``n_eval``, ``forgetting`` (drop
  since that task's own stage, cross-task runs) and, when dims came from a probe cell,
  ``frozen_probe`` / ``frozen_probe_eval`` (that cell and its eval score);
  ``steps`` = per-epoch ``{"epoch", "train_loss", "eval"}``.

Inside ``steps``/``details``, ``"validation"`` is a float (the primary metric) and ``"eval"``
is a ``{metric_name: value}`` dict.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from probe import __version__
from probe.atomic import write_atomic
from probe.errors import ResultsError

RESULTS_FORMAT = "fewdims-results"
RESULTS_VERSION = 2
SEEDED_RESULTS_VERSION = 3  # written when cells carry their seed (runs over several seeds)
READABLE_VERSIONS = (1, 2, 3)
PREDICTIONS_SUFFIX = ".predictions.npz"


class ResultsFormatError(ResultsError, ValueError):
    """A file is not a fewdims results file, or one of a version this fewdims cannot read."""


@dataclass
class ResultCell:
    """One experiment outcome; see the module docstring for the meaning of each field."""

    layer: int
    pooling: str
    method: str
    dims: list[int] = field(default_factory=list)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    intervals: dict[str, dict[str, Any]] = field(default_factory=dict)
    predictions: dict[str, Any] = field(default_factory=dict, repr=False)
    seed: int | None = None

    @property
    def k(self) -> int:
        """Number of selected dimensions (0 means all)."""
        return len(self.dims)

    def eval_score(self, metric: str) -> float:
        """The eval-split score, NaN when absent or undefined (stored as JSON null)."""
        value = self.scores.get("eval", {}).get(metric)
        return math.nan if value is None else float(value)


@dataclass
class ResultsFile:
    """A whole results file: the cells plus what they came from."""

    kind: str
    task: str
    primary_metric: str
    provenance: dict[str, Any] = field(default_factory=dict)
    cells: list[ResultCell] = field(default_factory=list)
    fewdims_version: str = __version__
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    # Where the predictions sidecar was (or is to be) found; "" = none. Set by load/save.
    predictions_file: str = ""
    # Why predictions are missing although the file names a sidecar ("" = nothing missing).
    predictions_note: str = ""

    @property
    def has_predictions(self) -> bool:
        return any(cell.predictions for cell in self.cells)

    @property
    def seeds(self) -> tuple[int, ...]:
        """The seeds this file's run was repeated over, in order; () for a single-seed run."""
        from probe.seeds import cell_seeds

        return cell_seeds(self.cells)

    def seed_summary(self) -> list[dict[str, Any]]:
        """Mean ± sd across seeds (see :func:`probe.seeds.seed_summary`); [] for one seed."""
        from probe.seeds import seed_summary

        return seed_summary(self.cells, self.primary_metric) if self.seeds else []

    def to_dict(self, prediction_names: list[dict[str, str]] | None = None) -> dict[str, Any]:
        """The JSON document; ``prediction_names`` (one per cell) replaces the arrays."""
        seeded = bool(self.seeds)
        version = SEEDED_RESULTS_VERSION if seeded else RESULTS_VERSION
        payload: dict[str, Any] = {"format": RESULTS_FORMAT, "version": version}
        for item in fields(self):
            if item.name in ("cells", "predictions_note"):
                continue
            payload[item.name] = getattr(self, item.name)
        cells = []
        for index, cell in enumerate(self.cells):
            record = {item.name: getattr(cell, item.name) for item in fields(cell)}
            record["predictions"] = prediction_names[index] if prediction_names else {}
            if record["seed"] is None:
                del record["seed"]  # single-seed cells keep the version 2 schema
            cells.append(record)
        payload["cells"] = cells
        if seeded:
            payload["seed_summary"] = self.seed_summary()
        return _json_safe(payload)

    @classmethod
    def from_dict(cls, payload: dict[str, Any], source: str = "<dict>") -> ResultsFile:
        if payload.get("format") != RESULTS_FORMAT:
            raise ResultsFormatError(
                f"{source} is not a fewdims results file (no 'format': '{RESULTS_FORMAT}'). "
                "Pass a file written by `fewdims probe`, `fewdims finetune` or `fewdims run`."
            )
        version = payload.get("version")
        if version not in READABLE_VERSIONS:
            raise ResultsFormatError(
                f"{source} is a results file of version {version}; this fewdims "
                f"({__version__}) reads versions {', '.join(map(str, READABLE_VERSIONS))}. Re-run the experiment "
                "with this fewdims, or install the fewdims version that wrote it."
            )
        try:
            cells = [ResultCell(**{**cell, "predictions": {}}) for cell in payload.get("cells", [])]
            return cls(
                kind=payload["kind"],
                task=payload["task"],
                primary_metric=payload["primary_metric"],
                provenance=payload.get("provenance", {}),
                cells=cells,
                fewdims_version=payload.get("fewdims_version", "unknown"),
                created_at=payload.get("created_at", ""),
                predictions_file=str(payload.get("predictions_file") or ""),
            )
        except (KeyError, TypeError) as error:
            raise ResultsFormatError(
                f"{source} claims to be a fewdims results file but is malformed ({type(error).__name__}: "
                f"{error}). Was it edited by hand or truncated? Re-run the command that wrote it."
            ) from error

    def save(self, path: str | Path) -> Path:
        """Write atomically (temp file + rename) so a crash never leaves half a JSON file.

        Cells with predictions also write ``<stem>.predictions.npz`` beside the JSON (first,
        so a JSON never names a sidecar that is not there yet).
        """
        from probe.predictions import write_sidecar

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        names = None
        self.predictions_file = ""
        if self.has_predictions:
            sidecar = sidecar_path(path)
            names = write_sidecar(sidecar, [cell.predictions for cell in self.cells])
            self.predictions_file = sidecar.name
        text = json.dumps(self.to_dict(names), indent=1, allow_nan=False)
        write_atomic(path, lambda handle: handle.write(text + "\n"))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ResultsFile:
        path = Path(path)
        if not path.is_file():
            raise ResultsError(f"Results file {path} does not exist; check the path.")
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ResultsFormatError(
                f"{path} is not valid JSON ({error}); it is not a fewdims results file."
            ) from error
        if not isinstance(payload, dict):
            raise ResultsFormatError(
                f"{path} is not a fewdims results file (top level is not an object)."
            )
        results = cls.from_dict(payload, source=str(path))
        if results.predictions_file:
            from probe.predictions import read_sidecar

            sidecar = path.parent / results.predictions_file
            names = [cell.get("predictions") or {} for cell in payload.get("cells", [])]
            arrays, results.predictions_note = read_sidecar(sidecar, names)
            for cell, cell_arrays in zip(results.cells, arrays, strict=True):
                cell.predictions = cell_arrays
        return results

    def find(
        self, layer: int | None = None, pooling: str | None = None, method: str | None = None
    ) -> list[ResultCell]:
        """Cells matching every filter that is not None."""
        return [
            cell
            for cell in self.cells
            if (layer is None or cell.layer == layer)
            and (pooling is None or cell.pooling == pooling)
            and (method is None or cell.method == method)
        ]

    def dims_choice(
        self,
        layer: int | None = None,
        pooling: str | None = None,
        method: str | None = None,
        k: int | None = None,
        *,
        source: str = "<results>",
    ) -> DimsChoice:
        """The dims of the best *validation* cell matching the filters (None = any).

        Without ``method``, only cells that select a subset count (not
        :data:`NOT_SUBSET_METHODS`). ``k`` takes the cell's ``k``-dim step (greedy, rank,
        backward), else its first ``k`` dims. Never the best eval score, which would leak
        the held-out split into the choice. ``source`` (the file's path) names it in errors
        and in the choice's provenance. Torch-free: ``fewdims run`` hands the choice of a
        sweep it just ran to fine-tuning without a round trip through a file.
        """
        if self.kind != "probe":
            raise ResultsError(
                f"{source} is a {self.kind!r} results file; dims are chosen from one written by "
                "`fewdims probe` (kind 'probe')."
            )
        candidates = [
            cell
            for cell in self.find(layer, pooling, method)
            if (cell.dims or cell.steps)
            and (method is not None or cell.method not in NOT_SUBSET_METHODS)
        ]
        if not candidates:
            available = sorted({(c.layer, c.pooling, c.method) for c in self.cells})
            raise ResultsError(
                f"{source} has no cell with selected dims matching layer={layer}, "
                f"pooling={pooling}, method={method}. Its cells (layer, pooling, method): "
                f"{available}. Pick one with {source}:LAYER:POOLING:METHOD."
            )
        cell = max(candidates, key=lambda c: _validation_score(c, self.primary_metric))
        dims, frozen_eval = _dims_of(cell, k, source)
        return DimsChoice(
            dims=dims,
            layer=cell.layer,
            pooling=cell.pooling,
            frozen_probe_eval=frozen_eval,
            weights_sha256=_recorded_hashes(self.provenance),
            source={
                "kind": "results",
                "path": source,
                "task": self.task,
                "model": self.provenance.get("model"),
                "layer": cell.layer,
                "pooling": cell.pooling,
                "method": cell.method,
                "k": len(dims),
                "validation": _validation_score(cell, self.primary_metric),
            },
        )


# Cells that do not select a subset of their own (all dims, baselines, fine-tuning runs).
NOT_SUBSET_METHODS = frozenset({"full", "random", "control", "finetune"})


@dataclass
class DimsChoice:
    """Selected dims (``[]`` = all) and where they came from.

    ``layer``/``pooling`` are set when the source fixes them (a results cell).
    ``frozen_probe_eval`` is the source cell's eval scores (``{metric: value}``) when known;
    ``weights_sha256`` every weights hash the source recorded (fine-tuning refuses dims
    selected on another model).
    """

    dims: list[int]
    source: dict[str, Any] = field(default_factory=dict)
    layer: int | None = None
    pooling: str | None = None
    frozen_probe_eval: dict[str, float] | None = None
    weights_sha256: list[str] = field(default_factory=list)


def _validation_score(cell: ResultCell, primary: str) -> float:
    value = cell.scores.get("validation", {}).get(primary)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else -math.inf


def _dims_of(
    cell: ResultCell, k: int | None, source: str
) -> tuple[list[int], dict[str, float] | None]:
    """The cell's dims (or its k-dim step) and the eval scores that go with them."""
    cell_eval = cell.scores.get("eval") or None
    if k is None:
        if not cell.dims:
            raise ResultsError(
                f"{source}: cell ({cell.layer}, {cell.pooling}, {cell.method}) selects no dims "
                "itself; add :K to take its K-dim step."
            )
        return [int(dim) for dim in cell.dims], cell_eval
    for step in cell.steps:
        if step.get("k") == k and step.get("dims"):
            step_eval = step.get("eval") if isinstance(step.get("eval"), dict) else None
            return [int(dim) for dim in step["dims"]], step_eval
    if len(cell.dims) >= k:
        same = len(cell.dims) == k
        return [int(dim) for dim in cell.dims[:k]], cell_eval if same else None
    raise ResultsError(
        f"{source}: cell ({cell.layer}, {cell.pooling}, {cell.method}) has no {k}-dim step and "
        f"only {len(cell.dims)} dims; choose K <= {len(cell.dims)} or another cell."
    )


def _recorded_hashes(provenance: Any) -> list[str]:
    """Every ``weights_sha256`` in the provenance (top level or in per-cache entries)."""
    found: list[str] = []
    if isinstance(provenance, dict):
        for key, value in provenance.items():
            if key == "weights_sha256" and isinstance(value, str) and value:
                found.append(value)
            elif isinstance(value, (dict, list)):
                found.extend(_recorded_hashes(value))
    elif isinstance(provenance, list):
        for item in provenance:
            found.extend(_recorded_hashes(item))
    return sorted(set(found))


def sidecar_path(results_path: str | Path) -> Path:
    """``x/sst2-probe.json`` -> ``x/sst2-probe.predictions.npz`` (copy the two together)."""
    results_path = Path(results_path)
    return results_path.with_name(results_path.stem + PREDICTIONS_SUFFIX)


def _json_safe(value: Any) -> Any:
    """Turn numpy scalars/arrays into Python values and non-finite floats into None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(key): _json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(item) for item in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return _json_safe(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot store {type(value).__name__} in a results file: {value!r}")
