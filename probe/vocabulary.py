"""The words every part of fewdims shares, defined once: row kinds and list arguments.

* **Row kinds.** A probe row is a sentence vector of one of the :data:`POOLINGS` (stored in
  the cache under ``pooled/<name>``, computed by ``extract.pooling``) or, for
  :data:`TOKEN_ROWS`, one word token's vector. :data:`ROW_KINDS` is what ``--pooling`` of
  ``fewdims probe`` accepts. An encoder's cache stores :data:`ENCODER_POOLINGS`, a
  decoder-only LM's :data:`DECODER_POOLINGS` (``last`` instead of ``cls``).
* **Layer lists.** :func:`parse_layers` is the one ``--layers`` grammar of every command:
  ``all``, indices (negative counts from the last layer) and inclusive ranges.
* **Name lists.** :func:`parse_names` reads ``--methods``/``--pooling`` style lists.
* **Data formats.** :data:`DATA_FORMATS` is what ``--data-format`` accepts; ``auto`` picks
  the format by the file's extension (:data:`DATA_FORMAT_SUFFIXES`,
  :func:`resolve_data_format`), so a CoNLL-U file named ``.txt`` needs ``conllu`` said.

Torch-free and dependency-free, so both ``probe`` and ``extract`` import it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from probe.errors import DataError, FewdimsError

ENCODER_POOLINGS: tuple[str, ...] = ("cls", "mean", "maxnorm")
# A causal LM's first token has seen only itself, so ``cls`` means nothing there; ``last``
# (the last real token, the only one that has read the whole text) takes its place.
DECODER_POOLINGS: tuple[str, ...] = ("last", "mean", "maxnorm")
POOLINGS: tuple[str, ...] = ("cls", "mean", "maxnorm", "last")  # every pooling a cache may hold
TOKEN_ROWS = "tokens"
ROW_KINDS: tuple[str, ...] = (*POOLINGS, TOKEN_ROWS)
STORED_POOLINGS = "stored"  # --pooling default: every pooling the cache holds


def poolings_for(causal: bool) -> tuple[str, ...]:
    """The poolings a cache stores (and fine-tuning accepts) for a decoder or an encoder."""
    return DECODER_POOLINGS if causal else ENCODER_POOLINGS


def parse_poolings(text: str, known: Sequence[str] = ROW_KINDS) -> tuple[str, ...]:
    """``--pooling``: ``stored`` → ``()`` (every pooling the cache holds: cls/mean/maxnorm for
    an encoder, last/mean/maxnorm for a decoder); else names checked against ``known``."""
    if text.strip().lower() == STORED_POOLINGS:
        return ()
    return parse_names(text, known, "--pooling")


# The formats --data-file reads, each with the extensions ``auto`` recognises it by.
DATA_FORMAT_SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".csv",),
    "tsv": (".tsv",),
    "jsonl": (".jsonl", ".json"),
    "parquet": (".parquet",),
    "conllu": (".conllu", ".conll"),
}
AUTO_FORMAT = "auto"
DATA_FORMATS: tuple[str, ...] = (AUTO_FORMAT, *DATA_FORMAT_SUFFIXES)


def resolve_data_format(path: str | Path, data_format: str = AUTO_FORMAT) -> str:
    """The format ``path`` is read as: ``data_format`` itself, or for ``auto`` the one its
    extension names.

    >>> resolve_data_format("en_ewt-ud-dev.txt", "conllu"), resolve_data_format("a.TSV")
    ('conllu', 'tsv')
    """
    if data_format != AUTO_FORMAT:
        if data_format not in DATA_FORMAT_SUFFIXES:
            raise FewdimsError(
                f"--data-format {data_format!r}; choose from {', '.join(DATA_FORMATS)}."
            )
        return data_format
    suffix = Path(path).suffix.lower()
    for name, suffixes in DATA_FORMAT_SUFFIXES.items():
        if suffix in suffixes:
            return name
    known = ", ".join(s for suffixes in DATA_FORMAT_SUFFIXES.values() for s in suffixes)
    raise DataError(
        f"{path}: unsupported file type {suffix!r}; use .csv, .tsv, .jsonl or .parquet (or "
        f"a .conllu treebank), or name the format with --data-format "
        f"{{{','.join(DATA_FORMAT_SUFFIXES)}}}. Known extensions: {known}."
    )


_INDEX = r"-?\d+"
_RANGE = re.compile(rf"^({_INDEX})-({_INDEX})$")


def parse_layers(text: str) -> tuple[int, ...]:
    """``--layers``: ``all`` (or empty) → ``()``, every stored layer; otherwise indices.

    Pieces are comma-separated: ``6``, ``-1`` (the last), or an inclusive range ``4-12``
    (``-3--1`` for the last three). A range's ends must have the same sign, so it never
    depends on the model's depth. ``"0,4-6,-1"`` → ``(0, 4, 5, 6, -1)``.

    >>> parse_layers("0,4-6,-1")
    (0, 4, 5, 6, -1)
    """
    cleaned = text.strip().lower()
    if cleaned in ("", "all"):
        return ()
    layers: list[int] = []
    for piece in (part.strip() for part in cleaned.split(",")):
        if re.fullmatch(_INDEX, piece):
            layers.append(int(piece))
            continue
        match = _RANGE.match(piece)
        first, last = (int(match[1]), int(match[2])) if match else (0, -1)
        if not match or (first < 0) != (last < 0) or first > last:
            raise FewdimsError(
                f"--layers {text!r}: {piece!r} is not a layer index or range. Pass 'all', or "
                "comma-separated indices and inclusive ranges like 0,6,-1 or 4-12 "
                "(0 = embeddings, -1 = last)."
            )
        layers.extend(range(first, last + 1))
    return tuple(layers)


def parse_names(text: str, known: Sequence[str], flag: str) -> tuple[str, ...]:
    """Comma-separated names, each checked against ``known`` (``all`` = every known name)."""
    if text.strip().lower() == "all":
        return tuple(known)
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise FewdimsError(
            f"{flag} got {', '.join(unknown) or 'nothing'}; choose from {', '.join(known)}."
        )
    return names
