"""The packaged all-mpnet-base-v2 (extra ``mpnet``): reassembled from its pip parts, it extracts
real SST-2 dev sentences exactly as a plain transformers forward pass computes them.

Skipped, with the reason, when the parts or the GLUE copy are absent. The first run builds the
model folder in the user cache (``$FEWDIMS_CACHE``/``$XDG_CACHE_HOME``/``~/.cache``; ~7 s).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch

from probe.cache import Cache

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def mpnet_folder() -> Path:
    from extract.packaged import MPNET, materialize

    for distribution in MPNET.distributions:
        try:
            metadata.distribution(distribution)
        except metadata.PackageNotFoundError:
            pytest.skip(f"packaged MPNet not installed ({distribution}): {MPNET.install_hint}")
    return materialize(MPNET)


@pytest.fixture(scope="module")
def mpnet_cache(mpnet_folder: Path, glue_dir: Path, tmp_path_factory) -> Path:
    from extract.datasets import load_split
    from extract.extractor import ExtractConfig, extract_split

    out = tmp_path_factory.mktemp("mpnet") / "sst2-dev-8.h5"
    split = load_split("sst2", "dev", glue_dir).subset(8)
    extract_split(split, out, ExtractConfig(model="mpnet", device="cpu"))
    return out


def test_names_resolve_to_the_verified_folder(mpnet_folder: Path):
    import hashlib

    from extract.model import resolve_model_path
    from extract.packaged import MPNET

    for name in ("mpnet", "sentence-transformers/all-mpnet-base-v2", "all-mpnet-base-v2"):
        assert resolve_model_path(name) == (MPNET.name, str(mpnet_folder))
    digest = hashlib.sha256()
    with open(mpnet_folder / "model.safetensors", "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    assert digest.hexdigest() == MPNET.weights_sha256
    assert (mpnet_folder / "config.json").is_file() and (mpnet_folder / "tokenizer.json").is_file()


def test_cache_has_13_layers_of_768_dims(mpnet_cache: Path):
    with Cache.open(mpnet_cache) as cache:
        assert cache.meta.model == "sentence-transformers/all-mpnet-base-v2"
        assert cache.n_examples == 8
        assert cache.layers == list(range(13))
        assert cache.hidden_size == 768
        for pooling in ("cls", "mean", "maxnorm"):  # an encoder's poolings
            vectors = cache.pooled(12, pooling)
            assert vectors.shape == (8, 768) and np.isfinite(vectors).all()


def test_cached_vectors_equal_a_plain_transformers_forward(mpnet_cache: Path, mpnet_folder: Path):
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(mpnet_folder)
    model = AutoModel.from_pretrained(mpnet_folder).eval()
    with Cache.open(mpnet_cache) as cache:
        for example_id in (0, 7):
            (text,) = cache.texts([example_id])[0]
            encoded = tokenizer(text, return_tensors="pt", truncation=True, max_length=128)
            with torch.no_grad():
                hidden = model(**encoded, output_hidden_states=True).hidden_states
            assert len(hidden) == 13
            for layer in (0, 6, 12):
                expected = hidden[layer][0].numpy()
                cached = cache.token_vectors(layer, [example_id])[0]
                assert cached.shape == expected.shape
                # float16 storage: ~3 significant digits.
                np.testing.assert_allclose(cached, expected, rtol=4e-3, atol=4e-3)
