"""Word rows pool exactly the word's own subword vectors (first, last, mean)."""

from __future__ import annotations

import numpy as np
import pytest

from probe.cache import Cache
from probe.words.rows import word_rows


@pytest.mark.parametrize("pooling", ["first", "last", "mean"])
def test_word_rows_pool_the_span(word_caches, pooling):
    with Cache.open(word_caches[0]) as cache:
        rows = word_rows(cache, 2, pooling, chunk_tokens=50)  # small chunks: many reads
        spans, offsets = cache.word_token_spans(), cache.word_offsets
        expected = []
        for example in range(cache.n_examples):
            (tokens,) = cache.token_vectors(2, [example])
            for word in range(offsets[example], offsets[example + 1]):
                start, stop = spans[word]
                if start < 0:
                    continue
                piece = tokens[start:stop]
                expected.append(
                    {"first": piece[0], "last": piece[-1], "mean": piece.mean(axis=0)}[pooling]
                )
        np.testing.assert_allclose(rows, np.asarray(expected), rtol=1e-6, atol=1e-6)
