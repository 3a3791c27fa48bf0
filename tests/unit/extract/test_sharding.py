"""Sharded extraction (``--shard I/N``, torchrun) and ``fewdims merge`` into virtual datasets."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from extract.extractor import ExtractConfig, extract_split, merge_if_complete, plan_batches
from extract.sharding import parse_shard, shard_batches, shard_from_env
from probe.cache import Cache, merge_shards, shard_path
from probe.cli import main
from probe.errors import CacheError, DataError, FewdimsError
from tests.unit.helpers import extract_cli_args, synthetic_split

REPO = Path(__file__).resolve().parents[3]
TORCHRUN = Path(sys.executable).with_name("torchrun")


def all_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a cache file (virtual ones read through their sources)."""
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, obj: (
                arrays.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return arrays


def assert_same_arrays(expected: Path, got: Path) -> None:
    reference, other = all_arrays(expected), all_arrays(got)
    assert reference.keys() == other.keys()
    for name in reference:
        np.testing.assert_array_equal(reference[name], other[name], err_msg=name)


def config_for(model_dir: Path, **changes: object) -> ExtractConfig:
    base = {"model": str(model_dir), "batch_size": 4, "max_length": 12, "device": "cpu"}
    return ExtractConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def single_and_shards(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """One unsharded cache and the two shards of the same extraction, merged."""
    split = synthetic_split(45, seed=7)
    folder = tmp_path_factory.mktemp("shards")
    single = folder / "single.h5"
    extract_split(split, single, config_for(tiny_model_dir))
    merged = folder / "merged.h5"
    for index in range(2):
        config = config_for(tiny_model_dir, shard_index=index, shard_count=2)
        extract_split(split, shard_path(merged, index, 2), config)
    merge_if_complete(merged, 2)
    return single, merged, split


def test_parse_shard_and_env():
    assert parse_shard("1/4") == (1, 4)
    for bad in ("4/4", "-1/2", "1", "a/b", "1/0"):
        with pytest.raises(FewdimsError, match="--shard"):
            parse_shard(bad)
    assert shard_from_env({"RANK": "1", "WORLD_SIZE": "3"}) == (1, 3)
    assert shard_from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None
    assert shard_from_env({}) is None


def test_shards_cover_the_batches_contiguously_with_balanced_tokens():
    lengths = np.random.default_rng(0).integers(3, 80, size=2000)
    plan = plan_batches(lengths, batch_size=16, part_tokens=10_000)
    for count in (1, 2, 3, 7):
        ranges = [shard_batches(plan.batches, lengths, index, count) for index in range(count)]
        assert [r.start for r in ranges[1:]] == [r.stop for r in ranges[:-1]]
        assert ranges[0].start == 0 and ranges[-1].stop == len(plan.batches)
        tokens = [sum(int(lengths[plan.batches[b]].sum()) for b in r) for r in ranges]
        assert max(tokens) - min(tokens) <= 2 * 16 * 80  # within about one batch of each other
    with pytest.raises(DataError, match="too few for"):
        shard_batches(plan.batches[:2], lengths, 0, 3)


def test_merged_shards_equal_the_single_process_cache(single_and_shards):
    single, merged, _ = single_and_shards
    assert_same_arrays(single, merged)
    with Cache.open(single) as one, Cache.open(merged) as many:
        assert many.meta.is_merged and len(many.meta.shards) == 2
        assert many.meta.fingerprint == one.meta.fingerprint  # same extraction, other route
        assert many.meta.n_tokens == one.meta.n_tokens
        assert many.meta.n_truncated == one.meta.n_truncated
        np.testing.assert_array_equal(many.pooled(2, "maxnorm"), one.pooled(2, "maxnorm"))
        ids = [0, 5, many.n_examples - 1]
        for got, expected in zip(
            many.token_vectors(1, ids), one.token_vectors(1, ids), strict=True
        ):
            np.testing.assert_array_equal(got, expected)
    with h5py.File(merged, "r") as handle:  # the big arrays are not copied
        assert handle["hidden"].is_virtual and handle["pooled/cls"].is_virtual
    assert merged.stat().st_size < 100_000


def test_merged_cache_is_reused_and_extract_sees_it_as_done(single_and_shards, tiny_model_dir):
    _, merged, split = single_and_shards
    before = merged.stat().st_mtime_ns
    assert merge_if_complete(merged, 2) is not None
    assert merged.stat().st_mtime_ns == before
    # the unsharded command aimed at the merged cache finds it complete: same fingerprint
    assert extract_split(split, merged, config_for(tiny_model_dir)).reused


def test_merged_cache_survives_a_move_and_refuses_missing_shards(single_and_shards, tmp_path):
    _, merged, _ = single_and_shards
    moved = tmp_path / "moved"
    moved.mkdir()
    for path in [merged, shard_path(merged, 0, 2), shard_path(merged, 1, 2)]:
        shutil.copy(path, moved / path.name)
    with Cache.open(moved / merged.name) as cache:
        assert cache.pooled(0, "cls").shape[0] == cache.n_examples
    (moved / shard_path(merged, 1, 2).name).unlink()
    with pytest.raises(CacheError, match=r"reads shard .*shard-1-of-2.h5, which is missing"):
        Cache.open(moved / merged.name)


def test_merge_refuses_bad_shard_sets(single_and_shards, tiny_model_dir, tmp_path, capsys):
    single, merged, split = single_and_shards
    first, second = shard_path(merged, 0, 2), shard_path(merged, 1, 2)
    with pytest.raises(CacheError, match=r"missing shard\(s\) \[1\]"):
        merge_shards([first], tmp_path / "m.h5")
    with pytest.raises(CacheError, match=r"given twice"):
        merge_shards([first, first], tmp_path / "m.h5")
    with pytest.raises(CacheError, match="is not a shard"):
        merge_shards([first, single], tmp_path / "m.h5")
    other = tmp_path / "other.h5"
    extract_split(
        split,
        shard_path(other, 1, 2),
        config_for(tiny_model_dir, shard_index=1, shard_count=2, max_length=10),
    )
    with pytest.raises(CacheError, match="different extractions"):
        merge_shards([first, shard_path(other, 1, 2)], tmp_path / "m.h5")
    code = main(
        ["merge", str(first), str(shard_path(other, 1, 2)), "--out", str(tmp_path / "m.h5")]
    )
    assert code == 2 and "different extractions" in capsys.readouterr().err
    assert not list(tmp_path.glob("m.h5*")), "a refused merge leaves nothing"
    code = main(["merge", str(second), str(first), "--out", str(tmp_path / "m.h5")])
    assert code == 0
    assert_same_arrays(single, tmp_path / "m.h5")


def test_corrupt_shard_is_reported_through_the_merged_cache(single_and_shards, tmp_path):
    _, merged, _ = single_and_shards
    for path in [merged, shard_path(merged, 0, 2), shard_path(merged, 1, 2)]:
        shutil.copy(path, tmp_path / path.name)
    shard = tmp_path / shard_path(merged, 1, 2).name
    with h5py.File(shard, "r") as handle:
        chunk = handle["hidden"].id.get_chunk_info(0)
    with open(shard, "r+b") as raw:
        raw.seek(chunk.byte_offset + 10)
        raw.write(b"\xff\x00\xff\x00")
    with Cache.open(tmp_path / merged.name) as cache:
        last = cache.n_examples - 1
        with pytest.raises(CacheError, match="'hidden'"):
            cache.token_vectors(0, [last])
    from probe.verify import verify_cache

    report = verify_cache(tmp_path / merged.name)
    assert any(p.dataset == "hidden" and "shard-1-of-2" in p.file for p in report.problems)


def test_sharded_cli_and_merge_command(tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "rows.tsv"
    rows = [" ".join(["good film"] * (1 + i % 5)) for i in range(24)]
    data.write_text("text\tlabel\n" + "".join(f"{r}\t{i % 2}\n" for i, r in enumerate(rows)))
    common = [
        *extract_cli_args(tiny_model_dir, data),
        "--batch-size",
        "4",
    ]
    out = tmp_path / "cli.h5"
    assert main([*common, "--out", str(out), "--shard", "0/2"]) == 0
    assert "the last shard to finish merges" in capsys.readouterr().out and not out.exists()
    assert main([*common, "--out", str(out), "--shard", "1/2"]) == 0
    assert "merged 2 shards" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    assert "merged from: cli.shard-0-of-2.h5, cli.shard-1-of-2.h5" in capsys.readouterr().out
    assert main(["info", str(shard_path(out, 1, 2))]) == 0
    assert "shard: 1 of 2" in capsys.readouterr().out
    assert main([*common, "--out", str(tmp_path / "one.h5")]) == 0
    assert_same_arrays(tmp_path / "one.h5", out)
    assert main([*common, "--out", str(out), "--shard", "2/2"]) == 2
    assert "out of range" in capsys.readouterr().err


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside python")
def test_torchrun_two_processes_make_the_single_process_cache(tiny_model_dir, tmp_path):
    data = tmp_path / "rows.tsv"
    rng = np.random.default_rng(3)
    words = ["the", "movie", "was", "good", "bad", "plot", "fun", "really"]
    lines = [" ".join(rng.choice(words, size=int(rng.integers(1, 20)))) for _ in range(60)]
    data.write_text("text\tlabel\n" + "".join(f"{t}\t{i % 2}\n" for i, t in enumerate(lines)))
    args = [
        *extract_cli_args(tiny_model_dir, data),
        "--batch-size",
        "8",
        "--max-length",
        "16",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launched = subprocess.run(
        [
            str(TORCHRUN),
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "probe.cli",
            *args,
            "--out",
            str(tmp_path / "ranks.h5"),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr
    assert shard_path(tmp_path / "ranks.h5", 0, 2).exists()
    assert shard_path(tmp_path / "ranks.h5", 1, 2).exists()
    # Bit-equality needs the same intra-op thread count (it sets the float reduction order;
    # across counts values agree to rounding, and maxnorm may pick a near-tied token).
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([*args, "--out", str(tmp_path / "one.h5")]) == 0
    finally:
        torch.set_num_threads(threads)
    assert_same_arrays(tmp_path / "one.h5", tmp_path / "ranks.h5")
