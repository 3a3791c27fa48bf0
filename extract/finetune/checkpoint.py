"""Epoch checkpoints beside the results file, so an interrupted run resumes where it stopped.

``<out>.ckpt/last.safetensors`` holds, after every finished epoch: the model's trained state
(the truncated encoder and every head so far), the optimiser, scheduler and gradient-scaler
state, the torch RNG states and the run's progress so far (finished cells and epoch records).
It is written to a temporary name and renamed, so it is always whole.

The file is safetensors, not ``torch.save``: loading it can never run code. Nested state
(optimiser ``state``/``param_groups``, the progress record) is split into its tensors, stored
as safetensors tensors, and a JSON *skeleton* in the file's metadata that says where each
tensor goes; dict keys keep their types (the optimiser's are ints) and tuples stay tuples, so
``load`` returns exactly what ``save`` was given (on the CPU).

A checkpoint from a run with other settings, data or model (another fingerprint) is refused
rather than silently mixed in. The directory is deleted when the run succeeds.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from probe.errors import FewdimsError

CHECKPOINT_NAME = "last.safetensors"
_SKELETON_KEY = "fewdims_skeleton"
_FINGERPRINT_KEY = "fewdims_fingerprint"


def checkpoint_dir(out_path: str | Path) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".ckpt")


def flatten_state(value: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """A JSON-able skeleton of ``value``; its tensors move into ``tensors`` (CPU copies)."""
    if isinstance(value, torch.Tensor):
        key = f"t{len(tensors)}"
        tensors[key] = value.detach().to("cpu").contiguous().clone()  # clone: no shared storage
        return {"__tensor__": key}
    if isinstance(value, dict):
        return {"__dict__": [[key, flatten_state(item, tensors)] for key, item in value.items()]}
    if isinstance(value, tuple):
        return {"__tuple__": [flatten_state(item, tensors) for item in value]}
    if isinstance(value, list):
        return [flatten_state(item, tensors) for item in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"Cannot checkpoint a {type(value).__name__}: {value!r}")


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """The inverse of :func:`flatten_state`."""
    if isinstance(skeleton, list):
        return [unflatten_state(item, tensors) for item in skeleton]
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__tuple__" in skeleton:
            return tuple(unflatten_state(item, tensors) for item in skeleton["__tuple__"])
        return {key: unflatten_state(item, tensors) for key, item in skeleton["__dict__"]}
    return skeleton


class CheckpointStore:
    """The one checkpoint of one run (identified by ``fingerprint``)."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.directory = directory
        self.fingerprint = fingerprint

    @property
    def path(self) -> Path:
        return self.directory / CHECKPOINT_NAME

    def load(self) -> dict[str, Any] | None:
        """The saved state, or None when there is none. Tensors are loaded on the CPU."""
        if not self.path.is_file():
            return None
        try:
            with safe_open(self.path, framework="pt", device="cpu") as handle:
                metadata = handle.metadata() or {}
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
            skeleton = json.loads(metadata[_SKELETON_KEY])
        except Exception as error:
            raise FewdimsError(
                f"The checkpoint {self.path} cannot be read ({type(error).__name__}: {error}). "
                f"Delete {self.directory} to start the run afresh."
            ) from error
        if metadata.get(_FINGERPRINT_KEY) != self.fingerprint:
            raise FewdimsError(
                f"{self.directory} holds a checkpoint of a fine-tuning run with other settings, "
                "data or model, so it cannot be resumed with these. Re-run with the original "
                f"settings to finish it, delete {self.directory}, or choose another --out."
            )
        return unflatten_state(skeleton, tensors)

    def save(self, state: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        tensors: dict[str, torch.Tensor] = {}
        skeleton = flatten_state(state, tensors)
        metadata = {_SKELETON_KEY: json.dumps(skeleton), _FINGERPRINT_KEY: self.fingerprint}
        temporary = self.path.with_name(CHECKPOINT_NAME + ".tmp")
        save_file(tensors, temporary, metadata=metadata)
        os.replace(temporary, self.path)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
