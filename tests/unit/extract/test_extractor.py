"""Extraction into the cache, checked against a direct forward pass of the tiny BERT."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from extract.extractor import ExtractConfig, extract_split, plan_batches
from probe.cache import Cache
from probe.errors import CacheError, DataError, ModelError
from probe.vocabulary import ENCODER_POOLINGS
from tests.unit.helpers import synthetic_split

FLOAT16_TOLERANCE = {"rtol": 2e-3, "atol": 2e-3}


def reference_hidden_states(
    model_dir: Path, texts: tuple[str, ...], max_length: int
) -> tuple[np.ndarray, dict]:
    """(n_layers+1, T, H) float32 hidden states of one example run alone (no padding)."""
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    encoded = tokenizer(
        *texts,
        truncation=True,
        max_length=max_length,
        return_tensors="pt",
        return_special_tokens_mask=True,
    )
    special = encoded.pop("special_tokens_mask")[0].numpy().astype(bool)
    with torch.no_grad():
        outputs = model(**encoded, output_hidden_states=True)
    stacked = torch.stack(outputs.hidden_states)[:, 0].numpy()
    return stacked, {
        "input_ids": encoded["input_ids"][0].numpy(),
        "token_type_ids": encoded["token_type_ids"][0].numpy(),
        "special": special,
    }


@pytest.fixture(scope="module")
def single_cache(
    tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, object]:
    split = synthetic_split(37, seed=1)
    out = tmp_path_factory.mktemp("cache") / "toy.h5"
    config = ExtractConfig(
        model=str(tiny_model_dir), batch_size=8, max_length=12, device="cpu", part_tokens=40
    )
    summary = extract_split(split, out, config)
    return out, split, summary


def test_token_vectors_equal_direct_forward(single_cache, tiny_model_dir):
    path, split, _ = single_cache
    with Cache.open(path) as cache:
        assert cache.layers == [0, 1, 2]
        assert cache.n_examples == len(split)
        rows = cache.row_index
        rng = np.random.default_rng(0)
        for example_id in rng.choice(cache.n_examples, size=8, replace=False):
            source_row = int(rows[example_id])
            expected, tokens = reference_hidden_states(tiny_model_dir, split.texts[source_row], 12)
            for layer in cache.layers:
                (got,) = cache.token_vectors(layer, [example_id])
                np.testing.assert_allclose(got, expected[layer], **FLOAT16_TOLERANCE)
            np.testing.assert_array_equal(cache.token_ids([example_id])[0], tokens["input_ids"])
            np.testing.assert_array_equal(cache.special_mask([example_id])[0], tokens["special"])
            assert cache.texts([example_id])[0] == split.texts[source_row]


def test_offsets_labels_and_rows_round_trip(single_cache):
    path, split, summary = single_cache
    with Cache.open(path) as cache:
        offsets = cache.offsets
        assert offsets[0] == 0 and offsets[-1] == cache.n_tokens == cache.meta.n_tokens
        assert np.all(np.diff(offsets) >= 1)
        # every source row appears exactly once, with its own label
        assert sorted(cache.row_index.tolist()) == list(range(len(split)))
        np.testing.assert_array_equal(cache.labels, split.labels[cache.row_index])
        # extraction order is longest first
        assert np.all(np.diff(cache.lengths) <= 0)
        assert cache.meta.complete and cache.meta.labeled
        assert cache.meta.n_truncated == int(cache.truncated.sum()) > 0
    assert (
        summary.padding_fraction < 0.35
    )  # tiny batches of random lengths; real data in the benchmark


def test_pooled_vectors_match_token_vectors(single_cache):
    path, _, _ = single_cache
    with Cache.open(path) as cache:
        ids = list(range(cache.n_examples))
        specials = cache.special_mask(ids)
        for layer in cache.layers:
            tokens = cache.token_vectors(layer, ids)
            pooled = {name: cache.pooled(layer, name) for name in ENCODER_POOLINGS}
            positions = cache.maxnorm_positions(layer)
            for example_id, (vectors, special) in enumerate(zip(tokens, specials, strict=True)):
                np.testing.assert_allclose(
                    pooled["cls"][example_id], vectors[0], **FLOAT16_TOLERANCE
                )
                np.testing.assert_allclose(
                    pooled["mean"][example_id], vectors.mean(axis=0), **FLOAT16_TOLERANCE
                )
                norms = np.linalg.norm(vectors, axis=1)
                eligible = ~special if (~special).any() else np.ones_like(special)
                chosen = int(positions[example_id])
                assert eligible[chosen], "maxnorm chose a special token"
                assert norms[chosen] >= norms[eligible].max() - 1e-2
                np.testing.assert_allclose(
                    pooled["maxnorm"][example_id], vectors[chosen], **FLOAT16_TOLERANCE
                )


def test_sentence_pairs_carry_token_type_ids(tiny_model_dir, tmp_path):
    split = synthetic_split(10, pair=True, seed=3)
    out = tmp_path / "pairs.h5"
    extract_split(split, out, ExtractConfig(model=str(tiny_model_dir), batch_size=4, device="cpu"))
    with Cache.open(out) as cache:
        assert cache.meta.is_pair
        for example_id in range(cache.n_examples):
            types = cache.token_type_ids([example_id])[0]
            ids = cache.token_ids([example_id])[0]
            sep_positions = np.flatnonzero(ids == 3)  # [SEP] id in the test vocab
            assert len(sep_positions) == 2
            assert np.all(types[: sep_positions[0] + 1] == 0)
            assert np.all(types[sep_positions[0] + 1 :] == 1)
            row = int(cache.row_index[example_id])
            expected, _ = reference_hidden_states(tiny_model_dir, split.texts[row], 128)
            np.testing.assert_allclose(
                cache.token_vectors(2, [example_id])[0], expected[2], **FLOAT16_TOLERANCE
            )


class _Interrupt(Exception):
    pass


def _all_arrays(path: Path) -> dict[str, np.ndarray]:
    import h5py

    arrays = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(
            lambda name, obj: (
                arrays.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None
            )
        )
    return arrays


def test_interrupted_extraction_resumes_to_identical_arrays(tiny_model_dir, tmp_path, single_cache):
    reference_path, split, _ = single_cache
    config = ExtractConfig(
        model=str(tiny_model_dir), batch_size=8, max_length=12, device="cpu", part_tokens=40
    )
    out = tmp_path / "resumed.h5"
    seen = {"batches": 0}

    def die_after_three_batches(tokens: int, examples: int) -> None:
        seen["batches"] += 1
        if seen["batches"] == 3:
            raise _Interrupt

    with pytest.raises(_Interrupt):
        extract_split(split, out, config, progress=die_after_three_batches)
    assert not out.exists(), "an interrupted run must not leave a file at the final path"
    partial = out.with_name(out.name + ".partial")
    assert any(partial.glob("part-*.h5")), "finished parts are kept for the resume"
    summary = extract_split(split, out, config)
    assert summary.resumed_parts >= 1
    assert not partial.exists() and not out.with_name(out.name + ".lock").exists()
    reference, resumed = _all_arrays(reference_path), _all_arrays(out)
    assert reference.keys() == resumed.keys()
    for name in reference:
        np.testing.assert_array_equal(reference[name], resumed[name], err_msg=name)


def test_resume_refuses_other_weights(tiny_model_dir, tmp_path):
    from transformers import AutoModel

    split = synthetic_split(30, seed=2)
    config = ExtractConfig(
        model=str(tiny_model_dir), batch_size=4, max_length=12, device="cpu", part_tokens=20
    )
    out = tmp_path / "mixed.h5"

    def interrupt(tokens: int, examples: int) -> None:
        raise _Interrupt

    with pytest.raises(_Interrupt):
        extract_split(split, out, config, progress=interrupt)
    other_dir = tmp_path / "other-model"
    other = AutoModel.from_pretrained(tiny_model_dir)
    with torch.no_grad():
        other.encoder.layer[0].output.dense.weight.add_(0.01)
    other.save_pretrained(other_dir)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(other_dir)
    with pytest.raises(
        CacheError, match=r"started with other settings.*weights_sha256.*--overwrite"
    ):
        extract_split(split, out, ExtractConfig(**{**config.__dict__, "model": str(other_dir)}))
    # --overwrite discards the partial run and produces a cache of the new weights
    summary = extract_split(
        split, out, ExtractConfig(**{**config.__dict__, "model": str(other_dir)}), overwrite=True
    )
    assert summary.resumed_parts == 0


def test_finished_cache_is_reused_and_a_different_one_refused(
    single_cache, tiny_model_dir, tmp_path
):
    path, split, _ = single_cache
    config = ExtractConfig(
        model=str(tiny_model_dir), batch_size=8, max_length=12, device="cpu", part_tokens=40
    )
    assert extract_split(split, path, config).reused
    with pytest.raises(CacheError, match="already exists and holds a different cache"):
        extract_split(split, path, ExtractConfig(**{**config.__dict__, "max_length": 16}))


def test_layer_subset_and_float32_storage(tiny_model_dir, tmp_path, single_cache):
    reference_path, split, _ = single_cache
    out = tmp_path / "subset.h5"
    config = ExtractConfig(
        model=str(tiny_model_dir),
        batch_size=8,
        max_length=12,
        device="cpu",
        layers=[-1, 0],
        dtype="float32",
    )
    extract_split(split, out, config)
    with Cache.open(out) as cache, Cache.open(reference_path) as reference:
        assert cache.layers == [0, 2]
        np.testing.assert_allclose(
            cache.pooled(2, "mean"), reference.pooled(2, "mean"), **FLOAT16_TOLERANCE
        )
        with pytest.raises(CacheError, match=r"Layer 1 is not in cache .*stored layers: 0, 2"):
            cache.pooled(1, "cls")


def test_bfloat16_storage_reads_back_as_float32(tiny_model_dir, tmp_path, single_cache):
    reference_path, split, _ = single_cache
    out = tmp_path / "bf16.h5"
    extract_split(
        split,
        out,
        ExtractConfig(
            model=str(tiny_model_dir), batch_size=8, max_length=12, device="cpu", dtype="bfloat16"
        ),
    )
    with Cache.open(out) as cache, Cache.open(reference_path) as reference:
        got = cache.pooled(1, "cls")
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, reference.pooled(1, "cls"), rtol=1e-2, atol=1e-2)


def test_bad_inputs_have_clear_errors(tiny_model_dir, tmp_path):
    split = synthetic_split(5)
    with pytest.raises(ModelError, match=r"Layer\(s\) \[7\] out of range.*0\.\.2"):
        extract_split(
            split,
            tmp_path / "a.h5",
            ExtractConfig(model=str(tiny_model_dir), layers=[7], device="cpu"),
        )
    with pytest.raises(ModelError, match="exceeds the 128 positions"):
        extract_split(
            split,
            tmp_path / "b.h5",
            ExtractConfig(model=str(tiny_model_dir), max_length=200, device="cpu"),
        )
    with pytest.raises(DataError, match="has no examples"):
        extract_split(
            split.subset(0),
            tmp_path / "c.h5",
            ExtractConfig(model=str(tiny_model_dir), device="cpu"),
        )
    with pytest.raises(ModelError, match=r"no config\.json"):
        extract_split(split, tmp_path / "d.h5", ExtractConfig(model=str(tmp_path), device="cpu"))
    assert not list(tmp_path.glob("*.h5*")), "failed runs leave nothing behind"


def test_unlabeled_split_is_extracted_and_flagged(tiny_model_dir, tmp_path):
    split = synthetic_split(6, labeled=False)
    out = tmp_path / "test.h5"
    extract_split(split, out, ExtractConfig(model=str(tiny_model_dir), device="cpu"))
    with Cache.open(out) as cache:
        assert not cache.meta.labeled
        assert np.all(cache.labels == -1)


def test_plan_pads_little_on_sorted_batches():
    lengths = np.random.default_rng(0).integers(5, 60, size=1000)
    plan = plan_batches(lengths, batch_size=32, part_tokens=2000)
    computed = sum(len(batch) * lengths[batch].max() for batch in plan.batches)
    assert 1 - lengths.sum() / computed < 0.03
    assert sorted(np.concatenate(plan.batches).tolist()) == list(range(1000))
    assert [b for part in plan.parts for b in part] == list(range(len(plan.batches)))


def test_cli_extract_and_info(tiny_model_dir, tmp_path):
    data = tmp_path / "toy.tsv"
    data.write_text("text\tlabel\nthe movie was good\tpos\na bad film\tneg\nreally fun\tpos\n")
    out = tmp_path / "cli.h5"
    command = [
        sys.executable,
        "-m",
        "probe.cli",
        "extract",
        "--model",
        str(tiny_model_dir),
        "--data-file",
        str(data),
        "--text-columns",
        "text",
        "--label-column",
        "label",
        "--split",
        "train",
        "--out",
        str(out),
        "--device",
        "cpu",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "3 examples" in done.stdout
    info = subprocess.run(
        [sys.executable, "-m", "probe.cli", "info", str(out), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    meta = json.loads(info.stdout)
    assert meta["label_names"] == ["neg", "pos"] and meta["n_examples"] == 3 and meta["complete"]
    again = subprocess.run(command, capture_output=True, text=True, check=False)
    assert again.returncode == 0 and "already complete" in again.stdout
    missing = subprocess.run(
        [sys.executable, "-m", "probe.cli", "info", str(tmp_path / "nope.h5")],
        capture_output=True,
        text=True,
    )
    assert (
        missing.returncode == 2
        and "does not exist" in missing.stderr
        and "Traceback" not in missing.stderr
    )


def test_tokenization_in_chunks_is_flat_and_equals_one_call(tiny_model_dir, monkeypatch):
    """Token ids live in flat numpy arrays (bounded memory), chunking changes nothing."""
    import extract.extractor as extractor

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    split = synthetic_split(23, pair=True, seed=9)
    monkeypatch.setattr(extractor, "TOKENIZE_CHUNK", 5)
    chunked = extractor.tokenize_split(tokenizer, split, 10)
    firsts, seconds = zip(*split.texts, strict=True)
    direct = tokenizer(
        list(firsts), list(seconds), truncation=True, max_length=10, return_special_tokens_mask=True
    )
    assert len(chunked.input_ids) == 23 and chunked.input_ids.values.dtype == np.int32
    for index in range(23):
        assert chunked.input_ids[index].tolist() == direct["input_ids"][index]
        assert chunked.token_type_ids[index].tolist() == direct["token_type_ids"][index]
        assert chunked.special[index].tolist() == [
            bool(v) for v in direct["special_tokens_mask"][index]
        ]
    assert [len(row) for row in chunked.input_ids] == chunked.input_ids.lengths().tolist()
    full = tokenizer(list(firsts), list(seconds))["input_ids"]
    assert chunked.truncated.tolist() == [len(ids) > 10 for ids in full]


def test_missing_model_directory_is_named(tmp_path):
    from extract.model import resolve_model_path

    with pytest.raises(ModelError, match=r"Model directory .*bert-typo does not exist"):
        resolve_model_path(str(tmp_path / "models" / "bert-typo"))
    with pytest.raises(ModelError, match=r"does not exist"):
        resolve_model_path("./models/bert-typo")
    assert resolve_model_path("bert-base-uncased") == ("bert-base-uncased", "bert-base-uncased")
