"""Shared fixture of the bad-input matrix (``test_bad_inputs_*``): the workspace its rows run in.

torch, transformers and ``extract`` are imported inside the fixture: this folder also holds
torch-free tests, which the core install (no torch) collects with this conftest.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.probe.commands.bad_input_matrix import Workspace


@pytest.fixture(scope="session")
def ws(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    import torch
    from transformers import AutoModel, AutoTokenizer

    from extract.extractor import ExtractConfig, extract_split
    from tests.unit.helpers import synthetic_split

    root = tmp_path_factory.mktemp("bad-inputs")
    other_model = root / "other-model"
    model = AutoModel.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.encoder.layer[0].output.dense.weight.add_(0.01)
    model.save_pretrained(other_model)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(other_model)
    rows = root / "rows.tsv"
    rows.write_text("text\tlabel\nthe movie was good\t1\na bad film\t0\nreally fun\t1\nboring\t0\n")
    config = ExtractConfig(model=str(tiny_model_dir), batch_size=8, max_length=16, device="cpu")
    caches = {}
    for name, split in {
        "train": synthetic_split(40, seed=1),
        "dev": synthetic_split(20, seed=2),
        "unlabeled": synthetic_split(20, seed=3, labeled=False),
        "other_task": synthetic_split(20, seed=4, task="other"),
    }.items():
        caches[name] = root / f"{name}.h5"
        extract_split(split, caches[name], config)
    caches["other_weights"] = root / "other_weights.h5"
    extract_split(
        synthetic_split(20, seed=2),
        caches["other_weights"],
        ExtractConfig(**{**config.__dict__, "model": str(other_model)}),
    )
    old_results = root / "old-results.json"
    old_results.write_text(json.dumps({"format": "fewdims-results", "version": 99, "cells": []}))
    return Workspace(
        root=root,
        model=tiny_model_dir,
        other_model=other_model,
        rows=rows,
        old_results=old_results,
        **caches,
    )
