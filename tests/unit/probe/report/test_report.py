"""``fewdims report``: render fixture results files and check the output against them.

The fixture results are built here (no model, no cache): a probe file with every method of
``probe.results`` across 3 layers × 3 poolings, and a fine-tuning file. Tests compare the
numbers the report prints with the numbers in those files.
"""

from __future__ import annotations

import csv
import json
import math
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from probe.cli import main
from probe.errors import FewdimsError
from probe.report import render_report
from probe.report.summary import Subset, best_subsets
from probe.results import ResultCell, ResultsFile, ResultsFormatError

pytestmark = pytest.mark.torch_free

HIDDEN = 96
LAYERS = (4, 8, 12)
POOLINGS = ("cls", "mean", "maxnorm")
METRIC = "accuracy"
MODEL = "bert-base-uncased"
WEIGHTS = "a3f1" * 16
MAX_K = 8


def _scores(validation: float, eval_score: float, train: float | None = None) -> dict:
    return {
        "train": {METRIC: train if train is not None else min(0.99, validation + 0.04)},
        "validation": {METRIC: validation},
        "eval": {METRIC: eval_score},
    }


def _probe_cells(layer: int, pooling: str, rng: np.random.Generator) -> list[ResultCell]:
    """Every method's cell at one (layer, pooling), with realistic accuracies for SST-2."""
    depth = LAYERS.index(layer) / max(1, len(LAYERS) - 1)  # 0 (first probed) .. 1 (last)
    quality = 0.74 + 0.06 * depth + {"cls": 0.0, "mean": 0.03, "maxnorm": -0.02}[pooling]
    per_dim = 0.5 + 0.12 * rng.random(HIDDEN) ** 3  # (HIDDEN,) validation accuracy, 1 dim
    order = [int(dim) for dim in np.argsort(-per_dim)]
    full_eval = round(quality + 0.08, 4)

    def curve(k: int) -> float:  # a saturating k-dims curve that stays under all dims
        return quality - 0.2 * math.exp(-0.45 * k)

    def noisy(value: float) -> float:
        return round(float(value + rng.normal(0, 0.004)), 4)

    cells = [
        ResultCell(layer, pooling, "full", [], _scores(noisy(full_eval + 0.01), full_eval, 0.97),
                   details={"C": 1.0}, seconds=2.5),
    ]  # fmt: skip
    rank_steps = [
        {"k": k, "dims": order[:k], "validation": noisy(curve(k) - 0.03),
         "eval": {METRIC: noisy(curve(k) - 0.035)}}
        for k in range(1, MAX_K + 1)
    ]  # fmt: skip
    cells.append(
        ResultCell(layer, pooling, "rank", [order[0]],
                   _scores(rank_steps[0]["validation"], rank_steps[0]["eval"][METRIC]),
                   steps=rank_steps,
                   details={"per_dim_validation": [round(float(v), 4) for v in per_dim],
                            "orderings": {"univariate": order, "l1": order[::-1], "weight": order}},
                   seconds=0.8)
    )  # fmt: skip
    for method, size in (("pairs", 2), ("triples", 3)):
        top = []
        for rank in range(10):
            dims = [int(dim) for dim in rng.choice(order[:20], size=size, replace=False)]
            validation = round(curve(size) + 0.01 - 0.003 * rank, 4)
            top.append({"dims": dims, "screen": round(validation - 0.01, 4),
                        "validation": validation, "eval": {METRIC: noisy(validation - 0.01)}})  # fmt: skip
        cells.append(
            ResultCell(layer, pooling, method, top[0]["dims"],
                       _scores(top[0]["validation"], top[0]["eval"][METRIC]),
                       details={"top": top, "n_candidates": 4560}, seconds=5.0 * size)
        )  # fmt: skip
    greedy_dims = order[:1] + [
        int(dim) for dim in rng.choice(order[1:40], MAX_K - 1, replace=False)
    ]
    # Greedy's 2-dim step has the best *eval* score but not the best validation score, so a
    # report that chose on eval would pick it; the honest choice is pairs' top entry.
    greedy_steps = []
    for k in range(1, MAX_K + 1):
        validation = round(curve(k) + (0.0 if k == 2 else 0.02), 4)
        eval_score = round(curve(k) + (0.05 if k == 2 else 0.005), 4)
        greedy_steps.append({"k": k, "dims": greedy_dims[:k], "validation": validation,
                             "eval": {METRIC: eval_score}})  # fmt: skip
    cells.append(
        ResultCell(layer, pooling, "greedy", greedy_dims,
                   _scores(greedy_steps[-1]["validation"], greedy_steps[-1]["eval"][METRIC]),
                   steps=greedy_steps, seconds=12.0)
    )  # fmt: skip
    backward_steps = []
    start = order[:6]
    kept = list(start)
    while len(kept) > 1:
        dropped = kept.pop()
        k = len(kept)
        backward_steps.append({"k": k, "dims": list(kept), "dropped": dropped,
                               "validation": round(curve(k) - 0.01, 4),
                               "eval": {METRIC: noisy(curve(k) - 0.015)}})  # fmt: skip
    cells.append(
        ResultCell(layer, pooling, "backward", start, _scores(curve(6), curve(6) - 0.01),
                   steps=backward_steps, seconds=7.5)
    )  # fmt: skip
    random_steps = []
    for k in range(1, MAX_K + 1):
        mean = round(0.5 + (quality - 0.5) * (1 - math.exp(-0.15 * k)) * 0.8, 4)
        sd = round(0.03 / math.sqrt(k), 4)
        random_steps.append({"k": k, "n_draws": 50, "mean": mean, "sd": sd,
                             "q05": mean - 1.6 * sd, "q25": mean - 0.7 * sd, "median": mean,
                             "q75": mean + 0.7 * sd, "q95": mean + 1.6 * sd})  # fmt: skip
    cells.append(ResultCell(layer, pooling, "random", [], steps=random_steps, seconds=20.0))
    control_steps = []
    for k in range(1, MAX_K + 1):
        real = round(curve(k) + 0.02, 4)
        control = round(0.5 + 0.01 * k + rng.random() * 0.01, 4)
        control_steps.append({"k": k, "real": real, "control": control,
                              "selectivity": round(real - control, 4)})  # fmt: skip
    cells.append(ResultCell(layer, pooling, "control", [], steps=control_steps, seconds=9.0))
    return cells


