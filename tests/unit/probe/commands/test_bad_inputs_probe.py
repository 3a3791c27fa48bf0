"""Bad-input rows of ``fewdims probe``: unusable or mismatched caches and out-of-range options."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.probe.commands.bad_input_matrix import (
    Case,
    Workspace,
    check_row,
)


def probe(ws: Workspace, tmp: Path, train: Path, dev: Path, *extra: str) -> list[str]:
    return [
        "probe",
        "--train",
        str(train),
        "--eval",
        str(dev),
        "--out",
        str(tmp / "results.json"),
        "--methods",
        "full",
        "--pooling",
        "cls",
        "--quiet",
        *extra,
    ]


CASES: list[Case] = [
    Case(
        "probe: --seeds with a repeated seed",
        lambda ws, t: probe(ws, t, ws.train, ws.dev, "--seeds", "0,1,0"),
        stderr=(r"--seeds lists seed\(s\) 0 more than once", r"list every seed once"),
        outputs=("results.json",),
    ),
    Case(
        "probe: --seeds that are not integers",
        lambda ws, t: probe(ws, t, ws.train, ws.dev, "--seeds", "a,b"),
        stderr=(r"--seeds takes comma-separated integer seeds like 0,1,2; got 'a,b'",),
        outputs=("results.json",),
    ),
    Case(
        "probe: unlabeled train split",
        lambda ws, t: probe(ws, t, ws.unlabeled, ws.dev),
        stderr=(r"unlabeled.h5 \(toy train\) has no labels", r"Pass a labeled split's cache"),
        outputs=("results.json",),
    ),
    Case(
        "probe: caches from different models",
        lambda ws, t: probe(ws, t, ws.train, ws.other_weights),
        stderr=(r"different model weights", r"same model"),
        outputs=("results.json",),
    ),
    Case(
        "probe: caches of different tasks",
        lambda ws, t: probe(ws, t, ws.train, ws.other_task),
        stderr=(r"different tasks \(toy vs other\)",),
        outputs=("results.json",),
    ),
    Case(
        "probe: layer not in the cache",
        lambda ws, t: probe(ws, t, ws.train, ws.dev, "--layers", "9"),
        stderr=(r"Layer 9 is not in cache", r"stored layers: 0, 1, 2"),
        outputs=("results.json",),
    ),
    Case(
        "probe: subset size beyond the hidden size",
        lambda ws, t: [*probe(ws, t, ws.train, ws.dev), "--methods", "greedy", "--k", "500"],
        stderr=(r"k=500 must lie in 1\.\.32", r"smaller --k"),
        outputs=("results.json",),
    ),
    Case(
        "probe: unknown pooling",
        lambda ws, t: [*probe(ws, t, ws.train, ws.dev), "--pooling", "max"],
        stderr=(r"--pooling got max; choose from cls, mean, maxnorm",),
        outputs=("results.json",),
    ),
    Case(
        "probe: missing cache",
        lambda ws, t: probe(ws, t, t / "none.h5", ws.dev),
        stderr=(r"none.h5 does not exist",),
        outputs=("results.json",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, ws: Workspace, tmp_path: Path, monkeypatch, capsys):
    check_row(case, ws, tmp_path, monkeypatch, capsys)
