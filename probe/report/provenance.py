"""The provenance block: where every number in a report came from, one entry per results file.

The headline facts a reader checks first — model, weights hash, data files, seeds, fewdims
version, timings — are pulled out of the (nested) provenance records that ``fewdims probe``
(``train_cache`` / ``eval_cache`` metadata) and ``fewdims finetune`` (``data`` descriptions)
write. Every other provenance key follows as compact JSON, cut at ``MAX_VALUE_CHARS``; the
full record is always in the report's ``results.json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from probe.report.document import Block, Heading, KeyValues
from probe.report.inputs import LoadedResults

MISSING = "—"
MAX_VALUE_CHARS = 300
# Top-level keys already shown by a headline line (or by data files / seeds).
SHOWN_KEYS = frozenset(
    {"model", "weights_sha256", "weights_sha256_after", "seed", "seeds", "seconds"}
)


def provenance_section(loaded: Sequence[LoadedResults]) -> list[Block]:
    """A heading per results file, then its labelled provenance values."""
    blocks: list[Block] = [Heading("Provenance", 2)]
    for item in loaded:
        results = item.results
        provenance = results.provenance
        blocks.append(Heading(f"`{item.path}`", 3))
        items: list[tuple[str, str]] = [
            ("kind", results.kind),
            ("task", results.task),
            ("primary metric", results.primary_metric),
            ("model", _code(provenance.get("model", MISSING))),
            ("weights sha256", _code(provenance.get("weights_sha256", MISSING))),
        ]
        if provenance.get("weights_sha256_after"):
            items.append(("weights sha256 after", _code(provenance["weights_sha256_after"])))
        caches = [
            f"`{value['path']}`"
            for key, value in sorted(provenance.items())
            if key.endswith("_cache") and isinstance(value, dict) and value.get("path")
        ]
        if caches:
            items.append(("feature caches", "; ".join(caches)))
        items += [
            ("data files", "; ".join(data_files(provenance)) or MISSING),
            (
                "seeds",
                ", ".join(f"{path} = {value}" for path, value in seeds(provenance)) or MISSING,
            ),
            ("fewdims version", results.fewdims_version),
            ("created at", results.created_at or MISSING),
            ("timings", timings(item)),
        ]
        for key in sorted(provenance):
            if key in SHOWN_KEYS or (key == "task" and provenance[key] == results.task):
                continue
            items.append((key, _compact(provenance[key])))
        blocks.append(KeyValues(tuple(items)))
    return blocks


def data_files(provenance: dict[str, Any]) -> list[str]:
    """Every data file a provenance record names (a dict with a ``source`` path), described.

    Probe results hold them in the cache metadata (``source``, ``source_sha256``, ``split``,
    ``n_examples``); fine-tuning results in ``data[*].train|eval`` (``sha256``).
    """
    found: dict[str, str] = {}
    for record in _dicts(provenance):
        source = record.get("source")
        if not isinstance(source, str) or not source or source in found:
            continue
        facts = []
        if record.get("split"):
            facts.append(str(record["split"]))
        if isinstance(record.get("n_examples"), int):
            facts.append(f"{record['n_examples']} examples")
        sha = record.get("source_sha256") or record.get("sha256")
        if isinstance(sha, str) and sha:
            facts.append(f"sha256 {sha[:12]}…")
        found[source] = f"`{source}`" + (f" ({', '.join(facts)})" if facts else "")
    return list(found.values())


def seeds(provenance: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``(dotted.path, value)`` for every ``seed`` key, at any depth (sweep and search seeds),
    and every ``seeds`` list (a run repeated over seeds), shown as ``0, 1, 2``."""
    found: list[tuple[str, Any]] = []
    for key, value in provenance.items():
        path = f"{prefix}{key}"
        if key == "seed" and not isinstance(value, (dict, list)):
            found.append((path, value))
        elif key == "seeds" and isinstance(value, list) and value:
            found.append((path, ", ".join(map(str, value))))
        elif isinstance(value, dict):
            found.extend(seeds(value, prefix=f"{path}."))
    return found


def timings(item: LoadedResults) -> str:
    """Total and per-method cell seconds, plus the run's wall time when it was recorded."""
    by_method: dict[str, float] = {}
    for cell in item.results.cells:
        by_method[cell.method] = by_method.get(cell.method, 0.0) + float(cell.seconds or 0.0)
    if not by_method:
        return MISSING
    total = sum(by_method.values())
    detail = ", ".join(f"{method} {seconds:.1f} s" for method, seconds in by_method.items())
    n_cells = len(item.results.cells)
    text = f"{total:.1f} s over {n_cells} cell{'s' if n_cells != 1 else ''} ({detail})"
    wall = item.results.provenance.get("seconds")
    if isinstance(wall, (int, float)):
        text += f"; whole run {wall:.1f} s"
    return text


def _dicts(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _dicts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _dicts(item)


def _code(value: Any) -> str:
    return f"`{value}`" if value != MISSING else MISSING


def _compact(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "… (full record in results.json)"
    return f"`{text}`" if "`" not in text else text
