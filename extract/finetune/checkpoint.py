"""Epoch checkpoints beside the results file, so an interrupted run resumes where it stopped.

``<out>.ckpt/last.pt`` holds, after every finished epoch: the model's trained state (the
truncated encoder and every head so far), the optimiser, scheduler and gradient-scaler state,
the torch RNG states and the run's progress so far (finished cells and epoch records, as a
JSON string). It is written to a temporary name and renamed, so it is always whole. It is
read with ``torch.load(weights_only=True)``: tensors and plain containers only, no pickled
code. A checkpoint from a run with other settings, data or model (another fingerprint) is
refused rather than silently mixed in. The directory is deleted when the run succeeds.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from probe.errors import FewdimsError

CHECKPOINT_NAME = "last.pt"


def checkpoint_dir(out_path: str | Path) -> Path:
    out_path = Path(out_path)
    return out_path.with_name(out_path.name + ".ckpt")


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
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise FewdimsError(
                f"The checkpoint {self.path} cannot be read ({type(error).__name__}: {error}). "
                f"Delete {self.directory} to start the run afresh."
            ) from error
        if state.get("fingerprint") != self.fingerprint:
            raise FewdimsError(
                f"{self.directory} holds a checkpoint of a fine-tuning run with other settings, "
                "data or model, so it cannot be resumed with these. Re-run with the original "
                f"settings to finish it, delete {self.directory}, or choose another --out."
            )
        return state

    def save(self, state: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(CHECKPOINT_NAME + ".tmp")
        torch.save({**state, "fingerprint": self.fingerprint}, temporary)
        os.replace(temporary, self.path)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