def build_probe_results(model: str = MODEL, task: str = "sst2", seed: int = 0) -> ResultsFile:
    rng = np.random.default_rng(seed)
    cells = [
        cell
        for layer in LAYERS
        for pooling in POOLINGS
        for cell in _probe_cells(layer, pooling, rng)
    ]

    def cache(split: str, n_examples: int) -> dict:  # the cache metadata `fewdims probe` records
        return {"path": f"data/features/{task}-{split}.h5", "model": model, "split": split,
                "source": f"glue/SST-2/{split}.tsv", "source_sha256": f"{split}0" * 16,
                "n_examples": n_examples, "weights_sha256": WEIGHTS}  # fmt: skip

    provenance = {
        "model": model,
        "weights_sha256": WEIGHTS,
        "task": task,
        "train_cache": cache("train", 67349),
        "eval_cache": cache("dev", 872),
        "seed": 13,
        "spec": {"methods": ["full", "rank", "pairs", "triples", "greedy", "backward"],
                 "config": {"k": MAX_K, "seed": 13}},
        "protocol": "fit/validation split of train; eval = dev",
    }  # fmt: skip
    return ResultsFile("probe", task, METRIC, provenance=provenance, cells=cells)


def _finetune_details(task: str, stage: str, trained_on: str, frozen: bool, **extra) -> dict:
    """``details`` as ``extract.finetune.runner`` writes them."""
    return {"task": task, "stage": stage, "stages": ["sst2", "cola"], "trained_on": trained_on,
            "frozen": frozen, "head": "linear", "model": MODEL, "epochs": 2,
            "n_train": 67349, "n_eval": 872,
            "primary_metric": "mcc" if task == "cola" else METRIC, **extra}  # fmt: skip


def build_finetune_results(probe: ResultsFile) -> tuple[ResultsFile, ResultsFile]:
    """Two runs on the top triple of layer 8 / mean.

    A cross-task run (sst2, then cola) with the encoder trained: its file is named after sst2
    but holds a cola cell and an sst2 re-evaluation after the cola stage (forgetting). And a
    run with the encoder frozen, which records no frozen-probe score of its own.
    """
    triples = probe.find(layer=8, pooling="mean", method="triples")[0]
    dims = triples.details["top"][0]["dims"]
    frozen_probe = {"eval": triples.details["top"][0]["eval"], "method": "triples", "k": 3}
    frozen_eval = triples.details["top"][0]["eval"][METRIC]
    epochs = [{"epoch": 1, "train_loss": 0.35, "eval": {METRIC: 0.85}},
              {"epoch": 2, "train_loss": 0.28, "eval": {METRIC: 0.8724}}]  # fmt: skip
    cross = [
        ResultCell(8, "mean", "finetune", dims, {"eval": {METRIC: 0.8724}}, steps=epochs,
                   details=_finetune_details("sst2", "stage 1: sst2", "sst2", False,
                                             frozen_probe_eval=frozen_eval,
                                             frozen_probe=frozen_probe), seconds=1260.0),
        ResultCell(8, "mean", "finetune", dims, {"eval": {METRIC: 0.8412}},
                   details=_finetune_details("sst2", "stage 2: cola → eval sst2", "cola", False,
                                             frozen_probe_eval=frozen_eval,
                                             frozen_probe=frozen_probe,
                                             score_after_own_stage=0.8724, forgetting=0.0312),
                   seconds=14.0),
        ResultCell(8, "mean", "finetune", dims, {"eval": {"mcc": 0.4113, "accuracy": 0.7709}},
                   steps=[{"epoch": 1, "train_loss": 0.6, "eval": {"mcc": 0.4113}}],
                   details=_finetune_details("cola", "stage 2: cola", "cola", False),
                   seconds=640.0),
    ]  # fmt: skip
    frozen = [
        ResultCell(8, "mean", "finetune", dims, {"eval": {METRIC: 0.8312}},
                   steps=epochs[:1], seconds=310.0,
                   details=_finetune_details("sst2", "stage 1: sst2", "sst2", True,
                                             n_train=2000, n_eval=200)),
    ]  # fmt: skip
    provenance = {
        "model": MODEL,
        "weights_sha256": WEIGHTS,
        "seed": 7,
        "data": [{"train": {"task": "sst2", "split": "train", "source": "glue/SST-2/train.tsv"},
                  "eval": {"task": "sst2", "split": "dev", "source": "glue/SST-2/dev.tsv"}}],
    }  # fmt: skip
    return (
        ResultsFile("finetune", "sst2", METRIC, provenance=provenance, cells=cross),
        ResultsFile("finetune", "sst2", METRIC, provenance=provenance, cells=frozen),
    )


