"""The packaged MiniLM on real SST-2 dev with --store pooled: same vectors, estimate close."""

from __future__ import annotations

import numpy as np
import pytest

from probe.cache import Cache
from probe.vocabulary import ENCODER_POOLINGS

pytestmark = pytest.mark.integration


def test_pooled_only_sst2_dev_equals_the_token_cache_and_is_estimated(
    sst2_dev_cache, minilm, glue_dir, tmp_path
):
    from extract.datasets import load_split
    from extract.extractor import ExtractConfig, extract_split

    split = load_split("sst2", "dev", glue_dir)
    out = tmp_path / "pooled.h5"
    config = ExtractConfig(device="cpu", store="pooled")
    summary = extract_split(split, out, config, loaded=minilm)
    assert abs(summary.estimate.cache_bytes / out.stat().st_size - 1) < 0.05
    assert out.stat().st_size < sst2_dev_cache.stat().st_size / 8  # measured 9.2x
    with Cache.open(out) as pooled, Cache.open(sst2_dev_cache) as full:
        assert pooled.meta.storage == "pooled" and full.meta.storage == "tokens"
        for layer in (0, 6):
            for pooling in ENCODER_POOLINGS:
                np.testing.assert_array_equal(
                    pooled.pooled(layer, pooling), full.pooled(layer, pooling)
                )
