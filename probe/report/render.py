"""``render_report``: results files in, a report folder out.

Layout of ``out_dir``::

    report.md        Markdown, images linked from plots/
    report.html      one self-contained page (CSS inline, PNGs as data URIs)
    results.json     the input results files merged into one document
    results.csv      one row per cell (see probe.report.export)
    plots/*.png      the figures, named <task>[-<model>]_<figure>.png

Existing files of these names are overwritten; nothing else in ``out_dir`` is touched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from probe.errors import FewdimsError
from probe.report.claims import claims_section
from probe.report.document import Block
from probe.report.export import write_csv, write_merged_json
from probe.report.html import render_html
from probe.report.inputs import LoadedResults, group_by_task, load_results
from probe.report.markdown import render_markdown
from probe.report.plots import PLOT_KINDS
from probe.report.provenance import provenance_section
from probe.report.sections import report_intro, task_section
from probe.report.summary import TaskSummary, summarize
from probe.report.words import is_word_group, word_eval_split, word_section
from probe.stats.bootstrap import BootstrapSpec

PLOTS_DIR = "plots"


@dataclass
class ReportPaths:
    """What ``render_report`` wrote, plus the warnings it put in the report."""

    out_dir: Path
    markdown: Path
    html: Path
    results_json: Path
    results_csv: Path
    plots: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def render_report(results_paths: Sequence[str | Path], out_dir: str | Path) -> ReportPaths:
    """Render a report from results files only; raise ``FewdimsError`` for unreadable input.

    Sections without results (no fine-tuning, no random baseline, ...) are replaced by a line
    saying which command produces them. Results of one task from different models are kept in
    separate sections and flagged with a warning, never refused.
    """
    loaded = load_results(results_paths)
    groups, warnings = group_by_task(loaded)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise FewdimsError(
            f"--out {out_dir} is a file; the report is a folder (report.md, report.html, "
            "plots/, ...). Pass a folder path such as reports/NAME/."
        )
    (out_dir / PLOTS_DIR).mkdir(parents=True, exist_ok=True)

    word_groups = [group for group in groups if is_word_group(group)]
    summaries = [summarize(group) for group in groups if not is_word_group(group)]
    eval_splits = [summary.eval_split for summary in summaries]
    eval_splits += [word_eval_split(group) for group in word_groups]
    blocks: list[Block] = report_intro(len(loaded), warnings, eval_splits)
    blocks.extend(claims_section(summaries, bootstrap_spec(loaded)))
    plot_paths: list[Path] = []
    for summary in summaries:
        plots = _draw_plots(summary, out_dir)
        plot_paths.extend(out_dir / path for path in plots.values() if path is not None)
        blocks.extend(task_section(summary, plots))
    for group in word_groups:
        blocks.extend(word_section(group, out_dir, _slug(group.title)))
    blocks.extend(provenance_section(loaded))

    markdown_path = out_dir / "report.md"
    markdown_path.write_text(render_markdown(blocks), encoding="utf-8")
    html_path = out_dir / "report.html"
    title = "fewdims report: " + ", ".join(group.title for group in groups)
    html_path.write_text(render_html(blocks, out_dir, title), encoding="utf-8")
    return ReportPaths(
        out_dir=out_dir,
        markdown=markdown_path,
        html=html_path,
        results_json=write_merged_json(loaded, out_dir / "results.json"),
        results_csv=write_csv(loaded, out_dir / "results.csv"),
        plots=plot_paths,
        warnings=warnings,
    )


def _draw_plots(summary: TaskSummary, out_dir: Path) -> dict[str, Path | None]:
    """Draw every figure of a section; values are paths relative to ``out_dir`` (or None)."""
    stem = _slug(summary.task)
    if summary.group.shares_task:
        stem += "-" + _slug(summary.group.model)
    drawn: dict[str, Path | None] = {}
    for kind in PLOT_KINDS:
        relative = Path(PLOTS_DIR) / f"{stem}_{kind.name}.png"
        written = kind.draw(summary, out_dir / relative)
        drawn[kind.name] = relative if written is not None else None
    return drawn


def bootstrap_spec(loaded: Sequence[LoadedResults]) -> BootstrapSpec:
    """The bootstrap settings the probe results were written with (the default if none)."""
    for item in loaded:
        record = item.results.provenance.get("bootstrap")
        if isinstance(record, dict):
            return BootstrapSpec.from_record(record)
    return BootstrapSpec()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"