# ---- independent expectations (written plainly, not by calling the code under test) ----


def expected_best(
    cells: list[ResultCell], layer: int, pooling: str, k: int
) -> tuple[float, list[int]]:
    """Best k-dim subset at (layer, pooling) by validation; its eval score and dims."""
    candidates = []
    for cell in cells:
        if (cell.layer, cell.pooling) != (layer, pooling):
            continue
        if cell.method in ("full", "random", "control"):
            continue
        if len(cell.dims) == k:
            candidates.append(
                (cell.scores["validation"][METRIC], cell.scores["eval"][METRIC], cell.dims)
            )
        for record in cell.steps + cell.details.get("top", []):
            if len(record.get("dims", [])) == k:
                candidates.append((record["validation"], record["eval"][METRIC], record["dims"]))
    best_validation = max(c[0] for c in candidates)
    winner = next(c for c in candidates if c[0] == best_validation)
    return winner[1], list(winner[2])


def parse_table(markdown: str, heading: str, occurrence: int = 0) -> list[dict[str, str]]:
    """The first Markdown table after the ``occurrence``-th line equal to ``heading``."""
    lines = markdown.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == heading]
    i = starts[occurrence]
    while not lines[i].startswith("|"):
        i += 1
    header = [cell.strip() for cell in lines[i].strip("|").split("|")]
    rows = []
    for line in lines[i + 2 :]:
        if not line.startswith("|"):
            break
        values = [cell.strip().strip("*") for cell in line.strip().strip("|").split("|")]
        rows.append(dict(zip(header, values, strict=True)))
    return rows


def bold_cells(markdown: str, heading: str) -> list[str]:
    lines = markdown.splitlines()
    i = lines.index(heading)
    while not lines[i].startswith("|"):
        i += 1
    found = []
    for line in lines[i + 2 :]:
        if not line.startswith("|"):
            break
        found += [c.strip()[2:-2] for c in line.strip("|").split("|") if c.strip().startswith("**")]
    return found


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


# ---- fixtures ----


@pytest.fixture(scope="module")
def probe_results() -> ResultsFile:
    return build_probe_results()


@pytest.fixture(scope="module")
def finetune_results(probe_results: ResultsFile) -> tuple[ResultsFile, ResultsFile]:
    return build_finetune_results(probe_results)


@pytest.fixture(scope="module")
def full_report(tmp_path_factory, probe_results, finetune_results):
    folder = tmp_path_factory.mktemp("full")
    probe_path = probe_results.save(folder / "in" / "sst2-probe.json")
    cross_path = finetune_results[0].save(folder / "in" / "sst2-cola-finetune.json")
    frozen_path = finetune_results[1].save(folder / "in" / "sst2-frozen.json")
    paths = render_report([probe_path, cross_path, frozen_path], folder / "report")
    return paths, paths.markdown.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def probe_only_report(tmp_path_factory, probe_results):
    folder = tmp_path_factory.mktemp("probe_only")
    probe_path = probe_results.save(folder / "sst2-probe.json")
    paths = render_report([probe_path], folder / "report")
    return paths, paths.markdown.read_text(encoding="utf-8")


# ---- sections ----


def test_every_section_is_present(full_report):
    paths, markdown = full_report
    for heading in (
        "# fewdims report",
        "## How to read this report",
        "## Task sst2",
        "### Summary",
        "### Baselines: random dims and control task",
        "### Plots",
        "### Fine-tuning",
        "## Provenance",
    ):
        assert heading in markdown.splitlines(), heading
    assert "Dims were selected on train, scores are reported on dev" in markdown
    html = paths.html.read_text(encoding="utf-8")
    for heading in (
        "<h2>Task sst2</h2>",
        "<h3>Summary</h3>",
        "<h3>Fine-tuning</h3>",
        "<h2>Provenance</h2>",
    ):
        assert heading in html
    assert paths.warnings == []  # one model, one checkpoint: no mixing to warn about
    intro = markdown[: markdown.index("## Task sst2")]
    assert "Warning" not in intro


