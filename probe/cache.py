"""The fewdims feature cache: the one module that knows the HDF5 layout (writer and reader).

One cache file holds one (model, dataset, split): the hidden states of every stored layer for
every real token (no padding), plus labels, token ids and pooled sentence vectors. Nothing
else in fewdims opens these files with raw h5py paths; everything goes through this module.

Format version 1 — layout
=========================

Examples are stored in *extraction order*: sorted by token length (so batches carry almost no
padding), ties broken by source row. ``examples/row_index`` maps each back to its source row.
``L`` = number of stored layers, ``T`` = total real tokens, ``N`` = examples, ``H`` = hidden size.

==============================  ===================  =========================================
path                            shape, dtype         meaning
==============================  ===================  =========================================
``hidden``                      (L, T, H) float16    token vectors, layer-major: one layer's
                                                     rows are contiguous, chunks (1, 256, H)
``tokens/input_ids``            (T,) int32           token ids
``tokens/token_type_ids``       (T,) int8            segment ids (1 = second text of a pair)
``tokens/special``              (T,) bool            tokenizer special tokens ([CLS], [SEP])
``examples/offsets``            (N+1,) int64         example i owns tokens offsets[i]:offsets[i+1]
``examples/row_index``          (N,) int64           row of the example in the source split
``examples/label``              (N,) int64|float32   class index, or score for regression;
                                                     -1 / NaN where the split is unlabeled
``examples/truncated``          (N,) bool            text was cut at ``max_length``
``examples/text``               (N, C) utf-8 str     the C input texts (C = 2 for pairs)
``pooled/cls``                  (L, N, H) float16    first token's vector
``pooled/mean``                 (L, N, H) float16    mean over all real tokens (specials included)
``pooled/maxnorm``              (L, N, H) float16    the token vector with the largest L2 norm
``pooled/maxnorm_position``     (L, N) int32         its position within the example
==============================  ===================  =========================================

``maxnorm`` is the token-wise max-pooling of Fukuhata & Kano (2025, arXiv 2504.04966). By
default special tokens are *not* eligible (``maxnorm_includes_special = False``), so the
maxnorm vector is a real word's vector and can be compared with CLS; an example made only of
special tokens falls back to all tokens. Pooled vectors are computed at extraction time in
float32 from the model's own (not yet rounded) hidden states, then stored as float16.

``dtype`` ``bfloat16`` is stored as raw ``uint16`` bits (HDF5 has no bfloat16); the reader
converts. Readers always return float32.

Attributes on the root: ``format = "fewdims-cache"``, ``format_version``, ``meta`` (the JSON
of :class:`CacheMeta`) and, for people browsing with ``h5dump``/HDFView, each scalar meta field
as its own attribute. ``complete`` is true only in a finished file; finished files only ever
appear at their final path by an atomic rename (see ``extract.extractor``).

Crash safety: the extractor writes fixed *parts* (a run of whole batches each) with
:class:`PartWriter`, each to a temporary name then renamed; :func:`consolidate` copies the
finished parts into the final file. A killed run loses at most one part.
"""

from __future__ import annotations

import json
import os
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

