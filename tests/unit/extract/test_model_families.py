"""Every supported family, tiny and random: extraction, pairs, maxnorm's specials, fine-tuning.

One module parametrised over the families of ``tests.model_families`` (BERT, RoBERTa,
DistilBERT, ELECTRA, DeBERTa-v2, MPNet, ModernBERT; GPT-2 and a Llama-style decoder), so a
family that breaks shows up as one red parameter, not as a copied test drifting apart.

The reference numbers come from the model itself: each example run *alone* (no padding)
through ``model(..., output_hidden_states=True)``. Extraction batches examples of different
lengths together, so agreement (float32 storage, 1e-5) also shows that padding never leaks
into a sentence's vectors, for encoders (attention mask) and decoders (right padding) alike.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from extract.extractor import ExtractConfig, extract_split
from extract.finetune import FinetuneConfig, run_finetune, task_data
from extract.finetune.head import SelectedDimsModel
from extract.model import load_model
from probe.cache import Cache
from probe.errors import CacheError, ModelError
from probe.results import ResultsFile
from tests.model_families import DECODERS, ENCODERS, FAMILIES
from tests.unit.helpers import synthetic_split

ALL = ENCODERS + DECODERS
MAX_LENGTH = 40
# The special tokens each family's tokenizer adds around one text or a pair.
FAMILY_SPECIALS = {
    "bert": {"[CLS]", "[SEP]"},
    "roberta": {"<s>", "</s>"},
    "distilbert": {"[CLS]", "[SEP]"},
    "electra": {"[CLS]", "[SEP]"},
    "deberta-v2": {"[CLS]", "[SEP]"},
    "mpnet": {"<s>", "</s>"},
    "modernbert": {"[CLS]", "[SEP]"},
    "gpt2": set(),
    "llama": {"<s>"},
}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def extract_pairs(model_dir: Path, out: Path, **settings) -> Path:
    """A 24-example pair split extracted in batches of 8 (mixed lengths), float32 on disk."""
    config = ExtractConfig(
        model=str(model_dir),
        max_length=MAX_LENGTH,
        batch_size=8,
        device="cpu",
        dtype="float32",
        **settings,
    )
    extract_split(synthetic_split(24, pair=True, seed=3), out, config)
    return out


@pytest.fixture(scope="module")
def family_cache(family_model, tmp_path_factory):
    name, model_dir = family_model
    return name, model_dir, extract_pairs(model_dir, tmp_path_factory.mktemp(name) / "pairs.h5")


def alone(loaded, first: str, second: str) -> tuple[dict[str, torch.Tensor], tuple]:
    """One example through the model by itself: its inputs and all hidden states (1, T, H)."""
    encoded = loaded.tokenizer(
        first, second, truncation=True, max_length=MAX_LENGTH, return_tensors="pt",
        return_special_tokens_mask=True,
    )  # fmt: skip
    inputs = {key: encoded[key] for key in loaded.tokenizer.model_input_names if key in encoded}
    with torch.inference_mode():
        outputs = loaded.model(**inputs, output_hidden_states=True)
    return encoded, outputs.hidden_states


@pytest.mark.parametrize("family_model", ALL, indirect=True)
def test_batched_vectors_equal_each_sentence_run_alone(family_cache):
    name, model_dir, cache_path = family_cache
    loaded = load_model(str(model_dir))
    assert loaded.causal == FAMILIES[name].causal
    with Cache.open(cache_path) as cache:
        expected_poolings = (
            ["last", "mean", "maxnorm"] if loaded.causal else ["cls", "mean", "maxnorm"]
        )
        assert cache.meta.poolings == expected_poolings and cache.meta.causal == loaded.causal
        ids = list(range(cache.n_examples))
        texts = cache.texts(ids)
        tokens_by_layer = {layer: cache.token_vectors(layer, ids) for layer in cache.layers}
        pooled = {
            (layer, pooling): cache.pooled(layer, pooling)
            for layer in cache.layers
            for pooling in cache.meta.poolings
        }
        positions = {layer: cache.maxnorm_positions(layer) for layer in cache.layers}
        stored_ids = cache.token_ids(ids)
    lengths = {len(ids) for ids in stored_ids}
    assert len(lengths) > 3  # batches really mixed lengths (padding was exercised)
    for example, (first, second) in enumerate(texts):
        encoded, hidden_states = alone(loaded, first, second)
        np.testing.assert_array_equal(stored_ids[example], encoded["input_ids"][0].numpy())
        for layer in (0, 1, 2):
            reference = hidden_states[layer][0].numpy()  # (T, H)
            np.testing.assert_allclose(
                tokens_by_layer[layer][example], reference, rtol=1e-5, atol=1e-5
            )
            by_pooling = {
                "cls": reference[0],
                "last": reference[-1],
                "mean": reference.mean(axis=0),
                "maxnorm": reference[positions[layer][example]],
            }
            for pooling in expected_poolings:
                np.testing.assert_allclose(
                    pooled[(layer, pooling)][example], by_pooling[pooling], rtol=1e-5, atol=1e-5
                )


@pytest.mark.parametrize("family_model", ALL, indirect=True)
def test_pairs_store_segment_ids_whether_or_not_the_model_reads_them(family_cache):
    """1 from the first token of the second text on, for every family (RoBERTa's tokenizer
    alone says 0 everywhere); token-type families get exactly their tokenizer's ids."""
    name, model_dir, cache_path = family_cache
    family = FAMILIES[name]
    loaded = load_model(str(model_dir))
    trailing = {"[SEP]": 1, "</s>": 1}.get(family.pair.split()[-1].split(":")[0], 0)
    with Cache.open(cache_path) as cache:
        ids = list(range(cache.n_examples))
        segments = cache.token_type_ids(ids)
        for example, (first, second) in enumerate(cache.texts(ids)):
            n_second = len(second.split()) + trailing  # one token per test word
            expected = np.r_[np.zeros(len(segments[example]) - n_second), np.ones(n_second)]
            np.testing.assert_array_equal(segments[example], expected)
            if family.token_types:
                own = loaded.tokenizer(first, second, return_token_type_ids=True)
                np.testing.assert_array_equal(segments[example], own["token_type_ids"])


