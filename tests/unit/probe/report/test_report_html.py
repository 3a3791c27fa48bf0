"""``fewdims report``: the HTML page is self-contained, well formed and shows the Markdown's numbers."""

from __future__ import annotations

import re

import pytest

from tests.unit.probe.report.report_fixtures import (
    METRIC,
    parse_table,
)

pytestmark = pytest.mark.torch_free


def test_html_is_self_contained(full_report):
    paths, _ = full_report
    html = paths.html.read_text(encoding="utf-8")
    assert 'src="http' not in html and "href=" not in html and "<link" not in html
    assert "<script" not in html
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == len(paths.plots) == 7  # 6 for sst2, the fine-tuning one for cola
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "@import" not in html and "url(" not in html


def test_html_shows_the_same_numbers_and_highlights_the_best(full_report, probe_results):
    paths, markdown = full_report
    html = paths.html.read_text(encoding="utf-8")
    best_full = max(c.scores["eval"][METRIC] for c in probe_results.cells if c.method == "full")
    assert f'<td class="best">{best_full:.3f}</td>' in html
    for row in parse_table(markdown, "### Summary"):
        assert f"<td>{row['all dims']}</td>" in html or f'"best">{row["all dims"]}<' in html


def test_html_tags_are_balanced(full_report):
    """Every opened element is closed in order (void elements aside): the page renders as meant."""
    from html.parser import HTMLParser

    void = {"img", "meta", "br", "hr"}

    class Checker(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.stack: list[str] = []

        def handle_starttag(self, tag, attrs):
            if tag not in void:
                self.stack.append(tag)

        def handle_endtag(self, tag):
            assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:])
            self.stack.pop()

    checker = Checker()
    checker.feed(full_report[0].html.read_text(encoding="utf-8"))
    assert checker.stack == []
