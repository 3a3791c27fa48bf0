"""A CoNLL-U treebank file as a :class:`~extract.datasets.Split` with its word table.

Joins the strict reader (:mod:`extract.conllu`) and the subword alignment
(:mod:`extract.word_alignment`) under one model's tokenizer; ``fewdims extract`` and
``fewdims run --train-file`` both load treebanks through :func:`load_conllu_split`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from extract.conllu import WORD_LABELS, default_task_name, read_conllu
from extract.datasets import Split
from extract.word_alignment import word_table


def load_conllu_split(
    path: str | Path,
    tokenizer: object,
    *,
    max_length: int,
    task: str = "",
    split: str = "dev",
) -> Split:
    """A CoNLL-U file as a :class:`~extract.datasets.Split` with its word table.

    The examples are the sentences (their rebuilt text; no sentence label); ``words`` holds
    every word's labels and its subword span under ``tokenizer`` at ``max_length`` (see
    :mod:`extract.word_alignment`). ``task`` defaults to ``ud`` + the file's treebank name.
    """
    path = Path(path)
    sentences = read_conllu(path)
    words = word_table(tokenizer, sentences, max_length)
    return Split(
        task=task or default_task_name(path),
        split=split,
        texts=[(sentence.text,) for sentence in sentences],
        labels=None,
        row_index=np.arange(len(sentences), dtype=np.int64),
        text_columns=["text"],
        label_column="",
        label_names=[],
        is_regression=False,
        source=str(path),
        extra={"format": "conllu", "word_labels": list(WORD_LABELS)},
        words=words,
    )
