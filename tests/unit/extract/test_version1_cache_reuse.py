"""A finished cache written by fewdims before format 2 is reused, not refused, after upgrading.

Format 2 added only optional contents; a token-storage encoder cache of plain sentences
holds the same numbers in both. The old file is made the way the old extractor made it:
its fingerprint hashes the version-1 identity (no ``storage`` key, ``format_version`` 1),
and its attributes carry no version-2 meta fields.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import extract.extractor as extractor
from extract.extractor import ExtractConfig, extract_split
from probe.cache import Cache
from probe.errors import CacheError
from tests.unit.helpers import synthetic_split
from tests.unit.probe.test_cache_versions import rewrite_version


def write_as_version_1(split, out: Path, config: ExtractConfig) -> Path:
    """Extract with the identity the version-1 extractor hashed, then stamp the file v1."""
    current_identity = extractor._identity

    def version_1_identity(*args, **kwargs):
        identity = current_identity(*args, **kwargs)
        identity.pop("storage")
        identity["format_version"] = 1
        return identity

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extractor, "_identity", version_1_identity)
        extract_split(split, out, config)
    return rewrite_version(out, 1)


def test_version_1_cache_is_reused_and_a_different_one_still_refused(tiny_model_dir, tmp_path):
    split = synthetic_split(23, seed=3)
    config = ExtractConfig(model=str(tiny_model_dir), batch_size=8, max_length=12, device="cpu")
    old = write_as_version_1(split, tmp_path / "old.h5", config)
    written = old.stat().st_mtime_ns

    summary = extract_split(split, old, config)

    assert summary.reused and summary.meta.format_version == 1
    assert old.stat().st_mtime_ns == written
    with Cache.open(old) as cache:
        assert cache.meta.format_version == 1 and cache.meta.n_examples == 23
    with pytest.raises(CacheError, match="already exists and holds a different cache"):
        extract_split(split, old, ExtractConfig(**{**config.__dict__, "max_length": 16}))
