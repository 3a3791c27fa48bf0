"""The committed tiny caches probe and report on a core install (what .ci/run's 2nd venv does)."""

from __future__ import annotations

import json

import pytest

from probe.cache import Cache
from probe.cli import main
from tests.data.make_tiny_cache import TINY_DEV, TINY_TRAIN
from tests.synthetic_cache import SIGNAL_DIMS

pytestmark = pytest.mark.torch_free


def test_tiny_caches_are_small_complete_and_readable():
    for path in (TINY_TRAIN, TINY_DEV):
        assert path.stat().st_size < 128 * 1024
        with Cache.open(path) as cache:
            assert cache.meta.complete and cache.layers == [0, 1]
            assert cache.pooled(layer=1, pooling="mean").shape == (cache.meta.n_examples, 8)


def test_probe_finds_the_signal_pair_and_report_renders(tmp_path):
    results = tmp_path / "tiny.json"
    argv = ["probe", "--train", str(TINY_TRAIN), "--eval", str(TINY_DEV), "--out", str(results)]
    assert main([*argv, "--methods", "full,pairs,greedy", "--k", "2", "--quiet"]) == 0
    cells = json.loads(results.read_text())["cells"]
    (pair,) = [c for c in cells if (c["layer"], c["pooling"], c["method"]) == (1, "mean", "pairs")]
    assert sorted(pair["dims"]) == sorted(SIGNAL_DIMS)
    assert main(["report", str(results), "--out", str(tmp_path / "report")]) == 0
    markdown = (tmp_path / "report" / "report.md").read_text()
    assert "pairs" in markdown and (tmp_path / "report" / "report.html").is_file()
