"""Word-level fixtures: two toy CoNLL-U files extracted with the tiny random BERT."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conllu_samples import TRICKY, line, random_treebank, write

# An eval-only tag (INTJ on "yes") that train never has: counted, never a crash.
UNSEEN = "# sent_id = u1\n" + line("1", "yes", "INTJ", "0", "root", xpos="UH") + "\n\n"


@pytest.fixture(scope="session")
def conllu_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("conllu")
    train = write(folder / "toy-ud-train.conllu", random_treebank(60, seed=1, extra=TRICKY))
    evaluation = write(folder / "toy-ud-test.conllu", random_treebank(30, seed=2, extra=UNSEEN))
    return train, evaluation


@pytest.fixture(scope="session")
def word_caches(tiny_model_dir, conllu_files, tmp_path_factory) -> tuple[Path, Path]:
    """(train cache, eval cache) of the toy files, extracted through the CLI."""
    from probe.cli import main

    folder = tmp_path_factory.mktemp("word-caches")
    paths = []
    for data_file, split in zip(conllu_files, ("train", "test"), strict=True):
        out = folder / f"{split}.h5"
        argv = ["extract", "--model", str(tiny_model_dir), "--data-file", str(data_file)]
        argv += ["--split", split, "--device", "cpu", "--out", str(out)]
        assert main(argv) == 0
        paths.append(out)
    return paths[0], paths[1]
