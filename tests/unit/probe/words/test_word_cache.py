"""Word tables in the cache: exact round trip, info / verify, and version-1 caches still read."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np

from extract.treebank import load_conllu_split
from probe.cache import Cache, describe
from probe.verify import verify_cache


def test_word_tables_round_trip(word_caches, conllu_files, tiny_model_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    split = load_conllu_split(conllu_files[0], tokenizer, max_length=128, split="train")
    with Cache.open(word_caches[0]) as cache:
        assert cache.has_words and cache.meta.format_version == 2
        # the cache stores examples in extraction order; row_index maps them back
        expected = split.words.take(cache.row_index)
        assert (cache.word_offsets == expected.offsets).all()
        assert (cache.word_token_spans() == expected.token_span).all()
        assert (cache.word_heads() == expected.head).all()
        assert cache.word_forms() == expected.forms
        for name in ("upos", "xpos", "deprel"):
            assert (cache.word_labels(name) == expected.labels[name]).all()
            assert cache.word_label_names(name) == expected.label_names[name]
        assert "words" in describe(cache)
        assert cache.meta.words["n_words"] == split.words.n_words


def test_verify_checks_word_tables(word_caches, tmp_path):
    assert verify_cache(word_caches[0]).ok
    broken = tmp_path / "broken.h5"
    shutil.copy(word_caches[0], broken)
    with h5py.File(broken, "r+") as handle:
        spans = handle["words/token_span"][...]
        spans[0] = [0, 10_000]  # past the example's tokens (and onto [CLS])
        handle["words/token_span"][...] = spans
    report = verify_cache(broken, sample=0)
    assert any(p.dataset == "words/token_span" for p in report.problems), report.problems


def test_version_1_cache_still_reads(word_caches, tmp_path):
    old = tmp_path / "v1.h5"
    shutil.copy(word_caches[1], old)
    with h5py.File(old, "r+") as handle:  # what fewdims 0.1 wrote: no word tables, version 1
        del handle["words"]
        meta = json.loads(handle.attrs["meta"])
        meta.pop("words")
        meta["format_version"] = 1
        handle.attrs["meta"] = json.dumps(meta)
        handle.attrs["format_version"] = 1
    with Cache.open(old) as cache, Cache.open(word_caches[1]) as current:
        assert not cache.has_words
        assert np.array_equal(cache.pooled(1, "mean"), current.pooled(1, "mean"))
    assert verify_cache(old).ok
