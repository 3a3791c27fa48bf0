"""Render report blocks as GitHub-flavoured Markdown (images linked as relative PNG paths)."""

from __future__ import annotations

from collections.abc import Sequence

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


def render_markdown(blocks: Sequence[Block]) -> str:
    """The whole report as Markdown text, blocks separated by blank lines."""
    return "\n\n".join(_render_block(block) for block in blocks) + "\n"


def _render_block(block: Block) -> str:
    if isinstance(block, Heading):
        return f"{'#' * block.level} {block.text}"
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Alert):
        return f"> **Warning:** {block.text}"
    if isinstance(block, Table):
        return _render_table(block)
    if isinstance(block, Image):
        return f"![{block.title}]({block.path.as_posix()})\n\n*{block.caption}*"
    if isinstance(block, KeyValues):
        return "\n".join(f"- **{label}:** {value}" for label, value in block.items)
    raise TypeError(f"Unknown report block {block!r}")


def _render_table(table: Table) -> str:
    lines = []
    if table.caption:
        lines.extend([table.caption, ""])
    lines.append("| " + " | ".join(_escape(column) for column in table.columns) + " |")
    lines.append(
        "|"
        + "|".join(
            " --- " if index < table.label_columns else " ---: "
            for index in range(len(table.columns))
        )
        + "|"
    )
    for row in table.rows:
        lines.append("| " + " | ".join(_render_cell(cell) for cell in row) + " |")
    return "\n".join(lines)


def _render_cell(cell: TableCell) -> str:
    text = _escape(cell.text)
    return f"**{text}**" if cell.bold and text else text


def _escape(text: str) -> str:
    return text.replace("|", "\\|")
