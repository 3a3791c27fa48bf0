"""Damaged caches are reported (file, dataset, what) and never read back as wrong numbers."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from extract.extractor import ExtractConfig, extract_split
from probe.cache import Cache
from probe.cli import main
from probe.errors import CacheError
from probe.verify import verify_cache
from tests.unit.helpers import synthetic_split


@pytest.fixture(scope="module")
def sound_cache(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verify") / "sound.h5"
    config = ExtractConfig(model=str(tiny_model_dir), batch_size=8, max_length=12, device="cpu")
    extract_split(synthetic_split(300, seed=4), out, config)
    return out


@pytest.fixture
def cache_copy(sound_cache: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.h5"
    shutil.copy(sound_cache, target)
    return target


def flip_bytes_in_chunk(path: Path, dataset: str, chunk: int = 0, at: int = 16) -> None:
    """Corrupt a few bytes inside one stored chunk's data (not the file's metadata)."""
    with h5py.File(path, "r") as handle:
        info = handle[dataset].id.get_chunk_info(chunk)
    with open(path, "r+b") as raw:
        raw.seek(info.byte_offset + at)
        original = raw.read(4)
        raw.seek(info.byte_offset + at)
        raw.write(bytes(byte ^ 0x5A for byte in original))


def test_sound_cache_verifies(sound_cache, capsys):
    report = verify_cache(sound_cache)
    assert report.ok, report.problems
    assert report.datasets_scanned == 13 and report.examples_compared == 256
    assert not report.warnings
    assert main(["verify", str(sound_cache)]) == 0
    assert ": OK" in capsys.readouterr().out


def test_truncated_cache_is_reported_without_traceback(cache_copy, capsys):
    size = cache_copy.stat().st_size
    with open(cache_copy, "r+b") as raw:
        raw.truncate(size // 2)
    with pytest.raises(CacheError, match="truncated"):
        Cache.open(cache_copy)
    report = verify_cache(cache_copy)
    assert not report.ok and report.problems[0].file == str(cache_copy)
    assert main(["verify", str(cache_copy)]) == 2
    err = capsys.readouterr().err
    assert str(cache_copy) in err and "truncated" in err and "Traceback" not in err


def test_flipped_bytes_in_hidden_fail_token_reads_and_verify(cache_copy, capsys):
    flip_bytes_in_chunk(cache_copy, "hidden", chunk=1)
    with Cache.open(cache_copy) as cache:
        cache.pooled(1, "cls")  # other datasets still read fine
        first_in_chunk = int(np.searchsorted(cache.offsets, 256, side="right")) - 1
        with pytest.raises(CacheError, match=r"dataset 'hidden' .*corrupt"):
            cache.token_vectors(0, [first_in_chunk])
    report = verify_cache(cache_copy)
    assert [p.dataset for p in report.problems] == ["hidden"]
    assert (
        "checksum" in report.problems[0].message
        and "layer 0, tokens 256:512" in report.problems[0].message
    )
    assert main(["verify", str(cache_copy)]) == 2
    err = capsys.readouterr().err
    assert "hidden" in err and str(cache_copy) in err and "Traceback" not in err


@pytest.mark.parametrize(
    "dataset",
    ["pooled/cls", "pooled/maxnorm", "examples/offsets", "examples/label", "tokens/input_ids"],
)
def test_flipped_bytes_elsewhere_are_caught(cache_copy, dataset):
    flip_bytes_in_chunk(cache_copy, dataset, at=8)
    readers = {
        "pooled/cls": lambda c: c.pooled(0, "cls"),
        "pooled/maxnorm": lambda c: c.pooled(0, "maxnorm"),
        "examples/offsets": lambda c: c.offsets,
        "examples/label": lambda c: c.labels,
        "tokens/input_ids": lambda c: c.token_ids([0]),
    }
    with Cache.open(cache_copy) as cache, pytest.raises(CacheError, match=f"'{dataset}'"):
        readers[dataset](cache)
    assert any(p.dataset == dataset for p in verify_cache(cache_copy).problems)


def rewrite(path: Path, dataset: str, change) -> None:
    """Change values through HDF5 (checksums stay valid): damage only cross-checks can see."""
    with h5py.File(path, "r+") as handle:
        values = handle[dataset][...]
        handle[dataset][...] = change(values)


def test_nan_values_are_reported(cache_copy):
    def poison(values):
        values[1, 3, 5] = np.nan
        values[2, 7, 0] = np.inf
        return values

    rewrite(cache_copy, "hidden", poison)
    problems = verify_cache(cache_copy).problems
    assert any(p.dataset == "hidden" and "2 NaN/inf" in p.message for p in problems)


def test_pooled_vectors_that_disagree_with_tokens_are_reported(cache_copy):
    rewrite(cache_copy, "pooled/mean", lambda values: values * np.float16(1.5))
    problems = verify_cache(cache_copy).problems
    assert [p.dataset for p in problems] == ["pooled/mean"]
    assert "differs from its token vectors" in problems[0].message


def test_inconsistent_offsets_and_counts_are_reported(cache_copy):
    def shift(offsets):
        offsets[5] = offsets[4]
        return offsets

    rewrite(cache_copy, "examples/offsets", shift)
    rewrite(cache_copy, "examples/truncated", lambda flags: np.zeros_like(flags))
    rewrite(cache_copy, "examples/label", lambda labels: labels + 5)
    messages = {p.dataset: p.message for p in verify_cache(cache_copy, sample=0).problems}
    assert "example 4 has no tokens" in messages["examples/offsets"]
    assert "0 flagged" in messages["examples/truncated"]
    assert "out of range" in messages["examples/label"]


def test_missing_dataset_and_wrong_shape(cache_copy):
    with h5py.File(cache_copy, "r+") as handle:
        del handle["tokens/special"]
    with pytest.raises(CacheError, match=r"lacks dataset\(s\) tokens/special"):
        Cache.open(cache_copy)
    problems = verify_cache(cache_copy).problems
    assert problems and "tokens/special" in problems[0].message


def test_cache_without_checksums_warns(tiny_model_dir, tmp_path):
    out = tmp_path / "plain.h5"
    config = ExtractConfig(model=str(tiny_model_dir), device="cpu", checksum=False)
    extract_split(synthetic_split(8), out, config)
    report = verify_cache(out)
    assert report.ok and any("no Fletcher-32" in warning for warning in report.warnings)


def test_verify_reports_a_file_that_is_not_a_cache(tmp_path, capsys):
    stray = tmp_path / "notes.h5"
    stray.write_text("not hdf5")
    assert main(["verify", str(stray), "--json"]) == 2
    captured = capsys.readouterr()
    assert '"ok": false' in captured.out and "cannot be opened as HDF5" in captured.err
