"""``fewdims finetune --seeds``: one results file, every seed's run kept, mean ± sd over seeds.

Each seed's cells must be *exactly* those of a separate ``--seed`` run (same plan, encoder
put back to its pre-trained weights between seeds), and a run killed during a later seed must
not redo the seeds it finished. Tiny random BERT, 2 epochs over 96 synthetic examples.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from extract.finetune import FinetuneConfig, TrainProgress, run_finetune, task_data
from extract.finetune.checkpoint import CheckpointStore, checkpoint_dir
from extract.finetune.runner import seed_checkpoint_dir
from probe.cli import main
from probe.errors import FewdimsError
from probe.results import ResultsFile
from tests.unit.helpers import synthetic_split

SEEDS = (0, 3)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def toy_tasks():
    train, dev = synthetic_split(96, seed=1), synthetic_split(40, seed=2)
    dev.split = "dev"
    return [task_data(train, dev)]


def config_for(model_dir: Path, **overrides) -> FinetuneConfig:
    settings = {
        "model": str(model_dir),
        "dims": "3,7",
        "epochs": 2,
        "lr": 3e-3,
        "head_lr": 3e-2,
        "batch_size": 16,
        "max_length": 24,
        "device": "cpu",
        **overrides,
    }
    return FinetuneConfig(**settings)


def same_run(cell) -> dict:
    """A cell without its timings (the only thing allowed to differ between two runs)."""
    steps = [{key: value for key, value in step.items() if "seconds" not in key}
             for step in cell.steps]  # fmt: skip
    return {
        "dims": cell.dims,
        "scores": cell.scores,
        "steps": steps,
        "details": cell.details,
        "intervals": cell.intervals,
        "predictions": {key: np.asarray(value).tolist() for key, value in cell.predictions.items()},
    }


@pytest.fixture(scope="module")
def separate(tiny_model_dir, tmp_path_factory):
    """One plain ``--seed S`` run per seed."""
    folder = tmp_path_factory.mktemp("separate")
    return {
        seed: run_finetune(
            toy_tasks(), config_for(tiny_model_dir, seed=seed), folder / f"{seed}.json"
        )
        for seed in SEEDS
    }


@pytest.fixture(scope="module")
def seeded(tiny_model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("seeded") / "seeds.json"
    return run_finetune(toy_tasks(), config_for(tiny_model_dir, seeds=SEEDS), out), out


def test_each_seed_equals_its_separate_run(seeded, separate):
    results, out = seeded
    assert results.seeds == SEEDS
    assert [cell.seed for cell in results.cells] == list(SEEDS)
    for cell in results.cells:
        (alone,) = separate[cell.seed].cells
        assert same_run(cell) == same_run(alone)
        assert cell.seconds > 0
    runs = results.provenance["per_seed"]
    assert [run["seed"] for run in runs] == list(SEEDS)
    assert [run["weights_sha256_after"] for run in runs] == [
        separate[seed].provenance["weights_sha256_after"] for seed in SEEDS
    ]
    assert all(run["seconds"] > 0 for run in runs)
    assert results.provenance["seeds"] == list(SEEDS) and "seed" not in results.provenance
    # The seeds really differ (head init, order, dropout), or the test would prove nothing.
    first, second = (separate[seed].cells[0] for seed in SEEDS)
    assert first.steps[0]["train_loss"] != second.steps[0]["train_loss"]
    assert not checkpoint_dir(out).exists()


def test_file_keeps_every_seed_and_their_mean_and_sd(seeded):
    results, out = seeded
    payload = json.loads(out.read_text())
    assert payload["version"] == 3 and [cell["seed"] for cell in payload["cells"]] == list(SEEDS)
    (entry,) = payload["seed_summary"]
    assert (entry["method"], entry["k"], entry["seeds"]) == ("finetune", 2, list(SEEDS))
    assert entry["stage"] == "stage 1: toy"
    for metric, record in entry["scores"]["eval"].items():
        values = [cell.scores["eval"][metric] for cell in results.cells]
        assert record["values"] == values
        assert record["mean"] == pytest.approx(np.mean(values), abs=1e-12)
        assert record["sd"] == pytest.approx(np.std(values, ddof=1), abs=1e-12)
        assert record["n"] == len(SEEDS)
    loaded = ResultsFile.load(out)
    assert [cell.seed for cell in loaded.cells] == list(SEEDS)
    for cell, again in zip(results.cells, loaded.cells, strict=True):
        assert same_run(again) == same_run(cell)  # predictions per seed survive the sidecar


def test_a_run_killed_in_a_later_seed_does_not_redo_the_finished_ones(
    tiny_model_dir, seeded, tmp_path
):
    out = tmp_path / "killed.json"
    config = config_for(tiny_model_dir, seeds=SEEDS)

    def stop_in_second_seed(event: TrainProgress) -> None:
        if event.seed == SEEDS[1] and event.kind == "batch" and event.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_finetune(toy_tasks(), config, out, progress=stop_in_second_seed)
    finished = CheckpointStore(seed_checkpoint_dir(out, SEEDS[0]), "").path
    assert finished.is_file() and finished.stat().st_size < 200_000  # cells only, no weights
    trained: list[tuple[int | None, int]] = []
    resumed = run_finetune(
        toy_tasks(), config, out, progress=lambda event: trained.append((event.seed, event.epoch))
    )
    assert {seed for seed, _ in trained} == {SEEDS[1]}  # seed 0 was not trained again
    assert {epoch for _, epoch in trained} == {2}  # seed 3 resumed after its first epoch
    runs = resumed.provenance["per_seed"]
    assert runs[0]["from_checkpoint"] is True
    assert runs[1]["resumed_from"] == {"stage": 1, "epochs_done": 1}
    expected = seeded[0]
    for cell, again in zip(expected.cells, resumed.cells, strict=True):
        assert same_run(again) == same_run(cell)
    assert not checkpoint_dir(out).exists()


def test_old_single_seed_results_still_load_and_stay_version_2(separate, tmp_path):
    results = separate[SEEDS[0]]
    path = results.save(tmp_path / "single.json")
    payload = json.loads(path.read_text())
    assert payload["version"] == 2 and "seed_summary" not in payload
    assert all("seed" not in cell for cell in payload["cells"])
    assert ResultsFile.load(path).cells[0].seed is None and ResultsFile.load(path).seeds == ()
    payload["version"] = 1  # a file from before predictions and seeds
    for cell in payload["cells"]:
        cell.pop("intervals"), cell.pop("predictions")
    payload.pop("predictions_file")
    old = ResultsFile.from_dict(payload)
    assert old.cells[0].scores == results.cells[0].scores and old.seed_summary() == []


def test_repeated_seeds_are_refused_by_the_library(tiny_model_dir, tmp_path):
    with pytest.raises(FewdimsError, match="more than once"):
        run_finetune(toy_tasks(), config_for(tiny_model_dir, seeds=(1, 1)), tmp_path / "x.json")


@pytest.mark.parametrize(
    ("seeds", "message"),
    [("", "empty seed"), ("a,b", "integer seeds"), ("0,1,0", "more than once"), ("1,,2", "empty")],
)
def test_bad_seeds_exit_2_before_any_work(tiny_model_dir, tmp_path, capsys, seeds, message):
    argv = ["finetune", "--model", str(tiny_model_dir), "--task", "sst2", "--seeds", seeds,
            "--out", str(tmp_path / "x.json")]  # fmt: skip
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert "--seeds" in error and message in error
    assert not (tmp_path / "x.json").exists()


def test_seed_and_seeds_together_exit_2(tiny_model_dir, tmp_path, capsys):
    argv = ["finetune", "--model", str(tiny_model_dir), "--task", "sst2", "--seed", "1",
            "--seeds", "0,1", "--out", str(tmp_path / "x.json")]  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
