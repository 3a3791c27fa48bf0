"""Check a feature cache end to end: structure, offsets, counts, checksums, finiteness, pooling.

Why a separate pass: HDF5 checks a chunk's Fletcher-32 checksum only when that chunk is read,
and a probe reads only the slices it needs, so damage in an unread chunk stays silent until
the day it is read. ``verify_cache`` reads every chunk once (in blocks, bounded memory) and
cross-checks the arrays against each other and against the metadata:

* structure — every dataset of ``probe.cache.expected_datasets`` with the right shape and
  dtype kind, and no object (pickle-able) dtypes;
* offsets — start at 0, strictly increase (every example has a token), end at the token count;
* counts — ``n_truncated``, labels in range (or -1/NaN when unlabeled), unique row indices,
  maxnorm positions inside their example;
* checksums and non-finite values — per dataset, with the first bad row range named;
* pooling — for a random sample of examples, each stored pooling (``cls``/``last``/``mean``/
  ``maxnorm``) recomputed from the token vectors agrees within the storage dtype's rounding.
  A pooled-only cache (``--store pooled``) has no token vectors to recompute from: there the
  sampled examples' maxnorm positions are checked against the special-token mask instead,
  and a warning says the recomputation was not possible.

A merged cache is verified through its shards (where the checksums live) and then as a whole.
All reading goes through :class:`probe.cache.Cache`; this module knows no HDF5 paths beyond
the schema names ``probe.cache`` publishes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from probe.cache import Cache, expected_datasets, to_float32
from probe.errors import CacheError
from probe.words.verify import word_table_problems

BLOCK_BYTES = 64 * 2**20  # bytes read per block while scanning a dataset
# Rounding of a mean of rounded values vs. the rounded mean, relative to the largest entry.
_POOL_TOLERANCE = {"float16": 4e-3, "bfloat16": 3e-2, "float32": 1e-5}


@dataclass
class Problem:
    """One thing wrong with a cache: which file, which dataset, and what."""

    file: str
    dataset: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.dataset}: {self.message}"


@dataclass
class VerifyReport:
    """What ``verify_cache`` checked and found. ``ok`` is true when ``problems`` is empty."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    datasets_scanned: int = 0
    bytes_read: int = 0
    examples_compared: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_cache(path: str | Path, *, sample: int = 256, seed: int = 0) -> VerifyReport:
    """Verify the cache at ``path``; never raises for a damaged file (it reports it)."""
    started = time.perf_counter()
    report = VerifyReport(path=Path(path))
    try:
        cache = Cache.open(path, require_complete=False)
    except CacheError as error:
        report.problems.append(Problem(str(path), "(file)", str(error)))
        report.seconds = time.perf_counter() - started
        return report
    with cache:
        if not cache.meta.complete:
            report.problems.append(
                Problem(str(path), "(meta)", "the extraction did not finish (complete = false)")
            )
        for shard in cache.shard_paths():
            shard_report = verify_cache(shard, sample=0, seed=seed)
            report.problems.extend(shard_report.problems)
            report.warnings.extend(shard_report.warnings)
            report.datasets_scanned += shard_report.datasets_scanned
            report.bytes_read += shard_report.bytes_read
        if _check_structure(cache, report):
            if not cache.meta.is_merged:
                _scan_datasets(cache, report)
            _check_offsets_and_counts(cache, report)
            for dataset, message in word_table_problems(cache):
                report.problems.append(Problem(str(path), dataset, message))
            if sample > 0 and not _has_problem(report, ("hidden", "pooled", "examples/offsets")):
                if cache.meta.has_token_vectors:
                    _check_pooling(cache, report, sample, seed)
                else:
                    _check_maxnorm_specials(cache, report, sample, seed)
    report.seconds = time.perf_counter() - started
    return report


def _has_problem(report: VerifyReport, prefixes: tuple[str, ...]) -> bool:
    return any(problem.dataset.startswith(prefixes) for problem in report.problems)


