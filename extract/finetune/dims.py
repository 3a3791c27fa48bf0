"""Which hidden dimensions the head may read: ``--dims`` lists or a probe's results file.

``--dims-from RESULTS.json[:LAYER[:POOLING[:METHOD[:K]]]]`` picks one cell of a ``fewdims
probe`` results file. Fields left out are free; among the matching cells that select a
subset (not ``full``/``random``/``control``) the one with the best *validation* score of the
file's primary metric is taken — never the best eval score, which would leak the held-out
split into the choice. ``K`` takes that cell's ``k``-dim step (greedy, rank, backward), or
else its first ``K`` dims. The layer and pooling of the cell become the fine-tuning layer and
pooling, and the cell's eval score is kept as the frozen-probe reference.

Selected dims are only meaningful for the model they were selected on, so the results file's
``weights_sha256`` must match the model being fine-tuned (:func:`check_same_model`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probe.errors import ModelError, ResultsError
from probe.results import ResultCell, ResultsFile

NOT_SUBSET_METHODS = frozenset({"full", "random", "control", "finetune"})


@dataclass
class DimsChoice:
    """Selected dims (``[]`` = all) and where they came from.

    ``layer``/``pooling`` are set when the source fixes them (a results cell).
    ``frozen_probe_eval`` is the source cell's eval scores (``{metric: value}``) when known.
    """

    dims: list[int]
    source: dict[str, Any] = field(default_factory=dict)
    layer: int | None = None
    pooling: str | None = None
    frozen_probe_eval: dict[str, float] | None = None
    weights_sha256: list[str] = field(default_factory=list)


def parse_dims(text: str) -> DimsChoice:
    """``all`` → all dims; ``12,301,77`` → those dims in that order (no repeats)."""
    cleaned = text.strip().lower()
    if cleaned == "all":
        return DimsChoice(dims=[], source={"kind": "all"})
    try:
        dims = [int(piece) for piece in cleaned.split(",") if piece.strip()]
    except ValueError:
        raise ModelError(
            f"--dims {text!r} is neither 'all' nor a comma-separated list of dims like 12,301,77."
        ) from None
    if not dims:
        raise ModelError("--dims is empty; pass 'all' or dims like 12,301,77.")
    repeated = sorted({dim for dim in dims if dims.count(dim) > 1})
    if repeated:
        raise ModelError(f"--dims lists dim(s) {repeated} more than once; list each dim once.")
    return DimsChoice(dims=dims, source={"kind": "list"})


def check_dims_fit(dims: list[int], hidden_size: int, model_name: str) -> None:
    """Every dim must index the model's hidden vector."""
    outside = [dim for dim in dims if not 0 <= dim < hidden_size]
    if outside:
        raise ModelError(
            f"Dim(s) {outside} are out of range for {model_name}, whose hidden size is "
            f"{hidden_size} (dims 0..{hidden_size - 1}). Pass dims in that range, or the model "
            "the dims were selected on."
        )


