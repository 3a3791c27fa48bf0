"""On a core install (torch absent) the model commands exit 2 naming the extra to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch_free

ROOT = Path(__file__).resolve().parents[3]

# Simulates a core install: importing torch & co. fails as it does when they are absent.
RUN_WITHOUT_MODEL_STACK = """
import importlib.abc, sys

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "transformers", "datasets", "safetensors"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
for loaded in [m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")]:
    del sys.modules[loaded]
from probe.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "argv",
    [
        ["extract", "--task", "sst2", "--split", "dev", "--device", "cpu"],
        ["finetune", "--task", "sst2", "--dims", "1,2", "--out", "ft.json"],
        ["run", "--task", "sst2"],
    ],
    ids=["extract", "finetune", "run"],
)
def test_model_command_without_torch_exits_2_naming_the_extra(argv, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", RUN_WITHOUT_MODEL_STACK, *argv],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert completed.returncode == 2, completed.stderr
    assert f"fewdims {argv[0]}: error:" in completed.stderr
    assert "pip install 'fewdims[extract]'" in completed.stderr
    assert "Traceback" not in completed.stderr