def _check_structure(cache: Cache, report: VerifyReport) -> bool:
    """Shapes and dtypes against the schema; False when reading on would be meaningless."""
    file = str(cache.path)
    try:
        facts = cache.dataset_facts()
    except CacheError as error:
        report.problems.append(Problem(file, "(structure)", str(error)))
        return False
    storage = {"float16": "f", "float32": "f", "bfloat16": "u"}[cache.meta.dtype]
    fatal = False
    for name, (shape, kind) in expected_datasets(cache.meta).items():
        if name not in facts:
            report.problems.append(Problem(file, name, "missing"))
            fatal = True
            continue
        fact = facts[name]
        if fact["shape"] != shape:
            report.problems.append(
                Problem(file, name, f"shape {fact['shape']}, the metadata implies {shape}")
            )
            fatal = True
        dtype_kind = fact["dtype"].kind
        expected_kind = {
            "vector": (storage,),
            "int": ("i", "u"),
            "bool": ("b",),
            "label": ("i", "f"),
            "text": ("O",),
        }[kind]
        if dtype_kind not in expected_kind:
            report.problems.append(
                Problem(file, name, f"dtype {fact['dtype']} where a {kind} array is expected")
            )
            fatal = True
        if kind != "text" and not fact["virtual"] and not fact["fletcher32"]:
            report.warnings.append(
                f"{file}: {name}: no Fletcher-32 checksums (corruption would go unnoticed)"
            )
    for name, fact in facts.items():
        if (
            fact["dtype"].kind == "O"
            and expected_datasets(cache.meta).get(name, ((), ""))[1] != "text"
        ):
            report.problems.append(Problem(file, name, "holds objects; fewdims caches never do"))
    return not fatal


