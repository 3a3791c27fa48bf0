"""Synthetic caches written straight through ``probe.cache`` (no model, no torch).

Out-of-core tests need caches far larger than a unit test could extract with even the tiny
model, and a child process that never imports torch (its address space is what a memory
limit measures). Token vectors are Gaussian noise plus a label signal on a few word-token
dimensions, so a probe has something real to find; [CLS] and [SEP] rows are marked special.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from probe.cache import CacheMeta, PartWriter, consolidate
from probe.vocabulary import ENCODER_POOLINGS

SIGNAL_DIMS = (3, 7)


def _labels(kind: str, n_examples: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "regression":
        return rng.uniform(0.0, 5.0, n_examples).astype(np.float32)
    n_classes = 3 if kind == "multiclass" else 2
    return rng.integers(0, n_classes, n_examples).astype(np.int64)


def _signal(kind: str, labels: np.ndarray) -> np.ndarray:
    """(n, len(SIGNAL_DIMS)) per-example offsets the probes should recover."""
    if kind == "regression":
        centred = (labels.astype(np.float64) - 2.5) / 2.5
        return np.stack([centred, -centred], axis=1)
    if kind == "multiclass":
        table = np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]])
        return table[labels]
    sign = 2.0 * labels.astype(np.float64) - 1.0
    return np.stack([sign, sign], axis=1)


def write_synthetic_cache(
    path: Path,
    *,
    n_examples: int,
    hidden_size: int = 16,
    layers: tuple[int, ...] = (0, 1),
    kind: str = "binary",
    split: str = "train",
    mean_length: int = 12,
    strength: float = 0.6,
    seed: int = 0,
    part_tokens: int = 200_000,
) -> Path:
    """Write a complete cache of ``n_examples`` examples; returns its path.

    Lengths are 3..2*mean_length tokens ([CLS], words, [SEP]); layer ``l`` carries the signal
    at ``strength * l`` (layer 0 has none), so layers are distinguishable.
    """
    rng = np.random.default_rng(seed)
    labels = _labels(kind, n_examples, rng)
    lengths = rng.integers(3, 2 * mean_length + 1, n_examples).astype(np.int64)
    offsets = _signal(kind, labels)
    label_names = (
        [] if kind == "regression" else ["a", "b", "c"] if kind == "multiclass" else ["neg", "pos"]
    )
    source_sha = hashlib.sha256(f"{split}-{seed}-{n_examples}".encode()).hexdigest()
    meta = CacheMeta(
        model="synthetic",
        weights_sha256="0" * 64,
        tokenizer="synthetic",
        max_length=512,
        dtype="float16",
        compute_dtype="float32",
        n_model_layers=max(layers),
        layers=list(layers),
        hidden_size=hidden_size,
        task="synthetic",
        split=split,
        text_columns=["sentence"],
        label_column="label",
        label_names=label_names,
        is_regression=kind == "regression",
        labeled=True,
        source=f"synthetic:{split}",
        source_sha256=source_sha,
        n_examples=n_examples,
        fingerprint=source_sha[:16],
    )
    folder = path.parent
    part_paths = []
    start = 0
    while start < n_examples:
        stop = start
        while stop < n_examples and (stop == start or lengths[start:stop].sum() < part_tokens):
            stop += 1
        part_paths.append(
            _write_part(
                folder / f"{path.name}.part{len(part_paths)}",
                rng,
                lengths[start:stop],
                labels[start:stop],
                offsets[start:stop],
                np.arange(start, stop),
                layers,
                hidden_size,
                strength,
            )
        )
        start = stop
    try:
        consolidate(part_paths, path, meta)
    finally:
        for part in part_paths:
            part.unlink(missing_ok=True)
    return path


def _write_part(
    path: Path,
    rng: np.random.Generator,
    lengths: np.ndarray,
    labels: np.ndarray,
    offsets: np.ndarray,
    rows: np.ndarray,
    layers: tuple[int, ...],
    hidden_size: int,
    strength: float,
) -> Path:
    n_tokens = int(lengths.sum())
    n_examples = lengths.size
    n_layers = len(layers)
    example_of_token = np.repeat(np.arange(n_examples), lengths)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    special = np.zeros(n_tokens, dtype=bool)
    special[starts] = True
    special[starts + lengths - 1] = True
    hidden = rng.standard_normal((n_layers, n_tokens, hidden_size)).astype(np.float32)
    for position, layer in enumerate(layers):
        signal = np.zeros((n_tokens, hidden_size), dtype=np.float32)
        signal[:, list(SIGNAL_DIMS)] = strength * layer * offsets[example_of_token]
        signal[special] = 0.0
        hidden[position] += signal
    hidden16 = hidden.astype(np.float16)
    vectors = hidden16.astype(np.float32)
    pooled = {
        name: np.empty((n_layers, n_examples, hidden_size), np.float16) for name in ENCODER_POOLINGS
    }
    positions = np.zeros((n_layers, n_examples), dtype=np.int32)
    for example in range(n_examples):
        tokens = slice(starts[example], starts[example] + lengths[example])
        block = vectors[:, tokens]  # (L, len, H)
        pooled["cls"][:, example] = block[:, 0]
        pooled["mean"][:, example] = block.mean(axis=1)
        norms = np.linalg.norm(block[:, 1:-1], axis=2)  # words only
        best = norms.argmax(axis=1) + 1
        positions[:, example] = best
        pooled["maxnorm"][:, example] = block[np.arange(n_layers), best]
    writer = PartWriter(
        path,
        n_layers=n_layers,
        n_tokens=n_tokens,
        n_examples=n_examples,
        hidden_size=hidden_size,
        n_text_columns=1,
        dtype="float16",
        label_dtype=labels.dtype,
    )
    writer.write_batch(
        hidden=hidden16,
        input_ids=np.full(n_tokens, 100, dtype=np.int32),
        token_type_ids=np.zeros(n_tokens, dtype=np.int8),
        special=special,
        lengths=lengths,
        row_index=rows.astype(np.int64),
        labels=labels,
        truncated=np.zeros(n_examples, dtype=bool),
        texts=[("x",)] * n_examples,
        pooled=pooled,
        maxnorm_position=positions,
    )
    return writer.finish()
