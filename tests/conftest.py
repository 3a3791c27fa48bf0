"""Shared fixtures: a tiny random BERT (config + WordPiece vocab made here) and GLUE paths.

The tiny model is built once per session and saved with ``save_pretrained`` so tests drive
fewdims exactly as a user would, through a model directory.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

TORCH_FREE_MARK = "pytestmark = pytest.mark.torch_free"
HAS_TORCH = importlib.util.find_spec("torch") is not None


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """On a core install (no torch) collect only the test files marked ``torch_free``.

    Other test files import torch or transformers at module level and would fail to collect;
    a file opts in with the line ``pytestmark = pytest.mark.torch_free`` (every test in it
    then runs on the core install, which ``.ci/run`` checks in its second venv).
    """
    if HAS_TORCH or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    return TORCH_FREE_MARK not in collection_path.read_text(encoding="utf-8")


WORDS = [
    "the",
    "a",
    "an",
    "is",
    "was",
    "good",
    "bad",
    "movie",
    "film",
    "great",
    "terrible",
    "not",
    "very",
    "and",
    "but",
    "it",
    "this",
    "that",
    "plot",
    "actor",
    "acting",
    "story",
    "fun",
    "boring",
    "love",
    "hate",
    "best",
    "worst",
    "really",
    "quite",
    "simply",
    "dog",
    "cat",
    "sat",
    "on",
    "mat",
    "ran",
    "fast",
    "slow",
    "happy",
    "sad",
    "yes",
    "no",
    "question",
    "answer",
    "why",
    "how",
    "what",
    "who",
]
PIECES = ["##s", "##ing", "##ed", "##ly", "##er"]


def write_vocab(path: Path) -> Path:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    letters = list("abcdefghijklmnopqrstuvwxyz0123456789.,!?'-")
    path.write_text(
        "\n".join(specials + WORDS + PIECES + letters + ["##" + c for c in letters]) + "\n"
    )
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-dim randomly initialised BertModel + fast WordPiece tokenizer on disk."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    directory = tmp_path_factory.mktemp("tiny-bert")
    vocab = write_vocab(directory / "vocab.txt")
    # transformers 5 ignores `vocab_file=` here (every word would be [UNK]); `vocab=` reads it.
    tokenizer = BertTokenizerFast(vocab=str(vocab), do_lower_case=True)
    assert tokenizer("the good movie")["input_ids"][1] != tokenizer.unk_token_id
    config = BertConfig(
        vocab_size=len(vocab.read_text().splitlines()),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        type_vocab_size=2,
    )
    torch.manual_seed(0)
    model = BertModel(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def glue_data_dir() -> Path | None:
    """The real GLUE copy: $FEWDIMS_DATA, else ../shared/data/glue beside the repo."""
    candidates = [
        os.environ.get("FEWDIMS_DATA"),
        Path(__file__).resolve().parents[2] / "shared" / "data" / "glue",
    ]
    for candidate in candidates:
        if candidate and Path(candidate, "SST-2", "dev.tsv").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def glue_dir() -> Path:
    path = glue_data_dir()
    if path is None:
        pytest.skip(
            "real GLUE data not found: set FEWDIMS_DATA to a GLUE TSV folder (e.g. ../shared/data/glue)"
        )
    return path


@pytest.fixture(scope="session")
def family_model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """``(family name, model directory)`` of a tiny random model of that family, built once.

    Parametrise indirectly with names from ``tests.model_families.FAMILIES``
    (``@pytest.mark.parametrize("family_model", ENCODERS, indirect=True)``); each family is
    built once per session and shared by every test module that asks for it.
    """
    from tests.model_families import build_family

    name = request.param
    return name, build_family(name, tmp_path_factory.mktemp(f"tiny-{name}"))


UD_ENV_VAR = "FEWDIMS_UD"


def ud_data_dir() -> Path | None:
    """The UD treebanks: $FEWDIMS_UD, else ../shared/data/ud beside the repo (en_ewt inside)."""
    candidates = [
        os.environ.get(UD_ENV_VAR),
        Path(__file__).resolve().parents[2] / "shared" / "data" / "ud",
    ]
    for candidate in candidates:
        if candidate and Path(candidate, "en_ewt", "en_ewt-ud-dev.conllu").is_file():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def ud_dir() -> Path:
    path = ud_data_dir()
    if path is None:
        pytest.skip(
            "UD English EWT not found: set FEWDIMS_UD to a folder holding en_ewt/ "
            "(e.g. ../shared/data/ud)"
        )
    return path
