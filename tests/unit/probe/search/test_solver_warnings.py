"""A probe fit that stops early is recorded in its cell, not printed as a warning block."""

from __future__ import annotations

import functools
import warnings

import numpy as np

from probe import linear
from probe.results import ResultCell, ResultsFile
from probe.search import SearchConfig, full
from probe.search.problem import Problem
from probe.sweep import solver_warning_summary


def _problem() -> Problem:
    rng = np.random.default_rng(0)
    features = rng.standard_normal((900, 12)).astype(np.float32)
    labels = (features[:, 0] + 0.5 * rng.standard_normal(900) > 0).astype(np.int64)
    return Problem.from_arrays(
        features[:700],
        labels[:700],
        features[700:],
        labels[700:],
        kind="binary",
        metrics=("accuracy",),
        primary_metric="accuracy",
    )


def test_unconverged_full_probe_is_recorded_in_details_and_not_warned(monkeypatch):
    monkeypatch.setattr(full, "fit_full", functools.partial(linear.fit_full, max_iter=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any escaping warning fails the test
        outcome = full.run(_problem(), SearchConfig())
    lines = outcome.details["solver_warnings"]
    assert len(lines) == 1  # the same message from five fits, kept once
    assert "\n" not in lines[0] and "iter" in lines[0].lower()


def test_converged_fit_records_nothing():
    outcome = full.run(_problem(), SearchConfig())
    assert "solver_warnings" not in outcome.details


def test_one_summary_line_names_the_cells():
    def cell(layer: int, method: str, notes: list[str] | None) -> ResultCell:
        details = {"solver_warnings": notes} if notes else {}
        return ResultCell(layer=layer, pooling="mean", method=method, details=details)

    results = ResultsFile(kind="probe", task="sst2", primary_metric="accuracy")
    results.cells = [cell(0, "full", ["lbfgs failed to converge"]), cell(0, "pairs", None)]
    results.cells += [cell(layer, "full", ["stopped"]) for layer in range(1, 5)]
    line = solver_warning_summary(results)
    assert line is not None and "\n" not in line
    assert line.startswith("5 of 6 cells")
    assert "layer 0 mean full, layer 1 mean full, layer 2 mean full and 2 more" in line
    results.cells = [cell(0, "pairs", None)]
    assert solver_warning_summary(results) is None
