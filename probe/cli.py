"""The ``fewdims`` command line: parse, call one library function, print.

Each subcommand lives in its own module under ``probe.commands`` exposing
``add_parser(subparsers)`` and ``run(args) -> int``. Modules are imported only when their
command is used, so ``fewdims probe`` and ``fewdims report`` never import torch; the
commands that run a model import ``extract`` inside ``run``.

Exit status: 0 success, 2 user error (bad input — the message says what and how to fix),
1 unexpected failure (a bug; the traceback is shown).
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
    except KeyboardInterrupt:
        print(f"fewdims {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
