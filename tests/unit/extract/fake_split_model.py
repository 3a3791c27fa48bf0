"""A tiny stand-in for a split pip model: a zip of a model folder cut into five part files.

The weights member is random bytes (incompressible), so it spans several parts and a damaged
part lands inside it, as it would for the real 400 MB all-mpnet-base-v2.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from extract.packaged import SplitModel

WEIGHTS = np.random.default_rng(0).bytes(60_000)
CONFIG = b'{"model_type": "tiny"}'


@dataclass(frozen=True)
class FakeParts:
    model: SplitModel
    paths: list[Path]
    zip_bytes: bytes


def fake_model(**changes) -> SplitModel:
    model = SplitModel(
        name="example-org/tiny-split",
        aliases=frozenset({"tiny", "example-org/tiny-split"}),
        extra="tiny",
        distributions=tuple(f"fewdims-test-tiny-part-{i:03d}" for i in range(1, 6)),
        version="0.0.1",
        part_suffixes=tuple(f"tiny.zip.{i:03d}" for i in range(1, 6)),
        folder="tiny",
        weights_file="model.safetensors",
        weights_sha256=hashlib.sha256(WEIGHTS).hexdigest(),
    )
    return replace(model, **changes)


def make_parts(folder: Path, model: SplitModel | None = None, n_parts: int = 5) -> FakeParts:
    """Write the zip of ``tiny/`` (config.json, model.safetensors, sub/readme) in ``n_parts``."""
    model = model or fake_model()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("tiny/", b"")
        archive.writestr("tiny/config.json", CONFIG)
        archive.writestr("tiny/model.safetensors", WEIGHTS)
        archive.writestr("tiny/sub/readme.txt", b"hello")
    data = buffer.getvalue()
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, len(data), n_parts + 1).astype(int)
    paths = []
    for index in range(n_parts):
        path = folder / f"tiny.zip.{index + 1:03d}"
        path.write_bytes(data[bounds[index] : bounds[index + 1]])
        paths.append(path)
    return FakeParts(model=model, paths=paths, zip_bytes=data)