def test_provenance_names_model_weights_data_seed_version_and_timings(full_report, probe_results):
    _, markdown = full_report
    provenance = markdown[markdown.index("## Provenance") :]
    blocks = provenance.split("\n### ")[1:]
    names = ("sst2-probe.json", "sst2-cola-finetune.json", "sst2-frozen.json")
    assert len(blocks) == len(names)
    for block, name in zip(blocks, names, strict=True):
        assert block.splitlines()[0].endswith(f"/{name}`")
    probe_block = blocks[0]
    assert "- **model:** `bert-base-uncased`" in probe_block
    assert f"- **weights sha256:** `{WEIGHTS}`" in probe_block
    assert (
        "- **data files:** `glue/SST-2/train.tsv` (train, 67349 examples, sha256 train0train0…); "
        "`glue/SST-2/dev.tsv` (dev, 872 examples, sha256 dev0dev0dev0…)" in probe_block
    )
    assert "- **seeds:** seed = 13, spec.config.seed = 13" in probe_block
    assert (
        "- **feature caches:** `data/features/sst2-dev.h5`; `data/features/sst2-train.h5`"
        in probe_block
    )
    assert "- **fewdims version:** 0.1.0" in probe_block
    total = sum(cell.seconds for cell in probe_results.cells)
    assert f"- **timings:** {total:.1f} s over {len(probe_results.cells)} cells" in probe_block
    assert "- **train_cache:** `{" in probe_block  # the rest of the record, as compact JSON
    assert "- **seeds:** seed = 7" in blocks[1]
    assert "`glue/SST-2/dev.tsv` (dev)" in blocks[1]


# ---- numbers ----


def test_summary_table_equals_results_file(full_report, probe_results, finetune_results):
    _, markdown = full_report
    rows = parse_table(markdown, "### Summary")
    assert [(int(r["layer"]), r["pooling"]) for r in rows] == [
        (lay, pool) for lay in LAYERS for pool in POOLINGS
    ]
    for row in rows:
        layer, pooling = int(row["layer"]), row["pooling"]
        full = probe_results.find(layer, pooling, "full")[0]
        assert row["all dims"] == f"{full.scores['eval'][METRIC]:.3f}"
        for k, column in (
            (1, "best 1 dim [dims]"),
            (2, "best 2 dims [dims]"),
            (3, "best 3 dims [dims]"),
        ):
            score, dims = expected_best(probe_results.cells, layer, pooling, k)
            match = re.fullmatch(r"\**(-?\d+\.\d{3})\** \[([\d, ]+)\]", row[column])
            assert match, row[column]
            assert match.group(1) == f"{score:.3f}"
            assert [int(d) for d in match.group(2).split(",")] == dims
        if (layer, pooling) == (8, "mean"):
            assert row["fine-tuned"] == "0.872 (3 dims)"  # the better of the two stages
        else:
            assert row["fine-tuned"] == "—"


def test_best_2_dims_are_chosen_on_validation_not_eval(full_report, probe_results):
    """The fixture's greedy 2-dim step wins on eval but loses on validation to pairs."""
    _, markdown = full_report
    row = parse_table(markdown, "### Summary")[0]
    pairs = probe_results.find(LAYERS[0], POOLINGS[0], "pairs")[0]
    expected = f"{pairs.details['top'][0]['eval'][METRIC]:.3f} {pairs.details['top'][0]['dims']}"
    assert row["best 2 dims [dims]"] == expected
    greedy = probe_results.find(LAYERS[0], POOLINGS[0], "greedy")[0].steps[1]
    assert greedy["eval"][METRIC] > pairs.details["top"][0]["eval"][METRIC]


def test_bold_marks_the_best_value_of_each_column(full_report, probe_results):
    _, markdown = full_report
    bold = bold_cells(markdown, "### Summary")
    best_full = max(c.scores["eval"][METRIC] for c in probe_results.cells if c.method == "full")
    assert f"{best_full:.3f}" in bold
    best_1 = max(
        expected_best(probe_results.cells, lay, pool, 1)[0] for lay in LAYERS for pool in POOLINGS
    )
    assert any(cell.startswith(f"{best_1:.3f} [") for cell in bold)


