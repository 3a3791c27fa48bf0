"""A whole fine-tuning run: stages over tasks, evaluation after each, results and provenance.

Stage ``i`` fine-tunes on ``tasks[i]`` with a fresh head on the chosen dims (the encoder
carries over from stage ``i-1``); after each stage every task seen so far is evaluated with
its own, most recent head, so forgetting of earlier tasks is measured. Each (stage,
evaluated task) becomes one ``method="finetune"`` :class:`~probe.results.ResultCell`.

A cross-task run still writes one results file; its ``task`` is the first stage's task and
each cell names the task it scores in ``details["task"]``.

Seeds (``config.seeds``, ``--seeds 0,1,2``): the same plan (model loaded once, data encoded
once) runs once per seed, the encoder put back to its pre-trained weights before each, so a
seed's cells equal those of a separate run with ``--seed`` = that seed. Every seed's cells
are kept in the one results file (each with its ``seed``, per-example predictions and
seconds; :func:`probe.seeds.seed_summary` adds the mean ± sd). Each seed checkpoints in
``<out>.ckpt/seed-<S>/``; when a seed finishes, its checkpoint is replaced by its finished
cells alone (no weights), so a run killed during seed 2 redoes neither seed 0 nor seed 1
when re-run, and resumes seed 2 from its last finished epoch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from extract.finetune.batches import TaskData, encode_split
from extract.finetune.checkpoint import CheckpointStore, checkpoint_dir
from extract.finetune.config import FinetuneConfig
from extract.finetune.dims import (
    DimsChoice,
    check_dims_fit,
    check_same_model,
    dims_from_results,
    parse_dims,
)
from extract.finetune.head import SelectedDimsModel
from extract.finetune.training import (
    ProgressCallback,
    StageTask,
    TrainProgress,
    build_optimizer,
    evaluate,
    train_epoch,
)
from extract.finetune.uncertainty import FINETUNE_BOOTSTRAP, eval_uncertainty
from extract.model import LoadedModel, load_model, resolve_device, weights_sha256
from probe.errors import DataError, ModelError
from probe.linear import balanced_class_weight
from probe.results import ResultCell, ResultsFile
from probe.vocabulary import poolings_for

HEADS_FILE = "fewdims_heads.safetensors"
HEADS_CONFIG_FILE = "fewdims_finetune.json"


def resolve_layer(requested: int | None, from_dims: int | None, n_layers: int) -> int:
    """The hidden-state index to fine-tune at (0 = embeddings … ``n_layers`` = last)."""
    if requested is None:
        return n_layers if from_dims is None else from_dims
    layer = requested if requested >= 0 else n_layers + 1 + requested
    if not 0 <= layer <= n_layers:
        raise ModelError(
            f"--layer {requested} is beyond the model's depth: it has {n_layers} layers, so "
            f"hidden states 0..{n_layers} (0 = embeddings, -1 = last). Pass a layer in that range."
        )
    if from_dims is not None and layer != from_dims:
        raise ModelError(
            f"The dims from --dims-from were selected at layer {from_dims}, but --layer asks for "
            f"layer {layer}. Drop --layer, or pick a cell of layer {layer} with "
            f"RESULTS.json:{layer}."
        )
    return layer


def resolve_pooling(requested: str | None, from_dims: str | None, causal: bool = False) -> str:
    """The pooling to train on: asked for, else the dims' cell's, else the model's first
    (``cls`` for an encoder, ``last`` for a decoder, which has no ``cls``)."""
    allowed = poolings_for(causal)
    if requested is not None and requested not in allowed:
        kind = "a decoder-only LM" if causal else "an encoder"
        raise ModelError(
            f"--pooling {requested} does not apply to {kind}: choose one of "
            f"{', '.join(allowed)}"
            + (
                " (a decoder's first token has seen only itself; 'last', the last real "
                "token, is its sentence vector)."
                if requested == "cls"
                else "."
            )
        )
    if requested is None:
        return from_dims or allowed[0]
    if from_dims is not None and requested != from_dims:
        raise ModelError(
            f"The dims from --dims-from were selected on {from_dims} vectors, but --pooling asks "
            f"for {requested}. Drop --pooling, or pick a {requested} cell with "
            f"RESULTS.json:LAYER:{requested}."
        )
    return requested


@dataclass(frozen=True)
class FinetunePlan:
    """Everything a fine-tuning run decides before its first step, built once by
    :func:`plan_finetune` and handed whole to the stage loop and to the checkpoint,
    provenance and save helpers.

    ``layer`` is the resolved hidden-state index and ``pooling`` the resolved pooling (from
    the config, else the dims choice's cell); ``tasks`` are already cut to the config's
    example limits and ``stage_tasks`` are them encoded. ``weights_before`` is the encoder's
    weights hash at the start (a frozen run must end with the same).
    """

    config: FinetuneConfig
    out_path: Path
    loaded: LoadedModel
    device: torch.device
    choice: DimsChoice
    layer: int
    pooling: str
    tasks: tuple[TaskData, ...]
    stage_tasks: tuple[StageTask, ...]
    weights_before: str

    def identity(self) -> dict[str, Any]:
        """What a resumed run must share with the run it continues."""
        settings = {
            key: value
            for key, value in asdict(self.config).items()
            if key not in ("device", "save_model", "model")
        }
        return {
            "settings": settings,
            "weights_sha256": self.weights_before,
            "data": [
                [task.train_split.fingerprint(), task.eval_split.fingerprint()]
                for task in self.tasks
            ],
            "dims": self.choice.dims,
            "layer": self.layer,
            "pooling": self.pooling,
        }


@dataclass
class _Run:
    """The moving parts of one run: the model in training, its checkpoints and the record
    of finished cells (``record["cells"]``) and of the stage in progress (``steps``)."""

    plan: FinetunePlan
    model: SelectedDimsModel
    store: CheckpointStore
    scaler: torch.amp.GradScaler | None
    record: dict[str, Any]
    progress: ProgressCallback | None
    resumed_from: dict[str, int] | None = None
    weights_after: str = ""  # the whole encoder's hash once every stage has run


def plan_finetune(
    tasks: list[TaskData],
    config: FinetuneConfig,
    out_path: str | Path,
    *,
    loaded: LoadedModel | None = None,
    choice: DimsChoice | None = None,
) -> FinetunePlan:
    """Check the settings, load the model and settle layer, pooling, dims and data.

    ``choice`` is the dims to train on (e.g. :meth:`probe.results.ResultsFile.dims_choice` of
    a sweep in memory); None reads them from ``config.dims`` / ``config.dims_from``.
    """
    config.check()
    if not tasks:
        raise DataError("No task to fine-tune on; pass --task.")
    device = resolve_device(config.device)
    if choice is None:
        choice = (
            dims_from_results(config.dims_from) if config.dims_from else parse_dims(config.dims)
        )
    if loaded is None:
        loaded = load_model(config.model, trust_remote_code=config.trust_remote_code)
        weights_before = loaded.weights_sha256
    else:  # a model handed in may have changed since it was loaded (and hashed)
        weights_before = weights_sha256(loaded.model)
    check_same_model(choice, loaded.name, weights_before)
    check_dims_fit(choice.dims, loaded.hidden_size, loaded.name)
    layer = resolve_layer(config.layer, choice.layer, loaded.n_layers)
    pooling = resolve_pooling(config.pooling, choice.pooling, loaded.causal)
    if config.max_length > loaded.max_positions:
        raise ModelError(
            f"--max-length {config.max_length} exceeds the {loaded.max_positions} positions of "
            f"{loaded.name}; use --max-length {loaded.max_positions} or less."
        )
    limited = tuple(_limited(task, config) for task in tasks)
    return FinetunePlan(
        config=config,
        out_path=Path(out_path),
        loaded=loaded,
        device=device,
        choice=choice,
        layer=layer,
        pooling=pooling,
        tasks=limited,
        stage_tasks=tuple(
            _stage_task(task, index, loaded, config) for index, task in enumerate(limited)
        ),
        weights_before=weights_before,
    )


def run_finetune(
    tasks: list[TaskData],
    config: FinetuneConfig,
    out_path: str | Path,
    *,
    loaded: LoadedModel | None = None,
    progress: ProgressCallback | None = None,
    choice: DimsChoice | None = None,
) -> ResultsFile:
    """Fine-tune on ``tasks`` in order, write the results file to ``out_path`` and return it.

    Resumes from ``<out>.ckpt/`` when an earlier run with the same settings was interrupted;
    deletes it on success. ``loaded`` lets a caller pass a model already in memory (it is
    modified in place); ``choice`` the dims (see :func:`plan_finetune`).
    """
    started = time.perf_counter()
    plan = plan_finetune(tasks, config, out_path, loaded=loaded, choice=choice)
    if config.seeds:
        return _run_seeds(plan, progress, started)
    store = CheckpointStore(checkpoint_dir(plan.out_path), _fingerprint(plan))
    run = _train_plan(plan, store, progress)
    results = ResultsFile(
        kind="finetune",
        task=plan.tasks[0].name,
        primary_metric=plan.tasks[0].primary_metric,
        provenance=_provenance(
            plan,
            run.weights_after,
            seconds=time.perf_counter() - started,
            resumed_from=run.resumed_from,
        ),
        cells=[ResultCell(**cell) for cell in run.record["cells"]],
    )
    results.save(plan.out_path)
    store.remove()
    return results


def _fingerprint(plan: FinetunePlan) -> str:
    return hashlib.sha256(json.dumps(plan.identity(), sort_keys=True).encode()).hexdigest()


def _train_plan(
    plan: FinetunePlan, store: CheckpointStore, progress: ProgressCallback | None
) -> _Run:
    """Every stage of one plan (resuming from ``store``); the encoder is whole afterwards."""
    config = plan.config
    model = SelectedDimsModel(
        plan.loaded.model,
        layer=plan.layer,
        pooling=plan.pooling,
        selected_dims=plan.choice.dims,
        hidden_size=plan.loaded.hidden_size,
        frozen=config.freeze,
        maxnorm_includes_special=config.maxnorm_includes_special,
    ).to(plan.device)
    try:
        run = _Run(
            plan,
            model,
            store,
            scaler=torch.amp.GradScaler("cuda") if plan.device.type == "cuda" else None,
            record={"cells": [], "own": {}},
            progress=progress,
        )
        _run_stages(run)
        run.weights_after = _finish_encoder(plan, model)
    finally:
        model.restore_encoder()
    return run


def seed_checkpoint_dir(out_path: str | Path, seed: int) -> Path:
    """Where seed ``seed`` of a ``--seeds`` run checkpoints: ``<out>.ckpt/seed-<seed>/``."""
    return checkpoint_dir(out_path) / f"seed-{seed}"


def _run_seeds(
    plan: FinetunePlan, progress: ProgressCallback | None, started: float
) -> ResultsFile:
    """The plan once per ``plan.config.seeds`` (see the module docstring); one results file."""
    seeds = plan.config.seeds
    encoder = plan.loaded.model
    # The pre-trained weights every seed starts from (a CPU copy: training changes them in place).
    initial = {key: value.detach().to("cpu").clone() for key, value in encoder.state_dict().items()}
    was_training = encoder.training
    trained_here = False
    cells: list[ResultCell] = []
    per_seed: list[dict[str, Any]] = []
    stores = []
    for seed in seeds:
        seed_plan = _seed_plan(plan, seed)
        store = CheckpointStore(seed_checkpoint_dir(plan.out_path, seed), _fingerprint(seed_plan))
        stores.append(store)
        saved = store.load()
        if saved is not None and saved.get("finished"):
            record = json.loads(saved["record"])
            per_seed.append({**record["run"], "from_checkpoint": True})
        else:
            if trained_here:
                _restore_weights(seed_plan, initial, was_training)
            seed_started = time.perf_counter()
            run = _train_plan(seed_plan, store, _tagged(progress, seed))
            trained_here = True
            record = {
                "cells": [{**cell, "seed": seed} for cell in run.record["cells"]],
                "run": {
                    "seed": seed,
                    "seconds": time.perf_counter() - seed_started,
                    "weights_sha256_after": run.weights_after,
                    "resumed_from": run.resumed_from,
                    "saved_model": seed_plan.config.save_model,
                },
            }
            # Finished: keep only this seed's cells (no weights) for a re-run to pick up.
            store.save({"finished": True, "record": json.dumps(record)})
            per_seed.append(record["run"])
        cells.extend(ResultCell(**cell) for cell in record["cells"])
    if trained_here:
        _restore_weights(plan, initial, was_training)  # a caller's model ends as it came
    provenance = _provenance(
        _seed_plan(plan, seeds[0]),
        per_seed[0]["weights_sha256_after"],
        seconds=time.perf_counter() - started,
        resumed_from=None,
    )
    for key in ("seed", "weights_sha256_after", "resumed_from", "saved_model"):
        provenance.pop(key)
    provenance.update(seeds=list(seeds), per_seed=per_seed, args=asdict(plan.config))
    results = ResultsFile(
        kind="finetune",
        task=plan.tasks[0].name,
        primary_metric=plan.tasks[0].primary_metric,
        provenance=provenance,
        cells=cells,
    )
    results.save(plan.out_path)
    for store in stores:
        store.remove()
    CheckpointStore(checkpoint_dir(plan.out_path), "").remove()
    return results


def _seed_plan(plan: FinetunePlan, seed: int) -> FinetunePlan:
    """The plan of one seed: exactly what ``--seed seed`` would run (and save to
    ``<--save-model>/seed-<seed>``)."""
    config = plan.config
    save_model = str(Path(config.save_model) / f"seed-{seed}") if config.save_model else None
    return dataclasses.replace(
        plan,
        config=dataclasses.replace(config, seed=seed, seeds=(), save_model=save_model),
    )


def _restore_weights(plan: FinetunePlan, initial: dict[str, torch.Tensor], training: bool) -> None:
    """Put the pre-trained weights back after a seed trained them; check by their hash."""
    encoder = plan.loaded.model
    encoder.load_state_dict(initial)
    encoder.train(training)
    if weights_sha256(encoder) != plan.weights_before:
        raise RuntimeError("bug: the encoder's weights differ from the pre-trained ones")


def _tagged(progress: ProgressCallback | None, seed: int) -> ProgressCallback | None:
    """``progress`` told which seed each event belongs to."""
    if progress is None:
        return None
    return lambda event: progress(dataclasses.replace(event, seed=seed))


def _stage_task(
    task: TaskData, index: int, loaded: LoadedModel, config: FinetuneConfig
) -> StageTask:
    return StageTask(
        name=task.name,
        head_key=str(index),
        train=encode_split(loaded.tokenizer, task.train_split, config.max_length),
        eval=encode_split(loaded.tokenizer, task.eval_split, config.max_length),
        metrics=task.metrics,
        n_outputs=task.n_outputs,
        is_regression=task.is_regression,
        class_weight=(
            balanced_class_weight(np.bincount(task.train_split.labels, minlength=task.n_outputs))
            if config.balanced and not task.is_regression
            else None
        ),
    )


def _run_stages(run: _Run) -> None:
    """Every stage in order, skipping those an interrupted run finished (restored whole)."""
    plan, model = run.plan, run.model
    saved = run.store.load()
    if saved:
        run.record = json.loads(saved["record"])
    for stage_index, task in enumerate(plan.stage_tasks):
        stage_number = stage_index + 1
        torch.manual_seed(plan.config.seed + 1000 * stage_index)
        model.add_head(task.head_key, plan.config.head, task.n_outputs)
        resume: dict[str, Any] | None = None
        if saved is not None and stage_number <= saved["stage"]:
            if stage_number < saved["stage"]:
                continue  # finished before the interruption; restored with the stage saved
            model.load_state_dict(saved["model"])
            run.resumed_from = {"stage": saved["stage"], "epochs_done": saved["epochs_done"]}
            resume, saved = saved, None
            if resume["stage_done"]:
                continue
        _train_stage(run, stage_index, resume)


def _train_stage(run: _Run, stage_index: int, resume: dict[str, Any] | None) -> None:
    """Train one stage's epochs (continuing ``resume`` part-way), checkpoint after each
    epoch, then score every task seen so far into ``run.record["cells"]``."""
    plan, model, config, record = run.plan, run.model, run.plan.config, run.record
    task = plan.stage_tasks[stage_index]
    stage_number = stage_index + 1
    stage_started = time.perf_counter()
    n_batches = -(-len(task.train) // config.batch_size)
    optimizer, scheduler = build_optimizer(
        model,
        task.head_key,
        lr=config.lr,
        head_lr=config.head_lr,
        weight_decay=config.weight_decay,
        total_steps=n_batches * config.epochs,
        warmup_ratio=config.warmup_ratio,
    )
    first_epoch = 1
    steps: list[dict[str, Any]] = []
    if resume is not None:  # part-way through this stage: continue its epochs
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        if run.scaler is not None and resume.get("scaler"):
            run.scaler.load_state_dict(resume["scaler"])
        torch.set_rng_state(resume["rng_cpu"])
        if plan.device.type == "cuda" and resume.get("rng_cuda"):
            torch.cuda.set_rng_state_all(resume["rng_cuda"])
        first_epoch = resume["epochs_done"] + 1
        steps = record["steps"]
        stage_started -= record["stage_seconds"]
    scores: dict[str, float] = steps[-1]["eval"] if steps else {}
    for epoch in range(first_epoch, config.epochs + 1):
        epoch_started = time.perf_counter()
        train_loss = train_epoch(
            model,
            task,
            optimizer,
            scheduler,
            run.scaler,
            plan.device,
            batch_size=config.batch_size,
            seed=config.seed,
            stage=stage_number,
            n_stages=len(plan.stage_tasks),
            epoch=epoch,
            n_epochs=config.epochs,
            progress=run.progress,
            group_by_length=config.group_by_length,
        )
        scores, eval_seconds = evaluate(model, task, plan.device, config.batch_size)
        steps.append(
            {
                "epoch": epoch,
                "train_loss": train_loss,
                "eval": scores,
                "seconds": time.perf_counter() - epoch_started,
                "eval_seconds": eval_seconds,
            }
        )
        if run.progress is not None:
            run.progress(
                TrainProgress(
                    "epoch",
                    stage_number,
                    len(plan.stage_tasks),
                    task.name,
                    epoch,
                    config.epochs,
                    n_batches,
                    n_batches,
                    train_loss,
                    scores,
                )
            )
        record["steps"] = steps
        record["stage_seconds"] = time.perf_counter() - stage_started
        run.store.save(_checkpoint_state(run, optimizer, scheduler, stage_number, epoch, False))
    record["cells"].extend(
        _stage_cells(run, stage_index, scores, steps, time.perf_counter() - stage_started)
    )
    record["steps"] = []
    run.store.save(_checkpoint_state(run, optimizer, scheduler, stage_number, config.epochs, True))


def _finish_encoder(plan: FinetunePlan, model: SelectedDimsModel) -> str:
    """Hash the whole encoder after training (and save it when asked); returns the hash."""
    with model.full_encoder() as encoder:
        weights_after = weights_sha256(encoder)
        if plan.config.save_model:
            _save_model(plan, encoder, model)
    if plan.config.freeze and weights_after != plan.weights_before:
        raise RuntimeError("bug: a frozen encoder's weights changed during fine-tuning")
    return weights_after


def _limited(task: TaskData, config: FinetuneConfig) -> TaskData:
    train, evaluation = task.train_split, task.eval_split
    if config.max_train_examples and len(train) > config.max_train_examples:
        train = train.subset(config.max_train_examples)
    if config.max_eval_examples and len(evaluation) > config.max_eval_examples:
        evaluation = evaluation.subset(config.max_eval_examples)
    return dataclasses.replace(task, train_split=train, eval_split=evaluation)


def _stage_cells(
    run: _Run,
    stage_index: int,
    current_scores: dict[str, float],
    steps: list[dict[str, Any]],
    stage_seconds: float,
) -> list[dict[str, Any]]:
    """One cell per task seen so far, scored with its latest head after this stage."""
    plan, model, config, choice = run.plan, run.model, run.plan.config, run.plan.choice
    seen, tasks, own_scores = plan.stage_tasks[: stage_index + 1], plan.tasks, run.record["own"]
    trained = seen[stage_index]
    own_scores[trained.name] = current_scores
    latest_head = {task.name: index for index, task in enumerate(seen)}
    cells = []
    for name, head_index in latest_head.items():
        task = seen[head_index]
        if head_index == stage_index:
            scores, seconds, cell_steps = current_scores, stage_seconds, steps
        else:
            scores, seconds = evaluate(model, task, plan.device, config.batch_size)
            cell_steps = []
        primary = tasks[head_index].primary_metric
        details: dict[str, Any] = {
            "task": name,
            "stage": f"stage {stage_index + 1}: {trained.name}"
            + ("" if name == trained.name else f" → eval {name}"),
            "stage_index": stage_index + 1,
            "stages": [item.name for item in tasks],
            "trained_on": trained.name,
            "head_trained_in_stage": head_index + 1,
            "frozen": config.freeze,
            "head": config.head,
            "class_weight": "balanced"
            if config.balanced and task.class_weight is not None
            else None,
            "model": plan.loaded.name,
            "epochs": config.epochs,
            "n_train": len(task.train),
            "n_eval": len(task.eval),
            "primary_metric": primary,
            "dims_source": choice.source,
        }
        if name != trained.name and name in own_scores:
            after_own = own_scores[name].get(primary)
            details["score_after_own_stage"] = after_own
            if after_own is not None and primary in scores:
                details["forgetting"] = after_own - scores[primary]
        if choice.frozen_probe_eval and choice.source.get("task") == name:
            details["frozen_probe_eval"] = choice.frozen_probe_eval.get(primary)
            details["frozen_probe"] = {"eval": choice.frozen_probe_eval, **choice.source}
        cells.append(
            {
                "layer": model.layer,
                "pooling": model.pooling,
                "method": "finetune",
                "dims": [int(dim) for dim in model.selected_dims.tolist()],
                "scores": {"eval": scores},
                "steps": cell_steps,
                "details": details,
                "seconds": seconds,
                **eval_uncertainty(scores, task),
            }
        )
    return cells


def _checkpoint_state(
    run: _Run,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    stage: int,
    epochs_done: int,
    stage_done: bool,
) -> dict[str, Any]:
    return {
        "stage": stage,
        "epochs_done": epochs_done,
        "stage_done": stage_done,
        "model": run.model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": run.scaler.state_dict() if run.scaler is not None else {},
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if run.plan.device.type == "cuda" else [],
        "record": json.dumps(run.record),
    }


def _provenance(
    plan: FinetunePlan,
    weights_after: str,
    *,
    seconds: float,
    resumed_from: dict[str, int] | None,
) -> dict[str, Any]:
    import transformers

    def describe(split: Any) -> dict[str, Any]:
        return {
            "task": split.task,
            "split": split.split,
            "source": split.source,
            "sha256": split.fingerprint(),
            "n_examples": len(split),
            "selection": dict(split.extra),  # e.g. {"first": N, "of": total} for a subset
        }

    loaded, config, device, layer = plan.loaded, plan.config, plan.device, plan.layer
    return {
        "model": loaded.name,
        "model_path": loaded.path,
        "weights_sha256": plan.weights_before,
        "weights_sha256_after": weights_after,
        "n_model_layers": loaded.n_layers,
        "hidden_size": loaded.hidden_size,
        "layer": layer,
        "pooling": plan.pooling,
        "dims": plan.choice.dims,
        "dims_source": plan.choice.source,
        "encoder_above_layer": f"not run: blocks {layer + 1}..{loaded.n_layers} are cut off "
        "while training and saved unchanged",
        "data": [
            {"train": describe(task.train_split), "eval": describe(task.eval_split)}
            for task in plan.tasks
        ],
        "seed": config.seed,
        "bootstrap": FINETUNE_BOOTSTRAP.record(),
        "args": asdict(config),
        "device": str(device),
        "mixed_precision": "float16 autocast" if device.type == "cuda" else "none (float32)",
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "python": platform.python_version(),
        "seconds": seconds,
        "resumed_from": resumed_from,
        "saved_model": config.save_model,
    }


def _save_model(plan: FinetunePlan, encoder: torch.nn.Module, model: SelectedDimsModel) -> None:
    """A Hugging Face model directory ``fewdims extract`` can cache, plus the heads beside it."""
    directory = Path(plan.config.save_model)  # type: ignore[arg-type]
    directory.mkdir(parents=True, exist_ok=True)
    encoder.save_pretrained(directory)
    plan.loaded.tokenizer.save_pretrained(directory)  # type: ignore[attr-defined]
    heads = {
        key: value.detach().cpu().contiguous() for key, value in model.heads.state_dict().items()
    }
    save_file(heads, directory / HEADS_FILE, metadata={"fewdims": "selected-dims heads"})
    description = {
        "layer": plan.layer,
        "pooling": plan.pooling,
        "dims": plan.choice.dims,
        "head": plan.config.head,
        "heads": {task.head_key: task.name for task in plan.stage_tasks},
        "base_model": plan.loaded.name,
        "base_weights_sha256": plan.weights_before,
    }
    (directory / HEADS_CONFIG_FILE).write_text(json.dumps(description, indent=1), encoding="utf-8")
