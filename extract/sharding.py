"""Which part of a split one process extracts: ``--shard I/N``, or ``RANK``/``WORLD_SIZE``.

A shard is a contiguous run of the *whole split's* batches (``extract.extractor.plan_batches``
on every example), cut where the running count of real tokens crosses ``k/N`` of the total.
Three things follow:

* each shard costs about the same forward time (equal tokens, not equal examples: shard 0
  holds the longest examples, so it holds fewer of them);
* a shard's batches are exactly the batches the single-process run makes, so its numbers
  are bit-for-bit the single-process numbers on the same device and library versions;
* shard 0's examples, then shard 1's, ..., is the single-process extraction order, so
  ``fewdims merge`` (``probe.cache.merge_shards``) reproduces the unsharded cache's order.

Every process tokenizes the whole split to make the same cut (cheap next to the forward).
Processes never talk to each other: under ``torchrun`` each rank reads ``RANK`` and
``WORLD_SIZE`` from the environment, and across machines each runs ``--shard I/N`` by hand.
No torch here, so the CLI can parse shard options without importing it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np

from probe.errors import DataError, FewdimsError


def parse_shard(text: str) -> tuple[int, int]:
    """``"1/4"`` → ``(1, 4)``: shard index (from 0) and shard count."""
    try:
        index_text, count_text = text.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise FewdimsError(
            f"--shard {text!r} is not of the form I/N (e.g. 0/4 for the first of four shards)."
        ) from None
    return check_shard(index, count, source="--shard")


def check_shard(index: int, count: int, *, source: str) -> tuple[int, int]:
    if count < 1 or not 0 <= index < count:
        raise FewdimsError(
            f"{source} {index}/{count} is out of range: the index counts from 0 and must be "
            f"below the count (0/{max(count, 1)} .. {max(count, 1) - 1}/{max(count, 1)})."
        )
    return index, count


def shard_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int] | None:
    """``(RANK, WORLD_SIZE)`` when launched by ``torchrun`` with several processes, else None."""
    environ = os.environ if environ is None else environ
    if "RANK" not in environ or "WORLD_SIZE" not in environ:
        return None
    try:
        index, count = int(environ["RANK"]), int(environ["WORLD_SIZE"])
    except ValueError:
        raise FewdimsError(
            f"RANK={environ['RANK']!r} / WORLD_SIZE={environ['WORLD_SIZE']!r} are not integers; "
            "launch with torchrun or pass --shard I/N."
        ) from None
    if count <= 1:
        return None
    return check_shard(index, count, source="RANK/WORLD_SIZE")


def shard_batches(
    batches: Sequence[np.ndarray], lengths: np.ndarray, index: int, count: int
) -> range:
    """Indices of the batches shard ``index`` of ``count`` extracts (a contiguous range).

    ``batches`` are example-id arrays in extraction order, ``lengths`` (N,) token counts by
    example id. Cuts fall where the cumulative real-token count first reaches ``k/count`` of
    the total, nudged so that every shard gets at least one batch.
    """
    if count > len(batches):
        raise DataError(
            f"The split makes only {len(batches)} batch(es), too few for {count} shards. Use "
            f"at most {len(batches)} shards, or a smaller --batch-size."
        )
    batch_tokens = np.asarray([int(lengths[batch].sum()) for batch in batches], dtype=np.int64)
    cumulative = np.cumsum(batch_tokens)  # tokens up to and including each batch
    targets = cumulative[-1] * np.arange(1, count) / count
    cuts = [0, *(int(np.searchsorted(cumulative, target)) + 1 for target in targets), len(batches)]
    for k in range(1, count):  # at least one batch per shard, in order
        cuts[k] = min(max(cuts[k], cuts[k - 1] + 1), len(batches) - (count - k))
    return range(cuts[index], cuts[index + 1])