CACHE_FORMAT = "fewdims-cache"
FORMAT_VERSION = 1
POOLINGS: tuple[str, ...] = ("cls", "mean", "maxnorm")
STORAGE_DTYPES: tuple[str, ...] = ("float16", "bfloat16", "float32")
TOKEN_CHUNK = 256  # tokens per HDF5 chunk of ``hidden``: one layer's CLS rows read fast
EXAMPLE_CHUNK = 1024  # examples per chunk of the pooled arrays


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
    fingerprint: str = ""
    complete: bool = False
    format_version: int = FORMAT_VERSION
    fewdims_version: str = __version__
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> CacheMeta:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in payload.items() if key in known})

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2


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
    """Writes one part: a run of whole batches, all arrays in extraction order.

    A part is a small HDF5 file with the same dataset names as the final cache (``hidden`` is
    (L, t, H) for the part's t tokens). The caller appends batches, then :meth:`finish`
    fsyncs and atomically renames ``<path>.tmp`` to ``<path>``. Any exception leaves only the
    ``.tmp`` file, which a resumed run deletes.
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
    ) -> None:
        self.path = Path(path)
        self.tmp_path = self.path.with_name(self.path.name + ".tmp")
        self.dtype = dtype
        self.n_tokens = n_tokens
        self.n_examples = n_examples
        self._token_cursor = 0
        self._example_cursor = 0
        storage = _storage_numpy_dtype(dtype)
        self._file = h5py.File(self.tmp_path, "w")
        chunk_tokens = max(1, min(TOKEN_CHUNK, n_tokens))
        self._file.create_dataset(
            "hidden",
            shape=(n_layers, n_tokens, hidden_size),
            dtype=storage,
            chunks=(1, chunk_tokens, hidden_size),
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
        for pooling in POOLINGS:
            self._file.create_dataset(
                f"pooled/{pooling}", shape=(n_layers, n_examples, hidden_size), dtype=storage
            )
        self._file.create_dataset(
            "pooled/maxnorm_position", shape=(n_layers, n_examples), dtype=np.int32
        )

    def write_batch(
        self,
        *,
        hidden: np.ndarray,
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
        tokens concatenated example after example; ``pooled[name]``: (L, b, H) likewise;
        ``maxnorm_position``: (L, b); per-token arrays (t,); per-example arrays (b,).
        """
        n_batch_tokens = hidden.shape[1]
        n_batch = len(lengths)
        if int(np.sum(lengths)) != n_batch_tokens:
            raise ValueError("lengths do not add up to the number of token vectors")
        tokens = slice(self._token_cursor, self._token_cursor + n_batch_tokens)
        examples = slice(self._example_cursor, self._example_cursor + n_batch)
        if tokens.stop > self.n_tokens or examples.stop > self.n_examples:
            raise ValueError("more tokens or examples written than the part was planned for")
        handle = self._file
        handle["hidden"][:, tokens, :] = hidden
        handle["tokens/input_ids"][tokens] = input_ids
        handle["tokens/token_type_ids"][tokens] = token_type_ids
        handle["tokens/special"][tokens] = special
        handle["examples/length"][examples] = lengths
        handle["examples/row_index"][examples] = row_index
        handle["examples/label"][examples] = labels
        handle["examples/truncated"][examples] = truncated
        handle["examples/text"][examples] = np.asarray(texts, dtype=object)
        for pooling in POOLINGS:
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
        self._file.close()
        _fsync_path(self.tmp_path)
        os.replace(self.tmp_path, self.path)
        return self.path

    def abort(self) -> None:
        try:
            self._file.close()
        finally:
            self.tmp_path.unlink(missing_ok=True)


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
            return bool(handle.attrs.get("complete", False)) and "hidden" in handle
    except (OSError, KeyError):
        return False