def test_baseline_table_equals_results_file(full_report, probe_results):
    _, markdown = full_report
    rows = parse_table(markdown, "### Baselines: random dims and control task")
    assert len(rows) == len(LAYERS) * len(POOLINGS)
    for row in rows:
        layer, pooling = int(row["layer"]), row["pooling"]
        random_steps = {s["k"]: s for s in probe_results.find(layer, pooling, "random")[0].steps}
        control_steps = {s["k"]: s for s in probe_results.find(layer, pooling, "control")[0].steps}
        for k, suffix in ((1, "1 dim"), (2, "2 dims"), (3, "3 dims")):
            step = random_steps[k]
            assert row[f"random {suffix} (mean ± sd)"] == f"{step['mean']:.3f} ± {step['sd']:.3f}"
            assert row[f"selectivity {suffix}"] == f"{control_steps[k]['selectivity']:.3f}"


def test_finetune_table_equals_results_file(full_report, probe_results, finetune_results):
    _, markdown = full_report
    cross, frozen_run = finetune_results
    sst2_cells = [cross.cells[0], cross.cells[1], frozen_run.cells[0]]
    rows = parse_table(markdown, "### Fine-tuning", occurrence=0)
    assert len(rows) == len(sst2_cells)
    triples_top = probe_results.find(8, "mean", "triples")[0].details["top"][0]
    frozen = triples_top["eval"][METRIC]
    sources = [
        "triples probe, recorded by fine-tuning",
        "triples probe, recorded by fine-tuning",
        "triples probe, same dims",  # the frozen run recorded none: looked up in the probe file
    ]
    for row, cell, source in zip(rows, sst2_cells, sources, strict=True):
        tuned = cell.scores["eval"][METRIC]
        assert row["stage"] == f"{cell.details['stage']} · 3 dims"
        assert row["dims"] == str(cell.dims)
        assert row["encoder"] == ("frozen" if cell.details["frozen"] else "trained")
        assert row["fine-tuned (accuracy)"] == f"{tuned:.3f}"
        assert row["frozen probe (accuracy)"] == f"{frozen:.3f} ({source})"
        assert row["gain"] == f"{tuned - frozen:+.3f}"
        assert row["epochs"] == (str(len(cell.steps)) if cell.steps else "—")
    assert [row["forgetting"] for row in rows] == ["—", "0.031", "—"]
    sizes = ["67349 / 872", "67349 / 872", "2000 / 200"]
    assert [row["examples (train / eval)"] for row in rows] == sizes


def test_finetune_scored_on_fewer_examples_than_the_probes_is_flagged(full_report):
    _, markdown = full_report
    section = markdown[markdown.index("### Fine-tuning") : markdown.index("## Task cola")]
    assert (
        "> **Warning:** Fine-tuning was scored on 200 dev examples, the frozen probes on all 872"
        in section
    )


def test_cross_task_cells_get_their_own_task_section(full_report, finetune_results):
    _, markdown = full_report
    cola = markdown[markdown.index("## Task cola") : markdown.index("## Provenance")]
    assert "Metric: **mcc on dev**" in cola
    assert "No probe results for this task" in cola
    rows = parse_table(markdown, "### Fine-tuning", occurrence=1)
    assert len(rows) == 1 and rows[0]["fine-tuned (mcc)"] == "0.411"
    assert rows[0]["stage"] == "stage 2: cola · 3 dims"


def test_best_subsets_prefers_validation_and_keeps_first_on_ties():
    def subset(method, dims, validation, eval_score):
        return Subset(0, "cls", method, tuple(dims), validation, {METRIC: eval_score})

    chosen = best_subsets(
        [
            subset("rank", [1], 0.60, 0.70),
            subset("greedy", [2], 0.65, 0.55),
            subset("pairs", [1, 2], 0.70, 0.60),
            subset("greedy", [1, 3], 0.70, 0.90),
            subset("triples", [1, 2, 3], math.nan, 0.75),
        ],
        METRIC,
    )
    assert chosen[1].method == "greedy" and chosen[1].dims == (2,)
    assert chosen[2].method == "pairs"
    assert chosen[3].eval(METRIC) == 0.75  # no validation recorded: falls back to eval


# ---- HTML, exports, plots ----


def test_html_is_self_contained(full_report):
    paths, _ = full_report
    html = paths.html.read_text(encoding="utf-8")
    assert 'src="http' not in html and "href=" not in html and "<link" not in html
    assert "<script" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == len(paths.plots) == 7  # 6 for sst2, the fine-tuning one for cola
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "@import" not in html and "url(" not in html


def test_csv_round_trips_one_row_per_cell(full_report, probe_results, finetune_results):
    paths, _ = full_report
    all_cells = [("probe", "sst2", c) for c in probe_results.cells] + [
        ("finetune", "sst2", c) for results in finetune_results for c in results.cells
    ]
    frame = pd.read_csv(paths.results_csv, dtype={"dims": str}, keep_default_na=False)
    assert len(frame) == len(all_cells)
    for column in (
        "task",
        "kind",
        "layer",
        "pooling",
        "method",
        "k",
        "dims",
        "seconds",
        "model",
        "weights_sha256",
    ):
        assert column in frame.columns
    for (kind, task, cell), (_, row) in zip(all_cells, frame.iterrows(), strict=True):
        assert (row["kind"], row["task"], row["layer"], row["pooling"], row["method"]) == (
            kind, cell.details.get("task", task), cell.layer, cell.pooling, cell.method
        )  # fmt: skip
        assert row["k"] == len(cell.dims)
        assert row["dims"] == " ".join(str(d) for d in cell.dims)
        assert row["seconds"] == cell.seconds
        assert row["model"] == MODEL and row["weights_sha256"] == WEIGHTS
        for split in ("train", "validation", "eval"):
            expected = cell.scores.get(split, {}).get(METRIC)
            value = row[f"{split}_{METRIC}"]
            assert (value == "") if expected is None else (float(value) == expected)
    with paths.results_csv.open(newline="", encoding="utf-8") as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == len(all_cells)