def dims_from_results(spec: str) -> DimsChoice:
    """Parse ``RESULTS.json[:LAYER[:POOLING[:METHOD[:K]]]]`` and pick the cell (see module doc)."""
    path, selector = _split_spec(spec)
    results = ResultsFile.load(path)
    if results.kind != "probe":
        raise ResultsError(
            f"{path} is a {results.kind!r} results file; --dims-from needs one written by "
            "`fewdims probe` (kind 'probe')."
        )
    layer = _int_field(selector, 0, "layer", spec)
    pooling = selector[1] if len(selector) > 1 and selector[1] else None
    method = selector[2] if len(selector) > 2 and selector[2] else None
    k = _int_field(selector, 3, "k", spec)
    candidates = [
        cell
        for cell in results.find(layer, pooling, method)
        if (cell.dims or cell.steps)
        and (method is not None or cell.method not in NOT_SUBSET_METHODS)
    ]
    if not candidates:
        available = sorted({(c.layer, c.pooling, c.method) for c in results.cells})
        raise ResultsError(
            f"{path} has no cell with selected dims matching layer={layer}, pooling={pooling}, "
            f"method={method}. Its cells (layer, pooling, method): {available}. Pick one with "
            f"{path}:LAYER:POOLING:METHOD."
        )
    primary = results.primary_metric
    cell = max(candidates, key=lambda c: _validation_key(c, primary))
    dims, frozen_eval = _dims_of(cell, k, path)
    return DimsChoice(
        dims=dims,
        layer=cell.layer,
        pooling=cell.pooling,
        frozen_probe_eval=frozen_eval,
        weights_sha256=_recorded_hashes(results.provenance),
        source={
            "kind": "results",
            "path": str(path),
            "task": results.task,
            "model": results.provenance.get("model"),
            "layer": cell.layer,
            "pooling": cell.pooling,
            "method": cell.method,
            "k": len(dims),
            "validation": _validation_key(cell, primary),
        },
    )


def check_same_model(choice: DimsChoice, model_name: str, weights_sha256: str) -> None:
    """Refuse dims selected on another model (compared by weights hash, not by name)."""
    if choice.source.get("kind") != "results":
        return
    path = choice.source["path"]
    if not choice.weights_sha256:
        raise ResultsError(
            f"{path} records no weights_sha256 in its provenance, so fewdims cannot check that "
            f"its dims were selected on {model_name}. Re-run `fewdims probe` with this fewdims, "
            "or pass the dims explicitly with --dims."
        )
    if weights_sha256 not in choice.weights_sha256:
        recorded = ", ".join(sha[:12] for sha in choice.weights_sha256)
        raise ResultsError(
            f"{path} was written from model {choice.source.get('model')!r} (weights sha256 "
            f"{recorded}…), but you are fine-tuning {model_name} (weights sha256 "
            f"{weights_sha256[:12]}…). Dims selected on one model mean nothing in another: pass "
            "--model with the model that was probed, or probe this model first."
        )


def _split_spec(spec: str) -> tuple[Path, list[str]]:
    """The longest ``:``-prefix of ``spec`` that is an existing file, then the selector fields."""
    pieces = spec.split(":")
    for cut in range(len(pieces), 0, -1):
        candidate = Path(":".join(pieces[:cut]))
        if candidate.is_file():
            selector = pieces[cut:]
            if len(selector) > 4:
                raise ResultsError(
                    f"--dims-from {spec!r} has too many ':' fields; the form is "
                    "RESULTS.json[:LAYER[:POOLING[:METHOD[:K]]]]."
                )
            return candidate, selector
    raise ResultsError(
        f"--dims-from {spec!r}: no results file {pieces[0]!r}; the form is "
        "RESULTS.json[:LAYER[:POOLING[:METHOD[:K]]]]."
    )


def _int_field(selector: list[str], position: int, name: str, spec: str) -> int | None:
    if len(selector) <= position or not selector[position].strip():
        return None
    try:
        return int(selector[position])
    except ValueError:
        raise ResultsError(
            f"--dims-from {spec!r}: {name} {selector[position]!r} is not an integer."
        ) from None


def _validation_key(cell: ResultCell, primary: str) -> float:
    value = cell.scores.get("validation", {}).get(primary)
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else -math.inf


def _dims_of(
    cell: ResultCell, k: int | None, path: Path
) -> tuple[list[int], dict[str, float] | None]:
    """The cell's dims (or its k-dim step) and the eval scores that go with them."""
    cell_eval = cell.scores.get("eval") or None
    if k is None:
        if not cell.dims:
            raise ResultsError(
                f"{path}: cell ({cell.layer}, {cell.pooling}, {cell.method}) selects no dims "
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
        f"{path}: cell ({cell.layer}, {cell.pooling}, {cell.method}) has no {k}-dim step and "
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