@pytest.mark.parametrize("family_model", ALL, indirect=True)
def test_maxnorm_never_picks_the_familys_own_special_tokens(family_cache):
    name, model_dir, cache_path = family_cache
    loaded = load_model(str(model_dir))
    seen_specials = set()
    with Cache.open(cache_path) as cache:
        ids = list(range(cache.n_examples))
        specials = cache.special_mask(ids)
        token_ids = cache.token_ids(ids)
        for example in ids:
            seen_specials |= set(
                loaded.tokenizer.convert_ids_to_tokens(token_ids[example][specials[example]])
            )
        for layer in cache.layers:
            positions = cache.maxnorm_positions(layer)
            vectors = cache.token_vectors(layer, ids)
            for example in ids:
                norms = np.linalg.norm(vectors[example], axis=1)
                norms[specials[example]] = -1.0
                assert positions[example] == int(np.argmax(norms))
                assert not specials[example][positions[example]]
    assert seen_specials == FAMILY_SPECIALS[name]


@pytest.mark.parametrize("family_model", ALL, indirect=True)
def test_finetune_head_reads_the_cached_vectors_and_trains_two_dims(family_cache, tmp_path):
    """The fine-tuning model cut at layer 1 pools exactly what the cache stores at layer 1
    (so the blocks above and any final norm are left out), and a 2-dim head trains."""
    name, model_dir, cache_path = family_cache
    loaded = load_model(str(model_dir))
    with Cache.open(cache_path) as cache:
        ids = list(range(cache.n_examples))
        texts = cache.texts(ids)
        cached = {pooling: cache.pooled(1, pooling) for pooling in cache.meta.poolings}
        poolings = list(cache.meta.poolings)
    for pooling in poolings:
        model = SelectedDimsModel(
            load_model(str(model_dir)).model, layer=1, pooling=pooling, selected_dims=[],
            hidden_size=32, frozen=True,
        ).eval()  # fmt: skip
        for example, (first, second) in enumerate(texts):
            encoded, _ = alone(loaded, first, second)
            types = encoded.get("token_type_ids") if FAMILIES[name].token_types else None
            with torch.no_grad():
                vector = model.pooled(
                    encoded["input_ids"], encoded["attention_mask"],
                    encoded["special_tokens_mask"], types,
                )  # fmt: skip
            np.testing.assert_allclose(vector[0].numpy(), cached[pooling][example], atol=1e-5)
    config = FinetuneConfig(
        model=str(model_dir), dims="3,7", layer=2, epochs=1, batch_size=8, max_length=MAX_LENGTH,
        device="cpu", seed=0, lr=1e-3,
    )  # fmt: skip
    data = task_data(synthetic_split(32, seed=1), synthetic_split(16, seed=2))
    results = run_finetune([data], config, tmp_path / "ft.json")
    (cell,) = results.cells
    assert cell.dims == [3, 7] and cell.layer == 2 and cell.pooling == poolings[0]
    assert 0.0 <= cell.eval_score(results.primary_metric) <= 1.0