def test_merged_json_holds_every_input_file(full_report, probe_results, finetune_results):
    paths, _ = full_report
    merged = json.loads(paths.results_json.read_text(encoding="utf-8"))
    assert merged["format"] == "fewdims-results-merged"
    assert [entry["kind"] for entry in merged["results"]] == ["probe", "finetune", "finetune"]
    reloaded = ResultsFile.from_dict(
        {k: v for k, v in merged["results"][0].items() if k != "source"}
    )
    assert reloaded.cells == probe_results.cells


def test_plots_are_valid_pngs_of_useful_size(full_report):
    paths, markdown = full_report
    names = sorted(path.name for path in paths.plots)
    assert names == sorted(
        [f"sst2_{name}.png"
         for name in ("score_vs_dims", "layer_pooling_heatmap", "pairs", "per_dim_scores",
                      "pooling_comparison", "finetune")]
        + ["cola_finetune.png"]
    )  # fmt: skip
    for path in paths.plots:
        width, height = png_size(path)
        assert width >= 500 and height >= 300, (path, width, height)
        assert path.stat().st_size > 15_000, path
        assert f"](plots/{path.name})" in markdown


# ---- missing sections, mixed models ----


def test_without_finetune_results_the_section_says_how_to_get_one(probe_only_report):
    paths, markdown = probe_only_report
    section = markdown[markdown.index("### Fine-tuning") :]
    assert "No fine-tuning results for this task" in section
    assert "`fewdims finetune`" in section
    assert "fine-tuned" not in parse_table(markdown, "### Summary")[0]
    assert not any("finetune" in path.name for path in paths.plots)
    assert len(paths.plots) == 5


