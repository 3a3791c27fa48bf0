"""Sharded CoNLL-U extraction: shards with word tables merge into the unsharded cache exactly."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from probe.cache import Cache, merge_shards, shard_path
from probe.cli import main
from probe.verify import verify_cache
from probe.words.rows import word_rows
from tests.conllu_samples import TRICKY, random_treebank, write
from tests.unit.extract.test_sharding import all_arrays, assert_same_arrays

N_SHARDS = 3


def extract_argv(model_dir: Path, data: Path, out: Path, *extra: str) -> list[str]:
    argv = ["extract", "--model", str(model_dir), "--data-file", str(data), "--split", "train"]
    # max-length 12 cuts the longest sentences: dropped words must merge too
    argv += ["--batch-size", "4", "--max-length", "12", "--device", "cpu", "--out", str(out)]
    return [*argv, *extra]


@pytest.fixture(scope="module")
def single_and_merged(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The unsharded cache of a small treebank and its N_SHARDS shards merged, both by the CLI."""
    folder = tmp_path_factory.mktemp("word-shards")
    data = write(folder / "toy-ud-train.conllu", random_treebank(40, seed=11, extra=TRICKY))
    single = folder / "single.h5"
    assert main(extract_argv(tiny_model_dir, data, single)) == 0
    merged = folder / "merged.h5"
    for index in range(N_SHARDS):  # the last shard to finish merges
        shard = f"{index}/{N_SHARDS}"
        assert main(extract_argv(tiny_model_dir, data, merged, "--shard", shard)) == 0
    return single, merged


def test_merged_word_shards_equal_the_unsharded_cache(single_and_merged):
    single, merged = single_and_merged
    assert_same_arrays(single, merged)  # words/* included: offsets, spans, labels, heads, forms
    with Cache.open(single) as one, Cache.open(merged) as many:
        assert many.meta.is_merged and len(many.meta.shards) == N_SHARDS
        assert many.meta.fingerprint == one.meta.fingerprint
        assert many.meta.words == one.meta.words  # counts summed, vocabularies kept
        assert one.meta.words["n_truncated"] > 0  # the dropped words merged too
        assert many.word_forms() == one.word_forms()
        np.testing.assert_array_equal(many.word_offsets, one.word_offsets)
        np.testing.assert_array_equal(word_rows(many, 2, "mean"), word_rows(one, 2, "mean"))
    with h5py.File(merged, "r") as handle:
        assert handle["words/token_span"].is_virtual and not handle["words/offsets"].is_virtual


def test_word_offsets_are_rebased_shard_by_shard(single_and_merged):
    single, merged = single_and_merged
    starts, shard_offsets = [0], []
    for index in range(N_SHARDS):
        with Cache.open(shard_path(merged, index, N_SHARDS)) as shard:
            offsets = shard.word_offsets
            assert offsets[0] == 0 and shard.has_words
            shard_offsets.append(offsets)
            starts.append(starts[-1] + int(offsets[-1]))
    assert all(offsets[-1] > 0 for offsets in shard_offsets)  # every shard holds words
    expected = np.concatenate(
        [[0]]
        + [offsets[1:] + start for offsets, start in zip(shard_offsets, starts[:-1], strict=True)]
    )
    np.testing.assert_array_equal(all_arrays(merged)["words/offsets"], expected)
    np.testing.assert_array_equal(all_arrays(single)["words/offsets"], expected)


def test_verify_passes_on_the_merged_word_cache_and_merge_by_hand_agrees(
    single_and_merged, tmp_path, capsys
):
    single, merged = single_and_merged
    report = verify_cache(merged)
    assert report.ok, report.problems
    assert main(["verify", str(merged)]) == 0
    shards = [shard_path(merged, index, N_SHARDS) for index in range(N_SHARDS)]
    again = merged.with_name("by-hand.h5")
    assert main(["merge", *map(str, reversed(shards)), "--out", str(again)]) == 0
    assert_same_arrays(single, again)
    again.unlink()


def test_merge_refuses_word_shards_whose_vocabularies_differ(single_and_merged, tmp_path):
    import json
    import shutil

    _, merged = single_and_merged
    copies = []
    for index in range(N_SHARDS):
        source = shard_path(merged, index, N_SHARDS)
        copies.append(tmp_path / source.name)
        shutil.copy(source, copies[-1])
    with h5py.File(copies[1], "r+") as handle:  # a shard made from another vocabulary
        meta = json.loads(handle.attrs["meta"])
        meta["words"]["label_names"]["upos"] = list(reversed(meta["words"]["label_names"]["upos"]))
        handle.attrs["meta"] = json.dumps(meta)
    from probe.errors import CacheError

    with pytest.raises(CacheError, match="word tables differ in 'label_names'"):
        merge_shards(copies, tmp_path / "m.h5")
    assert not (tmp_path / "m.h5").exists()