@pytest.mark.parametrize("family_model", DECODERS, indirect=True)
def test_decoder_has_no_cls(family_cache):
    _, model_dir, cache_path = family_cache
    with Cache.open(cache_path) as cache, pytest.raises(CacheError, match="'last'"):
        cache.pooled(1, "cls")
    with pytest.raises(ModelError, match="last"):
        run_finetune(
            [task_data(synthetic_split(8, seed=1), synthetic_split(8, seed=2))],
            FinetuneConfig(model=str(model_dir), pooling="cls", device="cpu", epochs=1),
            Path(cache_path).with_name("cls.json"),
        )


@pytest.mark.parametrize("family_model", ["gpt2"], indirect=True)
def test_gpt2_without_pad_token_is_padded_with_eos_and_left_unchanged(family_cache):
    _, model_dir, cache_path = family_cache
    loaded = load_model(str(model_dir))
    assert loaded.tokenizer.pad_token is None
    assert loaded.pad_token_id == loaded.tokenizer.eos_token_id
    extract_split(
        synthetic_split(6, seed=9),
        Path(cache_path).with_name("again.h5"),
        ExtractConfig(model=str(model_dir), max_length=MAX_LENGTH, device="cpu"),
        loaded=loaded,
    )
    assert loaded.tokenizer.pad_token is None  # the caller's tokenizer is not modified


def test_a_model_without_hidden_states_is_named():
    from transformers import BertConfig, BertModel
    from transformers.modeling_outputs import BaseModelOutput

    from extract.model import inspect_model

    class LastStateOnlyModel(BertModel):
        def forward(self, *args, **kwargs):
            kwargs.pop("output_hidden_states", None)
            outputs = super().forward(*args, **kwargs)
            return BaseModelOutput(last_hidden_state=outputs.last_hidden_state)

    config = BertConfig(
        vocab_size=20, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16,
    )  # fmt: skip
    with pytest.raises(ModelError, match=r"LastStateOnlyModel.*output_hidden_states"):
        inspect_model(LastStateOnlyModel(config).eval(), 1, "toy")


@pytest.mark.parametrize("family_model", ["llama"], indirect=True)
def test_probe_on_a_decoder_uses_its_poolings_and_refuses_cls(family_cache, tmp_path, capsys):
    from probe.cli import main

    _, model_dir, train_cache = family_cache
    eval_cache = tmp_path / "eval.h5"
    config = ExtractConfig(model=str(model_dir), max_length=MAX_LENGTH, device="cpu")
    extract_split(synthetic_split(16, pair=True, seed=4), eval_cache, config)
    argv = ["probe", "--train", str(train_cache), "--eval", str(eval_cache), "--quiet"]
    argv += ["--layers", "2", "--methods", "full", "--out", str(tmp_path / "r.json")]
    assert main(argv) == 0
    cells = ResultsFile.load(tmp_path / "r.json").cells
    assert [cell.pooling for cell in cells] == ["last", "mean", "maxnorm"]
    capsys.readouterr()
    assert main([*argv, "--pooling", "cls"]) == 2
    error = capsys.readouterr().err
    assert "no 'cls' pooling" in error and "use 'last'" in error
