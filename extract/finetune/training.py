"""One stage of fine-tuning: the optimiser, the epoch loop and evaluation.

Follows ``transformers`` ``run_glue.py`` where it matters for comparability: AdamW, a linear
learning-rate decay to 0 over the stage (optional warmup), gradient clipping at norm 1.0,
cross-entropy for classification and mean squared error for regression (STS-B). On CUDA the
forward pass runs under float16 autocast with a gradient scaler (weights stay float32); on
CPU everything is float32.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from extract.finetune.batches import EncodedSplit, collate, evaluation_order, training_order
from extract.finetune.head import SelectedDimsModel
from probe.metrics import MetricScores, compute_metrics

MAX_GRAD_NORM = 1.0


@dataclass
class TrainProgress:
    """What a progress callback is told: after every training batch, and after each epoch.

    ``kind`` is ``"batch"`` (``loss`` = that batch's loss) or ``"epoch"`` (``loss`` = the
    epoch's mean, ``eval_scores`` = the dev scores after it). Stages and epochs count from 1.
    """

    kind: str
    stage: int
    n_stages: int
    task: str
    epoch: int
    n_epochs: int
    batch: int
    n_batches: int
    loss: float
    eval_scores: dict[str, float] = field(default_factory=dict)
    seed: int | None = None  # the run's seed when ``--seeds`` repeats it (else None)


ProgressCallback = Callable[[TrainProgress], None]


@dataclass
class StageTask:
    """A task as one stage sees it: its encoded splits, its head's key and its scoring."""

    name: str
    head_key: str
    train: EncodedSplit
    eval: EncodedSplit
    metrics: tuple[str, ...]
    n_outputs: int
    is_regression: bool
    class_weight: np.ndarray | None = None  # (n_outputs,) loss weight per class, or None


def autocast_for(device: torch.device) -> Callable[[], object]:
    """float16 autocast on CUDA; a no-op on CPU (float32, deterministic)."""
    if device.type == "cuda":
        return lambda: torch.autocast(device_type="cuda", dtype=torch.float16)
    return nullcontext


def build_optimizer(
    model: SelectedDimsModel,
    head_key: str,
    *,
    lr: float,
    head_lr: float,
    weight_decay: float,
    total_steps: int,
    warmup_ratio: float,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW over the used encoder parameters (none when frozen) and the new head."""
    encoder_parameters, head_parameters = model.trainable_parameters(head_key)
    groups = [{"params": head_parameters, "lr": head_lr}]
    if encoder_parameters:
        groups.insert(0, {"params": encoder_parameters, "lr": lr})
    try:  # the fused kernel is ~8x faster per step than the per-tensor loop on CPU
        optimizer = torch.optim.AdamW(groups, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError):
        optimizer = torch.optim.AdamW(groups, weight_decay=weight_decay)
    warmup_steps = math.ceil(total_steps * warmup_ratio)

    def scale(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, scale)


def batch_loss(
    outputs: torch.Tensor,
    labels: torch.Tensor,
    is_regression: bool,
    class_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """MSE for regression; cross-entropy, weighted per class when ``class_weight`` is given
    (the weighted mean over the batch, as ``torch.nn.functional.cross_entropy`` defines it)."""
    if is_regression:
        return nn.functional.mse_loss(outputs[:, 0].float(), labels.float())
    return nn.functional.cross_entropy(outputs.float(), labels, weight=class_weight)


def train_epoch(
    model: SelectedDimsModel,
    task: StageTask,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    scaler: torch.amp.GradScaler | None,
    device: torch.device,
    *,
    batch_size: int,
    seed: int,
    stage: int,
    n_stages: int,
    epoch: int,
    n_epochs: int,
    progress: ProgressCallback | None = None,
    group_by_length: bool = False,
) -> float:
    """One pass over ``task.train`` in the (seed, stage, epoch) order; returns the mean loss.

    ``group_by_length`` batches examples of similar length together (less padding; see
    ``training_order``)."""
    model.train()
    autocast = autocast_for(device)
    lengths = task.train.lengths if group_by_length else None
    batches = training_order(len(task.train), batch_size, seed, stage, epoch, lengths)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    class_weight = (
        None
        if task.class_weight is None
        else torch.as_tensor(task.class_weight, dtype=torch.float32, device=device)
    )
    total_loss = 0.0
    for batch_number, example_ids in enumerate(batches, start=1):
        batch = collate(task.train, example_ids, device)
        labels = batch.pop("labels")
        with autocast():
            outputs = model(task.head_key, **batch)
        loss = batch_loss(outputs, labels, task.is_regression, class_weight)
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(parameters, MAX_GRAD_NORM)
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            nn.utils.clip_grad_norm_(parameters, MAX_GRAD_NORM)
            optimizer.step()
        scheduler.step()
        loss_value = float(loss.detach())
        total_loss += loss_value * len(example_ids)
        if progress is not None:
            progress(
                TrainProgress(
                    "batch",
                    stage,
                    n_stages,
                    task.name,
                    epoch,
                    n_epochs,
                    batch_number,
                    len(batches),
                    loss_value,
                )
            )
    return total_loss / len(task.train)


def evaluate(
    model: SelectedDimsModel, task: StageTask, device: torch.device, batch_size: int
) -> tuple[dict[str, float], float]:
    """Scores of ``task``'s head on ``task.eval`` with the task metrics, and seconds taken."""
    started = time.perf_counter()
    was_training = model.training
    model.eval()
    autocast = autocast_for(device)
    predictions = np.empty(len(task.eval), dtype=np.float64 if task.is_regression else np.int64)
    with torch.inference_mode():
        for example_ids in evaluation_order(task.eval, batch_size * 2):
            batch = collate(task.eval, example_ids, device)
            batch.pop("labels")
            with autocast():
                outputs = model(task.head_key, **batch).float()
            predicted = outputs[:, 0] if task.is_regression else outputs.argmax(dim=1)
            predictions[example_ids] = predicted.cpu().numpy()
    model.train(was_training)
    n_classes = None if task.is_regression else task.n_outputs
    scores = compute_metrics(task.metrics, task.eval.labels, predictions, n_classes=n_classes)
    # the predictions travel with the scores: the result cell keeps them (finetune.uncertainty)
    return MetricScores(scores, predictions), time.perf_counter() - started
