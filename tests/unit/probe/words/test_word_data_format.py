"""``--data-format conllu``: a treebank with another extension reads as its .conllu twin."""

from __future__ import annotations

import shutil

import h5py
import numpy as np

from probe.cache import Cache
from probe.cli import main


def arrays_of(path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, obj: (
                arrays.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return arrays


def test_a_txt_treebank_with_data_format_conllu_equals_the_conllu_file(
    tiny_model_dir, conllu_files, word_caches, tmp_path, capsys
):
    renamed = tmp_path / "toy-ud-train.txt"
    shutil.copy(conllu_files[0], renamed)
    out = tmp_path / "train.h5"
    argv = ["extract", "--model", str(tiny_model_dir), "--data-file", str(renamed)]
    argv += ["--split", "train", "--device", "cpu", "--out", str(out)]
    assert main(argv) == 2  # auto: the extension decides, and .txt is no known format
    assert "unsupported file type '.txt'" in capsys.readouterr().err
    assert main([*argv, "--data-format", "conllu"]) == 0
    expected, got = arrays_of(word_caches[0]), arrays_of(out)
    assert expected.keys() == got.keys() and "words/token_span" in got
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values, err_msg=name)
    with Cache.open(out) as cache, Cache.open(word_caches[0]) as reference:
        assert cache.meta.fingerprint == reference.meta.fingerprint  # same data, other name
        assert cache.meta.words == reference.meta.words