def _scan_datasets(cache: Cache, report: VerifyReport) -> None:
    """Read every chunk of every dataset (checksums fire on read); count non-finite values."""
    file = str(cache.path)
    schema = expected_datasets(cache.meta)
    for name, fact in cache.dataset_facts().items():
        shape = fact["shape"]
        report.datasets_scanned += 1
        if not shape or 0 in shape:
            continue
        axis = 1 if len(shape) == 3 or name == "pooled/maxnorm_position" else 0
        row_bytes = int(np.prod(shape)) // shape[axis] * fact["dtype"].itemsize
        step = max(1, BLOCK_BYTES // max(row_bytes, 1))
        if fact["chunks"] and len(fact["chunks"]) > axis:
            step = max(fact["chunks"][axis], step // fact["chunks"][axis] * fact["chunks"][axis])
        bad_blocks: list[str] = []
        non_finite = 0
        check_finite = schema.get(name, ((), ""))[1] == "vector"
        for start in range(0, shape[axis], step):
            stop = min(shape[axis], start + step)
            selection = (slice(None),) * axis + (slice(start, stop),)
            try:
                block = cache.read(name, selection)
            except CacheError:
                bad_blocks.extend(_locate_bad_chunks(cache, name, fact, axis, start, stop))
                continue
            report.bytes_read += block.nbytes
            if check_finite:
                values = to_float32(block, cache.meta.dtype)
                non_finite += int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad_blocks:
            shown = ", ".join(bad_blocks[:3]) + (" ..." if len(bad_blocks) > 3 else "")
            report.problems.append(
                Problem(
                    file,
                    name,
                    f"unreadable (checksum mismatch or truncated data) in {len(bad_blocks)} "
                    f"chunk(s): {shown}",
                )
            )
        if non_finite:
            report.problems.append(Problem(file, name, f"{non_finite:,} NaN/inf value(s)"))


def _locate_bad_chunks(
    cache: Cache, name: str, fact: dict, axis: int, start: int, stop: int
) -> list[str]:
    """Re-read a failed block chunk by chunk; name each unreadable one (layer, row range)."""
    axis_name = "tokens" if name == "hidden" or name.startswith("tokens/") else "examples"
    chunks = fact["chunks"] or fact["shape"]
    step = chunks[axis]
    layer_positions = range(fact["shape"][0]) if axis == 1 else [None]
    bad = []
    for layer_position in layer_positions:
        for chunk_start in range(start, stop, step):
            chunk_stop = min(stop, chunk_start + step)
            rows = slice(chunk_start, chunk_stop)
            selection = rows if layer_position is None else (layer_position, rows)
            try:
                cache.read(name, selection)
            except CacheError:
                where = "" if layer_position is None else f"layer {cache.layers[layer_position]}, "
                bad.append(f"{where}{axis_name} {chunk_start}:{chunk_stop}")
    return bad or [f"{axis_name} {start}:{stop}"]


def _check_offsets_and_counts(cache: Cache, report: VerifyReport) -> None:
    file, meta = str(cache.path), cache.meta
    try:
        offsets = cache.offsets
        truncated = cache.truncated
        labels = cache.labels
        rows = cache.row_index
    except CacheError as error:
        report.problems.append(Problem(file, "examples", str(error)))
        return
    if offsets[0] != 0 or offsets[-1] != meta.n_tokens:
        report.problems.append(
            Problem(
                file,
                "examples/offsets",
                f"runs {offsets[0]}..{offsets[-1]}, expected 0..{meta.n_tokens} (n_tokens)",
            )
        )
    if np.any(np.diff(offsets) < 1):
        bad = int(np.flatnonzero(np.diff(offsets) < 1)[0])
        report.problems.append(
            Problem(
                file, "examples/offsets", f"not strictly increasing (example {bad} has no tokens)"
            )
        )
    if int(truncated.sum()) != meta.n_truncated:
        report.problems.append(
            Problem(
                file,
                "examples/truncated",
                f"{int(truncated.sum())} flagged, the metadata says {meta.n_truncated}",
            )
        )
    if len(np.unique(rows)) != len(rows) or (len(rows) and rows.min() < 0):
        report.problems.append(Problem(file, "examples/row_index", "repeats or negative rows"))
    if meta.is_regression:
        bad_labels = ~np.isfinite(labels) if meta.labeled else ~np.isnan(labels)
    elif meta.labeled:
        bad_labels = (labels < 0) | (labels >= len(meta.label_names))
    else:
        bad_labels = labels != -1
    if np.any(bad_labels):
        report.problems.append(
            Problem(
                file,
                "examples/label",
                f"{int(bad_labels.sum())} label(s) out of range for "
                f"{meta.label_names or 'a regression task'} (labeled = {meta.labeled})",
            )
        )
    lengths = np.diff(offsets)
    for layer in meta.layers:
        try:
            positions = cache.maxnorm_positions(layer)
        except CacheError as error:
            report.problems.append(Problem(file, "pooled/maxnorm_position", str(error)))
            return
        if np.any((positions < 0) | (positions >= lengths)):
            report.problems.append(
                Problem(
                    file,
                    "pooled/maxnorm_position",
                    f"layer {layer}: positions outside their example",
                )
            )
            return


def _check_pooling(cache: Cache, report: VerifyReport, sample: int, seed: int) -> None:
    """Recompute the pooled vectors of a sample of examples from their token vectors."""
    file, meta = str(cache.path), cache.meta
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(cache.n_examples, size=min(sample, cache.n_examples), replace=False))
    tolerance = _POOL_TOLERANCE[meta.dtype]
    try:
        specials = cache.special_mask(ids.tolist())
        for layer in meta.layers:
            tokens = cache.token_vectors(layer, ids.tolist())
            pooled = {name: cache.pooled(layer, name)[ids] for name in meta.poolings}
            positions = cache.maxnorm_positions(layer)[ids]
            for row, (vectors, special) in enumerate(zip(tokens, specials, strict=True)):
                scale = tolerance * (float(np.abs(vectors).max()) + 1.0)
                expected = {
                    "cls": vectors[0],
                    "last": vectors[-1],
                    "mean": vectors.mean(axis=0),
                    "maxnorm": vectors[int(positions[row])],
                }
                for name in meta.poolings:
                    vector = expected[name]
                    gap = float(np.abs(pooled[name][row] - vector).max())
                    if gap > scale:
                        report.problems.append(
                            Problem(
                                file,
                                f"pooled/{name}",
                                f"layer {layer}, example {int(ids[row])}: differs from its token "
                                f"vectors by {gap:.3g} (tolerance {scale:.3g})",
                            )
                        )
                        return
                chosen = int(positions[row])
                if not meta.maxnorm_includes_special and (~special).any() and special[chosen]:
                    report.problems.append(_maxnorm_at_special(file, layer, int(ids[row])))
                    return
    except CacheError as error:
        report.problems.append(Problem(file, "(pooling check)", str(error)))
        return
    report.examples_compared = len(ids)


def _maxnorm_at_special(file: str, layer: int, example: int) -> Problem:
    """A maxnorm position that names a special token although specials were not eligible."""
    return Problem(
        file,
        "pooled/maxnorm_position",
        f"layer {layer}, example {example}: points at a special token",
    )


def _check_maxnorm_specials(cache: Cache, report: VerifyReport, sample: int, seed: int) -> None:
    """Pooled-only caches: maxnorm positions of a sample must avoid special tokens."""
    file, meta = str(cache.path), cache.meta
    report.warnings.append(
        f"{file}: pooled-only cache (--store pooled): pooled vectors cannot be recomputed "
        "from token vectors (none stored); checksums, shapes, counts and maxnorm positions "
        "were checked"
    )
    rng = np.random.default_rng(seed)
    ids = np.sort(rng.choice(cache.n_examples, size=min(sample, cache.n_examples), replace=False))
    if meta.maxnorm_includes_special:
        return
    try:
        specials = cache.special_mask(ids.tolist())
        for layer in meta.layers:
            positions = cache.maxnorm_positions(layer)[ids]
            for row, special in enumerate(specials):
                if (~special).any() and special[int(positions[row])]:
                    report.problems.append(_maxnorm_at_special(file, layer, int(ids[row])))
                    return
    except CacheError as error:
        report.problems.append(Problem(file, "(pooling check)", str(error)))
