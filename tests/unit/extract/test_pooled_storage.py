"""``extract --store pooled``: no token vectors, the same pooled vectors, and every reader agrees.

A pooled-only cache drops ``hidden`` (the (L, T, H) token vectors) and nothing else, so its
pooled vectors are bit-identical to a full cache's, probing on them gives identical results,
``fewdims verify`` passes it, ``fewdims info`` names its storage, and anything that needs token
vectors (``--pooling tokens``, ``Cache.token_vectors``) refuses with the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from extract.extractor import ExtractConfig, extract_split
from probe.cache import Cache
from probe.cli import main
from probe.errors import CacheError
from probe.verify import verify_cache
from tests.unit.helpers import synthetic_split


@pytest.fixture(scope="module")
def caches(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Train and eval caches of the same splits, once with token vectors and once without."""
    folder = tmp_path_factory.mktemp("storage")
    splits = {"train": synthetic_split(60, seed=0), "eval": synthetic_split(30, seed=1)}
    paths = {}
    for store in ("tokens", "pooled"):
        config = ExtractConfig(model=str(tiny_model_dir), max_length=24, device="cpu", store=store)
        for name, split in splits.items():
            paths[f"{store}-{name}"] = folder / f"{store}-{name}.h5"
            extract_split(split, paths[f"{store}-{name}"], config)
    return paths


def test_pooled_only_cache_has_no_token_vectors_and_the_same_pooled_ones(caches):
    with Cache.open(caches["tokens-train"]) as full, Cache.open(caches["pooled-train"]) as pooled:
        assert full.meta.storage == "tokens" and pooled.meta.storage == "pooled"
        assert "hidden" in full.dataset_names() and "hidden" not in pooled.dataset_names()
        assert full.meta.fingerprint != pooled.meta.fingerprint
        for layer in full.layers:
            for pooling in full.meta.poolings:
                np.testing.assert_array_equal(
                    pooled.pooled(layer, pooling), full.pooled(layer, pooling)
                )
            np.testing.assert_array_equal(
                pooled.maxnorm_positions(layer), full.maxnorm_positions(layer)
            )
        np.testing.assert_array_equal(pooled.offsets, full.offsets)
        with pytest.raises(CacheError, match="--store tokens"):
            pooled.token_vectors(0, [0])
        with pytest.raises(CacheError, match="--store tokens"):
            pooled.layer_tokens(0)
    full_bytes = caches["tokens-train"].stat().st_size
    assert caches["pooled-train"].stat().st_size < 0.6 * full_bytes


def test_verify_passes_a_pooled_only_cache_and_says_what_it_could_not_recompute(caches):
    report = verify_cache(caches["pooled-train"])
    assert report.ok, report.problems
    assert report.examples_compared == 0
    assert any("pooled-only" in warning for warning in report.warnings)
    assert main(["verify", str(caches["pooled-train"])]) == 0


def test_info_shows_the_storage_kind(caches, capsys):
    assert main(["info", str(caches["pooled-train"])]) == 0
    shown = capsys.readouterr().out
    assert "storage: pooled (pooled vectors only" in shown
    assert "x the pooled vectors" in shown
    assert main(["info", str(caches["tokens-train"])]) == 0
    assert "storage: tokens (token vectors + pooled vectors)" in capsys.readouterr().out


def test_probing_pooled_only_equals_probing_the_full_cache(caches, tmp_path):
    scores = {}
    for store in ("tokens", "pooled"):
        out = tmp_path / f"{store}.json"
        argv = ["probe", "--train", str(caches[f"{store}-train"]), "--eval"]
        argv += [str(caches[f"{store}-eval"]), "--out", str(out), "--layers", "2"]
        assert main([*argv, "--methods", "full,pairs", "--quiet"]) == 0
        cells = json.loads(out.read_text())["cells"]
        scores[store] = [(c["pooling"], c["method"], c["dims"], c["scores"]) for c in cells]
    assert [cell[:2] for cell in scores["pooled"]] == [
        (pooling, method) for pooling in ("cls", "mean", "maxnorm") for method in ("full", "pairs")
    ]
    assert scores["pooled"] == scores["tokens"]


def test_token_rows_on_a_pooled_only_cache_exit_2_with_the_fix(caches, tmp_path, capsys):
    argv = ["probe", "--train", str(caches["pooled-train"]), "--eval"]
    argv += [str(caches["pooled-eval"]), "--out", str(tmp_path / "t.json"), "--quiet"]
    assert main([*argv, "--pooling", "tokens", "--methods", "full"]) == 2
    error = capsys.readouterr().err
    assert "stores pooled vectors only" in error and "re-extract with --store tokens" in error
    assert not (tmp_path / "t.json").exists()


def test_unknown_store_is_refused(tiny_model_dir, tmp_path):
    config = ExtractConfig(model=str(tiny_model_dir), device="cpu", store="half")
    with pytest.raises(CacheError, match="Unknown --store 'half'; choose one of tokens, pooled"):
        extract_split(synthetic_split(4), tmp_path / "x.h5", config)


def test_pooled_only_shards_merge_into_the_single_process_cache(tiny_model_dir, caches, tmp_path):
    from extract.extractor import merge_if_complete
    from probe.cache import shard_path

    merged = tmp_path / "merged.h5"
    for index in range(2):
        config = ExtractConfig(
            model=str(tiny_model_dir), max_length=24, device="cpu", store="pooled",
            shard_index=index, shard_count=2,
        )  # fmt: skip
        extract_split(synthetic_split(60, seed=0), shard_path(merged, index, 2), config)
    assert merge_if_complete(merged, 2) is not None
    with Cache.open(merged) as sharded, Cache.open(caches["pooled-train"]) as single:
        assert sharded.meta.storage == "pooled" and "hidden" not in sharded.dataset_names()
        assert sharded.meta.fingerprint == single.meta.fingerprint
        for pooling in single.meta.poolings:
            np.testing.assert_array_equal(sharded.pooled(2, pooling), single.pooled(2, pooling))
    assert verify_cache(merged).ok


def test_a_pooled_cache_has_its_own_default_path():
    from probe.cache import default_cache_path

    assert default_cache_path("d", "org/m", "sst2", "dev", storage="pooled") == Path(
        "d/org__m/sst2-dev.pooled.h5"
    )
    assert default_cache_path("d", "org/m", "sst2", "dev") == Path("d/org__m/sst2-dev.h5")


def test_verify_flags_a_pooled_only_maxnorm_position_on_a_special_token(caches, tmp_path):
    import shutil

    import h5py

    damaged = shutil.copy(caches["pooled-train"], tmp_path / "damaged.h5")
    with h5py.File(damaged, "r+") as handle:  # position 0 is [CLS], never eligible by default
        handle["pooled/maxnorm_position"][0, 0] = 0
    report = verify_cache(damaged, sample=10_000)
    assert not report.ok
    assert [(p.dataset, p.message) for p in report.problems] == [
        ("pooled/maxnorm_position", "layer 0, example 0: points at a special token")
    ]
