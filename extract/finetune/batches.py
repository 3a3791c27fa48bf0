"""Tokenized splits and the batches fine-tuning feeds the model.

Tokenization is the extractor's (:func:`extract.extractor.tokenize_split`: same truncation,
same pair encoding, same special-token mask), so a fine-tuned model sees exactly the tokens a
cache of the same split holds. Training batches are a seeded shuffle (the seed, the stage and
the epoch fix the order, so a resumed run sees the batches the uninterrupted run would have);
evaluation batches are length-sorted, which drops padding and changes nothing else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from extract.datasets import Split
from extract.extractor import RaggedRows, pad_batch, tokenize_split
from extract.model import pad_token_id
from probe.errors import DataError
from probe.tasks import UnknownTaskError, get_task


@dataclass
class TaskData:
    """One task of a fine-tuning run: its training and evaluation splits and how it is scored.

    ``metrics`` are reported on ``eval_split``; ``primary_metric`` is the one compared across
    configurations. ``n_outputs`` is the head's output width (1 for regression).
    """

    name: str
    train_split: Split
    eval_split: Split
    metrics: tuple[str, ...]
    primary_metric: str
    n_outputs: int
    is_regression: bool


def task_data(train_split: Split, eval_split: Split) -> TaskData:
    """Check both splits can be trained and scored, and look up the task's metrics.

    GLUE tasks use the metrics of :mod:`probe.tasks`; other data gets accuracy
    (classification) or Pearson/Spearman (regression).
    """
    for split, role in ((train_split, "training"), (eval_split, "evaluation")):
        if not split.labeled:
            raise DataError(
                f"The {role} split {split.task}/{split.split} ({split.source}) has no labels, so "
                "it cannot be fine-tuned on or scored. Use a labeled split (GLUE test splits "
                "have no labels: fine-tune on train and evaluate on dev)."
            )
        if len(split) == 0:
            raise DataError(f"The {role} split {split.task}/{split.split} has no examples.")
    if train_split.is_regression != eval_split.is_regression:
        raise DataError(
            f"{train_split.task}: the training split is "
            f"{'regression' if train_split.is_regression else 'classification'} but the "
            "evaluation split is not; pass matching files."
        )
    try:
        spec = get_task(train_split.task)
        metrics, primary = spec.metrics, spec.primary_metric
    except UnknownTaskError:
        metrics = ("pearson", "spearman") if train_split.is_regression else ("accuracy",)
        primary = metrics[0]
    if train_split.is_regression:
        n_outputs = 1
    else:
        n_outputs = len(train_split.label_names) or int(train_split.labels.max()) + 1
        if len(np.unique(train_split.labels)) < 2:
            raise DataError(
                f"The training split {train_split.task}/{train_split.split} holds one class "
                "only; a classifier needs at least two. Use more (or other) training examples."
            )
    return TaskData(
        name=train_split.task,
        train_split=train_split,
        eval_split=eval_split,
        metrics=tuple(metrics),
        primary_metric=primary,
        n_outputs=max(n_outputs, 1),
        is_regression=train_split.is_regression,
    )


@dataclass
class EncodedSplit:
    """A split tokenized once: ragged token lists plus labels (int64, or float32 scores)."""

    input_ids: RaggedRows
    token_type_ids: RaggedRows
    special: RaggedRows
    labels: np.ndarray
    pad_id: int
    uses_token_types: bool

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64)


def encode_split(tokenizer: Any, split: Split, max_length: int) -> EncodedSplit:
    tokenized = tokenize_split(tokenizer, split, max_length)
    return EncodedSplit(
        input_ids=tokenized.input_ids,
        token_type_ids=tokenized.token_type_ids,
        special=tokenized.special,
        labels=np.asarray(split.labels),
        pad_id=pad_token_id(tokenizer),
        uses_token_types="token_type_ids" in getattr(tokenizer, "model_input_names", []),
    )


def collate(
    encoded: EncodedSplit, example_ids: np.ndarray, device: torch.device
) -> dict[str, torch.Tensor]:
    """Pad ``example_ids`` to their longest member → model inputs, masks and labels on ``device``."""
    padded = pad_batch(encoded, example_ids, encoded.pad_id)
    batch = {
        "input_ids": torch.from_numpy(padded["input_ids"]).to(device),
        "attention_mask": torch.from_numpy(padded["attention_mask"]).to(device),
        "special_mask": torch.from_numpy(padded["special"]).to(device),
        "labels": torch.from_numpy(encoded.labels[example_ids]).to(device),
    }
    if encoded.uses_token_types:
        batch["token_type_ids"] = torch.from_numpy(padded["token_type_ids"]).to(device)
    return batch


GROUP_BATCHES = 50  # batches per length-sorted group (group_by_length)


def training_order(
    n_examples: int,
    batch_size: int,
    seed: int,
    stage: int,
    epoch: int,
    lengths: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Shuffled batches of example ids, fixed by (seed, stage, epoch) alone.

    With ``lengths`` (tokens per example), batches are grouped by length as transformers'
    ``group_by_length`` does: the shuffled order is cut into groups of ``GROUP_BATCHES``
    batches, each group sorted by length and cut into batches, and the batch order shuffled.
    Why: each batch is padded to its longest member, and shuffled SST-2 batches are ~2/3
    padding; at 768 dims the grouped batches train the same rows ~3x faster on a CPU
    (``reports/benchmarks/finetune_throughput.md``). Rows still meet random batch-mates of
    similar length, and every row is seen once per epoch.
    """
    rng = np.random.default_rng([seed, stage, epoch])
    order = rng.permutation(n_examples)
    if lengths is None:
        return [order[start : start + batch_size] for start in range(0, n_examples, batch_size)]
    group_size = GROUP_BATCHES * batch_size
    batches: list[np.ndarray] = []
    for start in range(0, n_examples, group_size):
        group = order[start : start + group_size]
        group = group[np.argsort(-lengths[group], kind="stable")]
        batches += [group[i : i + batch_size] for i in range(0, len(group), batch_size)]
    return [batches[index] for index in rng.permutation(len(batches))]


def evaluation_order(encoded: EncodedSplit, batch_size: int) -> Iterator[np.ndarray]:
    """Length-sorted batches (longest first): little padding, the same predictions."""
    order = np.lexsort((np.arange(len(encoded)), -encoded.lengths))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
