"""Shared fixtures of the report tests: the fixture results files and reports rendered from them.

Session-scoped: the files are read-only inputs, and rendering the full report (7 plots) once
keeps the split test files as fast as the single file they came from.
"""

from __future__ import annotations

import pytest

from probe.report import render_report
from probe.results import ResultsFile
from tests.unit.probe.report.report_fixtures import build_finetune_results, build_probe_results


@pytest.fixture(scope="session")
def probe_results() -> ResultsFile:
    return build_probe_results()


@pytest.fixture(scope="session")
def finetune_results(probe_results: ResultsFile) -> tuple[ResultsFile, ResultsFile]:
    return build_finetune_results(probe_results)


@pytest.fixture(scope="session")
def full_report(tmp_path_factory, probe_results, finetune_results):
    folder = tmp_path_factory.mktemp("full")
    probe_path = probe_results.save(folder / "in" / "sst2-probe.json")
    cross_path = finetune_results[0].save(folder / "in" / "sst2-cola-finetune.json")
    frozen_path = finetune_results[1].save(folder / "in" / "sst2-frozen.json")
    paths = render_report([probe_path, cross_path, frozen_path], folder / "report")
    return paths, paths.markdown.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def probe_only_report(tmp_path_factory, probe_results):
    folder = tmp_path_factory.mktemp("probe_only")
    probe_path = probe_results.save(folder / "sst2-probe.json")
    paths = render_report([probe_path], folder / "report")
    return paths, paths.markdown.read_text(encoding="utf-8")
