"""Writing in place gives the same cache as the part files + consolidation path, bit for bit.

The reference is the previous writer (parts, then one consolidating copy), which compressed
caches still use; ``_writes_in_place`` is switched off to run it on the same input.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import extract.extractor as extractor
from extract.extractor import ExtractConfig, extract_split
from probe.cache import Cache
from probe.verify import verify_cache
from tests.unit.extract.test_sharding import all_arrays
from tests.unit.helpers import synthetic_split


def layout(path: Path) -> dict[str, tuple]:
    """Per dataset: shape, dtype, chunk shape, Fletcher-32 (what readers and verify see)."""
    facts: dict[str, tuple] = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, obj: (
                facts.__setitem__(name, (obj.shape, obj.dtype, obj.chunks, obj.fletcher32))
                if isinstance(obj, h5py.Dataset)
                else None
            )
        )
    return facts


def extract_both(tmp_path, monkeypatch, split, config) -> tuple[Path, Path]:
    in_place = extract_split(split, tmp_path / "in-place.h5", config).path
    with monkeypatch.context() as patched:
        patched.setattr(extractor, "_writes_in_place", lambda config: False)
        reference = extract_split(split, tmp_path / "parts.h5", config).path
    return in_place, reference


@pytest.mark.parametrize(
    ("split_options", "config_options"),
    [
        ({"n": 45, "seed": 3}, {}),
        ({"n": 30, "pair": True, "regression": True, "seed": 4}, {"dtype": "bfloat16"}),
        ({"n": 25, "labeled": False, "seed": 5}, {"dtype": "float32", "checksum": False}),
        ({"n": 40, "seed": 6}, {"layers": [0, 2], "shard_index": 1, "shard_count": 2}),
        ({"n": 35, "pair": True, "seed": 9}, {"store": "pooled"}),
    ],
    ids=[
        "float16",
        "pairs-regression-bfloat16",
        "unlabeled-float32-no-checksum",
        "shard",
        "pooled",
    ],
)
def test_in_place_cache_equals_reference_path(
    tiny_model_dir, tmp_path, monkeypatch, split_options, config_options
):
    split = synthetic_split(split_options.pop("n"), **split_options)
    config = ExtractConfig(
        model=str(tiny_model_dir),
        batch_size=4,
        max_length=12,
        device="cpu",
        part_tokens=30,  # several parts, so chunks straddle part boundaries
        **config_options,
    )
    in_place, reference = extract_both(tmp_path, monkeypatch, split, config)
    assert layout(in_place) == layout(reference)
    expected, got = all_arrays(reference), all_arrays(in_place)
    assert got.keys() == expected.keys()
    for name, values in expected.items():
        assert got[name].dtype == values.dtype, name
        np.testing.assert_array_equal(got[name], values, err_msg=name)
    with Cache.open(in_place) as new, Cache.open(reference) as old:
        assert new.meta.fingerprint == old.meta.fingerprint
        assert new.meta.n_tokens == old.meta.n_tokens and new.meta.complete
    report = verify_cache(in_place)
    assert report.ok, report.problems
    assert not list(tmp_path.glob("in-place.h5.*")), "no leftovers beside the cache"


def test_tokens_span_many_chunks(tiny_model_dir, tmp_path, monkeypatch):
    """Over 256 tokens and 1024 examples: whole chunks, edge chunks and part tails all occur."""
    split = synthetic_split(1100, seed=7)
    config = ExtractConfig(
        model=str(tiny_model_dir), batch_size=64, max_length=8, device="cpu", part_tokens=700
    )
    in_place, reference = extract_both(tmp_path, monkeypatch, split, config)
    expected, got = all_arrays(reference), all_arrays(in_place)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)


class _Interrupt(Exception):
    pass


def interrupted(split, out: Path, config: ExtractConfig, after_batches: int) -> None:
    seen = {"batches": 0}

    def stop(tokens: int, examples: int) -> None:
        seen["batches"] += 1
        if seen["batches"] == after_batches:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        extract_split(split, out, config, progress=stop)


@pytest.mark.parametrize("lose", ["nothing", "the in-place file", "the first record"])
def test_resume_continues_or_starts_over(tiny_model_dir, tmp_path, monkeypatch, lose):
    """Resume after the last unbroken record; without a usable <out>.tmp, start over."""
    split = synthetic_split(60, seed=8)
    config = ExtractConfig(
        model=str(tiny_model_dir), batch_size=4, max_length=12, device="cpu", part_tokens=30
    )
    out = tmp_path / "resumed.h5"
    interrupted(split, out, config, after_batches=9)
    partial = out.with_name(out.name + ".partial")
    records = sorted(partial.glob("part-*.h5"))
    assert len(records) >= 2 and out.with_name(out.name + ".tmp").exists()
    if lose == "the in-place file":
        out.with_name(out.name + ".tmp").unlink()
    elif lose == "the first record":
        records[0].unlink()
    summary = extract_split(split, out, config)
    assert summary.resumed_parts == (len(records) if lose == "nothing" else 0)
    with monkeypatch.context() as patched:
        patched.setattr(extractor, "_writes_in_place", lambda config: False)
        reference = extract_split(split, tmp_path / "parts.h5", config).path
    expected, got = all_arrays(reference), all_arrays(out)
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)
    assert sorted(p.name for p in tmp_path.glob("resumed.h5*")) == ["resumed.h5"]


def test_word_tables_are_written_in_place_too(tiny_model_dir, tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    from extract.treebank import load_conllu_split
    from tests.conllu_samples import TRICKY, random_treebank, write

    data = write(tmp_path / "toy-ud-train.conllu", random_treebank(40, seed=3, extra=TRICKY))
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    split = load_conllu_split(data, tokenizer, max_length=16, split="train")
    config = ExtractConfig(
        model=str(tiny_model_dir), batch_size=4, max_length=16, device="cpu", part_tokens=40
    )
    in_place, reference = extract_both(tmp_path, monkeypatch, split, config)
    assert layout(in_place) == layout(reference)
    expected, got = all_arrays(reference), all_arrays(in_place)
    assert any(name.startswith("words/") for name in expected)
    assert got.keys() == expected.keys()
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)
    with Cache.open(in_place) as new, Cache.open(reference) as old:
        assert new.meta.words == old.meta.words
    assert verify_cache(in_place).ok