def test_full_only_results_skip_missing_sections(tmp_path):
    cells = [
        ResultCell(layer, pooling, "full", [], {"eval": {"mcc": 0.44 + 0.01 * layer}}, seconds=1.0)
        for layer in (1, 2)
        for pooling in ("cls", "mean")
    ]
    path = ResultsFile("probe", "cola", "mcc", provenance={"model": "m"}, cells=cells).save(
        tmp_path / "cola.json"
    )
    paths = render_report([path], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "No random-k baseline" in markdown and "No control-task results" in markdown
    assert "No pair results" in markdown and "No per-dimension scores" in markdown
    assert "No fine-tuning results" in markdown
    assert {p.name for p in paths.plots} == {
        "cola_layer_pooling_heatmap.png",
        "cola_pooling_comparison.png",
    }
    rows = parse_table(markdown, "### Summary")
    assert [r["all dims"] for r in rows] == [f"{0.44 + 0.01 * layer:.3f}" for layer in (1, 1, 2, 2)]


def full_only_results(model: str, offset: float, weights: str = WEIGHTS) -> ResultsFile:
    """A small probe file: all-dims cells only, at 2 layers × 2 poolings."""
    cells = [
        ResultCell(layer, pooling, "full", [], {"eval": {METRIC: offset + 0.01 * layer}})
        for layer in (1, 2)
        for pooling in ("cls", "mean")
    ]
    provenance = {"model": model, "weights_sha256": weights}
    return ResultsFile("probe", "sst2", METRIC, provenance=provenance, cells=cells)


def test_mixed_models_warn_and_get_separate_sections(tmp_path):
    first = full_only_results("bert-base-uncased", 0.80).save(tmp_path / "a.json")
    second = full_only_results("roberta-base", 0.90).save(tmp_path / "b.json")
    paths = render_report([first, second], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert len(paths.warnings) == 1
    assert "> **Warning:** Task sst2 mixes results from 2 models" in markdown
    assert str(first) in paths.warnings[0] and str(second) in paths.warnings[0]
    assert "## Task sst2 — bert-base-uncased" in markdown
    assert "## Task sst2 — roberta-base" in markdown
    assert 'class="warning"' in paths.html.read_text(encoding="utf-8")
    assert {p.name for p in paths.plots} == {
        f"sst2-{model}_{name}.png"
        for model in ("bert-base-uncased", "roberta-base")
        for name in ("layer_pooling_heatmap", "pooling_comparison")
    }
    bert_rows = parse_table(markdown, "### Summary", occurrence=0)
    roberta_rows = parse_table(markdown, "### Summary", occurrence=1)
    assert [r["all dims"] for r in bert_rows] == ["0.810", "0.810", "0.820", "0.820"]
    assert [r["all dims"] for r in roberta_rows] == ["0.910", "0.910", "0.920", "0.920"]


def test_same_model_from_different_weights_warns_but_pools(tmp_path):
    first = full_only_results("bert-base-uncased", 0.80).save(tmp_path / "a.json")
    second = full_only_results("bert-base-uncased", 0.80, weights="b" * 64).save(
        tmp_path / "b.json"
    )
    paths = render_report([first, second], tmp_path / "out")
    assert len(paths.warnings) == 1 and "different weights" in paths.warnings[0]
    assert "## Task sst2\n" in paths.markdown.read_text(encoding="utf-8")


# ---- errors and CLI ----


def test_out_path_that_is_a_file_raises_fewdims_error(tmp_path, probe_results):
    path = probe_results.save(tmp_path / "r.json")
    with pytest.raises(FewdimsError, match="is a file"):
        render_report([path], path)


def test_missing_file_raises_fewdims_error(tmp_path):
    with pytest.raises(FewdimsError, match="does not exist"):
        render_report([tmp_path / "nope.json"], tmp_path / "out")


def test_non_results_json_and_other_version_raise(tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(ResultsFormatError, match="not a fewdims results file"):
        render_report([other], tmp_path / "out")
    payload = build_probe_results().to_dict()
    payload["version"] = 99
    future = tmp_path / "future.json"
    future.write_text(json.dumps(payload))
    with pytest.raises(ResultsFormatError, match="version 99"):
        render_report([future], tmp_path / "out")
    payload["version"] = 1
    del payload["kind"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(payload))
    with pytest.raises(ResultsFormatError, match="malformed"):
        render_report([broken], tmp_path / "out")


def test_cli_writes_report_and_exits_0(tmp_path, capsys):
    path = full_only_results(MODEL, 0.8).save(tmp_path / "sst2.json")
    assert main(["report", str(path), "--out", str(tmp_path / "reports" / "sst2")]) == 0
    out = capsys.readouterr().out
    assert "report.html" in out
    assert (tmp_path / "reports" / "sst2" / "report.md").is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("not json at all", "not valid JSON"),
        ("[1, 2]", "not a fewdims results file"),
        ('{"hello": "world"}', "not a fewdims results file"),
        ('{"format": "fewdims-results", "version": 3, "cells": []}', "results file of version 3"),
    ],
)
def test_cli_exits_2_with_clear_message(tmp_path, capsys, content, message):
    path = tmp_path / "input.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fewdims report: error: ")
    assert message in err and str(path) in err
    assert "Traceback" not in err


def test_importing_report_does_not_import_matplotlib():
    code = "import sys, probe.report; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    repo_root = Path(__file__).resolve().parents[4]  # `probe` importable however pytest is run
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo_root)


def test_headline_names_the_best_row_with_its_random_baseline(full_report, probe_results):
    _, markdown = full_report
    headline = next(line for line in markdown.splitlines() if line.startswith("**Best**"))
    assert "chosen on the validation split of train" in headline
    best_full = max(  # chosen on validation, never on the eval split it is reported on
        (c for c in probe_results.cells if c.method == "full"),
        key=lambda c: c.scores["validation"][METRIC],
    )
    assert (
        f"all dims {best_full.scores['eval'][METRIC]:.3f} "
        f"(layer {best_full.layer} / {best_full.pooling})" in headline
    )
    score, dims = expected_best(probe_results.cells, 12, "mean", 3)
    random_3 = next(s for s in probe_results.find(12, "mean", "random")[0].steps if s["k"] == 3)
    assert f"3 dims {score:.3f} (layer 12 / mean, dims {dims}" in headline
    assert f"random 3: {random_3['mean']:.3f} ± {random_3['sd']:.3f}" in headline


def test_html_shows_the_same_numbers_and_highlights_the_best(full_report, probe_results):
    paths, markdown = full_report
    html = paths.html.read_text(encoding="utf-8")
    best_full = max(c.scores["eval"][METRIC] for c in probe_results.cells if c.method == "full")
    assert f'<td class="best">{best_full:.3f}</td>' in html
    for row in parse_table(markdown, "### Summary"):
        assert f"<td>{row['all dims']}</td>" in html or f'"best">{row["all dims"]}<' in html


def test_subset_without_validation_is_flagged_as_chosen_on_eval(tmp_path):
    cells = [
        ResultCell(0, "cls", "full", [], {"eval": {METRIC: 0.9}}),
        ResultCell(0, "cls", "triples", [4, 5, 6], {"eval": {METRIC: 0.7}}),
    ]
    path = ResultsFile("probe", "sst2", METRIC, cells=cells).save(tmp_path / "r.json")
    markdown = render_report([path], tmp_path / "out").markdown.read_text(encoding="utf-8")
    row = parse_table(markdown, "### Summary")[0]
    assert row["best 3 dims [dims]"] == "0.700 [4, 5, 6] †"
    assert "no validation score was recorded" in markdown


