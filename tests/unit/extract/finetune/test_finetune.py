"""``fewdims finetune`` on the tiny random BERT: learning through 2 dims, freezing, resuming.

Every run here is a few epochs over ~160 synthetic examples (label 1 iff 'good' occurs), a
couple of seconds each on one CPU thread.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from extract.extractor import ExtractConfig, extract_split
from extract.finetune import FinetuneConfig, TrainProgress, run_finetune, task_data
from extract.finetune.checkpoint import CheckpointStore, checkpoint_dir
from extract.finetune.head import SelectedDimsModel
from extract.model import load_model, weights_sha256
from probe.cache import Cache
from probe.cli import main
from probe.errors import DataError, FewdimsError, ModelError
from probe.results import ResultsFile
from tests.unit.helpers import synthetic_split

SELECTED = [3, 7]
HIDDEN = 32


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny matmuls run faster on one thread, and far faster when other jobs share the cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tiny BERT with a tokenizer that knows the vocabulary.

    ``BertTokenizerFast(vocab_file=...)`` in transformers 5 ignores the file (every word
    becomes [UNK]), which would make 'good' invisible; the tokenizer is rebuilt with
    ``vocab=`` here so the synthetic rule is learnable.
    """
    from transformers import BertTokenizerFast

    directory = tmp_path_factory.mktemp("tiny-bert-vocab")
    shutil.copytree(tiny_model_dir, directory, dirs_exist_ok=True)
    tokenizer = BertTokenizerFast(vocab=str(directory / "vocab.txt"), do_lower_case=True)
    assert tokenizer.tokenize("good movie") == ["good", "movie"]
    tokenizer.save_pretrained(directory)
    return directory


def toy_tasks(pair_task: bool = False):
    train, dev = synthetic_split(160, seed=1), synthetic_split(80, seed=2)
    dev.split = "dev"
    tasks = [task_data(train, dev)]
    if pair_task:
        train_b = synthetic_split(96, seed=3, pair=True, task="toypair")
        dev_b = synthetic_split(48, seed=4, pair=True, task="toypair")
        tasks.append(task_data(train_b, dev_b))
    return tasks


def quick_config(model_dir: Path, **overrides) -> FinetuneConfig:
    settings = {
        "model": str(model_dir),
        "dims": ",".join(map(str, SELECTED)),
        "epochs": 3,
        "lr": 3e-3,
        "head_lr": 3e-2,
        "batch_size": 16,
        "max_length": 24,
        "device": "cpu",
        **overrides,
    }
    return FinetuneConfig(**settings)


