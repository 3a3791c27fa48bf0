"""`probe` must work on a machine without torch: every module imports, the CLI parser builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch_free

BLOCK_TORCH = """
import importlib.abc, sys

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers"):
            raise ImportError(f"{name} is not installed (blocked by the test)")
        return None

sys.meta_path.insert(0, NoTorch())
"""

IMPORT_EVERYTHING = """
import pkgutil, importlib, probe
names = [m.name for m in pkgutil.walk_packages(probe.__path__, "probe.")]
for name in names:
    importlib.import_module(name)
from probe.cli import build_parser
parser = build_parser()
parser.parse_args(["probe", "--train", "a.h5", "--eval", "b.h5", "--out", "r.json"])
assert "torch" not in sys.modules
print(len(names))
"""


def test_every_probe_module_imports_with_torch_blocked():
    completed = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH + IMPORT_EVERYTHING],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert completed.returncode == 0, completed.stderr
    assert int(completed.stdout.strip()) >= 20  # the package really was walked
