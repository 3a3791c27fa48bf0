"""Small builders shared by unit tests (synthetic splits)."""

from __future__ import annotations

import numpy as np

from extract.datasets import Split
from tests.conftest import WORDS


def synthetic_split(
    n: int = 40,
    *,
    pair: bool = False,
    seed: int = 0,
    task: str = "toy",
    regression: bool = False,
    labeled: bool = True,
) -> Split:
    """Random sentences of varied length; label 1 iff the word 'good' occurs (a learnable rule)."""
    rng = np.random.default_rng(seed)
    texts = []
    labels = []
    for _ in range(n):
        words = list(rng.choice(WORDS, size=int(rng.integers(1, 14))))
        positive = bool(rng.integers(0, 2))
        if positive:
            words.insert(int(rng.integers(0, len(words) + 1)), "good")
        else:
            words = [w for w in words if w != "good"]
        first = " ".join(words)
        if pair:
            second = " ".join(rng.choice(WORDS, size=int(rng.integers(1, 8))))
            texts.append((first, second))
        else:
            texts.append((first,))
        labels.append(int(positive))
    label_array = np.asarray(labels, dtype=np.float32 if regression else np.int64)
    return Split(
        task=task,
        split="train",
        texts=texts,
        labels=label_array if labeled else None,
        row_index=np.arange(n, dtype=np.int64),
        text_columns=["sentence1", "sentence2"] if pair else ["sentence"],
        label_column="label" if labeled else "",
        label_names=[] if regression else ["negative", "positive"],
        is_regression=regression,
        source="synthetic",
    )


def extract_cli_args(model_dir: object, data_file: object) -> list[str]:
    """`fewdims extract` arguments for a labeled text/label file on the CPU (tests add the rest)."""
    return [
        "extract",
        "--model",
        str(model_dir),
        "--data-file",
        str(data_file),
        "--text-columns",
        "text",
        "--label-column",
        "label",
        "--device",
        "cpu",
    ]
