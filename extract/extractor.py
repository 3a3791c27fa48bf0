"""Run an encoder once over a split and fill a feature cache (see ``probe.cache`` for the format).

How it stays fast, bounded and safe:

* **Length-sorted batches.** Examples are sorted by token length (longest first, so an
  out-of-memory shows up in the first batch), then cut into batches: padding drops from
  13–16% of computed tokens to about 1%.
* **Bounded memory.** Only the batch in flight and a short queue of finished batches are in
  RAM; a background thread writes them while the next batch runs (on CUDA the device→host
  copies are asynchronous too).
* **Crash safety and resume.** The plan (batch order) is a pure function of the data and
  the config, so it is the same on every run. The cache is written in place: ``<out>.tmp``
  is laid out whole first, batches go straight into their final chunks, and batches are
  grouped into *parts*, each ended by an fsync and a record ``<out>.partial/part-NNNNN.h5``
  (see ``probe.cache``). A re-run with the same config continues after the last recorded
  part; a different config is refused (its fingerprint differs). When all parts are recorded
  ``<out>.tmp`` is marked complete and renamed to ``<out>`` (no copy): the final path only
  ever holds a complete cache. Compressed caches write part files and consolidate them.
* **One writer at a time.** ``<out>.lock`` is held with ``flock`` for the whole run; the
  kernel drops it when a process dies, so a stale lock never blocks anyone.
* **Errors leave nothing half-made.** A full disk or another write error removes the
  temporary files; finished parts stay (and the message says so) only when there are some to
  resume from. SIGKILL at any instant is covered by the rename discipline above
  (``tests/unit/extract/test_crash_safety.py`` kills runs at random points and compares the arrays).
* **Shards.** ``shard_index``/``shard_count`` extract one contiguous run of the whole split's
  batches (``extract.sharding``); shards merge into the single-process cache.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from extract.datasets import Split
from extract.model import DEFAULT_MODEL, LoadedModel, load_model, resolve_device
from extract.pooling import pool
from extract.sharding import check_shard, shard_batches
from extract.word_alignment import check_word_spans
from probe.cache import (
    STORAGE_DTYPES,
    STORAGE_KINDS,
    Cache,
    CacheMeta,
    InPlaceWriter,
    PartWriter,
    SpaceEstimate,
    check_free_space,
    check_space_estimate,
    consolidate,
    create_in_place,
    exclusive_lock,
    fingerprint_of,
    finish_in_place,
    is_disk_error,
    merge_shards,
    part_is_complete,
    read_part_record,
    record_word_meta,
    shard_path,
    space_estimate,
    write_part_record,
)
from probe.errors import CacheError, DataError, ModelError
from probe.vocabulary import poolings_for
from probe.words.table import WordTable

PART_TARGET_BYTES = 64 * 2**20  # hidden-state bytes per part: what a crash can lose
TOKENIZE_CHUNK = 8192  # examples tokenized per call: bounds the tokenizer's Python lists
MANIFEST_NAME = "manifest.json"


@dataclass
class ExtractConfig:
    """Everything that determines a cache's numbers (and a few knobs that don't).

    ``dtype`` is the storage dtype; ``compute_dtype`` the forward pass precision (``auto`` =
    float16 autocast on CUDA, float32 on CPU). ``layers`` lists hidden-state indices to keep
    (0 = embeddings); None keeps all. ``part_tokens`` overrides the part size (tests use it).
    ``shard_index``/``shard_count`` select one shard of the split's batches (see
    ``extract.sharding``); the default 0/1 extracts everything. ``store`` is ``tokens`` (token
    vectors and pooled vectors) or ``pooled`` (pooled vectors only: 3 vectors a sentence
    instead of one a token, 5-9x smaller on SST-2; see ``probe.cache``).
    """

    model: str = DEFAULT_MODEL
    max_length: int = 128
    batch_size: int = 32
    device: str = "auto"
    dtype: str = "float16"
    compute_dtype: str = "auto"
    layers: list[int] | None = None
    maxnorm_includes_special: bool = False
    compression: str | None = None
    checksum: bool = True
    part_tokens: int | None = None
    trust_remote_code: bool = False
    shard_index: int = 0
    shard_count: int = 1
    store: str = "tokens"


@dataclass
class ExtractSummary:
    """What an extraction did: where the cache is and how fast it went."""

    path: Path
    meta: CacheMeta
    reused: bool = False
    resumed_parts: int = 0
    seconds: float = 0.0
    forward_seconds: float = 0.0
    computed_tokens: int = 0
    real_tokens: int = 0
    n_batches: int = 0
    estimate: SpaceEstimate | None = None  # the size estimate checked before writing

    @property
    def padding_fraction(self) -> float:
        return 1.0 - self.real_tokens / self.computed_tokens if self.computed_tokens else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.real_tokens / self.seconds if self.seconds else 0.0


ProgressCallback = Callable[[int, int], None]  # (real tokens done in this call, examples done)
EstimateCallback = Callable[[SpaceEstimate], None]  # called once, before anything is written
BatchSink = Callable[[dict[str, Any], np.ndarray], None]  # (host tensors, example ids) → queued


@dataclass
class _Tokenized:
    """Token ids etc. of every example, as :class:`RaggedRows` (row i = example i's tokens)."""

    input_ids: RaggedRows  # int32 rows
    token_type_ids: RaggedRows  # int8 rows
    special: RaggedRows  # bool rows
    truncated: np.ndarray  # (N,) bool


class RaggedRows:
    """Rows of different lengths in one flat array plus offsets, read like a list of arrays.

    Why: Python lists of token ids cost ~36 bytes a token (MNLI train: ~1.5 GB before a single
    forward pass); this costs its dtype's width. ``rows[i]`` is a view of row i; ``len(rows)``
    the number of rows; iteration yields the rows.
    """

    def __init__(self, values: np.ndarray, offsets: np.ndarray) -> None:
        self.values = values  # (total,) all rows end to end
        self.offsets = offsets  # (n_rows + 1,) int64: row i is values[offsets[i]:offsets[i+1]]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index: int) -> np.ndarray:
        index = int(index)
        if index < 0:
            index += len(self)
        return self.values[self.offsets[index] : self.offsets[index + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[index] for index in range(len(self)))

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


@dataclass
class _Plan:
    """The deterministic processing order: example ids per batch, batches per part."""

    order: np.ndarray  # (N,) example ids in extraction order
    batches: list[np.ndarray]
    parts: list[list[int]]  # batch indices per part
    lengths: np.ndarray  # (N,) token count per example (source order)

    def part_sizes(self, part: list[int]) -> tuple[int, int]:
        ids = np.concatenate([self.batches[b] for b in part])
        return int(self.lengths[ids].sum()), len(ids)

    def padding_fraction(self) -> float:
        """Share of computed positions that are padding (a property of the plan, not the run)."""
        computed = sum(len(batch) * int(self.lengths[batch].max()) for batch in self.batches)
        return 1.0 - int(self.lengths[self.order].sum()) / computed if computed else 0.0


@dataclass
class _Timing:
    forward_seconds: float = 0.0
    computed_tokens: int = 0
    real_tokens: int = 0
    batches: int = 0


def tokenize_split(tokenizer: Any, split: Split, max_length: int) -> _Tokenized:
    """Tokenize every example (pairs with the tokenizer's pair encoding), noting truncation.

    Works through the split ``TOKENIZE_CHUNK`` examples at a time and keeps only flat numpy
    arrays, so memory is a few bytes per token however large the split.
    """
    pair = len(split.text_columns) == 2
    # Segment ids: the tokenizer's when the model reads them, else computed (see probe.cache).
    own_segments = "token_type_ids" in getattr(tokenizer, "model_input_names", [])
    common = {"return_special_tokens_mask": True, "return_token_type_ids": True, "verbose": False}
    pieces: dict[str, list[np.ndarray]] = {"input_ids": [], "token_type_ids": [], "special": []}
    lengths: list[np.ndarray] = []
    truncated: list[np.ndarray] = []
    for start in range(0, len(split), TOKENIZE_CHUNK):
        chunk = split.texts[start : start + TOKENIZE_CHUNK]
        firsts = [texts[0] for texts in chunk]
        seconds = [texts[1] for texts in chunk] if pair else None
        full = tokenizer(firsts, seconds, truncation=False, add_special_tokens=True, verbose=False)
        truncated.append(np.asarray([len(ids) > max_length for ids in full["input_ids"]], bool))
        del full
        encoded = tokenizer(firsts, seconds, truncation=True, max_length=max_length, **common)
        lengths.append(np.asarray([len(ids) for ids in encoded["input_ids"]], dtype=np.int64))
        if not own_segments:
            encoded["token_type_ids"] = _segment_ids(encoded, pair)
        for name, key, dtype in (
            ("input_ids", "input_ids", np.int32),
            ("token_type_ids", "token_type_ids", np.int8),
            ("special", "special_tokens_mask", bool),
        ):
            rows = encoded[key]
            pieces[name].append(
                np.fromiter(
                    itertools.chain.from_iterable(rows), dtype=dtype, count=sum(map(len, rows))
                )
            )
    offsets = np.zeros(len(split) + 1, dtype=np.int64)
    np.cumsum(np.concatenate(lengths) if lengths else [], out=offsets[1:])
    ragged = {name: RaggedRows(np.concatenate(parts), offsets) for name, parts in pieces.items()}
    return _Tokenized(
        input_ids=ragged["input_ids"],
        token_type_ids=ragged["token_type_ids"],
        special=ragged["special"],
        truncated=np.concatenate(truncated) if truncated else np.zeros(0, dtype=bool),
    )


def _segment_ids(encoded: Any, pair: bool) -> list[list[int]]:
    """Per example: 0 up to the first token of the second text, 1 from there on.

    For models without ``token_type_ids`` (RoBERTa, MPNet, DistilBERT, ModernBERT, decoders),
    whose tokenizers return all zeros or nothing. Same rule as BERT's ids, so every pair cache
    says which text a token came from (special tokens belong to the text before them).
    """
    rows = encoded["input_ids"]
    if not pair:
        return [[0] * len(ids) for ids in rows]
    segments = []
    for index, ids in enumerate(rows):
        sequence = encoded.sequence_ids(index)
        second = next((at for at, seq in enumerate(sequence) if seq == 1), len(ids))
        segments.append([0] * second + [1] * (len(ids) - second))
    return segments


def plan_batches(lengths: np.ndarray, batch_size: int, part_tokens: int) -> _Plan:
    """Sort by length (longest first, ties by row), cut batches, group batches into parts.

    A batch holds at most ``batch_size`` examples *and* at most ``batch_size × median
    length`` computed tokens, so the long tail of a split runs in smaller batches: padding
    stays near 1% and memory per batch stays flat however long the longest example is.
    """
    order = np.lexsort((np.arange(len(lengths)), -lengths))
    token_budget = batch_size * max(1, int(np.median(lengths))) if len(lengths) else 1
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = int(lengths[order[start]])
        size = max(1, min(batch_size, token_budget // max(longest, 1)))
        batches.append(order[start : start + size])
        start += size
    parts = _group_parts(batches, lengths, part_tokens)
    return _Plan(order=order, batches=batches, parts=parts, lengths=lengths)


def _group_parts(
    batches: list[np.ndarray], lengths: np.ndarray, part_tokens: int
) -> list[list[int]]:
    """Consecutive batches per part, each part holding at least ``part_tokens`` real tokens."""
    parts: list[list[int]] = []
    current: list[int] = []
    current_tokens = 0
    for batch_index, batch in enumerate(batches):
        current.append(batch_index)
        current_tokens += int(lengths[batch].sum())
        if current_tokens >= part_tokens:
            parts.append(current)
            current, current_tokens = [], 0
    if current:
        parts.append(current)
    return parts


def extract_split(
    split: Split,
    out_path: str | Path,
    config: ExtractConfig | None = None,
    *,
    loaded: LoadedModel | None = None,
    overwrite: bool = False,
    wait_for_lock: bool = False,
    progress: ProgressCallback | None = None,
    on_estimate: EstimateCallback | None = None,
) -> ExtractSummary:
    """Extract ``split`` with ``config`` into the cache at ``out_path`` (resuming if possible).

    Returns at once (``reused=True``) when ``out_path`` already holds a complete cache with
    the same fingerprint. Raises ``CacheError`` when it holds a different one, unless
    ``overwrite``. With ``config.shard_count > 1`` the cache holds only that shard's examples
    (``out_path`` should then be :func:`probe.cache.shard_path` of the merged cache's path).

    Before writing anything it estimates the cache's size and the disk it needs while writing
    (returned in ``ExtractSummary.estimate`` and passed to ``on_estimate``) and raises a
    ``CacheError`` when the disk of ``out_path`` cannot hold it.
    """
    config = config or ExtractConfig()
    _check_config(config)
    if len(split) == 0:
        raise DataError(
            f"The {split.task} {split.split} split has no examples; nothing to extract."
        )
    out_path = Path(out_path)
    _make_parent(out_path)
    started = time.perf_counter()
    with exclusive_lock(out_path, wait=wait_for_lock):
        device = resolve_device(config.device)
        if loaded is None:
            loaded = load_model(
                config.model, device=device, trust_remote_code=config.trust_remote_code
            )
        else:
            loaded.model.to(device)
        layers = _resolve_layers(config.layers, loaded.n_layers)
        if config.max_length > loaded.max_positions:
            raise ModelError(
                f"--max-length {config.max_length} exceeds the {loaded.max_positions} positions "
                f"of {loaded.name}; use --max-length {loaded.max_positions} or less."
            )
        tokenized = tokenize_split(loaded.tokenizer, split, config.max_length)
        lengths = tokenized.input_ids.lengths()
        if split.words is not None:
            check_word_spans(split.words, lengths, split.source)
        # Part size counts token-vector bytes even for pooled-only caches (whose parts then
        # hold more examples): the plan, and so the fingerprint's part_tokens, stays the same.
        bytes_per_token = len(layers) * loaded.hidden_size * (4 if config.dtype == "float32" else 2)
        part_tokens = config.part_tokens or max(1, PART_TARGET_BYTES // bytes_per_token)
        plan = plan_batches(lengths, config.batch_size, part_tokens)
        if config.shard_count > 1:
            plan = _shard_plan(plan, config.shard_index, config.shard_count, part_tokens)
        compute_dtype = _compute_dtype(config.compute_dtype, device)
        meta = CacheMeta(
            model=loaded.name,
            weights_sha256=loaded.weights_sha256,
            tokenizer=getattr(loaded.tokenizer, "name_or_path", loaded.name),
            max_length=config.max_length,
            dtype=config.dtype,
            compute_dtype=compute_dtype,
            n_model_layers=loaded.n_layers,
            layers=layers,
            hidden_size=loaded.hidden_size,
            task=split.task,
            split=split.split,
            text_columns=list(split.text_columns),
            label_column=split.label_column,
            label_names=list(split.label_names),
            is_regression=split.is_regression,
            labeled=split.labeled,
            source=split.source,
            source_sha256=split.fingerprint(),
            n_examples=len(plan.order),
            n_tokens=int(lengths[plan.order].sum()),
            n_truncated=int(tokenized.truncated[plan.order].sum()),
            maxnorm_includes_special=config.maxnorm_includes_special,
            storage=config.store,
            poolings=list(poolings_for(loaded.causal)),
            causal=loaded.causal,
        )
        if split.words is not None:
            meta.words = split.words.take(plan.order).counts()
        identity = _identity(
            meta, config, tokenizer_hash=_tokenizer_hash(loaded.tokenizer), part_tokens=part_tokens
        )
        meta.shard_group = fingerprint_of(identity)
        if config.shard_count > 1:
            meta.shard = [config.shard_index, config.shard_count]
            identity["shard"] = meta.shard
        meta.fingerprint = fingerprint_of(identity)

        reused = _existing_cache_matches(
            out_path, {meta.fingerprint, *_version1_fingerprints(meta, identity)}, overwrite
        )
        if reused is not None:
            _remove_leftovers(out_path)
            return ExtractSummary(path=out_path, meta=reused, reused=True)
        estimate = _check_space(out_path, meta, overwrite)
        if on_estimate is not None:
            on_estimate(estimate)
        partial_dir = _prepare_partial_dir(out_path, identity, meta.fingerprint, overwrite)
        part_paths = [partial_dir / f"part-{index:05d}.h5" for index in range(len(plan.parts))]
        in_place = _writes_in_place(config)
        meta.extra = {
            "batch_size": config.batch_size,
            "device": str(device),
            "n_parts": len(plan.parts),
            "padding_fraction": plan.padding_fraction(),
        }
        timing = _Timing()
        resumed_parts = 0
        try:
            with _BackgroundWriter() as writer:
                context = ExtractionContext(
                    loaded=loaded,
                    device=device,
                    compute_dtype=compute_dtype,
                    layers=tuple(layers),
                    config=config,
                    split=split,
                    tokenized=tokenized,
                    plan=plan,
                    writer=writer,
                    timing=timing,
                    progress=progress,
                    label_dtype=np.dtype(np.float32 if split.is_regression else np.int64),
                    uses_token_types="token_type_ids"
                    in getattr(loaded.tokenizer, "model_input_names", []),
                )
                if in_place:
                    resumed_parts = _extract_in_place(context, meta, out_path, part_paths)
                else:
                    resumed_parts = _extract_parts_then_consolidate(
                        context, meta, out_path, part_paths
                    )
        except (OSError, RuntimeError, CacheError) as error:
            raise _write_failure(error, out_path, partial_dir) from error
        shutil.rmtree(partial_dir, ignore_errors=True)
    return ExtractSummary(
        path=out_path,
        meta=meta,
        resumed_parts=resumed_parts,
        seconds=time.perf_counter() - started,
        forward_seconds=timing.forward_seconds,
        computed_tokens=timing.computed_tokens,
        real_tokens=timing.real_tokens,
        n_batches=timing.batches,
        estimate=estimate,
    )


def _writes_in_place(config: ExtractConfig) -> bool:
    """Uncompressed caches are written in place; compressed ones as parts, then consolidated."""
    return config.compression is None


def _extract_in_place(
    context: ExtractionContext, meta: CacheMeta, out_path: Path, record_paths: list[Path]
) -> int:
    """Write the cache straight into its final layout at ``<out>.tmp``; return parts resumed.

    ``<out>.tmp`` is laid out whole before the first forward pass (:func:`create_in_place`:
    everything tokenization determines is written, every chunk allocated), then each part's
    batches are written into their final chunks; after each part the file is fsynced and
    ``part-NNNNN.h5`` records the resumable state. A re-run continues after the last
    recorded part (it reads back the unfinished chunk and checks it against the record's
    crc32); a missing or unusable ``<out>.tmp`` starts over. No copy at the end: the file is
    marked complete and renamed.
    """
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    states = []
    tokens_done = examples_done = 0
    for path, part in zip(record_paths, context.plan.parts, strict=True):
        # Only an unbroken run of records from the first part counts, each where the plan
        # says that part ends.
        state = read_part_record(path)
        part_tokens, part_examples = context.plan.part_sizes(part)
        tokens_done, examples_done = tokens_done + part_tokens, examples_done + part_examples
        ends = {name: tokens_done if name == "hidden" else examples_done for name in state or {}}
        if state is None or any(state[name][0] != end for name, end in ends.items()):
            break
        states.append(state)
    writer = None
    if states and tmp_path.is_file():
        try:
            writer = InPlaceWriter(tmp_path, meta, states[-1])
        except (OSError, RuntimeError, KeyError, CacheError):
            writer = None  # unusable: start over
        words = _words_in_order(context)
        if writer is not None and words is not None:
            record_word_meta(meta, words)  # create_in_place did this for the killed run
    if writer is None:
        states = []
        for path in record_paths:
            path.unlink(missing_ok=True)
        tmp_path.unlink(missing_ok=True)
        create_in_place(
            tmp_path,
            meta,
            _fixed_arrays(context),
            checksum=context.config.checksum,
            words=_words_in_order(context),
        )
        writer = InPlaceWriter(tmp_path, meta)
    try:
        for part_index in range(len(states), len(context.plan.parts)):
            part = context.plan.parts[part_index]
            _run_part_batches(
                context,
                part,
                lambda host, _ids, w=writer: context.writer.submit(
                    lambda: w.write_batch(**_materialise(host))
                ),
            )
            # Queued, not awaited: the fsync runs on the writer thread while the next part's
            # forward passes run; the record still lands only after its part is durable.
            context.writer.submit(
                lambda path=record_paths[part_index], w=writer: write_part_record(
                    path, w.checkpoint()
                )
            )
        context.writer.wait()
    except BaseException:
        context.writer.drain()  # the writer thread is idle now: safe to close from here
        writer.close()
        raise
    writer.close()
    finish_in_place(tmp_path, out_path, meta)
    return len(states)


def _fixed_arrays(context: ExtractionContext) -> dict[str, np.ndarray]:
    """Every dataset tokenization alone determines, in extraction order (see probe.cache)."""
    split, tokenized, plan = context.split, context.tokenized, context.plan
    order = plan.order
    lengths = plan.lengths[order]
    offsets = np.zeros(len(order) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    labels = (
        split.labels[order]
        if split.labels is not None
        else np.full(len(order), np.nan if split.is_regression else -1)
    )
    texts = np.empty((len(order), len(split.text_columns)), dtype=object)
    for row, example_id in enumerate(order):
        texts[row] = split.texts[example_id]
    return {
        "tokens/input_ids": np.concatenate([tokenized.input_ids[i] for i in order]).astype(
            np.int32
        ),
        "tokens/token_type_ids": np.concatenate(
            [tokenized.token_type_ids[i] for i in order]
        ).astype(np.int8),
        "tokens/special": np.concatenate([tokenized.special[i] for i in order]).astype(bool),
        "examples/offsets": offsets,
        "examples/row_index": np.asarray(split.row_index[order], dtype=np.int64),
        "examples/label": np.asarray(labels, dtype=context.label_dtype),
        "examples/truncated": np.asarray(tokenized.truncated[order], dtype=bool),
        "examples/text": texts,
    }


def _words_in_order(context: ExtractionContext) -> WordTable | None:
    """The split's word table (CoNLL-U data) in extraction order, or None."""
    words = context.split.words
    return None if words is None else words.take(context.plan.order)


def _extract_parts_then_consolidate(
    context: ExtractionContext, meta: CacheMeta, out_path: Path, part_paths: list[Path]
) -> int:
    """Compressed caches: parts as files, then one copy (compressed chunks vary in size, so
    they cannot be written in place); return the number of parts resumed."""
    done = [part_is_complete(path) for path in part_paths]
    for part_index, part in enumerate(context.plan.parts):
        if not done[part_index]:
            _extract_part(context, part, part_paths[part_index])
    parts_bytes = sum(path.stat().st_size for path in part_paths)
    check_free_space(  # again: others may have filled the disk meanwhile
        out_path.parent, int(1.05 * parts_bytes) + 2**16, f"Consolidating {out_path}"
    )
    config = context.config
    consolidate(
        part_paths,
        out_path,
        meta,
        compression=config.compression,
        checksum=config.checksum,
        words=_words_in_order(context),
    )
    return int(sum(done))


def _make_parent(out_path: Path) -> None:
    if out_path.is_dir():
        raise CacheError(
            f"--out {out_path} is a folder; pass a file path such as {out_path / 'cache.h5'}."
        )
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CacheError(
            f"Cannot create the folder {out_path.parent} for --out {out_path} "
            f"({error.strerror or error}). Choose a writable --out."
        ) from error
    if not os.access(out_path.parent, os.W_OK):
        raise CacheError(f"Cannot write to {out_path.parent}; choose a writable --out.")


def _check_space(out_path: Path, meta: CacheMeta, overwrite: bool) -> SpaceEstimate:
    """Room for the cache twice, less done parts (what compressed caches' parts + copy need;
    an in-place cache needs it once, but the check stays on the safe side)."""
    partial_dir = out_path.with_name(out_path.name + ".partial")
    done_bytes = 0
    if partial_dir.is_dir() and not overwrite:
        done_bytes = sum(path.stat().st_size for path in partial_dir.glob("part-*.h5"))
    estimate = space_estimate(out_path.parent, meta, done_bytes)
    check_space_estimate(estimate, f"Extracting {meta.task}/{meta.split} to {out_path}")
    return estimate


def _remove_leftovers(out_path: Path) -> None:
    """A run killed after its final rename leaves its parts and maybe a stale ``.tmp``."""
    shutil.rmtree(out_path.with_name(out_path.name + ".partial"), ignore_errors=True)
    out_path.with_name(out_path.name + ".tmp").unlink(missing_ok=True)


def _write_failure(error: BaseException, out_path: Path, partial_dir: Path) -> CacheError:
    """Clean up after a failed write and say what is left: finished parts, or nothing."""
    for stale in partial_dir.glob("*.tmp"):
        stale.unlink(missing_ok=True)
    tmp_path = out_path.with_name(out_path.name + ".tmp")
    parts = sorted(partial_dir.glob("part-*.h5"))
    recorded = [path for path in parts if read_part_record(path) is not None]
    finished = [path for path in parts if part_is_complete(path)]
    if recorded and tmp_path.is_file():  # written in place: the rows are in <out>.tmp
        size = tmp_path.stat().st_size / 2**20
        left = (
            f"{len(recorded)} finished part(s) are kept in {tmp_path} ({size:,.1f} MiB laid "
            f"out) and recorded in {partial_dir}: re-running the same command resumes from "
            "them (delete both to discard them)."
        )
    elif finished:
        tmp_path.unlink(missing_ok=True)
        size = sum(path.stat().st_size for path in finished) / 2**20
        left = (
            f"{len(finished)} finished part(s) ({size:,.1f} MiB) are kept in {partial_dir}: "
            "re-running the same command resumes from them (delete that folder to discard them)."
        )
    else:
        tmp_path.unlink(missing_ok=True)
        shutil.rmtree(partial_dir, ignore_errors=True)
        left = "Nothing was left behind."
    if isinstance(error, CacheError):
        return CacheError(f"{error} {left}")
    if is_disk_error(error):
        return CacheError(
            f"The disk is full or read-only while writing {out_path} ({error}). Free some space "
            f"or choose an --out on another disk. {left}"
        )
    return CacheError(
        f"Writing {out_path} failed ({type(error).__name__}: {error}). Check the disk and the "
        f"folder's permissions, or choose another --out. {left}"
    )


def _shard_plan(plan: _Plan, index: int, count: int, part_tokens: int) -> _Plan:
    """The whole split's plan cut down to shard ``index``'s batches, regrouped into parts."""
    check_shard(index, count, source="shard")
    batches = [plan.batches[b] for b in shard_batches(plan.batches, plan.lengths, index, count)]
    return _Plan(
        order=np.concatenate(batches),
        batches=batches,
        parts=_group_parts(batches, plan.lengths, part_tokens),
        lengths=plan.lengths,
    )


def merge_if_complete(out_path: str | Path, count: int, *, wait: bool = True) -> CacheMeta | None:
    """Merge the ``count`` shards of ``out_path`` when all are finished; else return None.

    Run by every shard process after its own shard: whichever finishes last finds the set
    complete and merges (the others return None). Reuses an existing merged cache of the
    same shards.
    """
    out_path = Path(out_path)
    shards = [shard_path(out_path, index, count) for index in range(count)]
    metas = []
    for path in shards:
        if not path.is_file():
            return None
        with Cache.open(path) as shard:
            metas.append(shard.meta)
    with exclusive_lock(out_path, wait=wait):
        if out_path.exists():
            try:
                with Cache.open(out_path) as existing:
                    if [s["fingerprint"] for s in existing.meta.shards] == [
                        m.fingerprint for m in metas
                    ]:
                        return existing.meta
            except CacheError:
                pass
        return merge_shards(shards, out_path)


@dataclass(frozen=True)
class ExtractionContext:
    """What every part and batch of one extraction shares, built once in :func:`extract_split`.

    ``layers`` are the resolved hidden-state indices stored (0 = embeddings);
    ``compute_dtype`` the forward precision (``float32`` or an autocast dtype name);
    ``label_dtype`` the cache's label dtype (float32 scores or int64 classes);
    ``uses_token_types`` whether the tokenizer feeds ``token_type_ids`` to the model.
    ``writer`` and ``timing`` are the run's background writer and its counters (mutated).
    """

    loaded: LoadedModel
    device: torch.device
    compute_dtype: str
    layers: tuple[int, ...]
    config: ExtractConfig
    split: Split
    tokenized: _Tokenized
    plan: _Plan
    writer: _BackgroundWriter
    timing: _Timing
    progress: ProgressCallback | None
    label_dtype: np.dtype
    uses_token_types: bool

    @property
    def poolings(self) -> tuple[str, ...]:
        """The sentence poolings stored: cls/mean/maxnorm, or last/mean/maxnorm for a decoder."""
        return poolings_for(self.loaded.causal)


def _extract_part(context: ExtractionContext, part: list[int], part_path: Path) -> None:
    """Forward one part's batches and write them to ``part_path`` (renamed when complete)."""
    loaded, split, config, writer = context.loaded, context.split, context.config, context.writer
    n_tokens, n_examples = context.plan.part_sizes(part)
    holder: dict[str, PartWriter] = {}

    def open_part() -> None:
        holder["writer"] = PartWriter(
            part_path,
            n_layers=len(context.layers),
            n_tokens=n_tokens,
            n_examples=n_examples,
            hidden_size=loaded.hidden_size,
            n_text_columns=len(split.text_columns),
            dtype=config.dtype,
            label_dtype=context.label_dtype,
            checksum=config.checksum,
            poolings=context.poolings,
            store_tokens=config.store == "tokens",
        )

    writer.submit(open_part)
    try:

        def queue_batch(host: dict[str, Any], example_ids: np.ndarray) -> None:
            rows = _batch_rows(context, example_ids)
            writer.submit(lambda: holder["writer"].write_batch(**_materialise(host), **rows))

        _run_part_batches(context, part, queue_batch)
        writer.submit(lambda: holder["writer"].finish())
        writer.wait()
    except BaseException:
        writer.drain()  # the writer thread is idle now: safe to close the part from here
        if "writer" in holder:
            holder["writer"].abort()
        raise


def _run_part_batches(context: ExtractionContext, part: list[int], queue_batch: BatchSink) -> None:
    """Forward each batch of one part and hand its host tensors to ``queue_batch``."""
    tokenized, plan, timing, progress = (
        context.tokenized,
        context.plan,
        context.timing,
        context.progress,
    )
    for batch_index in part:
        example_ids = plan.batches[batch_index]
        batch = pad_batch(tokenized, example_ids, context.loaded.pad_token_id)
        started = time.perf_counter()
        host = _forward_batch(context, batch)
        timing.forward_seconds += time.perf_counter() - started
        real = int(batch["attention_mask"].sum())
        timing.real_tokens += real
        timing.computed_tokens += int(batch["attention_mask"].size)
        timing.batches += 1
        queue_batch(host, example_ids)
        if progress is not None:
            progress(real, len(example_ids))


def _batch_rows(context: ExtractionContext, example_ids: np.ndarray) -> dict[str, Any]:
    """The per-token and per-example arrays of one batch, for a part file."""
    split, tokenized = context.split, context.tokenized
    labels = (
        split.labels[example_ids]
        if split.labels is not None
        else np.full(
            len(example_ids), np.nan if split.is_regression else -1, dtype=context.label_dtype
        )
    )
    return {
        "input_ids": np.concatenate([tokenized.input_ids[i] for i in example_ids]).astype(np.int32),
        "token_type_ids": np.concatenate([tokenized.token_type_ids[i] for i in example_ids]).astype(
            np.int8
        ),
        "special": np.concatenate([tokenized.special[i] for i in example_ids]).astype(bool),
        "lengths": context.plan.lengths[example_ids],
        "row_index": split.row_index[example_ids],
        "labels": labels,
        "truncated": tokenized.truncated[example_ids],
        "texts": [split.texts[i] for i in example_ids],
    }


class TokenRows(Protocol):
    """Ragged per-example token rows: what :func:`pad_batch` reads (row i = example i)."""

    input_ids: RaggedRows
    token_type_ids: RaggedRows
    special: RaggedRows


def pad_batch(rows: TokenRows, example_ids: np.ndarray, pad_id: int) -> dict[str, np.ndarray]:
    """Pad ``example_ids`` to their longest member → (B, T) int64 ids, types, mask and bool specials.

    Shared by extraction and fine-tuning so both feed the model identical batches.
    """
    longest = max(len(rows.input_ids[i]) for i in example_ids)
    shape = (len(example_ids), longest)
    input_ids = np.full(shape, pad_id, dtype=np.int64)
    token_type_ids = np.zeros(shape, dtype=np.int64)
    attention_mask = np.zeros(shape, dtype=np.int64)
    special = np.zeros(shape, dtype=bool)
    for row, example_id in enumerate(example_ids):
        length = len(rows.input_ids[example_id])
        input_ids[row, :length] = rows.input_ids[example_id]
        token_type_ids[row, :length] = rows.token_type_ids[example_id]
        attention_mask[row, :length] = 1
        special[row, :length] = np.asarray(rows.special[example_id], dtype=bool)
    return {
        "input_ids": input_ids,
        "token_type_ids": token_type_ids,
        "attention_mask": attention_mask,
        "special": special,
    }


def _forward_batch(context: ExtractionContext, batch: dict[str, np.ndarray]) -> dict[str, Any]:
    """One forward pass; returns host-side tensors (copies may still be in flight on CUDA).

    Right padding (``pad_batch``) keeps every real token at its own position, so causal
    models need no position ids; the attention mask hides the padding from encoders.
    """
    model, device, config = context.loaded.model, context.device, context.config
    compute_dtype, layers = context.compute_dtype, context.layers
    inputs = {
        "input_ids": torch.from_numpy(batch["input_ids"]).to(device),
        "attention_mask": torch.from_numpy(batch["attention_mask"]).to(device),
    }
    if context.uses_token_types:
        inputs["token_type_ids"] = torch.from_numpy(batch["token_type_ids"]).to(device)
    mask = inputs["attention_mask"]
    special = torch.from_numpy(batch["special"]).to(device)
    autocast = (
        torch.autocast(device_type=device.type, dtype=getattr(torch, compute_dtype))
        if compute_dtype != "float32"
        else nullcontext()
    )
    with torch.inference_mode():
        with autocast:
            outputs = model(**inputs, output_hidden_states=True)
        # Layer by layer, in float32: pooling is done on the model's own numbers, not rounded
        # ones. No (L, B, T, H) stack and no float32 copy of the real tokens: on a CPU these
        # memory passes cost as much as a tenth of MPNet's forward (reports/benchmarks).
        states = [outputs.hidden_states[layer].float() for layer in layers]
        pooled_by_layer: dict[str, list[torch.Tensor]] = {name: [] for name in context.poolings}
        positions_by_layer: list[torch.Tensor] = []
        for state in states:
            for name in context.poolings:
                vectors, position = pool(
                    state,
                    mask,
                    special,
                    name,
                    maxnorm_includes_special=config.maxnorm_includes_special,
                )
                pooled_by_layer[name].append(vectors)
                if position is not None:
                    positions_by_layer.append(position)
        pooled = {name: torch.stack(vectors) for name, vectors in pooled_by_layer.items()}
        maxnorm_position = torch.stack(positions_by_layer) if positions_by_layer else None
        non_blocking = device.type == "cuda"
        tokens = (
            # (L, t, H): real tokens, example after example
            _real_tokens(states, mask, config.dtype).to("cpu", non_blocking=non_blocking)
            if config.store == "tokens"
            else None
        )
        host = {
            "hidden": tokens,
            "pooled": {
                name: _to_storage(vectors, config.dtype).to("cpu", non_blocking=non_blocking)
                for name, vectors in pooled.items()
            },
            "maxnorm_position": maxnorm_position.to(torch.int32).to(
                "cpu", non_blocking=non_blocking
            ),
            "event": None,
        }
        if device.type == "cuda":
            event = torch.cuda.Event()
            event.record()
            host["event"] = event
    return host


def _real_tokens(states: list[torch.Tensor], mask: torch.Tensor, dtype: str) -> torch.Tensor:
    """(L, t, H) storage-dtype rows of the real tokens of ``states`` (each (B, T, H)).

    Each layer is converted first and gathered second, straight into its slot of the result:
    the conversion reads 4 bytes per value and writes 2, the gather moves 2-byte values.
    """
    width = states[0].shape[-1]
    real = mask.reshape(-1).nonzero().squeeze(1)
    storage = torch.int16 if dtype == "bfloat16" else getattr(torch, dtype)
    out = torch.empty((len(states), real.numel(), width), dtype=storage, device=mask.device)
    for index, state in enumerate(states):
        flat = _to_storage(state.reshape(-1, width), dtype)
        torch.index_select(flat, 0, real, out=out[index])
    return out


def _to_storage(tensor: torch.Tensor, dtype: str) -> torch.Tensor:
    if dtype == "bfloat16":
        return tensor.to(torch.bfloat16).view(torch.int16)
    return tensor.to(getattr(torch, dtype))


def _materialise(host: dict[str, Any]) -> dict[str, Any]:
    """Wait for in-flight copies, then hand numpy views to the part writer (writer thread)."""
    if host["event"] is not None:
        host["event"].synchronize()

    def as_numpy(tensor: torch.Tensor) -> np.ndarray:
        array = tensor.numpy()
        return array.view(np.uint16) if array.dtype == np.int16 else array

    return {
        "hidden": None if host["hidden"] is None else as_numpy(host["hidden"]),
        "pooled": {name: as_numpy(vectors) for name, vectors in host["pooled"].items()},
        "maxnorm_position": host["maxnorm_position"].numpy(),
    }


def _lower_own_priority(step: int = 10) -> None:
    """Make the calling thread yield the CPU to the forward pass (Linux; elsewhere a no-op).

    On a CPU the forward pass's threads keep every core busy; a writer thread at the same
    priority preempts one of them mid-way through a parallel region, and the others then
    wait for it. At a lower priority the writes fill the gaps between regions instead.
    Linux niceness is per thread, so this leaves the rest of the process as it was.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + step)
    except OSError:
        pass


class _BackgroundWriter:
    """A single thread that runs submitted write jobs in order; errors surface on wait().

    The bounded queue is what bounds memory: at most ``depth`` finished batches wait on the
    host while the next forward pass runs.
    """

    def __init__(self, depth: int = 4) -> None:
        self._jobs: queue.Queue[Callable[[], object] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="fewdims-writer", daemon=True)

    def __enter__(self) -> _BackgroundWriter:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._jobs.put(None)
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error

    def _run(self) -> None:
        _lower_own_priority()
        while True:
            job = self._jobs.get()
            try:
                if job is None:
                    return
                if self._error is None:
                    job()
            except BaseException as error:
                self._error = error
            finally:
                self._jobs.task_done()

    def submit(self, job: Callable[[], object]) -> None:
        if self._error is not None:
            raise self._error
        self._jobs.put(job)

    def wait(self) -> None:
        self._jobs.join()
        if self._error is not None:
            raise self._error

    def drain(self) -> None:
        """Wait until every queued job ran or was skipped (after an error), without raising."""
        self._jobs.join()


def _check_config(config: ExtractConfig) -> None:
    if config.dtype not in STORAGE_DTYPES:
        raise CacheError(
            f"Unknown --dtype {config.dtype!r}; choose one of {', '.join(STORAGE_DTYPES)}."
        )
    if config.compute_dtype not in ("auto", "float32", "float16", "bfloat16"):
        raise CacheError(
            f"Unknown compute dtype {config.compute_dtype!r}; choose auto, float32, float16 or bfloat16."
        )
    if config.store not in STORAGE_KINDS:
        raise CacheError(
            f"Unknown --store {config.store!r}; choose one of {', '.join(STORAGE_KINDS)} "
            "(tokens: token and pooled vectors; pooled: pooled vectors only)."
        )
    if config.batch_size < 1:
        raise CacheError(f"--batch-size must be at least 1 (got {config.batch_size}).")
    if config.max_length < 2:
        raise CacheError(f"--max-length must be at least 2 (got {config.max_length}).")


def _compute_dtype(requested: str, device: torch.device) -> str:
    if requested == "auto":
        return "float16" if device.type == "cuda" else "float32"
    return requested


def _resolve_layers(requested: list[int] | None, n_model_layers: int) -> list[int]:
    available = list(range(n_model_layers + 1))
    if requested is None:
        return available
    resolved = sorted({layer if layer >= 0 else n_model_layers + 1 + layer for layer in requested})
    bad = [layer for layer in resolved if layer not in available]
    if bad or not resolved:
        raise ModelError(
            f"Layer(s) {bad or requested} out of range: the model has hidden states 0..{n_model_layers} "
            "(0 = embeddings). Pass --layers all or indices in that range."
        )
    return resolved


def _tokenizer_hash(tokenizer: Any) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = (
        backend.to_str()
        if backend is not None
        else json.dumps(tokenizer.get_vocab(), sort_keys=True)
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _identity(
    meta: CacheMeta, config: ExtractConfig, *, tokenizer_hash: str, part_tokens: int
) -> dict[str, Any]:
    """The fields a resumed run must share with the run it continues (hashed into the fingerprint)."""
    return {
        "format_version": meta.format_version,
        "weights_sha256": meta.weights_sha256,
        "tokenizer_sha256": tokenizer_hash,
        "data_sha256": meta.source_sha256,
        "task": meta.task,
        "split": meta.split,
        "max_length": config.max_length,
        "batch_size": config.batch_size,
        "dtype": config.dtype,
        "compute_dtype": meta.compute_dtype,
        "layers": meta.layers,
        "maxnorm_includes_special": config.maxnorm_includes_special,
        "part_tokens": part_tokens,
        "storage": meta.storage,
    }


def _version1_fingerprints(meta: CacheMeta, identity: dict[str, Any]) -> set[str]:
    """The fingerprint a format-1 fewdims would have given this same extraction, if any.

    Format 2 only added optional contents (pooled-only storage, decoder poolings, word
    tables); a token-storage encoder cache of plain sentences holds the same numbers in
    both. Without this, upgrading fewdims would refuse every cache a user already has
    ("holds a different cache ... --overwrite") and force a re-extraction for nothing.
    """
    if meta.storage != "tokens" or meta.causal or meta.words:
        return set()
    legacy = {key: value for key, value in identity.items() if key != "storage"}
    legacy["format_version"] = 1
    return {fingerprint_of(legacy)}


def _existing_cache_matches(
    out_path: Path, fingerprints: set[str], overwrite: bool
) -> CacheMeta | None:
    if not out_path.exists() or overwrite:
        return None
    try:
        with Cache.open(out_path) as existing:
            if existing.meta.fingerprint in fingerprints:
                return existing.meta
            described = (
                f"made by {existing.meta.model} on {existing.meta.task}/{existing.meta.split}"
            )
    except CacheError as error:
        described = f"unreadable ({error})"
    raise CacheError(
        f"{out_path} already exists and holds a different cache ({described}). "
        "Pass --overwrite to replace it, or choose another --out."
    )


def _prepare_partial_dir(
    out_path: Path, identity: dict[str, Any], fingerprint: str, overwrite: bool
) -> Path:
    partial_dir = out_path.with_name(out_path.name + ".partial")
    manifest_path = partial_dir / MANIFEST_NAME
    if partial_dir.exists():
        previous = _read_manifest(manifest_path)
        if previous is not None and previous.get("fingerprint") == fingerprint:
            for stale in partial_dir.glob("*.tmp"):
                stale.unlink()
            return partial_dir
        if not overwrite and previous is not None:
            differences = [
                f"{key}: {previous.get('identity', {}).get(key)!r} → {value!r}"
                for key, value in identity.items()
                if previous.get("identity", {}).get(key) != value
            ]
            raise CacheError(
                f"A partial extraction at {partial_dir} was started with other settings "
                f"({'; '.join(differences) or 'unknown'}); it cannot be resumed with these. "
                "Re-run with the original settings to finish it, or pass --overwrite to discard it."
            )
        shutil.rmtree(partial_dir)
    out_path.with_name(out_path.name + ".tmp").unlink(missing_ok=True)  # its in-place file
    partial_dir.mkdir(parents=True)
    _write_json_atomic(manifest_path, {"fingerprint": fingerprint, "identity": identity})
    return partial_dir


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def summary_dict(summary: ExtractSummary) -> dict[str, Any]:
    """Plain-data view of a summary (for JSON output and benchmarks)."""
    payload = asdict(summary.meta)
    return {
        "path": str(summary.path),
        "reused": summary.reused,
        "resumed_parts": summary.resumed_parts,
        "seconds": summary.seconds,
        "forward_seconds": summary.forward_seconds,
        "padding_fraction": summary.padding_fraction,
        "tokens_per_second": summary.tokens_per_second,
        "meta": payload,
    }
