"""A tiny document model shared by the Markdown and HTML renderers.

The report's content is built once as a list of blocks; ``markdown.py`` and ``html.py`` each
turn the same blocks into their format. This keeps the two outputs in step (same sections,
same numbers) and lets the HTML embed images while the Markdown links to PNG files.

Inline markup inside text is limited to ``**bold**`` and ```code```; both renderers know it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Heading:
    text: str
    level: int  # 1 = page title


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Alert:
    """A line the reader must not miss (mixed models, missing sections)."""

    text: str


@dataclass(frozen=True)
class TableCell:
    text: str
    bold: bool = False


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: tuple[tuple[TableCell, ...], ...]
    caption: str = ""
    label_columns: int = 2  # leading columns that hold labels (left-aligned); the rest numbers


@dataclass(frozen=True)
class Image:
    """A PNG written next to the report; ``path`` is relative to the report folder."""

    path: Path
    title: str  # short alt text
    caption: str


@dataclass(frozen=True)
class KeyValues:
    """A list of labelled values (the provenance block)."""

    items: tuple[tuple[str, str], ...]


Block = Heading | Paragraph | Alert | Table | Image | KeyValues
