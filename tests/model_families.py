"""Tiny randomly initialised models of each supported family, saved as a user would have them.

Each :class:`Family` builds a 2-layer, 32-dim model from its config class and a word-level
fast tokenizer over the test vocabulary (``tests.conftest.WORDS``) whose special tokens and
pair template are the family's own: ``[CLS] A [SEP] B [SEP]`` with segment ids for BERT,
ELECTRA and DeBERTa-v2; ``<s> A </s></s> B </s>`` without ``token_type_ids`` for RoBERTa and
MPNet; no specials and no pad token for GPT-2; a ``<s>`` BOS for the Llama-style decoder.
Nothing is downloaded. ``tests/conftest.py`` turns :func:`build_family` into one
session-scoped fixture per family.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import WORDS

HIDDEN, LAYERS, HEADS, INTERMEDIATE, POSITIONS = 32, 2, 4, 64, 160
PUNCTUATION = list(".,!?'-")


@dataclass(frozen=True)
class Family:
    """How to build one family: its config class, special tokens and tokenizer template."""

    name: str
    config_class: str
    specials: tuple[str, ...]  # in vocabulary order (ids 0..)
    single: str  # tokenizers TemplateProcessing for one text
    pair: str  # ... and for a pair
    token_types: bool  # the model reads token_type_ids
    causal: bool = False
    tokens: dict[str, str] = field(default_factory=dict)  # role -> token (pad, cls, bos, ...)
    config: dict[str, Any] = field(default_factory=dict)  # family-specific config arguments


BERT_TOKENS = {
    "pad_token": "[PAD]",
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BERT_SINGLE, BERT_PAIR = "[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1"
ROBERTA_TOKENS = {
    "bos_token": "<s>",
    "pad_token": "<pad>",
    "eos_token": "</s>",
    "unk_token": "<unk>",
    "cls_token": "<s>",
    "sep_token": "</s>",
    "mask_token": "<mask>",
}
ROBERTA_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
# RoBERTa's own post-processor gives every token segment 0: no token_type_ids to tell A from B.
ROBERTA_SINGLE, ROBERTA_PAIR = "<s> $A </s>", "<s> $A </s> </s> $B </s>"
ROBERTA_IDS = {"pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2}

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family(
            "bert", "BertConfig", BERT_SPECIALS, BERT_SINGLE, BERT_PAIR, True, tokens=BERT_TOKENS
        ),
        Family(
            "roberta",
            "RobertaConfig",
            ROBERTA_SPECIALS,
            ROBERTA_SINGLE,
            ROBERTA_PAIR,
            False,
            tokens=ROBERTA_TOKENS,
            config={**ROBERTA_IDS, "type_vocab_size": 1},
        ),
        Family(
            "distilbert",
            "DistilBertConfig",
            BERT_SPECIALS,
            BERT_SINGLE,
            BERT_PAIR,
            False,
            tokens=BERT_TOKENS,
        ),
        Family(
            "electra",
            "ElectraConfig",
            BERT_SPECIALS,
            BERT_SINGLE,
            BERT_PAIR,
            True,
            tokens=BERT_TOKENS,
            config={"embedding_size": 16},
        ),
        Family(
            "deberta-v2",
            "DebertaV2Config",
            BERT_SPECIALS,
            BERT_SINGLE,
            BERT_PAIR,
            True,
            tokens=BERT_TOKENS,
            config={
                "type_vocab_size": 2,
                "relative_attention": True,
                "position_buckets": 16,
                "max_relative_positions": 32,
                "pos_att_type": ["p2c", "c2p"],
                "position_biased_input": False,
            },
        ),
        Family(
            "mpnet",
            "MPNetConfig",
            ROBERTA_SPECIALS,
            ROBERTA_SINGLE,
            ROBERTA_PAIR,
            False,
            tokens=ROBERTA_TOKENS,
            config=ROBERTA_IDS,
        ),
        Family(
            "modernbert",
            "ModernBertConfig",
            BERT_SPECIALS,
            BERT_SINGLE,
            "[CLS] $A [SEP] $B [SEP]",
            False,
            tokens=BERT_TOKENS,
            config={
                "pad_token_id": 0,
                "cls_token_id": 2,
                "sep_token_id": 3,
                "bos_token_id": 2,
                "eos_token_id": 3,
                "global_attn_every_n_layers": 2,
                "local_attention": 16,
            },
        ),
        Family(
            "gpt2",
            "GPT2Config",
            ("<|endoftext|>",),
            "$A",
            "$A $B:1",
            False,
            causal=True,
            tokens={
                "eos_token": "<|endoftext|>",
                "bos_token": "<|endoftext|>",
                "unk_token": "<|endoftext|>",
            },
            config={"bos_token_id": 0, "eos_token_id": 0},
        ),
        Family(
            "llama",
            "LlamaConfig",
            ("<unk>", "<s>", "</s>"),
            "<s> $A",
            "<s> $A <s>:1 $B:1",
            False,
            causal=True,
            tokens={"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"},
            config={"bos_token_id": 1, "eos_token_id": 2, "num_key_value_heads": 2},
        ),
    )
}
ENCODERS = tuple(name for name, family in FAMILIES.items() if not family.causal)
DECODERS = tuple(name for name, family in FAMILIES.items() if family.causal)


def vocabulary(family: Family) -> list[str]:
    return list(family.specials) + WORDS + PUNCTUATION


def build_tokenizer(family: Family) -> Any:
    """A fast word-level tokenizer with ``family``'s specials, template and input names."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(vocabulary(family))}
    unk = family.tokens.get("unk_token", family.specials[0])
    backend = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    used = [token for token in family.specials if token in family.single + family.pair]
    backend.post_processor = processors.TemplateProcessing(
        single=family.single,
        pair=family.pair,
        special_tokens=[(token, vocab[token]) for token in used],
    )
    input_names = ["input_ids", "attention_mask"]
    if family.token_types:
        input_names.insert(1, "token_type_ids")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, model_input_names=input_names, **family.tokens
    )


def build_model(family: Family, vocab_size: int, seed: int = 0) -> Any:
    import torch
    import transformers
    from transformers import AutoModel

    config_class = getattr(transformers, family.config_class)
    common = {
        "vocab_size": vocab_size,
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE,
        "max_position_embeddings": POSITIONS,
    }
    if family.name == "gpt2":
        common = {"vocab_size": vocab_size, "n_embd": HIDDEN, "n_layer": LAYERS, "n_head": HEADS}
        common["n_positions"] = POSITIONS
    if family.name == "distilbert":
        common = {
            "vocab_size": vocab_size,
            "dim": HIDDEN,
            "n_layers": LAYERS,
            "n_heads": HEADS,
            "hidden_dim": INTERMEDIATE,
            "max_position_embeddings": POSITIONS,
        }
    config = config_class(**common, **family.config)
    torch.manual_seed(seed)
    model = AutoModel.from_config(config)
    # Freshly initialised norms have gain 1, so every token vector after one has norm ~sqrt(H)
    # and maxnorm would pick among near-ties; random gains make the largest norm a clear one.
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name.lower() and name.endswith("weight") and parameter.dim() == 1:
                parameter.copy_(1.0 + torch.randn_like(parameter))
    return model


def build_family(name: str, directory: Path) -> Path:
    """Save a tiny ``name`` model and its tokenizer to ``directory`` (save_pretrained layout)."""
    family = FAMILIES[name]
    tokenizer = build_tokenizer(family)
    model = build_model(family, vocab_size=len(tokenizer))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
