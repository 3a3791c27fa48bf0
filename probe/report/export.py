"""Machine-readable copies of everything a report was built from.

* ``results.json`` — every input results file, unchanged, in one JSON document (with the path
  each came from), so one file carries the whole report's data;
* ``results.csv`` — one row per cell for spreadsheets and pandas. Columns: ``task`` (for a
  fine-tuning cell, the task it scores, ``details["task"]``), ``kind, layer,
  pooling, method, k, dims`` (space-separated, in selection order; empty = all dims), then one
  ``<split>_<metric>`` column per split × metric found in any cell (empty where a cell has no
  such score), then ``seconds, seed`` (empty unless the run was repeated over seeds),
  ``model, weights_sha256, source``. Floats are written with ``repr`` so they read back
  exactly.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from probe import __version__
from probe.report.inputs import LoadedResults, finetune_task

MERGED_FORMAT = "fewdims-results-merged"
MERGED_VERSION = 1
SPLIT_ORDER = ("train", "validation", "eval")
LEADING_COLUMNS = ("task", "kind", "layer", "pooling", "method", "k", "dims")
TRAILING_COLUMNS = ("seconds", "seed", "model", "weights_sha256", "source")


def write_merged_json(loaded: Sequence[LoadedResults], path: Path) -> Path:
    payload = {
        "format": MERGED_FORMAT,
        "version": MERGED_VERSION,
        "fewdims_version": __version__,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "results": [{"source": str(item.path), **item.results.to_dict()} for item in loaded],
    }
    path.write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    return path


def score_columns(loaded: Sequence[LoadedResults]) -> list[str]:
    """``<split>_<metric>`` columns in split order (train, validation, eval, others), metric A–Z."""
    pairs = {
        (split, metric)
        for item in loaded
        for cell in item.results.cells
        for split, scores in cell.scores.items()
        for metric in scores
    }

    def order(pair: tuple[str, str]) -> tuple[int, str, str]:
        split, metric = pair
        rank = SPLIT_ORDER.index(split) if split in SPLIT_ORDER else len(SPLIT_ORDER)
        return (rank, split, metric)

    return [f"{split}_{metric}" for split, metric in sorted(pairs, key=order)]


def csv_rows(loaded: Sequence[LoadedResults]) -> tuple[list[str], list[dict[str, str]]]:
    """The CSV header and one row per cell, as strings ready for :class:`csv.DictWriter`."""
    scores = score_columns(loaded)
    header = [*LEADING_COLUMNS, *scores, *TRAILING_COLUMNS]
    rows = []
    for item in loaded:
        results = item.results
        for cell in results.cells:
            task = finetune_task(results, cell)[0] if results.kind == "finetune" else results.task
            row = {
                "task": task,
                "kind": results.kind,
                "layer": str(cell.layer),
                "pooling": cell.pooling,
                "method": cell.method,
                "k": str(cell.k),
                "dims": " ".join(str(dim) for dim in cell.dims),
                "seconds": _number(cell.seconds),
                "seed": "" if cell.seed is None else str(cell.seed),
                "model": str(results.provenance.get("model", "")),
                "weights_sha256": str(results.provenance.get("weights_sha256", "")),
                "source": str(item.path),
            }
            for split, metrics in cell.scores.items():
                for metric, value in metrics.items():
                    row[f"{split}_{metric}"] = _number(value)
            rows.append({column: row.get(column, "") for column in header})
    return header, rows


def write_csv(loaded: Sequence[LoadedResults], path: Path) -> Path:
    header, rows = csv_rows(loaded)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _number(value: Any) -> str:
    if value is None:
        return ""
    number = float(value)
    return repr(number) if math.isfinite(number) else ""