def consolidate(
    part_paths: Sequence[str | Path],
    out_path: str | Path,
    meta: CacheMeta,
    *,
    compression: str | None = None,
    checksum: bool = True,
) -> Path:
    """Copy finished parts, in order, into one cache file at ``out_path`` (atomically).

    Writes ``<out_path>.tmp`` then renames it, so the final path only ever holds a complete
    cache. Copies one part at a time: memory stays bounded by one part.
    """
    out_path = Path(out_path)
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    sizes = []
    for part_path in part_paths:
        with h5py.File(part_path, "r") as part:
            sizes.append((part["hidden"].shape[1], part["examples/length"].shape[0]))
            label_dtype = part["examples/label"].dtype
            n_text_columns = part["examples/text"].shape[1]
    n_tokens = sum(tokens for tokens, _ in sizes)
    n_examples = sum(examples for _, examples in sizes)
    if n_examples != meta.n_examples:
        raise CacheError(
            f"Parts hold {n_examples} examples but the split has {meta.n_examples}; "
            "the partial extraction is inconsistent — re-run extract with --overwrite."
        )
    n_layers, hidden_size = len(meta.layers), meta.hidden_size
    storage = _storage_numpy_dtype(meta.dtype)
    compression_args: dict[str, Any] = {}
    if compression:
        compression_args = {"compression": compression}
    try:
        with h5py.File(tmp_path, "w") as out:
            hidden = out.create_dataset(
                "hidden",
                shape=(n_layers, n_tokens, hidden_size),
                dtype=storage,
                chunks=(1, max(1, min(TOKEN_CHUNK, n_tokens)), hidden_size),
                fletcher32=checksum,
                **compression_args,
            )
            per_token = {
                "tokens/input_ids": np.int32,
                "tokens/token_type_ids": np.int8,
                "tokens/special": bool,
            }
            for name, dtype in per_token.items():
                out.create_dataset(
                    name,
                    shape=(n_tokens,),
                    dtype=dtype,
                    fletcher32=checksum,
                    chunks=(max(1, min(65536, n_tokens)),),
                )
            out.create_dataset("examples/row_index", shape=(n_examples,), dtype=np.int64)
            out.create_dataset("examples/label", shape=(n_examples,), dtype=label_dtype)
            out.create_dataset("examples/truncated", shape=(n_examples,), dtype=bool)
            out.create_dataset(
                "examples/text", shape=(n_examples, n_text_columns), dtype=_text_dtype()
            )
            pooled_chunks = (1, max(1, min(EXAMPLE_CHUNK, n_examples)), hidden_size)
            for pooling in POOLINGS:
                out.create_dataset(
                    f"pooled/{pooling}",
                    shape=(n_layers, n_examples, hidden_size),
                    dtype=storage,
                    chunks=pooled_chunks,
                    fletcher32=checksum,
                    **compression_args,
                )
            out.create_dataset(
                "pooled/maxnorm_position", shape=(n_layers, n_examples), dtype=np.int32
            )
            lengths_all = np.zeros(n_examples, dtype=np.int64)
            token_cursor = example_cursor = 0
            for part_path, (part_tokens, part_examples) in zip(part_paths, sizes, strict=True):
                tokens = slice(token_cursor, token_cursor + part_tokens)
                examples = slice(example_cursor, example_cursor + part_examples)
                with h5py.File(part_path, "r") as part:
                    for layer_position in range(n_layers):
                        hidden[layer_position, tokens, :] = part["hidden"][layer_position]
                    for name in per_token:
                        out[name][tokens] = part[name][...]
                    for name in ("row_index", "label", "truncated", "text"):
                        out[f"examples/{name}"][examples] = part[f"examples/{name}"][...]
                    for pooling in POOLINGS:
                        out[f"pooled/{pooling}"][:, examples, :] = part[f"pooled/{pooling}"][...]
                    out["pooled/maxnorm_position"][:, examples] = part["pooled/maxnorm_position"][
                        ...
                    ]
                    lengths_all[examples] = part["examples/length"][...]
                token_cursor, example_cursor = tokens.stop, examples.stop
            offsets = np.zeros(n_examples + 1, dtype=np.int64)
            np.cumsum(lengths_all, out=offsets[1:])
            out.create_dataset("examples/offsets", data=offsets)
            meta.n_tokens = int(n_tokens)
            meta.complete = True
            _write_meta_attrs(out, meta)
        _fsync_path(tmp_path)
        os.replace(tmp_path, out_path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return out_path


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
            if handle.attrs.get("format") != CACHE_FORMAT:
                raise CacheError(
                    f"{path} is an HDF5 file but not a fewdims cache (no format attribute "
                    f"'{CACHE_FORMAT}'). Pass a file written by `fewdims extract`."
                )
            version = int(handle.attrs.get("format_version", -1))
            if version != FORMAT_VERSION:
                raise CacheError(
                    f"Cache {path} has format version {version}; this fewdims ({__version__}) "
                    f"reads version {FORMAT_VERSION}. Re-extract it with this fewdims."
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
            for name in (
                "hidden",
                "examples/offsets",
                "examples/label",
                *(f"pooled/{p}" for p in POOLINGS),
            ):
                if name not in handle:
                    raise CacheError(
                        f"Cache {path} lacks dataset '{name}'; it is damaged. Re-extract it "
                        "with --overwrite."
                    )
        except BaseException:
            handle.close()
            raise
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
    def pooled(self, layer: int, pooling: str) -> np.ndarray:
        """(N, H) float32 sentence vectors of one layer; reads only that slice."""
        if pooling not in POOLINGS:
            raise CacheError(f"Unknown pooling {pooling!r}; choose one of {', '.join(POOLINGS)}.")
        position = self.layer_position(layer)
        return to_float32(self._read(f"pooled/{pooling}", np.s_[position]), self.meta.dtype)

    def maxnorm_positions(self, layer: int) -> np.ndarray:
        """(N,) int32 position, within each example, of the token chosen by maxnorm pooling."""
        return self._read("pooled/maxnorm_position", np.s_[self.layer_position(layer)])

    def token_vectors(self, layer: int, example_ids: Sequence[int]) -> list[np.ndarray]:
        """The (length_i, H) float32 token vectors of each requested example, in request order."""
        position = self.layer_position(layer)
        offsets = self.offsets
        dataset = self._handle["hidden"]
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
        position = self.layer_position(layer)
        stop = self.n_tokens if stop is None else stop
        return to_float32(self._read("hidden", np.s_[position, start:stop]), self.meta.dtype)

    def token_ids(self, example_ids: Sequence[int]) -> list[np.ndarray]:
        offsets = self.offsets
        dataset = self._handle["tokens/input_ids"]
        return [
            self._guard(
                "tokens/input_ids", lambda i=i: dataset[int(offsets[i]) : int(offsets[i + 1])]
            )
            for i in example_ids
        ]

    def token_type_ids(self, example_ids: Sequence[int]) -> list[np.ndarray]:
        offsets = self.offsets
        dataset = self._handle["tokens/token_type_ids"]
        return [
            self._guard(
                "tokens/token_type_ids", lambda i=i: dataset[int(offsets[i]) : int(offsets[i + 1])]
            )
            for i in example_ids
        ]

    def special_mask(self, example_ids: Sequence[int]) -> list[np.ndarray]:
        offsets = self.offsets
        dataset = self._handle["tokens/special"]
        return [
            self._guard(
                "tokens/special", lambda i=i: dataset[int(offsets[i]) : int(offsets[i + 1])]
            )
            for i in example_ids
        ]

    def dataset_names(self) -> list[str]:
        names: list[str] = []
        self._handle.visit(
            lambda name: (
                names.append(name) if isinstance(self._handle[name], h5py.Dataset) else None
            )
        )
        return names

    # ------------------------------------------------------------------ internals
    def _read(self, name: str, selection: Any = ()) -> np.ndarray:
        dataset = self._handle[name]
        return self._guard(name, lambda: dataset[selection])

    def _read_rows(self, name: str, rows: Sequence[int]) -> np.ndarray:
        dataset = self._handle[name]
        return np.stack([self._guard(name, lambda r=r: dataset[int(r)]) for r in rows])

    def _guard(self, name: str, read: Any) -> np.ndarray:
        """Run a read; turn HDF5 checksum/IO failures into a CacheError naming the dataset."""
        try:
            return read()
        except OSError as error:
            raise CacheError(
                f"Reading dataset '{name}' of cache {self.path} failed ({error}); the file is "
                "corrupt (checksum mismatch or truncation). Run `fewdims verify` on it and "
                "re-extract with --overwrite."
            ) from error


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
    size = cache.path.stat().st_size
    raw_token_bytes = (
        len(meta.layers) * meta.n_tokens * meta.hidden_size * (4 if meta.dtype == "float32" else 2)
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
        "labels": ", ".join(meta.label_names)
        if meta.label_names
        else ("regression score" if meta.is_regression else "-"),
        "poolings": ", ".join(POOLINGS)
        + (
            " (maxnorm over all tokens)"
            if meta.maxnorm_includes_special
            else " (maxnorm over word tokens)"
        ),
        "size": f"{size / 2**20:,.1f} MiB ({size / max(raw_token_bytes, 1):.3f}x the token vectors)",
        "complete": "yes" if meta.complete else "NO (resume with the same extract command)",
        "created": f"{meta.created_at} by fewdims {meta.fewdims_version}",
    }
