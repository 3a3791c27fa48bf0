"""The report's MDL table: online codelength and compression per (layer, pooling, subset).

Rendered only when the results hold ``mdl`` cells (``fewdims probe --methods mdl``); see
:mod:`probe.search.mdl` for what is coded and how.
"""

from __future__ import annotations

from probe.report.document import Block, Heading, Paragraph, Table, TableCell
from probe.report.summary import TaskSummary


def codelength_blocks(summary: TaskSummary) -> list[Block]:
    """Heading, one-paragraph reading guide and the table; nothing without ``mdl`` cells."""
    cells = [
        cell
        for (_, _, method), cell in sorted(summary.cells.items(), key=lambda item: item[0][:2])
        if method == "mdl"
    ]
    rows = []
    for cell in cells:
        for code in cell.details.get("codes") or []:
            dims = code.get("dims") or []
            rows.append(
                (
                    TableCell(str(cell.layer)),
                    TableCell(cell.pooling),
                    TableCell(
                        f"{code.get('subset')} [{', '.join(map(str, dims))}]"
                        if dims
                        else str(code.get("subset"))
                    ),
                    TableCell(str(code.get("k"))),
                    TableCell(f"{code.get('online_bits', float('nan')):,.0f}"),
                    TableCell(f"{code.get('uniform_bits', float('nan')):,.0f}"),
                    TableCell(f"{code.get('compression', float('nan')):.2f}"),
                )
            )
    if not rows:
        return []
    return [
        Heading("Description length (MDL, online code)", 3),
        Paragraph(
            "Online codelength of the training labels (Voita & Titov 2020): the labels are "
            "sent block by block (0.1% … 100% of train), each block coded by a probe trained "
            "on all rows before it. **compression** = uniform codelength / online "
            "codelength: higher means the labels are easier to learn from these dims. A few "
            "dims with compression close to all dims' carry the task by this measure too."
        ),
        Table(
            (
                "layer",
                "pooling",
                "subset [dims]",
                "k",
                "online bits",
                "uniform bits",
                "compression",
            ),
            tuple(rows),
            caption="Training rows in a seeded random order; unweighted logistic probes.",
            label_columns=3,
        ),
    ]
