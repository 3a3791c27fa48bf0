"""A build killed mid-way leaves nothing that looks complete; the next use rebuilds."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap

from extract.packaged import _is_complete, materialize
from tests.unit.extract.fake_split_model import WEIGHTS, make_parts


def test_kill_mid_extraction_leaves_no_complete_folder_and_next_use_rebuilds(tmp_path):
    parts = make_parts(tmp_path / "parts")
    cache = tmp_path / "cache"
    # A separate process dies hard (no finally blocks run) right after the first member.
    script = textwrap.dedent(
        f"""
        import os
        from pathlib import Path
        from extract.packaged import materialize
        from tests.unit.extract.fake_split_model import fake_model
        paths = sorted(Path({str(tmp_path / "parts")!r}).iterdir())
        materialize(fake_model(), cache_root=Path({str(cache)!r}), part_paths=paths,
                    on_member=lambda name: os._exit(137))
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], check=False)
    assert killed.returncode == 137
    target = cache / f"tiny-{parts.model.weights_sha256[:12]}"
    assert not target.exists()
    leftovers = [p for p in cache.iterdir() if ".partial-" in p.name]
    assert len(leftovers) == 1  # the staging folder a hard kill leaves behind
    assert not _is_complete(parts.model, leftovers[0])

    folder = materialize(parts.model, cache_root=cache, part_paths=parts.paths)
    assert folder == target
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
    assert not [p for p in cache.iterdir() if ".partial-" in p.name]


def test_exception_mid_extraction_removes_the_staging_folder(tmp_path):
    parts = make_parts(tmp_path / "parts")
    cache = tmp_path / "cache"

    def interrupt(name: str) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(KeyboardInterrupt):
        materialize(parts.model, cache_root=cache, part_paths=parts.paths, on_member=interrupt)
    assert sorted(p.name for p in cache.iterdir()) == [
        f".tiny-{parts.model.weights_sha256[:12]}.lock"
    ]


def test_a_folder_without_the_marker_is_rebuilt(tmp_path):
    parts = make_parts(tmp_path / "parts")
    cache = tmp_path / "cache"
    stale = cache / f"tiny-{parts.model.weights_sha256[:12]}"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"half a file")
    folder = materialize(parts.model, cache_root=cache, part_paths=parts.paths)
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS
