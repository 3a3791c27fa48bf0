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

from pathlib import Path

from probe.errors import ModelError, ResultsError
from probe.results import NOT_SUBSET_METHODS, DimsChoice, ResultsFile

__all__ = [
    "NOT_SUBSET_METHODS",
    "DimsChoice",
    "check_dims_fit",
    "check_same_model",
    "dims_from_results",
    "parse_dims",
]


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
    """Parse ``RESULTS.json[:LAYER[:POOLING[:METHOD[:K]]]]`` and pick the cell (see module doc).

    The string form is the command line's; code that holds a :class:`ResultsFile` calls
    :meth:`ResultsFile.dims_choice` directly.
    """
    path, selector = _split_spec(spec)
    return ResultsFile.load(path).dims_choice(
        _int_field(selector, 0, "layer", spec),
        selector[1] if len(selector) > 1 and selector[1] else None,
        selector[2] if len(selector) > 2 and selector[2] else None,
        _int_field(selector, 3, "k", spec),
        source=str(path),
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
