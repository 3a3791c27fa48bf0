"""The rows of one (layer, row kind) slice of a cache, as bounded float32 chunks.

Row kinds are the poolings (one row per example: ``cls``, ``mean``, ``maxnorm``) and
``tokens``: one row per *word* token, labelled with its example's label. Special tokens
([CLS], [SEP]) are skipped: [CLS] is the ``cls`` pooling already, and [SEP] is the same
position-like vector in every example. Each row also reports its example index, so the inner
validation split can keep all tokens of one sentence on one side (splitting tokens of one
sentence across fit and validation would leak the sentence).

A chunk is ``chunk_rows`` stored rows (the default keeps its float32 copy near 8 MiB: the
passes hold a few copies of a chunk, and larger chunks were no faster); the
source reopens the cache for every pass, so nothing is held between passes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from probe.cache import Cache
from probe.vocabulary import TOKEN_ROWS

DEFAULT_CHUNK_BYTES = 8 << 20


@dataclass
class RowChunk:
    """``features`` (b, H) float32 rows; ``examples`` (b,) int64 example index of each row."""

    features: np.ndarray
    examples: np.ndarray


@dataclass(frozen=True)
class RowSource:
    """The chunks of one slice: ``layer`` of cache ``path``, rows of kind ``kind``."""

    path: Path
    layer: int
    kind: str
    chunk_rows: int | None = None

    def rows_per_chunk(self, hidden_size: int) -> int:
        if self.chunk_rows is not None:
            return max(1, self.chunk_rows)
        return max(256, DEFAULT_CHUNK_BYTES // (4 * hidden_size))

    def chunks(self) -> Iterator[RowChunk]:
        """One pass over the slice, in storage order."""
        with Cache.open(self.path) as cache:
            step = self.rows_per_chunk(cache.hidden_size)
            if self.kind != TOKEN_ROWS:
                for start in range(0, cache.n_examples, step):
                    stop = min(start + step, cache.n_examples)
                    yield RowChunk(
                        cache.pooled_rows(self.layer, self.kind, start, stop),
                        np.arange(start, stop, dtype=np.int64),
                    )
                return
            offsets = cache.offsets
            for start in range(0, cache.n_tokens, step):
                stop = min(start + step, cache.n_tokens)
                words = ~cache.special_tokens(start, stop)
                positions = np.arange(start, stop, dtype=np.int64)[words]
                examples = np.searchsorted(offsets, positions, side="right") - 1
                features = cache.layer_tokens(self.layer, start, stop)
                yield RowChunk(features[words] if not words.all() else features, examples)
