"""The settings of a fine-tuning run: one dataclass that is also the saved config.

It is written verbatim into the results provenance (``args``) and hashed into the
checkpoint, so a resumed run can prove it continues the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from extract.finetune.head import HEADS
from extract.model import DEFAULT_MODEL
from probe.errors import ModelError
from probe.seeds import check_seeds
from probe.vocabulary import POOLINGS

DEFAULT_HEAD_LR = 1e-3


@dataclass
class FinetuneConfig:
    """How to fine-tune; data (tasks, splits) is passed separately.

    ``layer`` is a hidden-state index (0 = embeddings, ``n_layers`` = last; negative counts
    from the end like Python); None means the last layer, or the layer of the ``--dims-from``
    cell. ``pooling`` None likewise means ``cls`` or the cell's pooling. ``lr`` is the
    encoder's learning rate and ``head_lr`` the new head's: a fresh head on 2–3 inputs learns
    nothing in a few hundred steps at BERT's 2e-5, so it gets its own (default 1e-3). Both
    decay linearly to 0 over each stage after ``warmup_ratio`` of its steps.
    ``max_train_examples``/``max_eval_examples`` take the first N examples (quick runs).
    ``balanced`` weights the cross-entropy by ``n / (n_classes * count[class])`` of the
    training split (the probes' ``class_weight="balanced"``): without it a 2-3-dim head on a
    skewed task such as CoLA can settle on the majority class. Off by default, matching the
    plain cross-entropy of the paper's fine-tuning. ``group_by_length`` batches training
    examples of similar length together (transformers' option of the same name): ~3x less
    padding on SST-2, so ~3x faster on a CPU; off by default so earlier runs reproduce.
    ``seeds`` repeats the whole run once per seed, each in place of ``seed`` (head init, data
    order, dropout); empty = one run with ``seed``. See :mod:`extract.finetune.runner`.
    """

    model: str = DEFAULT_MODEL
    dims: str = "all"
    dims_from: str | None = None
    layer: int | None = None
    pooling: str | None = None
    freeze: bool = False
    balanced: bool = False
    head: str = "linear"
    epochs: int = 3
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    lr: float = 2e-5
    head_lr: float = DEFAULT_HEAD_LR
    weight_decay: float = 0.0
    warmup_ratio: float = 0.0
    batch_size: int = 32
    group_by_length: bool = False
    max_length: int = 128
    seed: int = 0
    seeds: tuple[int, ...] = ()
    device: str = "auto"
    maxnorm_includes_special: bool = False
    save_model: str | None = None
    trust_remote_code: bool = False

    def check(self) -> None:
        """Raise ``ModelError`` naming the bad setting and its valid range.

        Declarative, like scikit-learn's ``_parameter_constraints``: :data:`CHOICES` and
        :data:`LIMITS` below are the whole rule set, checked in table order.
        """
        for name, (flag, allowed) in CHOICES.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise ModelError(f"Unknown {flag} {value!r}; choose one of {', '.join(allowed)}.")
        if self.dims_from and self.dims.strip().lower() != "all":
            raise ModelError("Pass --dims or --dims-from, not both.")
        check_seeds(self.seeds)
        for name, (flag, holds, requirement) in LIMITS.items():
            value = getattr(self, name)
            if value is not None and not holds(value):
                raise ModelError(f"{flag} {requirement} (got {value}).")


# field -> (flag, allowed values); None means "not set" and is allowed.
CHOICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "head": ("--head", tuple(HEADS)),
    "pooling": ("--pooling", POOLINGS),
}
# field -> (flag, test, requirement); None means "not set" (no limit) and is allowed.
LIMITS: dict[str, tuple[str, Callable[[Any], bool], str]] = {
    "epochs": ("--epochs", lambda value: value >= 1, "must be at least 1"),
    "batch_size": ("--batch-size", lambda value: value >= 1, "must be at least 1"),
    "max_length": ("--max-length", lambda value: value >= 2, "must be at least 2"),
    "lr": ("--lr", lambda value: value > 0, "must be positive"),
    "head_lr": ("--head-lr", lambda value: value > 0, "must be positive"),
    "warmup_ratio": ("--warmup-ratio", lambda value: 0 <= value < 1, "must be in [0, 1)"),
    "max_train_examples": ("--max-train-examples", lambda value: value >= 1, "must be at least 1"),
    "max_eval_examples": ("--max-eval-examples", lambda value: value >= 1, "must be at least 1"),
}
