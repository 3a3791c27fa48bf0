"""Predictions travel in a compressed sidecar: exact round trip, dedup, old files still load."""

import json

import numpy as np
import pytest

from probe.predictions import read_npz
from probe.results import ResultCell, ResultsFile, sidecar_path


def results_with_predictions() -> ResultsFile:
    labels = np.array([0, 1, 1, 0, 1])
    winner = np.array([0, 1, 0, 0, 1])
    cell = ResultCell(
        layer=3,
        pooling="mean",
        method="pairs",
        dims=[4, 9],
        scores={"eval": {"accuracy": 0.8}},
        intervals={"eval": {"accuracy": [0.6, 1.0]}},
        predictions={"eval": winner, "top/0": winner.copy(), "labels": labels},
    )
    regression = ResultCell(
        layer=3,
        pooling="mean",
        method="full",
        predictions={"eval": np.array([0.25, -1.5, 3.0]), "labels": labels},
    )
    return ResultsFile("probe", "sst2", "accuracy", cells=[cell, regression])


def test_round_trip_is_exact_and_identical_arrays_are_stored_once(tmp_path):
    path = tmp_path / "sst2-probe.json"
    results_with_predictions().save(path)
    sidecar = sidecar_path(path)
    assert sidecar.name == "sst2-probe.predictions.npz"
    payload = json.loads(path.read_text())
    assert payload["version"] == 2
    assert payload["predictions_file"] == sidecar.name
    names = payload["cells"][0]["predictions"]
    assert names["eval"] == names["top/0"]  # same content, one array
    assert payload["cells"][1]["predictions"]["labels"] == names["labels"]
    archive = read_npz(sidecar)
    assert len(archive) == 3
    assert archive[names["eval"]].dtype == np.int8
    loaded = ResultsFile.load(path)
    original = results_with_predictions()
    for got, want in zip(loaded.cells, original.cells, strict=True):
        assert got.predictions.keys() == want.predictions.keys()
        for key in want.predictions:
            np.testing.assert_array_equal(got.predictions[key], want.predictions[key])
    assert loaded.cells[0].intervals == {"eval": {"accuracy": [0.6, 1.0]}}
    assert loaded.predictions_note == ""


def test_a_missing_sidecar_loads_without_predictions_and_says_why(tmp_path):
    path = tmp_path / "sst2-probe.json"
    results_with_predictions().save(path)
    sidecar_path(path).unlink()
    loaded = ResultsFile.load(path)
    assert not loaded.has_predictions
    assert "sst2-probe.predictions.npz is missing" in loaded.predictions_note


def test_a_version_1_file_without_predictions_still_loads(tmp_path):
    old = {
        "format": "fewdims-results",
        "version": 1,
        "kind": "probe",
        "task": "sst2",
        "primary_metric": "accuracy",
        "provenance": {},
        "cells": [
            {"layer": 0, "pooling": "cls", "method": "full", "scores": {"eval": {"accuracy": 0.7}}}
        ],
    }
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    loaded = ResultsFile.load(path)
    assert loaded.cells[0].eval_score("accuracy") == 0.7
    assert loaded.cells[0].intervals == {} and not loaded.has_predictions
    assert loaded.predictions_note == ""


def test_results_without_predictions_write_no_sidecar(tmp_path):
    path = tmp_path / "plain.json"
    ResultsFile("probe", "sst2", "accuracy", cells=[ResultCell(0, "cls", "full")]).save(path)
    assert not sidecar_path(path).exists()
    assert json.loads(path.read_text())["predictions_file"] == ""


def test_regression_predictions_are_float16_and_recompute_the_metric(tmp_path):
    from probe.metrics import metric

    rng = np.random.default_rng(0)
    labels = rng.uniform(0, 5, 1500)
    predicted = labels + rng.normal(0, 1, 1500)
    cell = ResultCell(0, "cls", "full", predictions={"eval": predicted, "labels": labels})
    path = ResultsFile("probe", "stsb", "pearson", cells=[cell]).save(tmp_path / "r.json")
    loaded = ResultsFile.load(path).cells[0].predictions
    assert loaded["eval"].dtype == np.float16 and loaded["labels"].dtype == np.float32
    for name in ("pearson", "spearman"):
        again = metric(name, loaded["labels"].astype(float), loaded["eval"].astype(float))
        assert again == pytest.approx(metric(name, labels, predicted), abs=1e-4)


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_saved_files_get_the_permissions_open_would_give(tmp_path, umask):
    """The atomic write goes through mkstemp (owner-only); the finished files must not stay so."""
    import os
    import stat

    path = tmp_path / "sst2-probe.json"
    previous = os.umask(umask)
    try:
        results_with_predictions().save(path)
    finally:
        os.umask(previous)
    for written in (path, sidecar_path(path)):
        assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask, written.name
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name, sidecar_path(path).name]
