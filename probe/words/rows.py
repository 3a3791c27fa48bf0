"""Word rows: one vector per word at a layer, pooled from the word's subword tokens.

``first`` takes the word's first subword (the usual choice in probing papers), ``last`` its
last, ``mean`` the average over its span. Dropped words (span -1, see
``extract.word_alignment``) have no row. The layer's token matrix is read in chunks of
whole examples (``chunk_tokens`` rows at most, plus one example), so reading never holds
more than a chunk of tokens; the word rows themselves (W x H float32, 38 MB for UD EWT dev at
H = 384) are returned whole, because multi-class word probes are fitted in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from probe.cache import Cache
from probe.errors import FewdimsError

if TYPE_CHECKING:
    from probe.outofcore.rows import RowChunk

SUBWORD_POOLINGS: tuple[str, ...] = ("first", "last", "mean")
DEFAULT_CHUNK_TOKENS = 1 << 15  # tokens per read: 48 MiB of float32 at H = 384


def check_subword_pooling(pooling: str) -> None:
    if pooling not in SUBWORD_POOLINGS:
        raise FewdimsError(
            f"Unknown subword pooling {pooling!r}; choose from {', '.join(SUBWORD_POOLINGS)}."
        )


def kept_words(cache: Cache) -> np.ndarray:
    """(W,) bool: the cache's words that have a subword span (rows exist for these)."""
    return cache.word_token_spans()[:, 0] >= 0


def word_row_chunks(
    cache: Cache, layer: int, pooling: str, chunk_tokens: int = DEFAULT_CHUNK_TOKENS
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Word rows of ``layer`` chunk by chunk: (kept-word indices (b,), rows (b, H) float32).

    Kept-word indices count the kept words (:func:`kept_words`) in the cache's word order.
    Each chunk covers whole examples and at most ``chunk_tokens`` tokens (or one example).
    ``mean`` sums in float64 (cumulative sums over the chunk's tokens; spans may share a
    token, so no ``reduceat``).
    """
    check_subword_pooling(pooling)
    spans = cache.word_token_spans()  # (W, 2) positions within the example
    word_offsets = cache.word_offsets  # (N+1,)
    token_offsets = cache.offsets  # (N+1,)
    keep = spans[:, 0] >= 0
    example_of_word = np.repeat(np.arange(cache.n_examples), np.diff(word_offsets))
    start = token_offsets[example_of_word] + spans[:, 0]  # absolute token rows (W,)
    stop = token_offsets[example_of_word] + spans[:, 1]
    kept_index = np.cumsum(keep) - 1  # row of each kept word
    example = 0
    while example < cache.n_examples:
        first_token = int(token_offsets[example])
        last = int(np.searchsorted(token_offsets, first_token + chunk_tokens, side="right")) - 1
        last = min(max(last, example + 1), cache.n_examples)  # at least one whole example
        stop_token = int(token_offsets[last])
        words = np.arange(word_offsets[example], word_offsets[last])
        words = words[keep[words]]
        if words.size:
            tokens = cache.layer_tokens(layer, first_token, stop_token)  # (t, H) float32
            local_start, local_stop = start[words] - first_token, stop[words] - first_token
            yield kept_index[words], _pool(tokens, local_start, local_stop, pooling)
        example = last


def word_rows(
    cache: Cache, layer: int, pooling: str, chunk_tokens: int = DEFAULT_CHUNK_TOKENS
) -> np.ndarray:
    """(n_kept_words, H) float32 word vectors of ``layer``, in the cache's word order."""
    rows = np.empty((int(kept_words(cache).sum()), cache.hidden_size), dtype=np.float32)
    for indices, chunk in word_row_chunks(cache, layer, pooling, chunk_tokens):
        rows[indices] = chunk
    return rows


@dataclass(frozen=True)
class WordRowSource:
    """Word rows of one (cache, layer, subword pooling) as chunks, for ``probe.outofcore``.

    Duck-types :class:`probe.outofcore.rows.RowSource`: each chunk's ``examples`` are
    positions into ``rows`` (the kept-word rows that take part, e.g. a label plan's
    ``train_rows``), so per-row labels index by them; words not in ``rows`` are skipped.
    """

    path: Path
    layer: int
    kind: str
    rows: tuple[int, ...] | np.ndarray
    chunk_rows: int | None = None

    def chunks(self) -> Iterator[RowChunk]:
        from probe.outofcore.rows import RowChunk

        rows = np.asarray(self.rows, dtype=np.int64)
        with Cache.open(self.path) as cache:
            position = np.full(int(kept_words(cache).sum()), -1, dtype=np.int64)
            position[rows] = np.arange(rows.size)
            chunk_tokens = self.chunk_rows or DEFAULT_CHUNK_TOKENS
            for indices, features in word_row_chunks(cache, self.layer, self.kind, chunk_tokens):
                where = position[indices]
                taking = where >= 0
                if taking.any():
                    yield RowChunk(np.ascontiguousarray(features[taking]), where[taking])


def _pool(tokens: np.ndarray, start: np.ndarray, stop: np.ndarray, pooling: str) -> np.ndarray:
    """Pool token rows ``tokens`` (t, H) over spans [start, stop) (w,) -> (w, H) float32."""
    if pooling == "first":
        return tokens[start]
    if pooling == "last":
        return tokens[stop - 1]
    cumulative = np.zeros((tokens.shape[0] + 1, tokens.shape[1]), dtype=np.float64)
    np.cumsum(tokens, axis=0, dtype=np.float64, out=cumulative[1:])
    width = (stop - start).astype(np.float64)[:, None]
    return ((cumulative[stop] - cumulative[start]) / width).astype(np.float32)
