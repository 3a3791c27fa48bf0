"""The bad-input matrix as a whole: its rows, over all ``test_bad_inputs_*`` files, cover every command."""

from __future__ import annotations

from tests.unit.probe.commands import (
    test_bad_inputs_caches,
    test_bad_inputs_extract_data,
    test_bad_inputs_extract_model,
    test_bad_inputs_extract_output,
    test_bad_inputs_finetune,
    test_bad_inputs_probe,
    test_bad_inputs_report,
)

CASES = [
    case
    for module in (
        test_bad_inputs_extract_model,
        test_bad_inputs_extract_data,
        test_bad_inputs_extract_output,
        test_bad_inputs_caches,
        test_bad_inputs_probe,
        test_bad_inputs_report,
        test_bad_inputs_finetune,
    )
    for case in module.CASES
]


def test_matrix_covers_every_command(ws, tmp_path):
    commands = {case.argv(ws, tmp_path)[0] for case in CASES}
    assert len(CASES) >= 20
    assert commands >= {"extract", "info", "verify", "merge", "probe", "report", "finetune"}
