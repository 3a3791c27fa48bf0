"""The bad-input matrix: every command, fed what users actually get wrong.

Each row runs the CLI in-process (``probe.cli.main``) and checks the exit status (2 for a user
error), that stderr names the problem and the fix (regexes), that no traceback is shown,
and that nothing partial is left behind at the paths the command was told to write.
A few rows are valid-but-unusual inputs that must *work* (exit 0).
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from extract.extractor import ExtractConfig, extract_split
from probe.cache import Cache
from probe.cli import main
from tests.unit.helpers import synthetic_split


@dataclass
class Workspace:
    root: Path
    model: Path
    other_model: Path
    rows: Path
    train: Path
    dev: Path
    unlabeled: Path
    other_task: Path
    other_weights: Path
    old_results: Path


@pytest.fixture(scope="module")
def ws(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("bad-inputs")
    other_model = root / "other-model"
    model = AutoModel.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        model.encoder.layer[0].output.dense.weight.add_(0.01)
    model.save_pretrained(other_model)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(other_model)
    rows = root / "rows.tsv"
    rows.write_text("text\tlabel\nthe movie was good\t1\na bad film\t0\nreally fun\t1\nboring\t0\n")
    config = ExtractConfig(model=str(tiny_model_dir), batch_size=8, max_length=16, device="cpu")
    caches = {}
    for name, split in {
        "train": synthetic_split(40, seed=1),
        "dev": synthetic_split(20, seed=2),
        "unlabeled": synthetic_split(20, seed=3, labeled=False),
        "other_task": synthetic_split(20, seed=4, task="other"),
    }.items():
        caches[name] = root / f"{name}.h5"
        extract_split(split, caches[name], config)
    caches["other_weights"] = root / "other_weights.h5"
    extract_split(
        synthetic_split(20, seed=2),
        caches["other_weights"],
        ExtractConfig(**{**config.__dict__, "model": str(other_model)}),
    )
    old_results = root / "old-results.json"
    old_results.write_text(json.dumps({"format": "fewdims-results", "version": 99, "cells": []}))
    return Workspace(
        root=root,
        model=tiny_model_dir,
        other_model=other_model,
        rows=rows,
        old_results=old_results,
        **caches,
    )


@dataclass
class Case:
    """One row: argv (built from the workspace and a fresh tmp dir), expected outcome."""

    name: str
    argv: Callable[[Workspace, Path], list[str]]
    code: int = 2
    stderr: tuple[str, ...] = ()  # regexes that must all match stderr
    setup: Callable[[Workspace, Path, pytest.MonkeyPatch], None] | None = None
    check: Callable[[Workspace, Path], None] | None = None
    outputs: tuple[str, ...] = ("out.h5",)  # must not exist (nor their siblings) on failure


def extract(ws: Workspace, tmp: Path, *extra: str, data: Path | None = None) -> list[str]:
    return [
        "extract",
        "--model",
        str(ws.model),
        "--data-file",
        str(data or ws.rows),
        "--text-columns",
        "text",
        "--label-column",
        "label",
        "--device",
        "cpu",
        "--out",
        str(tmp / "out.h5"),
        *extra,
    ]


def glue_extract(ws: Workspace, tmp: Path, data_dir: Path) -> list[str]:
    """``extract`` of GLUE SST-2 read from ``data_dir`` (the GLUE-layout cases)."""
    source = ["--task", "sst2", "--data-dir", str(data_dir)]
    return ["extract", "--model", str(ws.model), *source, "--out", str(tmp / "out.h5")]


def write(tmp: Path, name: str, content: str | bytes) -> Path:
    path = tmp / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


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


def finetune(ws: Workspace, tmp: Path, *extra: str) -> list[str]:
    return [
        "finetune",
        "--model",
        str(ws.model),
        "--data-file",
        str(ws.rows),
        "--text-columns",
        "text",
        "--label-column",
        "label",
        "--eval-file",
        str(ws.rows),
        "--device",
        "cpu",
        "--epochs",
        "1",
        "--out",
        str(tmp / "finetune.json"),
        *extra,
    ]


def long_rows_check(ws: Workspace, tmp: Path) -> None:
    with Cache.open(tmp / "out.h5") as cache:
        assert cache.meta.n_truncated == 2 and cache.lengths.max() == 16


def extra_columns_check(ws: Workspace, tmp: Path) -> None:
    with Cache.open(tmp / "out.h5") as cache:
        assert sorted(cache.texts()) == [("a bad film",), ("the movie was good",)]


def no_space(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil as shutil_module

    usage = shutil_module.disk_usage(tmp)
    monkeypatch.setattr(shutil_module, "disk_usage", lambda path: usage._replace(free=4096))


def enospc_on_fsync(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)


def enospc_in_consolidation(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = h5py.Group.create_dataset

    def create(self, name, *args, **kwargs):
        if self.file.filename == str(tmp / "out.h5.tmp") and name == "tokens/special":
            raise OSError(errno.ENOSPC, "No space left on device")
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "create_dataset", create)
    monkeypatch.setenv("FEWDIMS_PART_TOKENS", "4")


def enospc_on_third_fsync(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first part's chunks and its record are synced; the second part's chunks fail."""
    original = os.fsync
    calls = {"count": 0}

    def fsync(fd: int) -> None:
        calls["count"] += 1
        if calls["count"] >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        original(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setenv("FEWDIMS_PART_TOKENS", "4")


def in_place_parts_kept_check(ws: Workspace, tmp: Path) -> None:
    assert sorted(p.name for p in tmp.glob("out.h5*")) == ["out.h5.partial", "out.h5.tmp"]
    assert [p.name for p in (tmp / "out.h5.partial").glob("part-*")] == ["part-00000.h5"]


def parts_kept_check(ws: Workspace, tmp: Path) -> None:
    assert sorted(p.name for p in tmp.glob("out.h5*")) == ["out.h5.partial"]
    assert not list((tmp / "out.h5.partial").glob("*.tmp"))


def truncated_copy(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ws.dev, tmp / "cut.h5")
    with open(tmp / "cut.h5", "r+b") as raw:
        raw.truncate(raw.seek(0, 2) // 2)


def plain_hdf5(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with h5py.File(tmp / "plain.h5", "w") as handle:
        handle["x"] = np.arange(3)


def glue_dir_with_broken_row(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp, "glue/SST-2/dev.tsv", "sentence\tlabel\ngood film\t1\nno label here\n")


def glue_dir_without_labels(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp, "glue/SST-2/dev.tsv", "sentence\ngood film\n")


def offline(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def existing_other_cache(ws: Workspace, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(ws.dev, tmp / "out.h5")


CASES: list[Case] = [
    # ---------------------------------------------------------------- extract: model
    Case(
        "unknown model",
        lambda ws, t: [*extract(ws, t), "--model", str(t / "models" / "bert-typo")],
        stderr=(
            r"Model directory .*bert-typo does not exist",
            r"Check the path, or pass a hub name",
        ),
        setup=offline,
    ),
    Case(
        "model dir without config",
        lambda ws, t: [*extract(ws, t), "--model", str(t)],
        stderr=(r"has no config.json", r"save_pretrained"),
    ),
    Case(
        "layers out of range",
        lambda ws, t: extract(ws, t, "--layers", "0,7"),
        stderr=(r"Layer\(s\) \[7\] out of range", r"0\.\.2"),
    ),
    Case(
        "max length beyond the model",
        lambda ws, t: extract(ws, t, "--max-length", "4096"),
        stderr=(r"exceeds the 128 positions", r"--max-length 128 or less"),
    ),
    Case(
        "max length too small",
        lambda ws, t: extract(ws, t, "--max-length", "1"),
        stderr=(r"--max-length must be at least 2",),
    ),
    Case(
        "batch size zero",
        lambda ws, t: extract(ws, t, "--batch-size", "0"),
        stderr=(r"--batch-size must be at least 1",),
    ),
    Case(
        "bad dtype (argparse)",
        lambda ws, t: extract(ws, t, "--dtype", "int8"),
        stderr=(r"invalid choice: 'int8'",),
    ),
    # ---------------------------------------------------------------- extract: data
    Case(
        "unknown task",
        lambda ws, t: [
            "extract",
            "--model",
            str(ws.model),
            "--task",
            "sst3",
            "--out",
            str(t / "out.h5"),
        ],
        stderr=(r"sst3", r"sst2"),
    ),
    Case(
        "missing data dir",
        lambda ws, t: glue_extract(ws, t, t / "nowhere"),
        stderr=(r"data directory .*nowhere does not exist", r"--data-dir|FEWDIMS_DATA"),
        setup=offline,
    ),
    Case(
        "GLUE row with too few fields",
        lambda ws, t: glue_extract(ws, t, t / "glue"),
        stderr=(r"dev.tsv, line 3: 1 fields where the header has 2", r"malformed"),
        setup=glue_dir_with_broken_row,
    ),
    Case(
        "GLUE dev without label column",
        lambda ws, t: glue_extract(ws, t, t / "glue"),
        stderr=(r"should have a 'label' column",),
        setup=glue_dir_without_labels,
    ),
    Case(
        "missing data file",
        lambda ws, t: extract(ws, t, data=t / "absent.tsv"),
        stderr=(r"absent.tsv does not exist", r"--data-file"),
    ),
    Case(
        "missing text column",
        lambda ws, t: [*extract(ws, t), "--text-columns", "sentence"],
        stderr=(r"column\(s\) \['sentence'\] not found", r"--text-columns"),
    ),
    Case(
        "missing label column",
        lambda ws, t: [*extract(ws, t), "--label-column", "gold"],
        stderr=(r"\['gold'\] not found", r"--label-column"),
    ),
    Case(
        "three text columns",
        lambda ws, t: [*extract(ws, t), "--text-columns", "a,b,c"],
        stderr=(r"one column name, or two for sentence pairs",),
    ),
    Case(
        "data file without --text-columns",
        lambda ws, t: [
            "extract",
            "--model",
            str(ws.model),
            "--data-file",
            str(ws.rows),
            "--out",
            str(t / "out.h5"),
        ],
        stderr=(r"--data-file needs --text-columns",),
    ),
    Case(
        "neither task nor data file",
        lambda ws, t: ["extract", "--out", str(t / "out.h5")],
        stderr=(r"Pass --task .* or --data-file",),
    ),
    Case(
        "empty split (header only)",
        lambda ws, t: extract(ws, t, data=write(t, "empty.tsv", "text\tlabel\n")),
        stderr=(r"holds no rows", r"empty"),
    ),
    Case(
        "non-UTF-8 text",
        lambda ws, t: extract(
            ws, t, data=write(t, "latin.tsv", "text\tlabel\ncaf\xe9\t1\n".encode("latin-1"))
        ),
        stderr=(r"not valid UTF-8", r"re-encode"),
    ),
    Case(
        "invalid JSONL",
        lambda ws, t: extract(
            ws, t, data=write(t, "rows.jsonl", '{"text": "ok", "label": 1}\n{oops\n')
        ),
        stderr=(r"rows.jsonl: line 2 is not valid JSON",),
    ),
    Case(
        "unsupported file type",
        lambda ws, t: extract(ws, t, data=write(t, "rows.xlsx", "x")),
        stderr=(r"unsupported file type '.xlsx'", r"\.csv, \.tsv, \.jsonl or \.parquet"),
    ),
    Case(
        "regression label not a number",
        lambda ws, t: extract(
            ws, t, "--regression", data=write(t, "s.tsv", "text\tlabel\nok\thigh\n")
        ),
        stderr=(r"holds a non-number",),
    ),
    Case(
        "extra columns are ignored",
        lambda ws, t: extract(
            ws,
            t,
            data=write(
                t, "wide.csv", "id,text,label,notes\n1,the movie was good,1,x\n2,a bad film,0,y\n"
            ),
        ),
        code=0,
        check=extra_columns_check,
    ),
    Case(
        "sequences far beyond max length are truncated and counted",
        lambda ws, t: extract(
            ws,
            t,
            "--max-length",
            "16",
            data=write(
                t,
                "long.tsv",
                "text\tlabel\n" + "good " * 3000 + "\t1\nfine\t0\n" + "bad " * 500 + "\t0\n",
            ),
        ),
        code=0,
        check=long_rows_check,
    ),
    # ---------------------------------------------------------------- extract: output
    Case(
        "output folder is a file",
        lambda ws, t: [*extract(ws, t), "--out", str(write(t, "file", "x") / "out.h5")],
        stderr=(r"Cannot create the folder .*file", r"writable --out"),
    ),
    Case(
        "output path is a folder",
        lambda ws, t: [*extract(ws, t), "--out", str(t)],
        stderr=(r"--out .* is a folder", r"file path"),
    ),
    Case(
        "output holds another cache",
        lambda ws, t: extract(ws, t),
        stderr=(r"already exists and holds a different cache", r"--overwrite"),
        setup=existing_other_cache,
        outputs=(),
    ),
    Case(
        "disk too small (checked up front)",
        lambda ws, t: extract(ws, t),
        stderr=(r"needs about .* MiB .* but only 0\.0 MiB are free", r"another disk"),
        setup=no_space,
    ),
    Case(
        "disk full while writing a part",
        lambda ws, t: extract(ws, t),
        stderr=(r"disk is full", r"Nothing was left behind"),
        setup=enospc_on_fsync,
    ),
    Case(
        "disk full while consolidating (compressed caches)",
        lambda ws, t: extract(ws, t, "--compression", "gzip"),
        stderr=(r"disk is full", r"finished part\(s\) .* kept in .*out.h5.partial", r"resumes"),
        setup=enospc_in_consolidation,
        check=parts_kept_check,
        outputs=(),
    ),
    Case(
        "disk full after some parts were written in place",
        lambda ws, t: extract(ws, t),
        stderr=(
            r"disk is full",
            r"finished part\(s\) are kept in .*out.h5.tmp .* recorded in .*out.h5.partial",
            r"resumes",
        ),
        setup=enospc_on_third_fsync,
        check=in_place_parts_kept_check,
        outputs=(),
    ),
    Case(
        "bad --shard",
        lambda ws, t: extract(ws, t, "--shard", "2/2"),
        stderr=(r"--shard 2/2 is out of range",),
    ),
    Case(
        "bad FEWDIMS_PART_TOKENS",
        lambda ws, t: extract(ws, t),
        stderr=(r"FEWDIMS_PART_TOKENS='lots' must be a positive integer",),
        setup=lambda ws, t, mp: mp.setenv("FEWDIMS_PART_TOKENS", "lots"),
    ),
    # ---------------------------------------------------------------- info / verify / merge
    Case(
        "info on a missing cache",
        lambda ws, t: ["info", str(t / "none.h5")],
        stderr=(r"does not exist", r"Run `fewdims extract` first"),
    ),
    Case(
        "info on a non-HDF5 file",
        lambda ws, t: ["info", str(write(t, "n.h5", "hello"))],
        stderr=(r"cannot be opened as HDF5", r"--overwrite"),
    ),
    Case(
        "info on HDF5 that is not a cache",
        lambda ws, t: ["info", str(t / "plain.h5")],
        stderr=(r"not a fewdims cache",),
        setup=plain_hdf5,
    ),
    Case(
        "verify a truncated cache",
        lambda ws, t: ["verify", str(t / "cut.h5")],
        stderr=(r"cut.h5: \(file\): .*truncated", r"Re-extract"),
        setup=truncated_copy,
    ),
    Case(
        "merge caches that are not shards",
        lambda ws, t: ["merge", str(ws.train), str(ws.dev), "--out", str(t / "out.h5")],
        stderr=(r"is not a shard", r"Pass the shard files only"),
    ),
    # ---------------------------------------------------------------- probe
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
    # ---------------------------------------------------------------- report / finetune
    Case(
        "report: results file of another version",
        lambda ws, t: ["report", str(ws.old_results), "--out", str(t / "report")],
        stderr=(r"version 99", r"reads versions 1, 2"),
        outputs=("report",),
    ),
    Case(
        "report: not JSON",
        lambda ws, t: ["report", str(write(t, "r.json", "{oops")), "--out", str(t / "report")],
        stderr=(r"r.json is not valid JSON", r"not a fewdims results file"),
        outputs=("report",),
    ),
    Case(
        "finetune: dims out of range",
        lambda ws, t: finetune(ws, t, "--dims", "3,99"),
        stderr=(r"Dim\(s\) \[99\] are out of range", r"dims 0\.\.31"),
        outputs=("finetune.json",),
    ),
    Case(
        "finetune: dims from a results file of another version",
        lambda ws, t: finetune(ws, t, "--dims-from", str(ws.old_results)),
        stderr=(r"version 99",),
        outputs=("finetune.json",),
    ),
]


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as stop:  # argparse usage errors
        return int(stop.code or 0)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, ws: Workspace, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.delenv("FEWDIMS_PART_TOKENS", raising=False)
    if case.setup is not None:
        case.setup(ws, tmp_path, monkeypatch)
    argv = case.argv(ws, tmp_path)
    if argv[0] not in _registered_commands():
        pytest.skip(f"`fewdims {argv[0]}` is not available in this checkout")
    code = run_cli(argv)
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert code == case.code, err
    assert "Traceback" not in err
    for pattern in case.stderr:
        assert re.search(pattern, err), (pattern, err)
    if case.check is not None:
        case.check(ws, tmp_path)
    if code != 0:
        for name in case.outputs:
            left = sorted(p.name for p in tmp_path.glob(name + "*"))
            assert left == [], f"partial output left behind: {left}"


def _registered_commands() -> set[str]:
    from probe.cli import _available_commands

    return set(_available_commands())


def test_matrix_covers_every_command(ws, tmp_path):
    commands = {case.argv(ws, tmp_path)[0] for case in CASES}
    assert len(CASES) >= 20
    assert commands >= {"extract", "info", "verify", "merge", "probe", "report", "finetune"}
