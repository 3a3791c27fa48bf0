"""Fixture results files for the report tests, and readers of what the report writes.

The results are built here (no model, no cache): a probe file with every method of
``probe.results`` across 3 layers × 3 poolings, and a fine-tuning file. The expectations
(``expected_best``) are written plainly, not by calling the code under test, so the report's
numbers are checked against an independent reading of the same files.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np

from probe.results import ResultCell, ResultsFile

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


def full_only_results(model: str, offset: float, weights: str = WEIGHTS) -> ResultsFile:
    """A small probe file: all-dims cells only, at 2 layers × 2 poolings."""
    cells = [
        ResultCell(layer, pooling, "full", [], {"eval": {METRIC: offset + 0.01 * layer}})
        for layer in (1, 2)
        for pooling in ("cls", "mean")
    ]
    provenance = {"model": model, "weights_sha256": weights}
    return ResultsFile("probe", "sst2", METRIC, provenance=provenance, cells=cells)
