"""``fewdims report RESULTS.json [MORE.json ...] --out reports/NAME/``.

Renders Markdown, a self-contained HTML page, PNG plots and merged JSON/CSV from results files
only; see :func:`probe.report.render_report`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report",
        help="render results files into report.md, report.html, plots and results.csv",
        description="Render a report from results files written by `fewdims probe` and "
        "`fewdims finetune`. Nothing is recomputed: the report can be rebuilt from the JSON "
        "files alone.",
    )
    parser.add_argument(
        "results", nargs="+", type=Path, metavar="RESULTS.json", help="results files to render"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder to write the report into, e.g. reports/sst2/ (created if missing)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from probe.report import render_report

    paths = render_report(args.results, args.out)
    for warning in paths.warnings:
        print(f"fewdims report: warning: {warning}", file=sys.stderr)
    print(f"wrote {paths.markdown}")
    print(f"wrote {paths.html}")
    print(f"wrote {paths.results_json} and {paths.results_csv}")
    print(f"wrote {len(paths.plots)} plots under {paths.out_dir / 'plots'}")
    return 0
