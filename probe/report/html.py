"""Render report blocks as one self-contained HTML page.

Self-contained means the file can be mailed or archived alone: CSS is inline and every PNG is
embedded as a ``data:image/png;base64,...`` URI. The page has no links to other files or
external resources, so nothing breaks when it is moved.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from pathlib import Path

from probe.report.document import (
    Alert,
    Block,
    Heading,
    Image,
    KeyValues,
    Paragraph,
    Table,
    TableCell,
)

_STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1150px; padding: 0 1em; color: #222; line-height: 1.45; }
h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; } td.label { text-align: left; }
td.best { font-weight: bold; background: #e3f2e1; }
.caption { color: #555; font-size: 0.9em; margin: .2em 0 .4em; }
.warning { background: #fff4e5; border-left: 4px solid #f0a020; padding: .5em .8em; }
figure { margin: 1em 0 1.8em; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { color: #555; font-size: 0.9em; }
code { background: #f5f5f5; padding: 0 .2em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .2em 1em; }
dt { font-weight: bold; } dd { margin: 0; word-break: break-all; }
"""


def render_html(blocks: Sequence[Block], base_dir: Path, title: str) -> str:
    """The report as HTML; image paths in ``blocks`` are resolved against ``base_dir``."""
    body = "\n".join(_render_block(block, base_dir) for block in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def _render_block(block: Block, base_dir: Path) -> str:
    if isinstance(block, Heading):
        return f"<h{block.level}>{_inline(block.text)}</h{block.level}>"
    if isinstance(block, Paragraph):
        return f"<p>{_inline(block.text)}</p>"
    if isinstance(block, Alert):
        return f'<p class="warning"><strong>Warning:</strong> {_inline(block.text)}</p>'
    if isinstance(block, Table):
        return _render_table(block)
    if isinstance(block, Image):
        encoded = base64.b64encode((base_dir / block.path).read_bytes()).decode("ascii")
        caption = _inline(block.caption)
        return (
            f'<figure><img alt="{html.escape(block.title)}" '
            f'src="data:image/png;base64,{encoded}"><figcaption>{caption}</figcaption></figure>'
        )
    if isinstance(block, KeyValues):
        items = "".join(
            f"<dt>{html.escape(label)}</dt><dd>{_inline(value)}</dd>"
            for label, value in block.items
        )
        return f"<dl>{items}</dl>"
    raise TypeError(f"Unknown report block {block!r}")


def _render_table(table: Table) -> str:
    parts = []
    if table.caption:
        parts.append(f'<p class="caption">{_inline(table.caption)}</p>')
    header = "".join(f"<th>{html.escape(column)}</th>" for column in table.columns)
    rows = "".join(
        "<tr>"
        + "".join(_render_cell(cell, index < table.label_columns) for index, cell in enumerate(row))
        + "</tr>"
        for row in table.rows
    )
    parts.append(f"<table><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>")
    return "\n".join(parts)


def _render_cell(cell: TableCell, is_label: bool) -> str:
    classes = [name for name, on in (("label", is_label), ("best", cell.bold)) if on]
    css = f' class="{" ".join(classes)}"' if classes else ""
    return f"<td{css}>{html.escape(cell.text)}</td>"


_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _inline(text: str) -> str:
    """Escape text, then turn the two inline marks the document model allows into tags."""
    escaped = html.escape(text)
    escaped = _CODE.sub(lambda match: f"<code>{match.group(1)}</code>", escaped)
    return _BOLD.sub(lambda match: f"<strong>{match.group(1)}</strong>", escaped)
