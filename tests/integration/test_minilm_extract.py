"""The packaged MiniLM on the real GLUE SST-2 dev split."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from probe.cache import Cache
from probe.vocabulary import ENCODER_POOLINGS

pytestmark = pytest.mark.integration


def test_sst2_dev_cache_shape_and_labels(sst2_dev_cache, glue_dir):
    with open(glue_dir / "SST-2" / "dev.tsv", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    with Cache.open(sst2_dev_cache) as cache:
        assert cache.n_examples == 872 == len(rows)
        assert cache.layers == list(range(7))
        assert cache.hidden_size == 384
        assert cache.meta.model == "sentence-transformers/all-MiniLM-L6-v2"
        file_labels = np.asarray([int(row[1]) for row in rows])
        np.testing.assert_array_equal(cache.labels, file_labels[cache.row_index])
        texts = cache.texts()
        assert all(texts[i][0] == rows[row][0] for i, row in enumerate(cache.row_index.tolist()))
        for pooling in ENCODER_POOLINGS:
            vectors = cache.pooled(6, pooling)
            assert vectors.shape == (872, 384) and np.isfinite(vectors).all()
        assert cache.meta.n_truncated == 0 and cache.n_tokens == int(cache.lengths.sum())


def test_cached_vectors_equal_a_direct_forward(sst2_dev_cache, minilm):
    with Cache.open(sst2_dev_cache) as cache:
        for example_id in (0, 400, 871):
            (text,) = cache.texts([example_id])[0]
            encoded = minilm.tokenizer(text, return_tensors="pt", truncation=True, max_length=128)
            with torch.no_grad():
                hidden = minilm.model(**encoded, output_hidden_states=True).hidden_states
            for layer in (0, 3, 6):
                np.testing.assert_allclose(
                    cache.token_vectors(layer, [example_id])[0],
                    hidden[layer][0].numpy(),
                    rtol=3e-3,
                    atol=3e-3,
                )
