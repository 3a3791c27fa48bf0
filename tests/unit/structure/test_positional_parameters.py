"""No function in ``probe`` or ``extract`` takes more than 6 positional parameters, except
the numeric kernels listed here: values that travel together travel as one object (a run
context, a fine-tuning plan, a spec), and optional knobs are keyword-only."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.torch_free

ROOT = Path(__file__).resolve().parents[3]
MAX_POSITIONAL = 6

# Numeric kernels: array arguments of one computation, with shapes in their docstrings.
# Bundling them would only rename the arrays; each entry says why it keeps its signature.
KERNELS = {
    # Newton/damped step of the in-memory subset probes: params, gradient, Hessian, loss
    # and the damping state of one batched solve, each an array of the same candidates.
    "probe/linear.py::_damped_update": "batched Newton step over candidate arrays",
}


def positional_counts() -> dict[str, int]:
    counts = {}
    for package in ("probe", "extract"):
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    arguments = node.args
                    names = [a.arg for a in (*arguments.posonlyargs, *arguments.args)]
                    positional = [name for name in names if name not in ("self", "cls")]
                    key = f"{path.relative_to(ROOT).as_posix()}::{node.name}"
                    counts[key] = max(counts.get(key, 0), len(positional))
    return counts


def test_no_function_takes_more_than_six_positional_parameters():
    counts = positional_counts()
    over = {name: n for name, n in counts.items() if n > MAX_POSITIONAL and name not in KERNELS}
    assert over == {}, "bundle these arguments into a dataclass, or make the knobs keyword-only"


def test_every_allowed_kernel_still_exists_and_needs_the_exception():
    counts = positional_counts()
    for name in KERNELS:
        assert counts.get(name, 0) > MAX_POSITIONAL, f"{name}: drop it from KERNELS"