def test_finetune_only_file_renders_its_table_and_plot(tmp_path):
    cells = [
        ResultCell(12, "cls", "finetune", [], {"eval": {METRIC: 0.66}}, details={"stage": "full"}),
        ResultCell(
            12,
            "cls",
            "finetune",
            [5, 9],
            {"eval": {METRIC: 0.61}},
            details={"frozen_probe_eval": 0.55},
        ),
    ]
    path = ResultsFile("finetune", "rte", METRIC, provenance={"model": "m"}, cells=cells).save(
        tmp_path / "ft.json"
    )
    paths = render_report([path], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "No probe results for this task; run `fewdims probe` first." in markdown
    assert "No pair results" not in markdown  # one line says it all when nothing was probed
    rows = parse_table(markdown, "### Fine-tuning")
    assert [row["fine-tuned (accuracy)"] for row in rows] == ["0.660", "0.610"]
    assert rows[0]["stage"] == "full · all dims" and rows[0]["frozen probe (accuracy)"] == "—"
    assert rows[1]["frozen probe (accuracy)"] == "0.550 (recorded)"
    assert rows[1]["gain"] == "+0.060"
    assert [p.name for p in paths.plots] == ["rte_finetune.png"]


def test_single_layer_regression_task_with_gaps(tmp_path):
    """One (layer, pooling), STS-B metrics, null scores, random k beyond the greedy range."""
    cells = [
        ResultCell(6, "mean", "full", [], {"eval": {"pearson": 0.81, "spearman": 0.8}}),
        ResultCell(
            6, "mean", "random", [],
            steps=[{"k": k, "n_draws": 3, "mean": 0.1 * k, "sd": None} for k in (1, 2, 50)],
        ),
        ResultCell(
            6, "mean", "greedy", [3, 4], {"eval": {"pearson": None}},
            steps=[
                {"k": 1, "dims": [3], "validation": 0.3, "eval": {"pearson": 0.28}},
                {"k": 2, "dims": [3, 4], "validation": None, "eval": {"pearson": None}},
            ],
        ),
        ResultCell(6, "mean", "control", [], steps=[{"k": 1, "real": 0.2, "control": 0.3,
                                                     "selectivity": -0.1}]),
    ]  # fmt: skip
    path = ResultsFile("probe", "stsb", "pearson", provenance={"model": "m"}, cells=cells).save(
        tmp_path / "stsb.json"
    )
    paths = render_report([path], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    row = parse_table(markdown, "### Summary")[0]
    assert row["all dims"] == "0.810" and row["best 1 dim [dims]"] == "0.280 [3]"
    assert row["best 2 dims [dims]"] == "— [3, 4] †"
    baseline = parse_table(markdown, "### Baselines: random dims and control task")[0]
    assert baseline["random 1 dim (mean ± sd)"] == "0.100 ± —"
    assert baseline["random 3 dims (mean ± sd)"] == "—"
    assert baseline["selectivity 1 dim"] == "-0.100"
    assert "Only one pooling was probed" in markdown
    frame = pd.read_csv(paths.results_csv)
    assert frame["eval_pearson"].tolist()[0] == 0.81
    assert frame["eval_pearson"].isna().tolist() == [False, True, True, True]
    for plot in paths.plots:
        png_size(plot)


def test_pair_matrix_is_drawn_when_the_pairs_cell_stores_one(tmp_path):
    rng = np.random.default_rng(3)
    matrix = (0.5 + 0.2 * rng.random((32, 32))).round(4).tolist()
    cells = [
        ResultCell(0, "cls", "full", [], {"eval": {METRIC: 0.9}}),
        ResultCell(0, "cls", "pairs", [1, 2], _scores(0.7, 0.69), details={"pair_matrix": matrix}),
    ]
    path = ResultsFile("probe", "sst2", METRIC, cells=cells).save(tmp_path / "r.json")
    paths = render_report([path], tmp_path / "out")
    assert "sst2_pairs.png" in [p.name for p in paths.plots]


def test_html_tags_are_balanced(full_report):
    """Every opened element is closed in order (void elements aside): the page renders as meant."""
    from html.parser import HTMLParser

    void = {"img", "meta", "br", "hr"}

    class Checker(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag not in void:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
            self.stack.pop()

    checker = Checker()
    checker.feed(full_report[0].html.read_text(encoding="utf-8"))
    assert checker.stack == []


def test_results_file_without_cells_renders_a_skeleton(tmp_path):
    path = ResultsFile("probe", "sst2", METRIC).save(tmp_path / "empty.json")
    paths = render_report([path], tmp_path / "out")
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "No probe results for this task" in markdown and "### Plots" not in markdown
    assert paths.plots == []
    assert pd.read_csv(paths.results_csv).empty
