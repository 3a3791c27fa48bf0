"""`fewdims run` end to end on the tiny random BERT and a tiny GLUE-layout fixture."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from extract.extractor import ExtractConfig
from extract.pipeline import RunConfig, run_pipeline
from probe.cli import main
from probe.errors import DataError
from probe.results import ResultsFile
from tests.unit.helpers import synthetic_split


def write_sst2(root: Path, n_train: int = 120, n_dev: int = 60) -> Path:
    folder = root / "SST-2"
    folder.mkdir(parents=True)
    for name, n, seed in (("train", n_train, 0), ("dev", n_dev, 1)):
        split = synthetic_split(n, seed=seed)
        lines = ["sentence\tlabel"] + [
            f"{texts[0]} \t{label}" for texts, label in zip(split.texts, split.labels, strict=True)
        ]
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture()
def quick_config(tmp_path, tiny_model_dir) -> RunConfig:
    return RunConfig(
        tasks=["sst2"],
        data_dir=str(write_sst2(tmp_path / "glue")),
        out_dir=tmp_path / "report",
        cache_dir=tmp_path / "features",
        extract=ExtractConfig(model=str(tiny_model_dir), device="cpu", batch_size=16),
        methods=("full", "rank", "pairs", "greedy", "random"),
        layers=(0, -1),
        poolings=("cls", "maxnorm"),
        k=4,
    )


def test_run_writes_report_and_reuses_caches(quick_config):
    first = run_pipeline(quick_config)
    (task_run,) = first.tasks
    assert not task_run.train_cache.reused and not task_run.eval_cache.reused
    assert first.report_html.is_file() and first.report_markdown.is_file()
    results = ResultsFile.load(task_run.probe_results)
    assert results.task == "sst2" and results.primary_metric == "accuracy"
    layers = {cell.layer for cell in results.cells}
    assert layers == {0, 2}
    assert {cell.method for cell in results.cells} == {"full", "rank", "pairs", "greedy", "random"}
    assert all(0.0 <= cell.eval_score("accuracy") <= 1.0 for cell in results.find(method="full"))
    provenance = json.dumps(results.provenance)
    assert (
        str(task_run.train_cache.path) in provenance and str(task_run.eval_cache.path) in provenance
    )
    cache_times = [
        task_run.train_cache.path.stat().st_mtime_ns,
        task_run.eval_cache.path.stat().st_mtime_ns,
    ]

    second = run_pipeline(quick_config)
    (again,) = second.tasks
    assert again.train_cache.reused and again.eval_cache.reused, "a re-run must not extract again"
    assert [
        again.train_cache.path.stat().st_mtime_ns,
        again.eval_cache.path.stat().st_mtime_ns,
    ] == cache_times
    reread = ResultsFile.load(again.probe_results)
    assert [c.dims for c in reread.cells] == [c.dims for c in results.cells], (
        "deterministic under a seed"
    )


def test_train_sample_and_partitioned_dev(quick_config):
    quick_config.max_train_examples = 50
    outcome = run_pipeline(quick_config)
    meta = outcome.tasks[0].train_cache.meta
    assert (
        meta.n_examples == 50 and outcome.tasks[0].train_cache.path.name == "sst2-train-n50-s0.h5"
    )
    quick_config.max_train_examples = None
    quick_config.train_from_dev = 0.5
    outcome = run_pipeline(quick_config)
    train_meta, eval_meta = outcome.tasks[0].train_cache.meta, outcome.tasks[0].eval_cache.meta
    assert (train_meta.split, eval_meta.split) == ("dev-part1", "dev-part2")
    assert train_meta.n_examples + eval_meta.n_examples == 60
    with_rows = []
    for summary in (outcome.tasks[0].train_cache, outcome.tasks[0].eval_cache):
        from probe.cache import Cache

        with Cache.open(summary.path) as cache:
            with_rows.append(set(cache.row_index.tolist()))
    assert not with_rows[0] & with_rows[1], "the two dev parts share no example"


def test_missing_train_split_suggests_train_from_dev(quick_config):
    (Path(quick_config.data_dir) / "SST-2" / "train.tsv").unlink()
    with pytest.raises(DataError, match="--train-from-dev"):
        run_pipeline(quick_config)


def test_cli_run(quick_config, capsys, monkeypatch):
    monkeypatch.chdir(quick_config.out_dir.parent)
    code = main(
        [
            "run",
            "--task",
            "sst2",
            "--model",
            quick_config.extract.model,
            "--data-dir",
            quick_config.data_dir,
            "--out",
            "cli-report",
            "--cache-dir",
            "cli-features",
            "--device",
            "cpu",
            "--methods",
            "full,pairs",
            "--layers",
            "-1",
            "--pooling",
            "cls,maxnorm",
        ]
    )
    assert code == 0
    assert "report:" in capsys.readouterr().out
    merged = json.loads(Path("cli-report/results.json").read_text())
    assert merged
    assert Path("cli-report/report.html").read_text().count("data:image/png;base64,") >= 1
    assert np.all([p.suffix == ".h5" for p in Path("cli-features").rglob("*") if p.is_file()])


def test_cli_run_repeats_the_sweep_over_seeds(quick_config, capsys, monkeypatch):
    monkeypatch.chdir(quick_config.out_dir.parent)
    argv = ["run", "--task", "sst2", "--model", quick_config.extract.model, "--data-dir",
            quick_config.data_dir, "--out", "seeds-report", "--cache-dir", "seeds-features",
            "--device", "cpu", "--methods", "full,pairs", "--layers", "-1", "--pooling", "cls",
            "--seeds", "0,4"]  # fmt: skip
    assert main(argv) == 0
    results = ResultsFile.load(Path("seeds-report/results/sst2-probe.json"))
    assert [(cell.method, cell.seed) for cell in results.cells] == [
        ("full", 0), ("pairs", 0), ("full", 4), ("pairs", 4)
    ]  # fmt: skip
    assert results.provenance["seeds"] == [0, 4]
    assert "(2 seeds)" in Path("seeds-report/report.md").read_text()
    capsys.readouterr()
    assert main([*argv[:-1], "4,4"]) == 2
    assert "more than once" in capsys.readouterr().err


def test_run_with_finetune_adds_finetune_results(quick_config):
    quick_config.finetune = True
    quick_config.finetune_max_train_examples = 40
    quick_config.methods = ("full", "pairs")
    outcome = run_pipeline(quick_config)
    (task_run,) = outcome.tasks
    assert [path.name for path in task_run.finetune_results] == [
        "sst2-finetune-best-pair.json",
        "sst2-finetune-all-dims.json",
    ]
    best_pair = ResultsFile.load(task_run.finetune_results[0])
    probe = ResultsFile.load(task_run.probe_results)
    chosen = max(probe.find(method="pairs"), key=lambda cell: cell.scores["validation"]["accuracy"])
    (cell,) = best_pair.cells
    assert best_pair.kind == "finetune" and cell.method == "finetune"
    assert cell.dims == chosen.dims and (cell.layer, cell.pooling) == (chosen.layer, chosen.pooling)
    assert "fine-tun" in outcome.report_markdown.read_text().lower()


def test_run_reuses_a_cache_made_by_fewdims_extract(quick_config, monkeypatch):
    """`fewdims extract` (no --out) and `fewdims run` name caches the same way."""
    monkeypatch.chdir(quick_config.out_dir.parent)
    args = ["extract", "--model", quick_config.extract.model, "--task", "sst2", "--split", "dev"]
    assert (
        main([*args, "--data-dir", quick_config.data_dir, "--device", "cpu", "--batch-size", "16"])
        == 0
    )
    quick_config.cache_dir = Path("data") / "features"
    quick_config.methods = ("full",)
    (task_run,) = run_pipeline(quick_config).tasks
    assert task_run.eval_cache.reused and not task_run.train_cache.reused
