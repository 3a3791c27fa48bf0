"""The size estimate made before writing, and the refusal when the disk cannot hold it.

``extract_split`` estimates the cache (``probe.cache.estimated_bytes``) before it writes a
byte, returns the estimate, and refuses when the target disk lacks room for twice it (parts
and the consolidated copy coexist until the end). The CLI prints the estimate first and
exits 2 with the sizes and the fixes. Free space is faked by monkeypatching
``shutil.disk_usage``.
"""

from __future__ import annotations

import shutil

import pytest

from extract.extractor import ExtractConfig, extract_split
from probe.cache import SpaceEstimate, estimated_bytes
from probe.cli import main
from probe.errors import CacheError
from tests.unit.helpers import extract_cli_args, synthetic_split


@pytest.mark.parametrize(
    ("pair", "store", "dtype", "layers"),
    [
        (False, "tokens", "float16", None),
        (False, "pooled", "float16", None),
        (True, "tokens", "float32", None),
        (True, "tokens", "float16", [2]),
        (True, "pooled", "float32", [0, 2]),
    ],
)
def test_estimate_is_close_to_the_file_written(
    tiny_model_dir, tmp_path, pair, store, dtype, layers
):
    """Tiny files are mostly fixed HDF5 overhead, so the band is wide here (0.9-1.4x); on
    MiniLM SST-2 dev it is within 1% (reports/benchmarks/cache_size.md)."""
    config = ExtractConfig(
        model=str(tiny_model_dir), device="cpu", store=store, dtype=dtype, layers=layers
    )
    announced: list[SpaceEstimate] = []
    summary = extract_split(
        synthetic_split(200, pair=pair), tmp_path / "c.h5", config, on_estimate=announced.append
    )
    (estimate,) = announced
    assert estimate == summary.estimate
    assert estimate.cache_bytes == estimated_bytes(summary.meta)
    assert estimate.needed_bytes == 2 * estimate.cache_bytes
    assert 0.9 <= estimate.cache_bytes / summary.path.stat().st_size <= 1.4


@pytest.mark.parametrize(("free_factor", "fits"), [(1.5, False), (2.05, True)])
def test_refused_without_room_for_parts_and_final_copy(
    tiny_model_dir, tmp_path, monkeypatch, free_factor, fits
):
    split = synthetic_split(40)
    config = ExtractConfig(model=str(tiny_model_dir), device="cpu")
    estimate = extract_split(split, tmp_path / "probe.h5", config).estimate
    usage = shutil.disk_usage(tmp_path)
    free = int(free_factor * estimate.cache_bytes)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=free))
    out = tmp_path / "sub" / "c.h5"
    out.parent.mkdir()
    if fits:
        assert extract_split(split, out, config).path == out
        return
    with pytest.raises(CacheError, match=r"--store pooled .*--layers"):
        extract_split(split, out, config)
    assert list(out.parent.iterdir()) == []  # nothing written: no parts, no lock, no .tmp


def test_cli_prints_the_estimate_first_and_exits_2_before_writing(
    tiny_model_dir, tmp_path, monkeypatch, capsys
):
    data = tmp_path / "toy.tsv"
    data.write_text("text\tlabel\nthe movie was good\tpos\na bad film\tneg\nreally fun\tpos\n")
    out = tmp_path / "out" / "c.h5"
    argv = [*extract_cli_args(tiny_model_dir, data), "--out", str(out), "--store", "pooled"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{out}: estimated ") and "(pooled)" in lines[0]
    assert "MiB free while writing" in lines[0] and "3 examples" in lines[-1]

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=10_000))
    full = tmp_path / "full" / "c.h5"
    full.parent.mkdir()
    assert main([*extract_cli_args(tiny_model_dir, data), "--out", str(full)]) == 2
    error = capsys.readouterr().err
    assert "needs about" in error and "but only 0.0 MiB are free" in error
    assert "--store pooled" in error and "Traceback" not in error
    assert list(full.parent.iterdir()) == []
