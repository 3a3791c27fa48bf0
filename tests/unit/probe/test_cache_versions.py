"""Format version 1 caches still read (as token storage with cls/mean/maxnorm); others refuse.

Version 1 is version 2's encoder layout without ``storage``, ``poolings`` and ``causal`` in
its meta (``probe.cache`` docstring). The file is made exactly so: a version-2 encoder cache
whose attributes are rewritten to what fewdims wrote before version 2. No torch needed. (The
committed ``tests/data/tiny-*.h5`` were written by fewdims before version 2 and are read by
``test_tiny_committed_cache.py`` and ``.ci/run`` too.)
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from probe.cache import FORMAT_VERSION, Cache, describe
from probe.errors import CacheError
from probe.sweep import SweepSpec, run_sweep
from probe.verify import verify_cache
from tests.synthetic_cache import write_synthetic_cache

pytestmark = pytest.mark.torch_free
VERSION_2_FIELDS = ("storage", "poolings", "causal")


def rewrite_version(path: Path, version: int) -> Path:
    """Stamp ``path`` with ``version`` and drop the meta fields version 2 added."""
    with h5py.File(path, "r+") as handle:
        meta = json.loads(handle.attrs["meta"])
        for name in VERSION_2_FIELDS:
            meta.pop(name)
            if name in handle.attrs:
                del handle.attrs[name]
        meta["format_version"] = version
        handle.attrs["meta"] = json.dumps(meta)
        handle.attrs["format_version"] = version
    return path


@pytest.fixture
def version_1_pair(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(train v1, eval v1, train v2 with identical arrays)."""
    current = write_synthetic_cache(tmp_path / "current.h5", n_examples=120, seed=0)
    old_train = write_synthetic_cache(tmp_path / "old-train.h5", n_examples=120, seed=0)
    old_eval = write_synthetic_cache(tmp_path / "old-eval.h5", n_examples=60, seed=1, split="dev")
    return rewrite_version(old_train, 1), rewrite_version(old_eval, 1), current


def test_version_1_reads_as_token_storage_with_encoder_poolings(version_1_pair):
    old, _, current = version_1_pair
    assert FORMAT_VERSION == 2
    with h5py.File(old, "r") as handle:
        assert handle.attrs["format_version"] == 1
        assert "storage" not in json.loads(handle.attrs["meta"])
    with Cache.open(old) as v1, Cache.open(current) as v2:
        assert v1.meta.format_version == 1 and v2.meta.format_version == 2
        assert v1.meta.storage == "tokens" and v1.meta.poolings == ["cls", "mean", "maxnorm"]
        assert v1.meta.causal is False
        for pooling in ("cls", "mean", "maxnorm"):
            np.testing.assert_array_equal(v1.pooled(1, pooling), v2.pooled(1, pooling))
        np.testing.assert_array_equal(v1.layer_tokens(0), v2.layer_tokens(0))
        assert describe(v1)["storage"].startswith("tokens")
    report = verify_cache(old)
    assert report.ok, report.problems


def test_version_1_caches_probe(version_1_pair):
    train, evaluation, _ = version_1_pair
    results = run_sweep(
        SweepSpec(train_path=str(train), eval_path=str(evaluation), layers=(1,), methods=("full",))
    )
    assert [cell.pooling for cell in results.cells] == ["cls", "mean", "maxnorm"]


def test_a_newer_version_is_refused_with_the_fix(tmp_path):
    path = rewrite_version(write_synthetic_cache(tmp_path / "c.h5", n_examples=20), 3)
    with pytest.raises(CacheError, match=r"format version 3.*reads versions 1, 2.*Re-extract"):
        Cache.open(path)
