"""Split parts are joined as one stream and extracted to a verified, reusable folder."""

from __future__ import annotations

import io
import os
import threading

from extract import packaged
from extract.packaged import ConcatenatedFiles, materialize
from tests.unit.extract.fake_split_model import CONFIG, WEIGHTS, make_parts


def test_concatenated_view_reads_and_seeks_across_part_boundaries(tmp_path):
    parts = make_parts(tmp_path / "parts")
    with ConcatenatedFiles(parts.paths) as view:
        assert view.read() == parts.zip_bytes
        boundary = parts.paths[0].stat().st_size
        view.seek(boundary - 3)
        assert view.read(7) == parts.zip_bytes[boundary - 3 : boundary + 4]
        view.seek(-10, io.SEEK_END)
        assert view.tell() == len(parts.zip_bytes) - 10
        assert view.read(100) == parts.zip_bytes[-10:]
        assert view.read(5) == b""


def test_first_use_extracts_every_member_with_the_pinned_hash(tmp_path):
    parts = make_parts(tmp_path / "parts")
    folder = materialize(parts.model, cache_root=tmp_path / "cache", part_paths=parts.paths)
    assert folder == tmp_path / "cache" / f"tiny-{parts.model.weights_sha256[:12]}"
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert (folder / "config.json").read_bytes() == CONFIG
    assert (folder / "sub" / "readme.txt").read_bytes() == b"hello"
    marker = (folder / ".fewdims-complete").read_text()
    assert parts.model.weights_sha256 in marker
    # Nothing else is left in the cache root but the lock file.
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        [folder.name, f".{folder.name}.lock"]
    )


def test_second_use_reuses_the_folder_without_reading_the_parts(tmp_path, monkeypatch):
    parts = make_parts(tmp_path / "parts")
    first = materialize(parts.model, cache_root=tmp_path / "cache", part_paths=parts.paths)
    mtime = (first / "model.safetensors").stat().st_mtime_ns
    for path in parts.paths:
        path.unlink()  # reuse must not need them
    monkeypatch.setattr(packaged, "installed_part_paths", lambda model: 1 / 0)
    assert materialize(parts.model, cache_root=tmp_path / "cache") == first
    assert (first / "model.safetensors").stat().st_mtime_ns == mtime


def test_installed_parts_are_located_when_none_are_given(tmp_path, monkeypatch):
    parts = make_parts(tmp_path / "parts")
    monkeypatch.setattr(packaged, "installed_part_paths", lambda model: parts.paths)
    folder = materialize(parts.model, cache_root=tmp_path / "cache")
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS


def test_concurrent_first_uses_build_once(tmp_path):
    parts = make_parts(tmp_path / "parts")
    extracted: list[str] = []
    results: list[os.PathLike] = []

    def use() -> None:
        results.append(
            materialize(
                parts.model,
                cache_root=tmp_path / "cache",
                part_paths=parts.paths,
                on_member=extracted.append,
            )
        )

    threads = [threading.Thread(target=use) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 1 and len(results) == 3
    assert extracted.count("tiny/model.safetensors") == 1


def test_cache_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("FEWDIMS_CACHE", str(tmp_path / "f"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert packaged.model_cache_root() == tmp_path / "f" / "models"
    monkeypatch.delenv("FEWDIMS_CACHE")
    assert packaged.model_cache_root() == tmp_path / "x" / "fewdims" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert packaged.model_cache_root() == tmp_path / "home" / ".cache" / "fewdims" / "models"
