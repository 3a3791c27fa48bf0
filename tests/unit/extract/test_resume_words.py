"""A killed CoNLL-U extraction, resumed, gives the uninterrupted cache: arrays and word metadata."""

from __future__ import annotations

from pathlib import Path

import pytest

import extract.extractor as extractor
from probe.cache import Cache
from probe.cli import main
from tests.conllu_samples import TRICKY, random_treebank, write
from tests.unit.extract.test_sharding import assert_same_arrays


class _Killed(Exception):
    """Stands in for a kill after the first part is durable."""


def argv(model_dir: Path, data: Path, out: Path) -> list[str]:
    return [
        "extract", "--model", str(model_dir), "--data-file", str(data), "--split", "train",
        "--batch-size", "4", "--max-length", "12", "--device", "cpu", "--out", str(out),
    ]  # fmt: skip


def test_resumed_word_extraction_keeps_the_label_vocabularies(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = write(tmp_path / "toy-ud-train.conllu", random_treebank(40, seed=5, extra=TRICKY))
    whole = tmp_path / "whole.h5"
    assert main(argv(tiny_model_dir, data, whole)) == 0

    monkeypatch.setattr(extractor, "PART_TARGET_BYTES", 2_000)  # many parts, so one can finish
    real_record = extractor.write_part_record
    calls = {"n": 0}

    def die_after_first_record(path, state):
        real_record(path, state)
        calls["n"] += 1
        if calls["n"] == 1:
            raise _Killed

    monkeypatch.setattr(extractor, "write_part_record", die_after_first_record)
    resumed = tmp_path / "resumed.h5"
    with pytest.raises(_Killed):
        main(argv(tiny_model_dir, data, resumed))
    assert not resumed.exists()
    monkeypatch.setattr(extractor, "write_part_record", real_record)
    assert main(argv(tiny_model_dir, data, resumed)) == 0

    assert_same_arrays(whole, resumed)
    with Cache.open(whole) as one, Cache.open(resumed) as two:
        assert two.meta.words == one.meta.words
        assert two.word_label_names("upos") == one.word_label_names("upos")
