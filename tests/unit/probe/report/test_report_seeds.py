"""``fewdims report`` on results repeated over seeds: mean ± sd (n seeds) and sd error bars.

The probe file is a real 3-seed sweep of the committed tiny caches (methods full and greedy,
so each seed's best k-dim subset is its greedy step k and the expectations can be computed
here, independently of the report code); the fine-tuning file is built by hand.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from matplotlib.axes import Axes

from probe.report import render_report
from probe.results import ResultCell, ResultsFile
from probe.search import SearchConfig
from probe.sweep import SweepSpec, run_sweep
from tests.data.make_tiny_cache import TINY_DEV, TINY_TRAIN

pytestmark = pytest.mark.torch_free

SEEDS = (0, 1, 2)
METRIC = "accuracy"
TUNED = (0.81, 0.84, 0.78)


def mean_sd(values) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f} ({len(values)} seeds)"


@pytest.fixture(scope="module")
def probe_results():
    spec = SweepSpec(
        train_path=str(TINY_TRAIN),
        eval_path=str(TINY_DEV),
        layers=(1,),
        poolings=("cls", "mean"),
        methods=("full", "greedy"),
        config=SearchConfig(k=3, top_k=5, pool_size=20),
        seeds=SEEDS,
    )
    return run_sweep(spec)


def finetune_results() -> ResultsFile:
    cells = [
        ResultCell(1, "mean", "finetune", [2, 5], {"eval": {METRIC: score}},
                   details={"task": "synthetic", "stage": "stage 1: synthetic", "frozen": False,
                            "head": "linear", "trained_on": "synthetic"},
                   seconds=10.0 + seed, seed=seed)
        for seed, score in zip(SEEDS, TUNED, strict=True)
    ]  # fmt: skip
    return ResultsFile("finetune", "synthetic", METRIC, {"model": "toy"}, cells)


@pytest.fixture(scope="module")
def report(probe_results, tmp_path_factory):
    folder = tmp_path_factory.mktemp("seeds-report")
    probe_path = probe_results.save(folder / "probe.json")
    tuned_path = finetune_results().save(folder / "tuned.json")
    calls: list[tuple[str, dict]] = []
    patch = pytest.MonkeyPatch()
    for name in ("errorbar", "bar"):
        real = getattr(Axes, name)

        def recording(self, *args, _real=real, _name=name, **kwargs):
            calls.append((_name, {"args": args, **kwargs}))
            return _real(self, *args, **kwargs)

        patch.setattr(Axes, name, recording)
    try:
        paths = render_report([probe_path, tuned_path], folder / "report")
    finally:
        patch.undo()
    return paths, paths.markdown.read_text(encoding="utf-8"), calls


def per_seed(results: ResultsFile, pooling: str, method: str) -> list[ResultCell]:
    cells = results.find(layer=1, pooling=pooling, method=method)
    assert [cell.seed for cell in cells] == list(SEEDS)
    return cells


def greedy_step(cell: ResultCell, k: int) -> dict:
    return next(step for step in cell.steps if step["k"] == k)


def test_tables_show_mean_sd_and_n_seeds(probe_results, report):
    _, markdown, _ = report
    for pooling in ("cls", "mean"):
        full = [c.scores["eval"][METRIC] for c in per_seed(probe_results, pooling, "full")]
        greedy = per_seed(probe_results, pooling, "greedy")
        two = [greedy_step(cell, 2) for cell in greedy]
        dims = " / ".join("[" + ", ".join(map(str, step["dims"])) + "]" for step in two)
        (line,) = [row for row in markdown.splitlines() if row.startswith(f"| 1 | {pooling} |")]
        assert mean_sd(full) in line
        assert f"{mean_sd([step['eval'][METRIC] for step in two])} {dims}" in line
    assert "repeated over 3 inner-split seeds (0, 1, 2" in markdown
    assert "sample standard deviation over seeds (ddof = 1)" in markdown


def test_finetune_runs_over_seeds_become_one_row(report):
    _, markdown, _ = report
    rows = [row for row in markdown.splitlines() if "stage 1: synthetic" in row]
    assert len(rows) == 1 and "seeds 0, 1, 2" in rows[0]
    assert mean_sd(list(TUNED)) in rows[0]
    assert "| 11.0 |" in rows[0]  # mean seconds per seed


def test_html_shows_the_same_spreads(probe_results, report):
    paths, _, _ = report
    html = paths.html.read_text(encoding="utf-8")
    assert mean_sd(list(TUNED)) in html and "(3 seeds)" in html


def test_plots_draw_sd_error_bars(probe_results, report):
    _, _, calls = report
    greedy = per_seed(probe_results, "mean", "greedy")
    ks = [1, 2, 3]
    sds = [np.std([greedy_step(c, k)["eval"][METRIC] for c in greedy], ddof=1) for k in ks]
    means = [np.mean([greedy_step(c, k)["eval"][METRIC] for c in greedy]) for k in ks]
    curves = [
        kwargs for name, kwargs in calls
        if name == "errorbar" and list(kwargs["args"][0]) == ks
        and np.allclose(kwargs["args"][1], means)
    ]  # fmt: skip
    assert curves, "the greedy curve of layer 1 / mean was not drawn at its seed means"
    assert np.allclose(curves[0]["yerr"], [sds, sds])
    bars = [kw for name, kw in calls if name == "bar" and kw.get("yerr") is not None]
    sd = np.std(TUNED, ddof=1)
    assert any(np.allclose(kw["yerr"], [[sd], [sd]]) for kw in bars)
    assert any(np.allclose(kw["args"][1], [np.mean(TUNED)]) for kw in bars)


def test_single_seed_reports_are_unchanged(probe_results, tmp_path):
    cells = [replace(cell, seed=None) for cell in probe_results.cells if cell.seed == 0]
    single = ResultsFile("probe", probe_results.task, METRIC, probe_results.provenance, cells)
    paths = render_report([single.save(tmp_path / "one.json")], tmp_path / "report")
    markdown = paths.markdown.read_text(encoding="utf-8")
    table_rows = [line for line in markdown.splitlines() if line.startswith("| 1 |")]
    assert table_rows and not any("±" in line or "seeds" in line for line in table_rows)
    assert "inner-split seeds" not in markdown


def test_csv_names_each_cells_seed(probe_results, report):
    import csv

    paths, _, _ = report
    with paths.results_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    probe_rows = [row for row in rows if row["kind"] == "probe"]
    assert [row["seed"] for row in probe_rows] == [str(c.seed) for c in probe_results.cells]
