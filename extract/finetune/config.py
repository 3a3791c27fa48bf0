"""The settings of a fine-tuning run: one dataclass that is also the saved config.

It is written verbatim into the results provenance (``args``) and hashed into the
checkpoint, so a resumed run can prove it continues the same run.
"""

from __future__ import annotations

from dataclasses import dataclass

from extract.finetune.head import HEADS
from extract.model import DEFAULT_MODEL
from extract.pooling import POOLINGS
from probe.errors import ModelError

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
    plain cross-entropy of the paper's fine-tuning.
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
    max_length: int = 128
    seed: int = 0
    device: str = "auto"
    maxnorm_includes_special: bool = False
    save_model: str | None = None
    trust_remote_code: bool = False

    def check(self) -> None:
        """Raise ``ModelError`` naming the bad setting and its valid range."""
        if self.head not in HEADS:
            raise ModelError(f"Unknown --head {self.head!r}; choose one of {', '.join(HEADS)}.")
        if self.pooling is not None and self.pooling not in POOLINGS:
            raise ModelError(
                f"Unknown --pooling {self.pooling!r}; choose one of {', '.join(POOLINGS)}."
            )
        if self.dims_from and self.dims.strip().lower() != "all":
            raise ModelError("Pass --dims or --dims-from, not both.")
        for name, value, low in (
            ("--epochs", self.epochs, 1),
            ("--batch-size", self.batch_size, 1),
            ("--max-length", self.max_length, 2),
        ):
            if value < low:
                raise ModelError(f"{name} must be at least {low} (got {value}).")
        for name, value in (("--lr", self.lr), ("--head-lr", self.head_lr)):
            if not value > 0:
                raise ModelError(f"{name} must be positive (got {value}).")
        if not 0 <= self.warmup_ratio < 1:
            raise ModelError(f"--warmup-ratio must be in [0, 1) (got {self.warmup_ratio}).")
        for name, value in (
            ("--max-train-examples", self.max_train_examples),
            ("--max-eval-examples", self.max_eval_examples),
        ):
            if value is not None and value < 1:
                raise ModelError(f"{name} must be at least 1 (got {value}).")
