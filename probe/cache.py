"""The fewdims feature cache: the one module that knows the HDF5 layout (writer and reader).

One cache file holds one (model, dataset, split): the hidden states of every stored layer for
every real token (no padding), plus labels, token ids and pooled sentence vectors. Nothing
else in fewdims opens these files with raw h5py paths; everything goes through this module.

Format version 2 — layout
=========================

Examples are stored in *extraction order*: sorted by token length (so batches carry almost no
padding), ties broken by source row. ``examples/row_index`` maps each back to its source row.
``L`` = number of stored layers, ``T`` = total real tokens, ``N`` = examples, ``H`` = hidden size.

==============================  ===================  =========================================
path                            shape, dtype         meaning
==============================  ===================  =========================================
``hidden``                      (L, T, H) float16    token vectors, layer-major: one layer's
                                                     rows are contiguous, chunks (1, 256, H);
                                                     absent when ``storage = "pooled"``
``tokens/input_ids``            (T,) int32           token ids
``tokens/token_type_ids``       (T,) int8            segment ids (1 = second text of a pair),
                                                     for every family (see below)
``tokens/special``              (T,) bool            tokenizer special tokens ([CLS], </s>, ...)
``examples/offsets``            (N+1,) int64         example i owns tokens offsets[i]:offsets[i+1]
``examples/row_index``          (N,) int64           row of the example in the source split
``examples/label``              (N,) int64|float32   class index, or score for regression;
                                                     -1 / NaN where the split is unlabeled
``examples/truncated``          (N,) bool            text was cut at ``max_length``
``examples/text``               (N, C) utf-8 str     the C input texts (C = 2 for pairs)
``pooled/cls``                  (L, N, H) float16    first token's vector (encoders only)
``pooled/last``                 (L, N, H) float16    last real token's vector (decoders only)
``pooled/mean``                 (L, N, H) float16    mean over all real tokens (specials included)
``pooled/maxnorm``              (L, N, H) float16    the token vector with the largest L2 norm
``pooled/maxnorm_position``     (L, N) int32         its position within the example
==============================  ===================  =========================================

Which ``pooled/*`` exist is ``meta.poolings``: ``cls, mean, maxnorm`` for a bidirectional
encoder, ``last, mean, maxnorm`` for a causal (decoder-only) LM (``meta.causal``). A decoder
has no ``cls``: its first token has seen only itself, so that vector is a context-free token
embedding and a probe on it would measure nothing about the sentence; ``last`` (the last real
token, the only one that has read the whole text) is the decoder's sentence vector instead.

**Storage kinds** (``meta.storage``). ``tokens`` (the default) stores everything above.
``pooled`` (``fewdims extract --store pooled``) leaves out ``hidden``, the (L, T, H) token
vectors that are ~95% of the file, and keeps every other dataset (token ids, specials and
offsets cost 6 bytes a token): poolings probe as usual, token rows (``--pooling tokens``) and
:meth:`Cache.token_vectors` refuse with a message saying to re-extract with ``--store tokens``.

**Segment ids.** ``tokens/token_type_ids`` holds the tokenizer's own ``token_type_ids`` when
the model reads them (BERT, ELECTRA, DeBERTa-v2: ``[CLS] A [SEP]`` 0, ``B [SEP]`` 1). A model
without them (RoBERTa, MPNet, DistilBERT, ModernBERT, decoders) gets the same rule computed
from the tokenizer's sequence ids: 1 from the first token of the second text on. So a pair
cache always says which text a token came from, whatever the family (RoBERTa's tokenizer
alone would say 0 everywhere).

Version 1 (every cache written before version 2) is version 2 with ``storage = "tokens"``,
``poolings = cls, mean, maxnorm`` and ``causal = false`` implied (its meta lacks the three
fields); it is read as such. Segment ids of a version-1 RoBERTa-style pair cache are zeros.

``maxnorm`` is the token-wise max-pooling of Fukuhata & Kano (2025, arXiv 2504.04966). By
default special tokens are *not* eligible (``maxnorm_includes_special = False``), so the
maxnorm vector is a real word's vector and can be compared with CLS; an example made only of
special tokens falls back to all tokens. Pooled vectors are computed at extraction time in
float32 from the model's own (not yet rounded) hidden states, then stored as float16.

Word tables (version 2; only in caches of word-annotated data such as CoNLL-U). ``W`` = words:

==============================  ===================  =========================================
``words/offsets``               (N+1,) int64         example i owns words offsets[i]:offsets[i+1]
``words/token_span``            (W, 2) int32         [start, stop) token positions of the word
                                                     within its example (0 = first token, e.g.
                                                     [CLS]); (-1, -1) = dropped (cut by
                                                     ``max_length`` or no subword)
``words/upos``, ``words/xpos``,  (W,) int16          label codes into
``words/deprel``                                     ``meta.words["label_names"][name]``
``words/head``                  (W,) int32           CoNLL-U HEAD: 0 = root, else the 1-based
                                                     index of the head word in the example
``words/form``                  (W,) utf-8 str       the word's form (word types, control tasks)
==============================  ===================  =========================================

``meta.words`` holds the label vocabularies and the alignment counts (words, dropped by
truncation, without subwords, tokens shared by two words); see ``extract.word_alignment``
for how spans are found. A version-1 cache (no word tables, otherwise the same layout) is
still read.

``dtype`` ``bfloat16`` is stored as raw ``uint16`` bits (HDF5 has no bfloat16); the reader
converts. Readers always return float32.

Attributes on the root: ``format = "fewdims-cache"``, ``format_version``, ``meta`` (the JSON
of :class:`CacheMeta`) and, for people browsing with ``h5dump``/HDFView, each scalar meta field
as its own attribute. ``complete`` is true only in a finished file; finished files only ever
appear at their final path by an atomic rename (see ``extract.extractor``).

Crash safety: the extractor writes the cache *in place*. :func:`create_in_place` lays out
the whole file at ``<out>.tmp`` before the first forward pass: every dataset tokenization
determines is written, and every chunk of ``hidden`` and ``pooled/*`` is allocated at its
final address (HDF5 early allocation), then the file is closed, so its HDF5 structure never
changes again. :class:`InPlaceWriter` then writes each whole chunk (payload
and Fletcher-32 trailer) with one ``pwrite`` at that address — no HDF5 call while the model
runs. The work is cut into fixed *parts* (a run of whole batches each); at the end of a part
the rows of the unfinished chunks that arrived since the last part are written too (no
trailer yet: the chunk's full write carries it), the file is fsynced, and ``part-NNNNN.h5`` in
``<out>.partial`` records the state (rows written; crc32 of the unfinished chunks' rows). A
kill can only tear chunk payloads after the last record, which a resumed run rewrites; it
reads the unfinished chunks back and checks them against the record's crc32 (a mismatch, or
a missing ``<out>.tmp``, starts over). When all parts are recorded, :func:`finish_in_place`
writes the meta with ``complete`` = true, fsyncs and renames to ``<out>``: no copy. A killed
run loses at most one part. Compressed caches (``--compression``) cannot be written in
place (a compressed chunk's size is known only once written): they keep the earlier path,
:class:`PartWriter` part files renamed when complete, then :func:`consolidate` copies them
into the final file.

Integrity: every numeric dataset is chunked with HDF5 Fletcher-32 checksums (unless the
extraction passed ``--no-checksum``); a flipped byte then fails the read, and :class:`Cache`
turns that into a :class:`~probe.errors.CacheError` naming the dataset — never wrong numbers.
Measured on the shared 2-core CPU: written in place, each chunk's checksum is computed once
(:func:`fletcher32`, numpy, on the writer thread): ~0.1 CPU-s per 127 MiB, ~1% of a MiniLM
extraction's CPU time (``reports/benchmarks/extract-threads1.md``); the previous path (parts,
then a consolidating copy) computed it three times and was 1.3-1.7x slower with checksums
(+0.3 to +0.7 s per 127 MiB, ``reports/benchmarks/reliability.md``). Checksummed raw
token-vector reads are ~2.4x slower (~1 vs ~2.3 GiB/s, still far above what probing reads). They are on by default because without them a damaged chunk reads back
as wrong numbers. ``extract --no-checksum`` turns them off (``fewdims verify`` then warns).
``examples/text`` is variable-length and has no checksum. ``fewdims verify`` (``probe.verify``)
reads every chunk and cross-checks the arrays against each other.

Shards and merged caches
========================

``fewdims extract --shard I/N`` extracts shard ``I`` of ``N``: a contiguous run of the
*whole split's* batches (cut so each shard holds about the same number of real tokens), so
the shards' examples, concatenated in shard order, are exactly the single-process extraction
order. A shard file is an ordinary cache of its examples; its meta has ``shard = [I, N]`` and
``shard_group`` (the fingerprint the unsharded extraction would have).

:func:`merge_shards` writes a *merged* cache: every dataset except ``examples/offsets`` (and
``words/offsets``) is an HDF5 virtual dataset that maps the shard files' datasets end to end
(no copy), and the offsets are recomputed. Word tables merge like the rest: spans and HEADs
count within their example, so only ``words/offsets`` is re-based, and ``meta.words`` sums
the shards' counts (each shard holds the whole file's label vocabularies). Its meta lists the shards (paths relative to the merged
file, fingerprints, sizes) in ``shards`` and its ``fingerprint`` equals ``shard_group``. The
shard files must stay beside the merged file; :meth:`Cache.open` refuses a merged cache whose
shards are missing or were replaced (HDF5 itself would silently read zeros).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from probe import __version__
from probe.errors import CacheError
from probe.vocabulary import ENCODER_POOLINGS, POOLINGS
from probe.words.table import WordTable

CACHE_FORMAT = "fewdims-cache"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: no storage/poolings/causal in meta (see above)
STORAGE_KINDS: tuple[str, ...] = ("tokens", "pooled")
WORD_LABEL_NAMES: tuple[str, ...] = ("upos", "xpos", "deprel")
STORAGE_DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32")
TOKEN_CHUNK = 256  # tokens per HDF5 chunk of ``hidden``: one layer's CLS rows read fast
EXAMPLE_CHUNK = 1024  # examples per chunk of the pooled arrays
VECTOR_CHUNK = 65536  # elements per chunk of the 1-D per-token / per-example arrays
# Errors a full or read-only disk produces: reported as "free space or choose another --out".
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


@dataclass
class CacheMeta:
    """Provenance and shape facts of one cache; stored as JSON in the root attribute ``meta``.

    ``fingerprint`` hashes everything that determines the numbers (weights, tokenizer,
    max_length, layers, dtypes, data rows, maxnorm rule); two caches with the same fingerprint
    hold the same arrays, and a resumed extraction must match it exactly.
    """

    model: str
    weights_sha256: str
    tokenizer: str
    max_length: int
    dtype: str
    compute_dtype: str
    n_model_layers: int
    layers: list[int]
    hidden_size: int
    task: str
    split: str
    text_columns: list[str]
    label_column: str
    label_names: list[str]
    is_regression: bool
    labeled: bool
    source: str
    source_sha256: str
    n_examples: int
    n_tokens: int = 0
    n_truncated: int = 0
    maxnorm_includes_special: bool = False
    storage: str = "tokens"  # "tokens": token vectors + pooled; "pooled": pooled only
    poolings: list[str] = field(default_factory=lambda: list(ENCODER_POOLINGS))
    causal: bool = False  # a decoder-only LM (poolings last/mean/maxnorm, no cls)
    fingerprint: str = ""
    complete: bool = False
    format_version: int = FORMAT_VERSION
    fewdims_version: str = __version__
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    extra: dict[str, Any] = field(default_factory=dict)
    shard: list[int] | None = None  # [index, count] for a shard file, else None
    shard_group: str = ""  # fingerprint shared by all shards of one extraction
    shards: list[dict[str, Any]] = field(default_factory=list)  # a merged cache's sources
    # Word tables' vocabularies and alignment counts; empty when the cache has none.
    words: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> CacheMeta:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in payload.items() if key in known})

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2

    @property
    def is_merged(self) -> bool:
        return bool(self.shards)

    @property
    def has_token_vectors(self) -> bool:
        return self.storage == "tokens"

    @property
    def has_words(self) -> bool:
        return bool(self.words)


def _storage_numpy_dtype(dtype: str) -> np.dtype:
    if dtype not in STORAGE_DTYPES:
        raise CacheError(
            f"Unknown storage dtype {dtype!r}; choose one of {', '.join(STORAGE_DTYPES)}."
        )
    return np.dtype(np.uint16) if dtype == "bfloat16" else np.dtype(dtype)


def to_float32(stored: np.ndarray, dtype: str) -> np.ndarray:
    """Convert an array read from the cache to float32 (bfloat16 bits are widened exactly)."""
    if dtype == "bfloat16":
        return (stored.astype(np.uint32) << 16).view(np.float32)
    return stored.astype(np.float32, copy=False)


def _write_meta_attrs(handle: h5py.File, meta: CacheMeta) -> None:
    handle.attrs["format"] = CACHE_FORMAT
    handle.attrs["format_version"] = FORMAT_VERSION
    handle.attrs["meta"] = json.dumps(meta.to_dict())
    for key, value in meta.to_dict().items():
        if isinstance(value, (bool, int, float, str)):
            handle.attrs[key] = value


def _text_dtype() -> h5py.Datatype:
    return h5py.string_dtype(encoding="utf-8")


class PartWriter:
    """Writes one part of a compressed cache: a run of whole batches, in extraction order.

    (Uncompressed caches are written in place instead: :func:`create_in_place`.)

    A part is a small HDF5 file with the same dataset names as the final cache (``hidden`` is
    (L, t, H) for the part's t tokens). It is assembled in memory (one part: bounded by the
    extractor's part size), then :meth:`finish` writes ``<path>.tmp``, fsyncs it and renames
    it to ``<path>``. Any exception leaves at most the ``.tmp`` file, which a resumed run
    deletes. ``poolings`` are the ``pooled/*`` datasets to hold; ``store_tokens`` False leaves
    out ``hidden`` (a pooled-only cache).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        n_layers: int,
        n_tokens: int,
        n_examples: int,
        hidden_size: int,
        n_text_columns: int,
        dtype: str,
        label_dtype: np.dtype,
        checksum: bool = True,
        poolings: Sequence[str] = ENCODER_POOLINGS,
        store_tokens: bool = True,
    ) -> None:
        self.path = Path(path)
        self.poolings = tuple(poolings)
        self.store_tokens = store_tokens
        self.tmp_path = self.path.with_name(self.path.name + ".tmp")
        self.dtype = dtype
        self.n_tokens = n_tokens
        self.n_examples = n_examples
        self._token_cursor = 0
        self._example_cursor = 0
        storage = _storage_numpy_dtype(dtype)
        # Built in memory (HDF5 "core" driver) and written out in one plain write at finish:
        # a full disk then fails one Python write cleanly, instead of HDF5 failing to flush
        # chunks from destructors (which can crash the interpreter).
        self._file = h5py.File(self.tmp_path, "w", driver="core", backing_store=False)
        if store_tokens:
            self._file.create_dataset(
                "hidden",
                shape=(n_layers, n_tokens, hidden_size),
                dtype=storage,
                chunks=(1, max(1, min(TOKEN_CHUNK, n_tokens)), hidden_size),
                fletcher32=checksum,
            )
        self._file.create_dataset("tokens/input_ids", shape=(n_tokens,), dtype=np.int32)
        self._file.create_dataset("tokens/token_type_ids", shape=(n_tokens,), dtype=np.int8)
        self._file.create_dataset("tokens/special", shape=(n_tokens,), dtype=bool)
        self._file.create_dataset("examples/length", shape=(n_examples,), dtype=np.int64)
        self._file.create_dataset("examples/row_index", shape=(n_examples,), dtype=np.int64)
        self._file.create_dataset("examples/label", shape=(n_examples,), dtype=label_dtype)
        self._file.create_dataset("examples/truncated", shape=(n_examples,), dtype=bool)
        self._file.create_dataset(
            "examples/text", shape=(n_examples, n_text_columns), dtype=_text_dtype()
        )
        for pooling in self.poolings:
            self._file.create_dataset(
                f"pooled/{pooling}",
                shape=(n_layers, n_examples, hidden_size),
                dtype=storage,
                chunks=(1, max(1, min(EXAMPLE_CHUNK, n_examples)), hidden_size),
                fletcher32=checksum,
            )
        self._file.create_dataset(
            "pooled/maxnorm_position", shape=(n_layers, n_examples), dtype=np.int32
        )

    def write_batch(
        self,
        *,
        hidden: np.ndarray | None,
        input_ids: np.ndarray,
        token_type_ids: np.ndarray,
        special: np.ndarray,
        lengths: np.ndarray,
        row_index: np.ndarray,
        labels: np.ndarray,
        truncated: np.ndarray,
        texts: Sequence[Sequence[str]],
        pooled: dict[str, np.ndarray],
        maxnorm_position: np.ndarray,
    ) -> None:
        """Append one batch.

        ``hidden``: (L, t, H) in the storage dtype (bfloat16 as uint16 bits), the batch's real
        tokens concatenated example after example (None in a pooled-only part);
        ``pooled[name]``: (L, b, H) likewise; ``maxnorm_position``: (L, b); per-token arrays
        (t,); per-example arrays (b,).
        """
        n_batch_tokens = len(input_ids)
        n_batch = len(lengths)
        if int(np.sum(lengths)) != n_batch_tokens:
            raise ValueError("lengths do not add up to the number of token vectors")
        tokens = slice(self._token_cursor, self._token_cursor + n_batch_tokens)
        examples = slice(self._example_cursor, self._example_cursor + n_batch)
        if tokens.stop > self.n_tokens or examples.stop > self.n_examples:
            raise ValueError("more tokens or examples written than the part was planned for")
        handle = self._file
        if self.store_tokens:
            handle["hidden"][:, tokens, :] = hidden
        handle["tokens/input_ids"][tokens] = input_ids
        handle["tokens/token_type_ids"][tokens] = token_type_ids
        handle["tokens/special"][tokens] = special
        handle["examples/length"][examples] = lengths
        handle["examples/row_index"][examples] = row_index
        handle["examples/label"][examples] = labels
        handle["examples/truncated"][examples] = truncated
        handle["examples/text"][examples] = np.asarray(texts, dtype=object)
        for pooling in self.poolings:
            handle[f"pooled/{pooling}"][:, examples, :] = pooled[pooling]
        handle["pooled/maxnorm_position"][:, examples] = maxnorm_position
        self._token_cursor = tokens.stop
        self._example_cursor = examples.stop

    def finish(self) -> Path:
        if self._token_cursor != self.n_tokens or self._example_cursor != self.n_examples:
            self.abort()
            raise ValueError("part finished before all planned batches were written")
        self._file.attrs["complete"] = True
        self._file.flush()
        image = self._file.id.get_file_image()
        self._file.close()
        try:
            with open(self.tmp_path, "wb") as handle:
                handle.write(image)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            self.tmp_path.unlink(missing_ok=True)
            raise
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        """Drop the part: close (best effort) and delete ``<path>.tmp``. Never raises."""
        _close_quietly(self._file)
        self.tmp_path.unlink(missing_ok=True)


# h5py file objects whose close failed (a full disk leaves HDF5 unable to flush them).
# Letting them be garbage-collected retries the failed flush in a destructor and can crash
# the interpreter, so they are kept alive until exit instead.
_UNCLOSABLE: list[h5py.File] = []


def _close_quietly(handle: h5py.File) -> None:
    try:
        handle.close()
    except (OSError, RuntimeError, ValueError):
        _UNCLOSABLE.append(handle)


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def part_is_complete(path: str | Path) -> bool:
    """True for a finished, readable part file (a resumed run redoes anything else)."""
    try:
        with h5py.File(path, "r") as handle:
            return bool(handle.attrs.get("complete", False)) and "examples/length" in handle
    except (OSError, KeyError):
        return False


def expected_datasets(meta: CacheMeta) -> dict[str, tuple[tuple[int, ...], str]]:
    """The schema of a complete cache as data: dataset name → (shape, kind).

    ``kind`` is ``"vector"`` (the storage dtype), ``"int"``, ``"bool"``, ``"label"`` or
    ``"text"``. ``fewdims verify`` and :func:`merge_shards` check files against it.
    """
    n_layers, n_tokens, n_examples = len(meta.layers), meta.n_tokens, meta.n_examples
    hidden, columns = meta.hidden_size, len(meta.text_columns)
    schema: dict[str, tuple[tuple[int, ...], str]] = {}
    if meta.has_token_vectors:
        schema["hidden"] = ((n_layers, n_tokens, hidden), "vector")
    schema |= {
        "tokens/input_ids": ((n_tokens,), "int"),
        "tokens/token_type_ids": ((n_tokens,), "int"),
        "tokens/special": ((n_tokens,), "bool"),
        "examples/offsets": ((n_examples + 1,), "int"),
        "examples/row_index": ((n_examples,), "int"),
        "examples/label": ((n_examples,), "label"),
        "examples/truncated": ((n_examples,), "bool"),
        "examples/text": ((n_examples, columns), "text"),
    }
    for pooling in meta.poolings:
        schema[f"pooled/{pooling}"] = ((n_layers, n_examples, hidden), "vector")
    schema["pooled/maxnorm_position"] = ((n_layers, n_examples), "int")
    if meta.words:
        n_words = int(meta.words["n_words"])
        schema["words/offsets"] = ((n_examples + 1,), "int")
        schema["words/token_span"] = ((n_words, 2), "int")
        for name in WORD_LABEL_NAMES:
            schema[f"words/{name}"] = ((n_words,), "int")
        schema["words/head"] = ((n_words,), "int")
        schema["words/form"] = ((n_words,), "text")
    return schema


# Per-example offsets (N+1,) into the rows of a concatenated dataset: a merged cache
# recomputes them, shard by shard shifted by the rows of the shards before it.
_REBASED_OFFSETS: tuple[str, ...] = ("examples/offsets", "words/offsets")


def _concat_axes(meta: CacheMeta) -> dict[str, int]:
    """Datasets laid end to end along this axis when shards are merged (offsets recomputed).

    Everything else needs no change: token positions (``words/token_span``,
    ``pooled/maxnorm_position``) and HEADs count within their example, and
    ``examples/row_index`` already counts in the whole split.
    """
    return {
        name: (1 if name == "hidden" or name.startswith("pooled/") else 0)
        for name in expected_datasets(meta)
        if name not in _REBASED_OFFSETS
    }


def _merged_word_meta(shard_metas: Sequence[tuple[Path, CacheMeta]]) -> dict[str, Any]:
    """``meta.words`` of merged shards: counts summed; the label vocabularies, which every
    shard took from the whole file, must agree."""
    words = [meta.words for _, meta in shard_metas]
    if not any(words):
        return {}
    first = words[0]
    merged: dict[str, Any] = {}
    for key, value in first.items():
        if isinstance(value, int) and not isinstance(value, bool):
            merged[key] = sum(int(shard.get(key, 0)) for shard in words)
        elif any(shard.get(key) != value for shard in words):
            raise CacheError(
                f"Cannot merge: the shards' word tables differ in {key!r} (shards of one "
                "extraction share the whole file's label vocabularies). Re-extract the shards "
                "with one fewdims version and the same CoNLL-U file."
            )
        else:
            merged[key] = value
    return merged


def _chunked(shape: tuple[int, ...], axis_chunk: int, axis: int) -> tuple[int, ...]:
    """Chunk shape: whole extent on every axis but ``axis`` (and 1 on a leading layer axis)."""
    chunks = [1 if position < axis else extent for position, extent in enumerate(shape)]
    chunks[axis] = max(1, min(axis_chunk, shape[axis]))
    return tuple(max(1, extent) for extent in chunks)


def estimated_bytes(meta: CacheMeta) -> int:
    """About how many bytes the cache of ``meta`` takes on disk (vectors dominate).

    Token vectors (absent when ``storage = "pooled"``), ``len(poolings)`` pooled vectors per
    example and layer, 6 bytes of ids and flags a token, ~64 bytes of text per text column.
    Measured against real files in ``reports/benchmarks/cache_size.md``.
    """
    vector_bytes = 4 if meta.dtype == "float32" else 2
    layers, hidden = len(meta.layers), meta.hidden_size
    per_token = (layers * hidden * vector_bytes if meta.has_token_vectors else 0) + 4 + 1 + 1
    per_example = (
        len(meta.poolings) * layers * hidden * vector_bytes
        + layers * 4
        + 8 * 4
        + 64 * len(meta.text_columns)
    )
    return int(1.02 * (meta.n_tokens * per_token + meta.n_examples * per_example)) + 2**16


@dataclass(frozen=True)
class SpaceEstimate:
    """What writing a cache will take: the file, the peak on disk while writing, what is free.

    ``needed_bytes`` is the peak: the extractor's parts and the consolidated copy coexist
    until the end, so about twice the file (less parts already written by a resumed run).
    """

    cache_bytes: int
    needed_bytes: int
    free_bytes: int
    folder: str

    @property
    def fits(self) -> bool:
        return self.free_bytes >= self.needed_bytes


def space_estimate(folder: str | Path, meta: CacheMeta, done_bytes: int = 0) -> SpaceEstimate:
    """Estimate the cache of ``meta`` and the disk it needs in ``folder`` (nothing is written)."""
    import shutil

    cache_bytes = estimated_bytes(meta)
    return SpaceEstimate(
        cache_bytes=cache_bytes,
        needed_bytes=max(0, 2 * cache_bytes - done_bytes),
        free_bytes=shutil.disk_usage(folder).free,
        folder=str(folder),
    )


def check_space_estimate(estimate: SpaceEstimate, what: str) -> None:
    """Refuse, naming the sizes and the fixes, when ``estimate`` does not fit its disk."""
    if not estimate.fits:
        raise CacheError(
            f"{what} needs about {estimate.needed_bytes / 2**20:,.1f} MiB free in "
            f"{estimate.folder} while writing (the cache is about "
            f"{estimate.cache_bytes / 2**20:,.1f} MiB; its parts and the final copy coexist "
            f"until the end), but only {estimate.free_bytes / 2**20:,.1f} MiB are free. Free "
            "some space, choose an --out on another disk, or make the cache smaller: "
            "--store pooled (no token vectors), --layers (a subset) or --max-examples."
        )


def check_free_space(folder: str | Path, needed: int, what: str) -> None:
    """Refuse up front when ``folder``'s disk cannot hold ``needed`` more bytes.

    Cheaper and safer than finding out mid-write: HDF5 reports a full disk late (often when
    a chunk is flushed on close) and messily.
    """
    import shutil

    free = shutil.disk_usage(folder).free
    if free < needed:
        raise CacheError(
            f"{what} needs about {needed / 2**20:,.1f} MiB in {folder}, but only "
            f"{free / 2**20:,.1f} MiB are free. Free some space or choose an --out on another "
            "disk."
        )


def is_disk_error(error: BaseException) -> bool:
    """True for an OSError from a full, over-quota or read-only disk (h5py's included)."""
    if not isinstance(error, OSError | RuntimeError):
        return False
    if isinstance(error, OSError) and error.errno in DISK_ERRNOS:
        return True
    text = str(error).lower()
    return any(
        marker in text
        for marker in ("no space left", "errno = 28", "disk quota", "read-only file system")
    )


def consolidate(
    part_paths: Sequence[str | Path],
    out_path: str | Path,
    meta: CacheMeta,
    *,
    compression: str | None = None,
    checksum: bool = True,
    words: WordTable | None = None,
) -> Path:
    """Copy finished parts, in order, into one cache file at ``out_path`` (atomically).

    Writes ``<out_path>.tmp`` then renames it, so the final path only ever holds a complete
    cache. Copies one part at a time: memory stays bounded by one part. ``words``: the word
    table of the examples *in extraction order* (written as ``words/*``; its vocabularies
    and counts go to ``meta.words``).
    """
    out_path = Path(out_path)
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    sizes = []
    for part_path in part_paths:
        with h5py.File(part_path, "r") as part:
            sizes.append((part["tokens/input_ids"].shape[0], part["examples/length"].shape[0]))
            label_dtype = part["examples/label"].dtype
    n_tokens = sum(tokens for tokens, _ in sizes)
    n_examples = sum(examples for _, examples in sizes)
    if n_examples != meta.n_examples:
        raise CacheError(
            f"Parts hold {n_examples} examples but the split has {meta.n_examples}; "
            "the partial extraction is inconsistent — re-run extract with --overwrite."
        )
    meta.n_tokens = int(n_tokens)
    if words is not None:
        if words.n_examples != n_examples:
            raise CacheError(
                f"The word table covers {words.n_examples} examples but the parts hold "
                f"{n_examples}; re-run extract with --overwrite."
            )
        meta.words = {**meta.words, "n_words": words.n_words, "label_names": words.label_names}
    schema = expected_datasets(meta)
    storage = _storage_numpy_dtype(meta.dtype)
    numeric = {"int": None, "bool": bool, "label": label_dtype, "vector": storage}
    part_dtypes = {
        "tokens/input_ids": np.int32,
        "tokens/token_type_ids": np.int8,
        "examples/row_index": np.int64,
        "examples/offsets": np.int64,
        "pooled/maxnorm_position": np.int32,
    }
    try:
        with h5py.File(tmp_path, "w") as out:
            for name, (shape, kind) in schema.items():
                if name.startswith("words/"):
                    continue  # written whole below
                if kind == "text":
                    out.create_dataset(name, shape=shape, dtype=_text_dtype())
                    continue
                axis = 0 if len(shape) == 1 else 1
                extent = {"hidden": TOKEN_CHUNK}.get(name, EXAMPLE_CHUNK if axis else VECTOR_CHUNK)
                extra: dict[str, Any] = {}
                if compression and kind == "vector":
                    extra["compression"] = compression
                out.create_dataset(
                    name,
                    shape=shape,
                    dtype=part_dtypes.get(name, numeric[kind]),
                    chunks=_chunked(shape, extent, axis),
                    fletcher32=checksum,
                    **extra,
                )
            lengths_all = np.zeros(n_examples, dtype=np.int64)
            token_cursor = example_cursor = 0
            for part_path, (part_tokens, part_examples) in zip(part_paths, sizes, strict=True):
                tokens = slice(token_cursor, token_cursor + part_tokens)
                examples = slice(example_cursor, example_cursor + part_examples)
                with h5py.File(part_path, "r") as part:
                    for layer_position in range(len(meta.layers) if meta.has_token_vectors else 0):
                        out["hidden"][layer_position, tokens, :] = part["hidden"][layer_position]
                    for name in ("tokens/input_ids", "tokens/token_type_ids", "tokens/special"):
                        out[name][tokens] = part[name][...]
                    for name in ("row_index", "label", "truncated", "text"):
                        out[f"examples/{name}"][examples] = part[f"examples/{name}"][...]
                    for pooling in meta.poolings:
                        out[f"pooled/{pooling}"][:, examples, :] = part[f"pooled/{pooling}"][...]
                    out["pooled/maxnorm_position"][:, examples] = part["pooled/maxnorm_position"][
                        ...
                    ]
                    lengths_all[examples] = part["examples/length"][...]
                token_cursor, example_cursor = tokens.stop, examples.stop
            offsets = np.zeros(n_examples + 1, dtype=np.int64)
            np.cumsum(lengths_all, out=offsets[1:])
            out["examples/offsets"][...] = offsets
            if words is not None:
                _write_words(out, words, checksum)
            meta.complete = True
            _write_meta_attrs(out, meta)
        _fsync_path(tmp_path)
        os.replace(tmp_path, out_path)
    except BaseException:
        meta.complete = False
        tmp_path.unlink(missing_ok=True)
        raise
    return out_path


def _write_words(out: h5py.File, words: WordTable, checksum: bool) -> None:
    """The ``words/*`` datasets of a word table already in extraction order."""
    arrays: dict[str, np.ndarray] = {
        "words/offsets": words.offsets.astype(np.int64),
        "words/token_span": words.token_span.astype(np.int32),
        "words/head": words.head.astype(np.int32),
        **{f"words/{name}": words.labels[name].astype(np.int16) for name in WORD_LABEL_NAMES},
    }
    for name, values in arrays.items():
        out.create_dataset(
            name,
            data=values,
            chunks=_chunked(values.shape, VECTOR_CHUNK, 0) if values.size else None,
            fletcher32=checksum and values.size > 0,
        )
    out.create_dataset(
        "words/form", data=np.asarray(words.forms, dtype=object), dtype=_text_dtype()
    )


# ---------------------------------------------------------------- writing in place
# Datasets the forward pass fills batch by batch, and the chunk extent along their row axis
# (axis 1: tokens for ``hidden``, examples for the pooled arrays). Everything else is known
# from tokenization alone and is written whole when the file is laid out.
def _streamed_chunk_rows(name: str) -> int:
    return TOKEN_CHUNK if name == "hidden" else EXAMPLE_CHUNK


def streamed_datasets(meta: CacheMeta) -> list[str]:
    """Names of the datasets filled by the forward pass: ``hidden`` and ``pooled/*``."""
    return [
        name for name in expected_datasets(meta) if name == "hidden" or name.startswith("pooled/")
    ]


def fletcher32(data: np.ndarray | bytes | memoryview) -> int:
    """HDF5's Fletcher-32 checksum of ``data``'s bytes (``H5_checksum_fletcher32``), vectorised.

    The filter reads the bytes as big-endian 16-bit words w_0..w_{n-1} and keeps two running
    sums reduced mod 65535 (a sum that is a positive multiple of 65535 stays 65535, never 0):
    s1 = sum w_i and s2 = sum (n - i) w_i. Both are exact in int64 for any chunk below 2 GiB,
    so they are computed with two numpy reductions instead of a Python loop (~0.5 ms per
    393 KiB chunk, about the speed of HDF5's own C loop). ``tests/unit/probe/
    test_cache_in_place.py`` checks it against HDF5's trailer byte for byte.
    """
    raw = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    raw = raw.reshape(-1).view(np.uint8)
    n_words = len(raw) // 2
    words = raw[: 2 * n_words].view(">u2")
    width = 512 if n_words % 512 == 0 else 1
    rows = words.reshape(-1, width)
    row_sums = rows.sum(axis=1, dtype=np.int64)
    s1 = int(row_sums.sum())
    # sum_i i * w_i with i = row * width + column
    weighted = int(np.dot(row_sums, np.arange(len(row_sums), dtype=np.int64))) * width
    if width > 1:
        weighted += int(np.dot(rows.sum(axis=0, dtype=np.int64), np.arange(width, dtype=np.int64)))
    s2 = n_words * s1 - weighted
    if len(raw) % 2:
        s1 += int(raw[-1]) << 8
        s2 += s1

    def reduced(total: int) -> int:
        return 0 if total == 0 else (total - 1) % 65535 + 1

    return (reduced(s2) << 16) | reduced(s1)


def record_word_meta(meta: CacheMeta, words: WordTable) -> None:
    """Put the word table's count and label vocabularies into ``meta.words``.

    Called when the in-place file is created *and* when a killed extraction resumes into it:
    the resumed run rebuilds ``meta`` from the data, and without this its final metadata
    would lack the vocabularies the word labels index into.
    """
    if words.n_examples != meta.n_examples:
        raise CacheError(
            f"The word table covers {words.n_examples} examples but the cache holds "
            f"{meta.n_examples}; re-run extract with --overwrite."
        )
    meta.words = {**meta.words, "n_words": words.n_words, "label_names": words.label_names}


def create_in_place(
    tmp_path: str | Path,
    meta: CacheMeta,
    fixed: dict[str, np.ndarray],
    *,
    checksum: bool = True,
    words: WordTable | None = None,
) -> None:
    """Lay out the whole cache of ``meta`` at ``tmp_path`` before the first forward pass.

    ``fixed`` holds every dataset that tokenization alone determines (``tokens/*`` and
    ``examples/*``, texts as an (N, C) object array), in extraction order; they are written
    now. The streamed datasets (:func:`streamed_datasets`) are created with every chunk
    allocated at its final address and size (HDF5 early allocation, zeros), so from here on
    the file's HDF5 structure never changes: :class:`InPlaceWriter` only overwrites chunk
    payloads at fixed byte offsets. The file is closed (not yet fsynced: the first
    :meth:`InPlaceWriter.checkpoint` does that, before any part is recorded).
    ``meta.complete`` stays False until :func:`finish_in_place`. ``words``: the word table of
    the examples in extraction order (written as ``words/*``, as :func:`consolidate` does).
    """
    tmp_path = Path(tmp_path)
    if words is not None:
        record_word_meta(meta, words)
    schema = expected_datasets(meta)
    storage = _storage_numpy_dtype(meta.dtype)
    meta.complete = False
    handle = h5py.File(tmp_path, "w")
    try:
        for name in streamed_datasets(meta):
            shape, kind = schema[name]
            allocation = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
            allocation.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
            handle.create_dataset(
                name,
                shape=shape,
                dtype=storage if kind == "vector" else np.int32,
                chunks=_chunked(shape, _streamed_chunk_rows(name), 1),
                fletcher32=checksum,
                dcpl=allocation,
            )
        if words is not None:
            _write_words(handle, words, checksum)
        for name, values in fixed.items():
            if schema[name][1] == "text":
                handle.create_dataset(name, data=values, dtype=_text_dtype())
                continue
            if values.shape != schema[name][0]:
                raise ValueError(f"{name} has shape {values.shape}, expected {schema[name][0]}")
            handle.create_dataset(
                name,
                data=values,
                chunks=_chunked(values.shape, VECTOR_CHUNK, 0),
                fletcher32=checksum,
            )
        _write_meta_attrs(handle, meta)
        handle.close()
    except BaseException:
        _close_quietly(handle)
        raise
    # No fsync here: nothing relies on the layout before the first part record, and that
    # record is written only after InPlaceWriter.checkpoint fsyncs the whole file.


@dataclass
class _Stream:
    """One streamed dataset: its chunks' file offsets and the chunk being filled."""

    name: str
    offsets: np.ndarray  # (L, n_chunks) int64 byte offset of each chunk's payload
    buffer: np.ndarray  # (L, chunk_rows, *row_shape): the chunk being filled, all layers
    extent: int  # rows along axis 1
    checksum: bool
    cursor: int = 0  # rows written so far
    # Of the chunk being filled: its leading rows already on disk, and each layer's running
    # crc32 over its leading ``crc_rows`` rows. Both only grow until the chunk is complete,
    # so a checkpoint writes and checksums only the rows that arrived since the last one.
    persisted: int = 0
    crc_rows: int = 0
    crcs: list[int] = field(default_factory=list)

    @property
    def chunk_rows(self) -> int:
        return self.buffer.shape[1]


class InPlaceWriter:
    """Fills the streamed datasets of a file laid out by :func:`create_in_place`.

    Rows arrive in extraction order (:meth:`write_batch`); each whole chunk, all layers, is
    written with its Fletcher-32 trailer by one ``pwrite`` at the offset HDF5 allocated for it
    (no HDF5 call, so no HDF5 metadata is touched while forward passes run). The chunk being
    filled stays in memory. :meth:`checkpoint` also writes the rows of it that are not on
    disk yet (without the trailer: the chunk's full write adds that), fsyncs, and returns the
    state a resumed run needs: per dataset the row count and a crc32 of the unfinished
    chunk's rows (of each layer's crc32, kept running as rows arrive, so neither the writes
    nor the checksums of a checkpoint grow with the rows earlier checkpoints already
    covered: pooled chunks hold 1,024 examples and a part often far fewer). A later full
    write of that chunk carries the same leading bytes,
    so a write torn by a kill can only damage rows a resumed run rewrites; :meth:`__init__`
    with that state reads the rows back and refuses (``CacheError``) if their crc32 differs.
    """

    def __init__(
        self, tmp_path: str | Path, meta: CacheMeta, state: dict[str, list[int]] | None = None
    ) -> None:
        self.path = Path(tmp_path)
        self._streams: dict[str, _Stream] = {}
        with h5py.File(self.path, "r") as handle:
            for name in streamed_datasets(meta):
                self._streams[name] = _layout_stream(handle[name], name)
        if state is not None and set(state) != set(self._streams):
            raise CacheError(
                f"The part record names datasets {sorted(state)}, but {self.path} streams "
                f"{sorted(self._streams)}; the partial extraction cannot be resumed from it."
            )
        self._fd = os.open(self.path, os.O_RDWR)
        try:
            for name, (cursor, crc) in (state or {}).items():
                self._restore(self._streams[name], cursor, crc)
        except BaseException:
            os.close(self._fd)
            raise

    def write_batch(
        self,
        *,
        hidden: np.ndarray | None,
        pooled: dict[str, np.ndarray],
        maxnorm_position: np.ndarray,
    ) -> None:
        """Append one batch: ``hidden`` (L, t, H), ``pooled[name]`` (L, b, H), positions (L, b).

        Vectors in the storage dtype (bfloat16 as uint16 bits), rows in extraction order.
        """
        rows = {f"pooled/{name}": vectors for name, vectors in pooled.items()}
        rows["pooled/maxnorm_position"] = maxnorm_position
        if hidden is not None:
            rows["hidden"] = hidden
        for name, stream in self._streams.items():
            self._append(stream, rows[name])

    def checkpoint(self) -> dict[str, list[int]]:
        """Write the unfinished chunks, fsync, and return the resumable state (see class doc)."""
        state = {}
        for name, stream in self._streams.items():
            filled = stream.cursor % stream.chunk_rows
            if filled > stream.persisted:
                self._write_rows(stream, stream.cursor // stream.chunk_rows, filled)
            state[name] = [stream.cursor, _tail_crc(stream, filled)]
        os.fsync(self._fd)
        return state

    def close(self) -> None:
        os.close(self._fd)

    def _append(self, stream: _Stream, rows: np.ndarray) -> None:
        done, total = 0, rows.shape[1]
        if stream.cursor + total > stream.extent:
            raise ValueError(f"more rows of {stream.name} written than the cache was laid out for")
        while done < total:
            filled = stream.cursor % stream.chunk_rows
            take = min(stream.chunk_rows - filled, total - done)
            stream.buffer[:, filled : filled + take] = rows[:, done : done + take]
            stream.cursor += take
            done += take
            if filled + take == stream.chunk_rows or stream.cursor == stream.extent:
                self._write_chunk(stream, (stream.cursor - 1) // stream.chunk_rows, filled + take)
                if filled + take == stream.chunk_rows:  # the next chunk starts empty
                    stream.persisted = stream.crc_rows = 0
                    stream.crcs = []
                else:  # the last chunk, short and now written whole
                    stream.persisted = filled + take

    def _write_chunk(self, stream: _Stream, chunk: int, filled: int) -> None:
        stream.buffer[:, filled:] = 0  # rows not yet (or never) written read back as zeros
        for layer in range(stream.buffer.shape[0]):
            payload = stream.buffer[layer]
            pieces = [payload]
            if stream.checksum:
                pieces.append(fletcher32(payload).to_bytes(4, "little"))
            written = os.pwritev(self._fd, pieces, int(stream.offsets[layer, chunk]))
            if written != payload.nbytes + 4 * stream.checksum:
                raise OSError(f"short write to {self.path} ({written} bytes)")

    def _write_rows(self, stream: _Stream, chunk: int, filled: int) -> None:
        """Write rows ``persisted:filled`` of the chunk being filled, each layer in place."""
        first = stream.persisted
        row_bytes = stream.buffer[0, :1].nbytes
        for layer in range(stream.buffer.shape[0]):
            payload = stream.buffer[layer, first:filled]
            offset = int(stream.offsets[layer, chunk]) + first * row_bytes
            if os.pwrite(self._fd, payload, offset) != payload.nbytes:
                raise OSError(f"short write to {self.path}")
        stream.persisted = filled

    def _restore(self, stream: _Stream, cursor: int, crc: int) -> None:
        stream.cursor = cursor
        filled = cursor % stream.chunk_rows
        if not filled:
            return
        chunk = cursor // stream.chunk_rows
        for layer in range(stream.buffer.shape[0]):
            raw = os.pread(self._fd, stream.buffer[layer].nbytes, int(stream.offsets[layer, chunk]))
            stream.buffer[layer] = np.frombuffer(raw, dtype=stream.buffer.dtype).reshape(
                stream.buffer.shape[1:]
            )
        stream.persisted = filled
        if _tail_crc(stream, filled) != crc:
            raise CacheError(
                f"The unfinished chunk of {stream.name} in {self.path} does not match its "
                "record (crc32); the partial extraction cannot be resumed from it."
            )


def _tail_crc(stream: _Stream, filled: int) -> int:
    """crc32 of the unfinished chunk's first ``filled`` rows: of each layer's own crc32.

    Each layer's crc32 runs on from the rows an earlier call covered, so every row is
    checksummed once however many checkpoints fall into its chunk.
    """
    if not stream.crcs:
        stream.crcs, stream.crc_rows = [0] * stream.buffer.shape[0], 0
    for layer in range(stream.buffer.shape[0]):
        rows = stream.buffer[layer, stream.crc_rows : filled]
        stream.crcs[layer] = zlib.crc32(rows, stream.crcs[layer])
    stream.crc_rows = filled
    return zlib.crc32(np.asarray(stream.crcs, dtype="<u4").tobytes())


def _layout_stream(dataset: h5py.Dataset, name: str) -> _Stream:
    """Read the byte offset of every chunk of ``dataset`` (all allocated at creation)."""
    chunk_shape = dataset.chunks
    n_layers, extent = dataset.shape[:2]
    chunk_rows = chunk_shape[1]
    offsets = np.full((n_layers, -(-extent // chunk_rows)), -1, dtype=np.int64)
    checksum = bool(dataset.fletcher32)
    payload = int(np.prod(chunk_shape)) * dataset.dtype.itemsize
    sizes = set()

    def note(info: Any) -> None:
        layer, row = info.chunk_offset[:2]
        offsets[layer, row // chunk_rows] = info.byte_offset
        sizes.add(info.size)

    dataset.id.chunk_iter(note)
    if (offsets < 0).any() or sizes != {payload + 4 * checksum}:
        raise CacheError(
            f"Dataset {name} of {dataset.file.filename} is not laid out for writing in place "
            "(chunks missing or of another size)."
        )
    buffer = np.zeros((n_layers, *chunk_shape[1:]), dtype=dataset.dtype)
    return _Stream(name=name, offsets=offsets, buffer=buffer, extent=extent, checksum=checksum)


def finish_in_place(tmp_path: str | Path, out_path: str | Path, meta: CacheMeta) -> Path:
    """Mark the in-place file complete, fsync it and rename it to ``out_path`` (atomically)."""
    tmp_path, out_path = Path(tmp_path), Path(out_path)
    meta.complete = True
    try:
        with h5py.File(tmp_path, "r+") as handle:
            _write_meta_attrs(handle, meta)
        _fsync_path(tmp_path)
    except BaseException:
        meta.complete = False
        raise
    os.replace(tmp_path, out_path)
    return out_path


def write_part_record(path: str | Path, state: dict[str, list[int]]) -> Path:
    """Record that a part's rows are durable in the in-place file: ``path`` (atomic, fsynced).

    The record is a small HDF5 file (``complete`` = True, ``state`` = the JSON of
    :meth:`InPlaceWriter.checkpoint`'s state after the part).
    """
    path = Path(path)
    tmp_path = path.with_name(path.name + ".tmp")
    with h5py.File(tmp_path, "w", driver="core", backing_store=False) as record:
        record.attrs["state"] = json.dumps(state)
        record.attrs["complete"] = True
        record.flush()
        image = record.id.get_file_image()
    try:
        with open(tmp_path, "wb") as handle:
            handle.write(image)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError:
        tmp_path.unlink(missing_ok=True)
        raise
    os.replace(tmp_path, path)
    return path


def read_part_record(path: str | Path) -> dict[str, list[int]] | None:
    """The state a part record holds, or None if it is missing, unfinished or unreadable."""
    try:
        with h5py.File(path, "r") as record:
            if not bool(record.attrs.get("complete", False)) or "state" not in record.attrs:
                return None
            return json.loads(record.attrs["state"])
    except (OSError, KeyError, ValueError):
        return None


def shard_path(out_path: str | Path, index: int, count: int) -> Path:
    """Where shard ``index`` of ``count`` of the cache ``out_path`` is written.

    ``data/x.h5`` → ``data/x.shard-1-of-4.h5``: beside the merged cache, so the relative
    paths a merged cache stores stay valid when the folder is moved as a whole.
    """
    out_path = Path(out_path)
    return out_path.with_name(f"{out_path.stem}.shard-{index}-of-{count}{out_path.suffix}")


def _merged_fingerprint_check(shard_metas: Sequence[tuple[Path, CacheMeta]]) -> None:
    """Refuse shard sets that are not exactly shards 0..N-1 of one extraction."""
    problems = []
    for path, meta in shard_metas:
        if meta.shard is None:
            problems.append(f"{path} is not a shard (it was extracted without --shard)")
    if problems:
        raise CacheError("Cannot merge: " + "; ".join(problems) + ". Pass the shard files only.")
    groups = {meta.shard_group for _, meta in shard_metas}
    if len(groups) > 1:
        listing = ", ".join(
            f"{path.name} ({meta.model}, {meta.task}/{meta.split}, group {meta.shard_group[:8]})"
            for path, meta in shard_metas
        )
        raise CacheError(
            f"Cannot merge shards of different extractions (other model, data or settings): "
            f"{listing}. Merge only shards made by the same `fewdims extract ... --shard I/N`."
        )
    counts = {meta.shard[1] for _, meta in shard_metas if meta.shard}
    count = counts.pop() if len(counts) == 1 else None
    indices = sorted(meta.shard[0] for _, meta in shard_metas if meta.shard)
    if count is None or indices != list(range(count)):
        expected = f"0..{count - 1} of {count}" if count else "one shard count"
        missing = sorted(set(range(count)) - set(indices)) if count else []
        duplicated = sorted({i for i in indices if indices.count(i) > 1})
        detail = []
        if missing:
            detail.append(f"missing shard(s) {missing}")
        if duplicated:
            detail.append(f"shard(s) {duplicated} given twice")
        if not count:
            detail.append(f"shard counts differ ({sorted(counts | {None} - {None})})")
        raise CacheError(
            f"Cannot merge: expected shards {expected}, got {indices} ({'; '.join(detail)}). "
            "Pass every shard file exactly once (run the missing shards first)."
        )


def merge_shards(shard_paths: Sequence[str | Path], out_path: str | Path) -> CacheMeta:
    """Write one logical cache at ``out_path`` whose datasets map the shard files (no copy).

    The merged example order is shard 0's examples, then shard 1's, ... — the order the
    unsharded extraction would have produced. Written to ``<out>.tmp`` and renamed, so the
    final path only ever holds a complete cache. Returns the merged meta.
    """
    out_path = Path(out_path)
    shard_metas: list[tuple[Path, CacheMeta]] = []
    for path in shard_paths:
        with Cache.open(path) as shard:
            shard_metas.append((Path(path), shard.meta))
    if not shard_metas:
        raise CacheError("Nothing to merge: pass the shard files written by extract --shard.")
    _merged_fingerprint_check(shard_metas)
    shard_metas.sort(key=lambda item: item[1].shard[0] if item[1].shard else 0)
    first = shard_metas[0][1]
    merged = CacheMeta.from_dict(first.to_dict())
    merged.n_examples = sum(meta.n_examples for _, meta in shard_metas)
    merged.n_tokens = sum(meta.n_tokens for _, meta in shard_metas)
    merged.n_truncated = sum(meta.n_truncated for _, meta in shard_metas)
    merged.words = _merged_word_meta(shard_metas)
    merged.shard = None
    merged.fingerprint = first.shard_group
    merged.created_at = datetime.now(UTC).isoformat(timespec="seconds")
    merged.extra = {
        **first.extra,
        "n_parts": sum(m.extra.get("n_parts", 0) for _, m in shard_metas),
    }
    out_dir = out_path.resolve().parent
    merged.shards = [
        {
            "path": os.path.relpath(path.resolve(), out_dir),
            "fingerprint": meta.fingerprint,
            "n_examples": meta.n_examples,
            "n_tokens": meta.n_tokens,
        }
        for path, meta in shard_metas
    ]
    schema = expected_datasets(merged)
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    try:
        with h5py.File(tmp_path, "w") as out:
            for name in _REBASED_OFFSETS if merged.words else _REBASED_OFFSETS[:1]:
                offsets = [np.zeros(1, dtype=np.int64)]
                for path, _ in shard_metas:
                    with h5py.File(path, "r") as shard:
                        offsets.append(shard[name][1:].astype(np.int64) + offsets[-1][-1])
                out.create_dataset(
                    name,
                    data=np.concatenate(offsets),
                    chunks=_chunked((merged.n_examples + 1,), VECTOR_CHUNK, 0),
                    fletcher32=True,
                )
            concat_axes = _concat_axes(merged)
            with h5py.File(shard_metas[0][0], "r") as template:
                dtypes = {name: template[name].dtype for name in concat_axes}
            for name, axis in concat_axes.items():
                shape = schema[name][0]
                layout = h5py.VirtualLayout(shape=shape, dtype=dtypes[name])
                cursor = 0
                for source, (_, meta) in zip(merged.shards, shard_metas, strict=True):
                    source_shape = expected_datasets(meta)[name][0]
                    length = source_shape[axis]
                    if length == 0:
                        continue
                    target = [slice(None)] * len(shape)
                    target[axis] = slice(cursor, cursor + length)
                    layout[tuple(target)] = h5py.VirtualSource(
                        source["path"], name, shape=source_shape
                    )
                    cursor += length
                out.create_virtual_dataset(name, layout)
            merged.complete = True
            _write_meta_attrs(out, merged)
        _fsync_path(tmp_path)
        os.replace(tmp_path, out_path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return merged


def _check_merged_sources(path: Path, meta: CacheMeta) -> None:
    """A merged cache is only as good as its shards: each must exist and be the one merged."""
    for source in meta.shards:
        shard = path.parent / source["path"]
        fix = (
            "Keep the shard files beside the merged cache (merge makes no copy) or re-run "
            "`fewdims merge` on the current shards."
        )
        if not shard.is_file():
            raise CacheError(f"Merged cache {path} reads shard {shard}, which is missing. {fix}")
        try:
            with h5py.File(shard, "r") as handle:
                fingerprint = json.loads(handle.attrs["meta"]).get("fingerprint")
        except (OSError, KeyError, TypeError, ValueError) as error:
            raise CacheError(
                f"Merged cache {path} reads shard {shard}, which cannot be read ({error}). {fix}"
            ) from error
        if fingerprint != source["fingerprint"]:
            raise CacheError(
                f"Merged cache {path}: shard {shard} was replaced by a different cache since "
                f"the merge (fingerprint {str(fingerprint)[:12]} ≠ {source['fingerprint'][:12]}). {fix}"
            )


@contextmanager
def exclusive_lock(out_path: str | Path, *, wait: bool = False) -> Iterator[None]:
    """Hold ``<out>.lock`` (flock) while writing ``out``; refuse, or wait, when another holds it.

    The kernel drops an flock when its process dies, so a lock file left by a killed run is
    stale by construction and is simply taken over. The lock file is removed on exit; a waiter
    may then hold a lock on the removed file, so after locking we check that the path still
    names the file we locked, and retry if not. (flock is per machine: on a shared network
    filesystem, give each machine its own --out, as ``--shard`` does.)
    """
    out_path = Path(out_path)
    lock_path = out_path.with_name(out_path.name + ".lock")
    while True:
        try:
            handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole run
        except OSError as error:
            raise CacheError(
                f"Cannot create {lock_path} ({error.strerror or error}); the folder of --out "
                "is not writable. Choose a writable --out."
            ) from error
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise CacheError(
                f"Another process ({holder}) is writing {out_path} right now. Wait for it to "
                "finish, pass --wait to queue behind it, or choose another --out."
            ) from None
        try:
            same_file = os.stat(lock_path).st_ino == os.fstat(handle.fileno()).st_ino
        except FileNotFoundError:
            same_file = False
        if same_file:
            break
        handle.close()
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} on {os.uname().nodename}")
        handle.flush()
        yield
    finally:
        lock_path.unlink(missing_ok=True)
        handle.close()


def fingerprint_of(identity: dict[str, Any]) -> str:
    """sha256 of a JSON-able identity dict (the extraction settings that fix the numbers)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


class Cache:
    """Read access to one cache file. Use as a context manager: ``with Cache.open(p) as c``.

    Reads are lazy: :meth:`pooled` reads one (layer, pooling) slice, :meth:`token_vectors` only
    the requested examples' rows of one layer. Every array returned is float32.
    """

    def __init__(self, handle: h5py.File, path: Path, meta: CacheMeta) -> None:
        self._handle = handle
        self.path = path
        self.meta = meta
        self._offsets: np.ndarray | None = None

    @classmethod
    def open(cls, path: str | Path, *, require_complete: bool = True) -> Cache:
        path = Path(path)
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            hint = (
                f" A partial extraction exists at {partial}: re-run the same `fewdims extract` "
                "command to finish it."
                if partial.exists()
                else " Run `fewdims extract` first, or check the path."
            )
            raise CacheError(f"Cache {path} does not exist.{hint}")
        try:
            handle = h5py.File(path, "r")
        except OSError as error:
            raise CacheError(
                f"Cache {path} cannot be opened as HDF5 ({error}); it is truncated or not a "
                "fewdims cache. Re-run `fewdims extract` with --overwrite to rebuild it."
            ) from error
        try:
            return cls._checked(handle, path, require_complete)
        except (OSError, RuntimeError, KeyError) as error:
            handle.close()
            raise CacheError(
                f"Cache {path} is damaged: its HDF5 metadata cannot be read ({error}). Run "
                "`fewdims verify` on it and re-extract with --overwrite."
            ) from error
        except BaseException:
            handle.close()
            raise

    @classmethod
    def _checked(cls, handle: h5py.File, path: Path, require_complete: bool) -> Cache:
        """Check the format attributes and the schema of an open file (the caller closes it)."""
        if handle.attrs.get("format") != CACHE_FORMAT:
            raise CacheError(
                f"{path} is an HDF5 file but not a fewdims cache (no format attribute "
                f"'{CACHE_FORMAT}'). Pass a file written by `fewdims extract`."
            )
        version = int(handle.attrs.get("format_version", -1))
        if version not in READABLE_VERSIONS:
            raise CacheError(
                f"Cache {path} has format version {version}; this fewdims ({__version__}) "
                f"reads versions {', '.join(map(str, READABLE_VERSIONS))}. Re-extract it with "
                "this fewdims."
            )
        try:
            meta = CacheMeta.from_dict(json.loads(handle.attrs["meta"]))
        except (KeyError, TypeError, ValueError) as error:
            raise CacheError(
                f"Cache {path} has a missing or corrupt 'meta' attribute ({error}); "
                "re-extract it with --overwrite."
            ) from error
        if require_complete and not meta.complete:
            raise CacheError(
                f"Cache {path} is incomplete (its extraction did not finish). Re-run the "
                "same `fewdims extract` command to resume it."
            )
        missing = [name for name in expected_datasets(meta) if not _has(handle, name)]
        if missing and meta.complete:
            raise CacheError(
                f"Cache {path} lacks dataset(s) {', '.join(missing)}; it is damaged. "
                "Re-extract it with --overwrite."
            )
        if meta.shards:
            _check_merged_sources(path, meta)
        return cls(handle, path, meta)

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------ shape facts
    @property
    def layers(self) -> list[int]:
        """Stored hidden-state indices: 0 is the embedding output, n_model_layers the last."""
        return list(self.meta.layers)

    @property
    def n_examples(self) -> int:
        return self.meta.n_examples

    @property
    def n_tokens(self) -> int:
        return self.meta.n_tokens

    @property
    def hidden_size(self) -> int:
        return self.meta.hidden_size

    def layer_position(self, layer: int) -> int:
        """Index of ``layer`` along the stored layer axis; negative counts from the last."""
        layers = self.meta.layers
        if layer < 0:
            layer = self.meta.n_model_layers + 1 + layer
        if layer not in layers:
            raise CacheError(
                f"Layer {layer} is not in cache {self.path} (stored layers: "
                f"{_format_layers(layers)}; the model has hidden states 0..{self.meta.n_model_layers}). "
                "Choose a stored layer, or re-extract with --layers including it."
            )
        return layers.index(layer)

    # ------------------------------------------------------------------ per-example arrays
    @property
    def offsets(self) -> np.ndarray:
        """(N+1,) int64: example i owns token rows offsets[i]:offsets[i+1]."""
        if self._offsets is None:
            self._offsets = self._read("examples/offsets")
        return self._offsets

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def labels(self) -> np.ndarray:
        """(N,) int64 class indices or float32 scores; -1 / NaN where unlabeled."""
        return self._read("examples/label")

    @property
    def row_index(self) -> np.ndarray:
        return self._read("examples/row_index")

    @property
    def truncated(self) -> np.ndarray:
        return self._read("examples/truncated")

    def texts(self, example_ids: Sequence[int] | None = None) -> list[tuple[str, ...]]:
        rows = (
            self._read("examples/text")
            if example_ids is None
            else self._read_rows("examples/text", example_ids)
        )
        return [tuple(_as_str(cell) for cell in row) for row in rows]

    # ------------------------------------------------------------------ vectors
    def check_pooling(self, pooling: str) -> None:
        """Raise a CacheError naming the stored poolings when ``pooling`` is not one of them."""
        stored = list(self.meta.poolings)
        if pooling in stored:
            return
        if pooling not in POOLINGS:
            raise CacheError(
                f"Unknown pooling {pooling!r}; cache {self.path} stores {', '.join(stored)}."
            )
        why = (
            "it was made by a decoder-only LM, whose first token has seen only itself; use "
            "'last' (the last real token) as its sentence vector"
            if pooling == "cls" and self.meta.causal
            else f"its model is {'a decoder' if self.meta.causal else 'an encoder'}"
        )
        raise CacheError(
            f"Cache {self.path} has no {pooling!r} pooling ({why}). It stores "
            f"{', '.join(stored)}: choose one of those."
        )

    def check_token_vectors(self) -> None:
        """Raise a CacheError when the cache holds pooled vectors only (no ``hidden``)."""
        if not self.meta.has_token_vectors:
            raise CacheError(
                f"Cache {self.path} stores pooled vectors only (extracted with --store pooled), "
                "so it has no token vectors (token rows, --pooling tokens). Probe a pooling "
                f"({', '.join(self.meta.poolings)}), or re-extract with --store tokens."
            )

    def pooled(self, layer: int, pooling: str) -> np.ndarray:
        """(N, H) float32 sentence vectors of one layer; reads only that slice."""
        self.check_pooling(pooling)
        position = self.layer_position(layer)
        return to_float32(self._read(f"pooled/{pooling}", np.s_[position]), self.meta.dtype)

    def pooled_rows(self, layer: int, pooling: str, start: int, stop: int) -> np.ndarray:
        """(stop-start, H) float32 rows start:stop of one layer's pooled vectors (a chunk)."""
        self.check_pooling(pooling)
        position = self.layer_position(layer)
        return to_float32(
            self._read(f"pooled/{pooling}", np.s_[position, start:stop]), self.meta.dtype
        )

    def maxnorm_positions(self, layer: int) -> np.ndarray:
        """(N,) int32 position, within each example, of the token chosen by maxnorm pooling."""
        return self._read("pooled/maxnorm_position", np.s_[self.layer_position(layer)])

    def token_vectors(self, layer: int, example_ids: Sequence[int]) -> list[np.ndarray]:
        """The (length_i, H) float32 token vectors of each requested example, in request order."""
        self.check_token_vectors()
        position = self.layer_position(layer)
        offsets = self.offsets
        dataset = self._dataset("hidden")
        vectors = []
        for example_id in example_ids:
            start, stop = int(offsets[example_id]), int(offsets[example_id + 1])
            vectors.append(
                to_float32(
                    self._guard("hidden", lambda s=start, e=stop: dataset[position, s:e]),
                    self.meta.dtype,
                )
            )
        return vectors

    def layer_tokens(self, layer: int, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(stop-start, H) float32 rows of one layer's token matrix (all examples, in order)."""
        self.check_token_vectors()
        position = self.layer_position(layer)
        stop = self.n_tokens if stop is None else stop
        return to_float32(self._read("hidden", np.s_[position, start:stop]), self.meta.dtype)

    def special_tokens(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(stop-start,) bool: which of tokens start:stop are tokenizer specials ([CLS], [SEP])."""
        stop = self.n_tokens if stop is None else stop
        return self._read("tokens/special", np.s_[start:stop])

    def token_ids(self, example_ids: Sequence[int]) -> list[np.ndarray]:
        offsets = self.offsets
        dataset = self._dataset("tokens/input_ids")
        return [
            self._guard(
                "tokens/input_ids", lambda i=i: dataset[int(offsets[i]) : int(offsets[i + 1])]
            )
            for i in example_ids
        ]

    def token_type_ids(self, example_ids: Sequence[int]) -> list[np.ndarray]:
        offsets = self.offsets
        dataset = self._dataset("tokens/token_type_ids")
        return [
            self._guard(
                "tokens/token_type_ids", lambda i=i: dataset[int(offsets[i]) : int(offsets[i + 1])]
            )
            for i in example_ids
        ]

    def special_mask(self, example_ids: Sequence[int]) -> list[np.ndarray]:
        offsets = self.offsets
        dataset = self._dataset("tokens/special")
        return [
            self._guard(
                "tokens/special", lambda i=i: dataset[int(offsets[i]) : int(offsets[i + 1])]
            )
            for i in example_ids
        ]

    # ------------------------------------------------------------------ word tables
    @property
    def has_words(self) -> bool:
        """True when the cache holds word tables (extracted from CoNLL-U)."""
        return self.meta.has_words

    def _require_words(self) -> None:
        if not self.has_words:
            raise CacheError(
                f"Cache {self.path} has no word tables (it was not extracted from a CoNLL-U "
                "file). Extract a .conllu file with `fewdims extract --data-file F.conllu`."
            )

    @property
    def word_offsets(self) -> np.ndarray:
        """(N+1,) int64: example i owns words word_offsets[i]:word_offsets[i+1]."""
        self._require_words()
        return self._read("words/offsets")

    def word_token_spans(self) -> np.ndarray:
        """(W, 2) int64 [start, stop) token positions within each word's example; -1 = dropped."""
        self._require_words()
        return self._read("words/token_span").astype(np.int64)

    def word_labels(self, name: str) -> np.ndarray:
        """(W,) int64 codes of word label ``name`` into :meth:`word_label_names`."""
        self._require_words()
        if name not in WORD_LABEL_NAMES:
            raise CacheError(
                f"Unknown word label {name!r}; choose one of {', '.join(WORD_LABEL_NAMES)}."
            )
        return self._read(f"words/{name}").astype(np.int64)

    def word_label_names(self, name: str) -> list[str]:
        self._require_words()
        return list(self.meta.words["label_names"][name])

    def word_heads(self) -> np.ndarray:
        """(W,) int64 CoNLL-U HEAD of each word (0 = root, else 1-based word index)."""
        self._require_words()
        return self._read("words/head").astype(np.int64)

    def word_forms(self) -> list[str]:
        self._require_words()
        return [_as_str(cell) for cell in self._read("words/form")]

    def dataset_names(self) -> list[str]:
        names: list[str] = []
        self._handle.visit(
            lambda name: (
                names.append(name) if isinstance(self._handle[name], h5py.Dataset) else None
            )
        )
        return names

    def dataset_facts(self) -> dict[str, dict[str, Any]]:
        """Per dataset: shape, dtype, chunk shape, whether checksummed and whether virtual."""
        facts: dict[str, dict[str, Any]] = {}
        for name in self.dataset_names():
            dataset = self._dataset(name)
            facts[name] = {
                "shape": tuple(dataset.shape),
                "dtype": dataset.dtype,
                "chunks": dataset.chunks,
                "fletcher32": bool(dataset.fletcher32),
                "virtual": bool(dataset.is_virtual),
            }
        return facts

    def read(self, name: str, selection: Any = ()) -> np.ndarray:
        """Raw stored values of any dataset (a slice of it), checksum-checked; for ``verify``."""
        return self._read(name, selection)

    def shard_paths(self) -> list[Path]:
        """The shard files a merged cache reads (empty for an ordinary cache)."""
        return [self.path.parent / source["path"] for source in self.meta.shards]

    # ------------------------------------------------------------------ internals
    def _dataset(self, name: str) -> h5py.Dataset:
        try:
            return self._handle[name]
        except (KeyError, OSError, RuntimeError) as error:
            raise CacheError(
                f"Cache {self.path} lacks or cannot open dataset '{name}' ({error}); it is "
                "damaged. Run `fewdims verify` on it and re-extract with --overwrite."
            ) from error

    def _read(self, name: str, selection: Any = ()) -> np.ndarray:
        dataset = self._dataset(name)
        return self._guard(name, lambda: dataset[selection])

    def _read_rows(self, name: str, rows: Sequence[int]) -> np.ndarray:
        dataset = self._dataset(name)
        return np.stack([self._guard(name, lambda r=r: dataset[int(r)]) for r in rows])

    def _guard(self, name: str, read: Any) -> np.ndarray:
        """Run a read; turn HDF5 checksum/IO failures into a CacheError naming the dataset."""
        try:
            return read()
        except (OSError, RuntimeError) as error:
            raise CacheError(
                f"Reading dataset '{name}' of cache {self.path} failed ({error}); the file is "
                "corrupt (checksum mismatch or truncation). Run `fewdims verify` on it and "
                "re-extract with --overwrite."
            ) from error


def _has(handle: h5py.File, name: str) -> bool:
    try:
        return name in handle
    except (OSError, RuntimeError, KeyError):
        return False


def _as_str(cell: Any) -> str:
    return cell.decode("utf-8") if isinstance(cell, bytes) else str(cell)


def _format_layers(layers: Sequence[int]) -> str:
    return ", ".join(str(layer) for layer in layers)


@contextmanager
def open_cache(path: str | Path) -> Iterator[Cache]:
    """Functional spelling of ``with Cache.open(path) as cache``."""
    cache = Cache.open(path)
    try:
        yield cache
    finally:
        cache.close()


def check_compatible(
    train: CacheMeta,
    evaluation: CacheMeta,
    train_path: str = "train cache",
    eval_path: str = "eval cache",
) -> None:
    """Refuse to pair caches that cannot be compared (other weights, task, layers, pooling rule)."""
    problems = []
    if train.weights_sha256 != evaluation.weights_sha256:
        problems.append(
            f"they were made by different model weights ({train.model} "
            f"{train.weights_sha256[:12]} vs {evaluation.model} {evaluation.weights_sha256[:12]})"
        )
    if train.task != evaluation.task:
        problems.append(f"they hold different tasks ({train.task} vs {evaluation.task})")
    if train.hidden_size != evaluation.hidden_size:
        problems.append(f"hidden sizes differ ({train.hidden_size} vs {evaluation.hidden_size})")
    if train.maxnorm_includes_special != evaluation.maxnorm_includes_special:
        problems.append("their maxnorm pooling rules differ (special tokens eligible or not)")
    if train.label_names != evaluation.label_names:
        problems.append(
            f"their label names differ ({train.label_names} vs {evaluation.label_names})"
        )
    if problems:
        raise CacheError(
            f"Cannot pair {train_path} with {eval_path}: " + "; ".join(problems) + ". Extract both "
            "splits with the same model, task and options."
        )


def describe(cache: Cache) -> dict[str, str]:
    """Human-readable summary lines of a cache (what ``fewdims info`` shows)."""
    meta = cache.meta
    size = cache.path.stat().st_size + sum(path.stat().st_size for path in cache.shard_paths())
    vector_bytes = 4 if meta.dtype == "float32" else 2
    raw_token_bytes = len(meta.layers) * meta.n_tokens * meta.hidden_size * vector_bytes
    raw_pooled_bytes = (
        len(meta.poolings) * len(meta.layers) * meta.n_examples * meta.hidden_size * vector_bytes
    )
    storage = (
        "tokens (token vectors + pooled vectors)"
        if meta.has_token_vectors
        else "pooled (pooled vectors only; no token vectors: re-extract with --store tokens)"
    )
    raw_bytes, raw_what = (
        (raw_token_bytes, "the token vectors")
        if meta.has_token_vectors
        else (raw_pooled_bytes, "the pooled vectors")
    )
    return {
        "path": str(cache.path),
        "model": meta.model,
        "weights sha256": meta.weights_sha256[:16] + "…",
        "task / split": f"{meta.task} / {meta.split}" + ("" if meta.labeled else " (unlabeled)"),
        "source": meta.source,
        "examples": f"{meta.n_examples:,}",
        "tokens": f"{meta.n_tokens:,} (max_length {meta.max_length}, {meta.n_truncated} truncated)",
        "layers": f"{len(meta.layers)} stored of 0..{meta.n_model_layers}: {_format_layers(meta.layers)}",
        "hidden size": str(meta.hidden_size),
        "dtype": f"{meta.dtype} on disk, computed in {meta.compute_dtype}",
        "storage": storage,
        "labels": ", ".join(meta.label_names)
        if meta.label_names
        else ("regression score" if meta.is_regression else "-"),
        "poolings": ", ".join(meta.poolings)
        + (" (decoder: last real token, no cls)" if meta.causal else "")
        + (
            " (maxnorm over all tokens)"
            if meta.maxnorm_includes_special
            else " (maxnorm over word tokens)"
        ),
        "size": f"{size / 2**20:,.1f} MiB ({size / max(raw_bytes, 1):.3f}x {raw_what})",
        **({"words": _describe_words(meta.words)} if meta.words else {}),
        "complete": "yes" if meta.complete else "NO (resume with the same extract command)",
        **(
            {"shard": f"{meta.shard[0]} of {meta.shard[1]} (merge with `fewdims merge`)"}
            if meta.shard
            else {}
        ),
        **(
            {"merged from": ", ".join(source["path"] for source in meta.shards)}
            if meta.shards
            else {}
        ),
        "created": f"{meta.created_at} by fewdims {meta.fewdims_version}",
    }


def _describe_words(words: dict[str, Any]) -> str:
    vocabularies = ", ".join(
        f"{len(words['label_names'][name])} {name}" for name in WORD_LABEL_NAMES
    )
    return (
        f"{words['n_words']:,} ({vocabularies} labels; {words.get('n_truncated', 0)} dropped "
        f"by max_length, {words.get('n_without_subwords', 0)} without subwords, "
        f"{words.get('n_shared_tokens', 0)} tokens shared by two words)"
    )


# Where caches go unless the user names a path: ``fewdims extract`` and ``fewdims run`` both.
DEFAULT_CACHE_DIR = Path("data") / "features"


def default_cache_path(
    cache_dir: str | Path,
    model_name: str,
    task: str,
    split: str,
    tag: str = "",
    storage: str = "tokens",
) -> Path:
    """``<cache_dir>/<model>/<task>-<split><tag>.h5``, the model name made path-safe.

    One naming rule for ``fewdims extract`` and ``fewdims run``, so each finds the other's
    caches. ``model_name`` is the resolved display name (``default`` resolves to
    ``sentence-transformers/all-MiniLM-L6-v2``), never the alias the user typed. A pooled-only
    cache is ``<task>-<split><tag>.pooled.h5``, so it never collides with the full one.
    """
    safe_model = model_name.strip("/").replace("/", "__").replace(":", "_") or "model"
    suffix = ".pooled.h5" if storage == "pooled" else ".h5"
    return Path(cache_dir) / safe_model / f"{task}-{split}{tag}{suffix}"
