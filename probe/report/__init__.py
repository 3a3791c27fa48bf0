"""``fewdims report``: render results files into Markdown, a self-contained HTML page and plots.

Everything here reads :class:`probe.results.ResultsFile` objects only — no caches, no models —
so a report can be rebuilt anywhere the results JSON files are. matplotlib is imported inside
the plotting functions, so importing this package stays cheap.

Entry point: :func:`render_report`.
"""

from probe.report.render import ReportPaths, render_report

__all__ = ["ReportPaths", "render_report"]
