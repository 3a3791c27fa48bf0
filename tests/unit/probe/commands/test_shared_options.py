"""Flags several commands share are declared once: same default and help everywhere."""

from __future__ import annotations

import argparse

import pytest

from probe.cli import build_parser

pytestmark = pytest.mark.torch_free


def actions(command: str) -> dict[str, argparse.Action]:
    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return {
        option: action
        for action in subparsers.choices[command]._actions
        for option in action.option_strings
    }


@pytest.mark.parametrize(
    ("flags", "commands"),
    [
        (("--model", "--max-length", "--batch-size", "--device"), ("extract", "finetune", "run")),
        (("--maxnorm-include-special",), ("extract", "finetune")),
        (("--data-file", "--data-format", "--text-columns"), ("extract", "finetune")),
        (("--layers", "--methods", "--k", "--seed", "--seeds", "--jobs"), ("probe", "run")),
    ],
)
def test_shared_flag_is_the_same_in_every_command(flags, commands):
    for flag in flags:
        declared = {
            (actions(c)[flag].default, actions(c)[flag].help, actions(c)[flag].type)
            for c in commands
        }
        assert len(declared) == 1, (flag, declared)


def test_run_pooling_is_pooled_rows_only_and_probe_adds_tokens():
    parser = build_parser()
    run_args = parser.parse_args(["run", "--task", "sst2", "--pooling", "cls,tokens"])
    from probe.commands.options import sweep_selection
    from probe.errors import FewdimsError
    from probe.vocabulary import POOLINGS, ROW_KINDS

    with pytest.raises(FewdimsError, match="tokens; choose from cls, mean, maxnorm"):
        sweep_selection(run_args, POOLINGS)
    assert sweep_selection(run_args, ROW_KINDS)["poolings"] == ("cls", "tokens")
    assert "tokens" in actions("probe")["--pooling"].help
    assert "tokens" not in actions("run")["--pooling"].help