@pytest.fixture(scope="module")
def trained(model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("trained") / "toy.json"
    saved = out.parent / "saved-model"
    config = quick_config(model_dir, save_model=str(saved))
    results = run_finetune(toy_tasks(), config, out)
    return results, out, saved


def test_two_dims_unfrozen_learns_the_rule(trained):
    results, out, _ = trained
    (cell,) = results.cells
    assert cell.method == "finetune" and cell.dims == SELECTED
    assert cell.layer == 2 and cell.pooling == "cls"
    assert cell.scores["eval"]["accuracy"] >= 0.85  # chance is about 0.5
    assert [step["epoch"] for step in cell.steps] == [1, 2, 3]
    assert all({"train_loss", "eval", "seconds"} <= set(step) for step in cell.steps)
    assert cell.steps[-1]["train_loss"] < cell.steps[0]["train_loss"]
    assert cell.details["frozen"] is False and cell.details["head"] == "linear"
    provenance = results.provenance
    assert provenance["weights_sha256"] != provenance["weights_sha256_after"]
    assert provenance["seed"] == 0 and provenance["args"]["dims"] == "3,7"
    assert provenance["data"][0]["train"]["n_examples"] == 160
    reloaded = ResultsFile.load(out)
    assert reloaded.kind == "finetune" and reloaded.cells[0].scores == cell.scores
    assert not checkpoint_dir(out).exists()


def test_cells_keep_eval_predictions_and_their_confidence_intervals(trained):
    from probe.metrics import metric
    from probe.stats.bootstrap import Interval

    results, out, _ = trained
    cell = ResultsFile.load(out).cells[0]
    labels, predictions = cell.predictions["labels"], cell.predictions["eval"]
    assert labels.shape == predictions.shape == (80,)
    for name, value in cell.scores["eval"].items():
        assert metric(name, labels, predictions) == pytest.approx(value)
        interval = Interval.from_record(cell.intervals["eval"][name])
        assert interval.low <= value <= interval.high
    assert results.provenance["bootstrap"]["n_resamples"] == 1000


def test_saved_model_round_trips_through_extract(trained, tmp_path):
    results, _, saved = trained
    assert (saved / "config.json").is_file() and (saved / "fewdims_heads.safetensors").is_file()
    dev = synthetic_split(20, seed=5)
    summary = extract_split(
        dev, tmp_path / "saved.h5", ExtractConfig(model=str(saved), max_length=24, device="cpu")
    )
    assert summary.meta.weights_sha256 == results.provenance["weights_sha256_after"]
    assert summary.meta.weights_sha256 != results.provenance["weights_sha256"]
    assert summary.meta.n_model_layers == 2  # the whole encoder, not the truncated one


def test_same_seed_same_metrics(model_dir, trained, tmp_path):
    results, _, _ = trained
    again = run_finetune(toy_tasks(), quick_config(model_dir), tmp_path / "again.json")
    first, second = results.cells[0], again.cells[0]
    assert [s["eval"] for s in first.steps] == [s["eval"] for s in second.steps]
    assert [s["train_loss"] for s in first.steps] == [s["train_loss"] for s in second.steps]
    assert results.provenance["weights_sha256_after"] == again.provenance["weights_sha256_after"]


def test_interrupted_run_resumes_to_the_same_result(model_dir, trained, tmp_path):
    out = tmp_path / "resumed.json"

    def stop_in_epoch_two(event: TrainProgress) -> None:
        if event.kind == "batch" and event.epoch == 2 and event.batch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_finetune(toy_tasks(), quick_config(model_dir), out, progress=stop_in_epoch_two)
    assert (checkpoint_dir(out) / "last.safetensors").is_file() and not out.exists()
    resumed = run_finetune(toy_tasks(), quick_config(model_dir), out)
    assert resumed.provenance["resumed_from"] == {"stage": 1, "epochs_done": 1}
    expected = trained[0].cells[0]
    assert [s["eval"] for s in resumed.cells[0].steps] == [s["eval"] for s in expected.steps]
    assert [s["train_loss"] for s in resumed.cells[0].steps] == [
        s["train_loss"] for s in expected.steps
    ]
    assert not checkpoint_dir(out).exists()


def test_checkpoint_round_trips_nested_state_without_pickle(tmp_path):
    state = {
        "optimizer": {
            "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2, 3)}},
            "param_groups": [{"lr": 1e-3, "betas": (0.9, 0.999), "params": [0], "fused": None}],
        },
        "rng_cpu": torch.get_rng_state(),
        "stage_done": False,
        "record": '{"cells": []}',
    }
    store = CheckpointStore(tmp_path / "ckpt", "run-a")
    store.save(state)
    loaded = store.load()
    assert loaded["optimizer"]["param_groups"] == state["optimizer"]["param_groups"]
    assert list(loaded["optimizer"]["state"]) == [0]  # int keys stay ints
    assert torch.equal(
        loaded["optimizer"]["state"][0]["exp_avg"], state["optimizer"]["state"][0]["exp_avg"]
    )
    assert torch.equal(loaded["rng_cpu"], state["rng_cpu"])
    assert loaded["stage_done"] is False and loaded["record"] == state["record"]
    assert (tmp_path / "ckpt" / "last.safetensors").read_bytes()[:8]  # a safetensors header


def test_checkpoint_of_other_settings_is_refused(model_dir, tmp_path):
    out = tmp_path / "x.json"
    CheckpointStore(checkpoint_dir(out), "other-run").save({"stage": 1})
    with pytest.raises(FewdimsError, match="other settings"):
        run_finetune(toy_tasks(), quick_config(model_dir, epochs=1), out)


def test_freeze_leaves_every_pretrained_weight_bit_identical(model_dir, tmp_path):
    loaded = load_model(str(model_dir))
    before = {name: tensor.clone() for name, tensor in loaded.model.state_dict().items()}
    config = quick_config(model_dir, freeze=True, head="mlp2", epochs=2)
    results = run_finetune(toy_tasks(), config, tmp_path / "frozen.json", loaded=loaded)
    after = loaded.model.state_dict()
    assert after.keys() == before.keys()  # full encoder handed back, pooler included
    for name, tensor in before.items():
        assert torch.equal(tensor, after[name]), name
    provenance = results.provenance
    assert provenance["weights_sha256"] == provenance["weights_sha256_after"]
    assert weights_sha256(loaded.model) == provenance["weights_sha256"]
    assert all(parameter.requires_grad for parameter in loaded.model.parameters())
    assert results.cells[0].details["frozen"] is True
    assert results.cells[0].details["head"] == "mlp2"


def test_head_gradient_of_unselected_dims_is_exactly_zero(model_dir):
    loaded = load_model(str(model_dir))
    model = SelectedDimsModel(
        loaded.model, layer=2, pooling="maxnorm", selected_dims=SELECTED, hidden_size=HIDDEN,
        frozen=False,
    )  # fmt: skip
    head = model.add_head("0", "linear", 2)
    assert head.weight.shape == (2, len(SELECTED))  # no weight at all for other dims
    tokens = loaded.tokenizer(
        ["good movie", "bad plot here"], padding=True, return_tensors="pt",
        return_special_tokens_mask=True,
    )  # fmt: skip
    pooled = model.pooled(
        tokens["input_ids"], tokens["attention_mask"], tokens["special_tokens_mask"],
        tokens["token_type_ids"],
    )  # fmt: skip
    pooled.retain_grad()
    loss = torch.nn.functional.cross_entropy(model.head_outputs("0", pooled), torch.tensor([1, 0]))
    loss.backward()
    unselected = [dim for dim in range(HIDDEN) if dim not in SELECTED]
    assert torch.count_nonzero(pooled.grad[:, unselected]) == 0
    assert torch.count_nonzero(pooled.grad[:, SELECTED]) > 0


def test_layers_above_the_cut_are_not_run_and_pooling_matches_the_cache(model_dir, tmp_path):
    split = synthetic_split(12, seed=6)
    cache_path = tmp_path / "toy.h5"
    extract_split(
        split, cache_path, ExtractConfig(model=str(model_dir), max_length=24, device="cpu")
    )
    loaded = load_model(str(model_dir))
    upper_block = loaded.model.encoder.layer[1]
    model = SelectedDimsModel(
        loaded.model, layer=1, pooling="maxnorm", selected_dims=[], hidden_size=HIDDEN,
        frozen=True,
    ).eval()  # fmt: skip
    assert len(loaded.model.encoder.layer) == 1 and loaded.model.pooler is None
    calls = []
    upper_block.register_forward_hook(lambda *args: calls.append(1))
    with Cache.open(cache_path) as cache:
        texts = [split.texts[row][0] for row in cache.row_index]
        cached = cache.pooled(1, "maxnorm")  # (N, H), cache (extraction) order
    tokens = loaded.tokenizer(
        texts, padding=True, truncation=True, max_length=24, return_tensors="pt",
        return_special_tokens_mask=True,
    )  # fmt: skip
    with torch.no_grad():
        pooled = model.pooled(
            tokens["input_ids"], tokens["attention_mask"], tokens["special_tokens_mask"],
            tokens["token_type_ids"],
        )  # fmt: skip
    assert not calls
    np.testing.assert_allclose(pooled.numpy(), cached, rtol=2e-3, atol=2e-3)
    model.restore_encoder()
    assert len(loaded.model.encoder.layer) == 2 and loaded.model.pooler is not None


def test_cross_task_reports_every_task_seen_after_each_stage(model_dir, tmp_path):
    config = quick_config(model_dir, epochs=1, max_train_examples=80)
    results = run_finetune(toy_tasks(pair_task=True), config, tmp_path / "cross.json")
    data = results.provenance["data"]
    assert [entry["train"]["n_examples"] for entry in data] == [80, 80]
    assert data[0]["train"]["selection"] == {"first": 80, "of": 160}
    stages = [(cell.details["stage_index"], cell.details["task"]) for cell in results.cells]
    assert stages == [(1, "toy"), (2, "toy"), (2, "toypair")]
    old = results.cells[1]
    assert old.details["trained_on"] == "toypair" and old.details["head_trained_in_stage"] == 1
    assert "forgetting" in old.details and "accuracy" in old.scores["eval"]
    assert old.details["score_after_own_stage"] == results.cells[0].scores["eval"]["accuracy"]
    assert results.task == "toy"


def write_probe_results(path: Path, weights: str, *, task: str = "toy") -> Path:
    from probe.results import ResultCell

    greedy = ResultCell(
        layer=1,
        pooling="cls",
        method="greedy",
        dims=[5, 9, 2],
        scores={"validation": {"accuracy": 0.7}, "eval": {"accuracy": 0.69}},
        steps=[
            {"k": 1, "dims": [5], "validation": 0.6, "eval": {"accuracy": 0.58}},
            {"k": 2, "dims": [5, 9], "validation": 0.66, "eval": {"accuracy": 0.64}},
            {"k": 3, "dims": [5, 9, 2], "validation": 0.7, "eval": {"accuracy": 0.69}},
        ],
    )
    worse = dataclasses.replace(
        greedy, layer=2, dims=[1, 2, 3], steps=[], scores={"validation": {"accuracy": 0.5}}
    )
    results = ResultsFile(
        kind="probe",
        task=task,
        primary_metric="accuracy",
        provenance={"model": "tiny", "weights_sha256": weights},
        cells=[greedy, worse],
    )
    return results.save(path)


def test_dims_from_reads_a_probe_results_file(model_dir, tmp_path):
    weights = load_model(str(model_dir)).weights_sha256
    probe_path = write_probe_results(tmp_path / "probe.json", weights)
    config = quick_config(model_dir, dims="all", dims_from=f"{probe_path}:::greedy:2", epochs=1)
    results = run_finetune(toy_tasks(), config, tmp_path / "from.json")
    (cell,) = results.cells
    assert cell.dims == [5, 9] and cell.layer == 1 and cell.pooling == "cls"
    assert cell.details["frozen_probe_eval"] == 0.64
    assert cell.details["dims_source"]["method"] == "greedy"
    best = run_finetune(
        toy_tasks(),
        quick_config(model_dir, dims="all", dims_from=str(probe_path), epochs=1),
        tmp_path / "best.json",
    )
    assert best.cells[0].dims == [5, 9, 2]  # best validation cell, all its dims
    assert best.cells[0].details["frozen_probe_eval"] == 0.69


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"dims": "3,40"}, ModelError, "out of range.*hidden size is 32"),
        ({"layer": 5}, ModelError, "beyond the model's depth"),
        ({"layer": -4}, ModelError, "beyond the model's depth"),
        ({"dims": "3,3"}, ModelError, "more than once"),
        ({"head": "deep"}, ModelError, "Unknown --head"),
    ],
)
def test_bad_settings_raise_clear_errors(model_dir, tmp_path, overrides, error, message):
    with pytest.raises(error, match=message):
        run_finetune(toy_tasks(), quick_config(model_dir, **overrides), tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_results_from_another_model_are_refused(model_dir, tmp_path):
    probe_path = write_probe_results(tmp_path / "other.json", "0" * 64)
    config = quick_config(model_dir, dims="all", dims_from=str(probe_path))
    with pytest.raises(FewdimsError, match=r"written from model 'tiny'.*mean nothing"):
        run_finetune(toy_tasks(), config, tmp_path / "bad.json")


def test_task_without_labels_is_refused():
    with pytest.raises(DataError, match="no labels"):
        task_data(synthetic_split(20, labeled=False), synthetic_split(10, seed=1))


def write_jsonl(path: Path, split) -> Path:
    rows = [
        {"text": texts[0], "label": int(label)}
        for texts, label in zip(split.texts, split.labels, strict=True)
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    return path


def test_cli_runs_and_maps_bad_input_to_exit_2(model_dir, tmp_path, capsys):
    train = write_jsonl(tmp_path / "train.jsonl", synthetic_split(64, seed=1))
    dev = write_jsonl(tmp_path / "dev.jsonl", synthetic_split(32, seed=2))
    common = [
        "finetune", "--model", str(model_dir), "--data-file", str(train), "--eval-file",
        str(dev), "--text-columns", "text", "--label-column", "label", "--epochs", "1",
        "--max-length", "24", "--device", "cpu",
    ]  # fmt: skip
    out = tmp_path / "cli.json"
    assert main([*common, "--dims", "1,2", "--pooling", "mean", "--out", str(out)]) == 0
    cell = ResultsFile.load(out).cells[0]
    assert cell.dims == [1, 2] and cell.pooling == "mean"
    assert main([*common, "--dims", "1,99", "--out", str(tmp_path / "bad.json")]) == 2
    assert "out of range" in capsys.readouterr().err
    no_eval = common[: common.index("--eval-file")] + common[common.index("--text-columns") :]
    assert main([*no_eval, "--out", str(tmp_path / "bad.json")]) == 2
    assert "--eval-file" in capsys.readouterr().err


def test_command_module_does_not_import_torch():
    code = "import sys, probe.cli, probe.commands.finetune; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[4])


def test_balanced_class_weight_is_sklearns_and_weights_the_loss():
    from sklearn.utils.class_weight import compute_class_weight

    from extract.finetune.training import batch_loss
    from probe.linear import balanced_class_weight

    labels = np.array([0] * 9 + [1] * 3 + [2] * 1)
    expected = compute_class_weight("balanced", classes=np.arange(3), y=labels)
    np.testing.assert_allclose(
        balanced_class_weight(np.bincount(labels, minlength=3)), expected, rtol=1e-12
    )
    torch.manual_seed(0)
    logits = torch.randn(13, 3)
    target = torch.as_tensor(labels)
    weight = torch.as_tensor(expected, dtype=torch.float32)
    per_example = torch.nn.functional.cross_entropy(logits, target, reduction="none")
    manual = (weight[target] * per_example).sum() / weight[target].sum()
    got = batch_loss(logits, target, is_regression=False, class_weight=weight)
    assert float(got) == pytest.approx(float(manual), rel=1e-6)
    assert float(batch_loss(logits, target, False)) == pytest.approx(float(per_example.mean()))


def test_balanced_run_trains_with_class_weights_and_records_them(model_dir, tmp_path, monkeypatch):
    import extract.finetune.runner as runner

    seen = []
    original = runner.train_epoch

    def spy(model, task, *args, **kwargs):
        seen.append(task.class_weight)
        return original(model, task, *args, **kwargs)

    monkeypatch.setattr(runner, "train_epoch", spy)
    results = run_finetune(
        toy_tasks(), quick_config(model_dir, epochs=1, balanced=True), tmp_path / "b.json"
    )
    labels = toy_tasks()[0].train_split.labels
    counts = np.bincount(labels, minlength=2)
    np.testing.assert_allclose(seen[0], labels.size / (2 * counts))
    assert results.provenance["args"]["balanced"] is True
    assert results.cells[0].details["class_weight"] == "balanced"
