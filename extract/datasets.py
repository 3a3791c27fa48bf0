"""Dataset loading: GLUE splits from a local TSV copy or the hub, and users' own files.

Every loader returns a :class:`Split`, the one in-memory shape the extractor and the
fine-tuner consume. No torch here.

The GLUE TSV files have traps this module handles: they must be read with
``csv.QUOTE_NONE`` (QNLI, RTE and MRPC contain unbalanced ``"``); CoLA train/dev have no
header; MRPC's header starts with a UTF-8 BOM; RTE/QNLI/MNLI labels are strings; test
splits have no label column (they are loaded anyway and flagged ``labeled=False``).
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from probe.errors import DataError
from probe.tasks import GLUE_FOLDERS, TaskSpec, canonical_split, get_task, is_labeled_split
from probe.vocabulary import AUTO_FORMAT, resolve_data_format
from probe.words.table import WordTable

DEFAULT_DATA_DIR = Path("data") / "glue"
DATA_ENV_VAR = "FEWDIMS_DATA"


@dataclass
class Split:
    """One loaded split.

    ``texts[i]`` holds example i's input texts (one, or two for sentence pairs).
    ``labels`` is int64 class indices, float32 scores (regression), or ``None`` for an
    unlabeled split. ``row_index[i]`` is the example's row in the source file (0 = first data
    row). ``source`` names the file or hub dataset it came from.
    """

    task: str
    split: str
    texts: list[tuple[str, ...]]
    labels: np.ndarray | None
    row_index: np.ndarray
    text_columns: list[str]
    label_column: str
    label_names: list[str]
    is_regression: bool
    source: str
    extra: dict[str, object] = field(default_factory=dict)
    # Per-word labels and subword spans (CoNLL-U data), in example order; None otherwise.
    words: WordTable | None = None

    @property
    def labeled(self) -> bool:
        return self.labels is not None

    def __len__(self) -> int:
        return len(self.texts)

    def fingerprint(self) -> str:
        """sha256 of the texts, labels and row indices: two equal splits hash equal."""
        digest = hashlib.sha256()
        digest.update(
            json.dumps([self.task, self.split, self.text_columns, self.label_names]).encode()
        )
        for row, texts in zip(self.row_index.tolist(), self.texts, strict=True):
            digest.update(json.dumps([row, *texts]).encode("utf-8", "surrogatepass"))
        if self.labels is not None:
            digest.update(np.ascontiguousarray(self.labels).tobytes())
        if self.words is not None:
            digest.update(self.words.digest().encode())
        return digest.hexdigest()

    def subset(self, count: int) -> Split:
        """The first ``count`` examples (for quick runs and tests)."""
        return self.take(np.arange(min(count, len(self.texts))), note={"first": count})

    def sample(self, count: int, seed: int) -> Split:
        """A seeded random ``count`` examples, kept in source order (all of them if fewer)."""
        if count >= len(self.texts):
            return self
        chosen = np.sort(np.random.default_rng(seed).choice(len(self.texts), count, replace=False))
        return self.take(chosen, note={"sample": count, "seed": seed})

    def partition(self, fraction: float, seed: int) -> tuple[Split, Split]:
        """Split into a seeded ``fraction`` and the rest, e.g. to train on part of a dev set.

        Each part's ``split`` name says what it is (``dev[part 1 of 2]``) so caches and
        results never pass one off as a real train split.
        """
        if not 0 < fraction < 1:
            raise DataError(f"The partition fraction must be between 0 and 1 (got {fraction}).")
        order = np.random.default_rng(seed).permutation(len(self.texts))
        cut = round(fraction * len(order))
        if cut == 0 or cut == len(order):
            raise DataError(f"{len(order)} examples are too few to partition at {fraction}.")
        first, second = np.sort(order[:cut]), np.sort(order[cut:])
        note = {"partition_fraction": fraction, "seed": seed}
        return (
            self.take(first, note=note, split=f"{self.split}-part1"),
            self.take(second, note=note, split=f"{self.split}-part2"),
        )

    def take(
        self, positions: np.ndarray, *, note: dict[str, object], split: str | None = None
    ) -> Split:
        """The examples at ``positions`` (row_index keeps pointing into the source file)."""
        return Split(
            task=self.task,
            split=split or self.split,
            texts=[self.texts[i] for i in positions],
            labels=None if self.labels is None else self.labels[positions],
            row_index=self.row_index[positions],
            text_columns=self.text_columns,
            label_column=self.label_column,
            label_names=self.label_names,
            is_regression=self.is_regression,
            source=self.source,
            extra={**self.extra, **note, "of": len(self.texts)},
            words=None if self.words is None else self.words.take(positions),
        )


# Column names in the GLUE TSV files: (text columns, label column). CoLA train/dev have no
# header; their columns are (source, label, original mark, sentence).
_GLUE_FILE_COLUMNS: dict[str, tuple[tuple[str, ...], str]] = {
    "cola": (("sentence",), "label"),
    "sst2": (("sentence",), "label"),
    "mrpc": (("#1 String", "#2 String"), "Quality"),
    "qqp": (("question1", "question2"), "is_duplicate"),
    "stsb": (("sentence1", "sentence2"), "score"),
    "mnli": (("sentence1", "sentence2"), "gold_label"),
    "qnli": (("question", "sentence"), "label"),
    "rte": (("sentence1", "sentence2"), "label"),
    "wnli": (("sentence1", "sentence2"), "label"),
}
_COLA_HEADERLESS = ("source", "label", "mark", "sentence")


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """``--data-dir``, else ``$FEWDIMS_DATA``, else ``data/glue``."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get(DATA_ENV_VAR):
        return Path(os.environ[DATA_ENV_VAR])
    return DEFAULT_DATA_DIR


def glue_file(data_dir: Path, task: TaskSpec, split: str) -> Path:
    return data_dir / GLUE_FOLDERS[task.name] / f"{split}.tsv"


def load_split(
    task: str,
    split: str,
    data_dir: str | Path | None = None,
    *,
    allow_hub: bool = True,
) -> Split:
    """Load a GLUE split: the local TSV copy if present, else the Hugging Face hub.

    Raises ``DataError`` naming the file looked for and how to point fewdims at local data
    when neither source works.
    """
    spec = get_task(task)
    split_name = canonical_split(spec, split)
    root = resolve_data_dir(data_dir)
    path = glue_file(root, spec, split_name)
    if path.is_file():
        return read_glue_tsv(path, spec, split_name)
    local_problem = (
        f"no local file {path}" if root.is_dir() else f"data directory {root} does not exist"
    )
    if not allow_hub:
        raise DataError(
            f"GLUE {spec.name} {split_name}: {local_problem}. Point --data-dir (or the "
            f"{DATA_ENV_VAR} environment variable) at a folder in the standard GLUE TSV layout "
            f"(e.g. <dir>/{GLUE_FOLDERS[spec.name]}/{split_name}.tsv)."
        )
    return load_hub_split(spec, split_name, local_problem=local_problem)


def read_glue_tsv(path: str | Path, spec: TaskSpec, split: str) -> Split:
    """Parse one GLUE TSV file (see the module docstring for the traps handled)."""
    path = Path(path)
    rows = _read_tsv_rows(path)
    if not rows:
        raise DataError(
            f"{path} is empty: it holds no rows. Check the file or choose another split."
        )
    text_names, label_name = _GLUE_FILE_COLUMNS[spec.name]
    header = [cell.strip() for cell in rows[0]]
    if spec.name == "cola" and not (header and header[0] == "index" and "sentence" in header):
        header, body = list(_COLA_HEADERLESS), rows
    else:
        body = rows[1:]
    missing = [name for name in text_names if name not in header]
    if missing:
        raise DataError(
            f"{path}: header {header} lacks the column(s) {missing} that GLUE {spec.name} "
            "files have. Is this the right task's folder?"
        )
    text_positions = [header.index(name) for name in text_names]
    labeled = label_name in header
    if is_labeled_split(split) and not labeled:
        raise DataError(
            f"{path}: the {split} split should have a '{label_name}' column but has none."
        )
    label_position = header.index(label_name) if labeled else -1
    texts: list[tuple[str, ...]] = []
    raw_labels: list[str] = []
    for line_number, row in enumerate(body, start=2 if body is not rows else 1):
        if len(row) < len(header):
            raise DataError(
                f"{path}, line {line_number}: {len(row)} fields where the header has "
                f"{len(header)}. The file is malformed (was it read with quoting or edited?)."
            )
        texts.append(tuple(row[position] for position in text_positions))
        if labeled:
            raw_labels.append(row[label_position].strip())
    if not texts:
        raise DataError(f"{path} has a header but no examples; the {split} split is empty.")
    labels = _parse_labels(raw_labels, spec, path) if labeled else None
    return Split(
        task=spec.name,
        split=split,
        texts=texts,
        labels=labels,
        row_index=np.arange(len(texts), dtype=np.int64),
        text_columns=list(spec.text_columns),
        label_column=label_name if labeled else "",
        label_names=list(spec.label_names),
        is_regression=spec.is_regression,
        source=str(path.resolve()),
    )


def _read_tsv_rows(path: Path) -> list[list[str]]:
    csv.field_size_limit(sys.maxsize)
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return [
                row for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if row
            ]
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path} is not valid UTF-8 (byte {error.start}: {error.reason}). Re-encode it as "
            "UTF-8, e.g. `iconv -f latin1 -t utf-8`."
        ) from error


def _parse_labels(raw_labels: list[str], spec: TaskSpec, source: Path | str) -> np.ndarray:
    if spec.is_regression:
        try:
            return np.asarray([float(value) for value in raw_labels], dtype=np.float32)
        except ValueError as error:
            raise DataError(f"{source}: a score is not a number ({error}).") from error
    return encode_class_labels(raw_labels, list(spec.label_names), source)


def encode_class_labels(
    raw_labels: list[str], label_names: list[str], source: Path | str
) -> np.ndarray:
    """Class names or integer strings → int64 indices into ``label_names``; bad values raise."""
    lookup = {name: index for index, name in enumerate(label_names)}
    encoded = np.empty(len(raw_labels), dtype=np.int64)
    for position, value in enumerate(raw_labels):
        if value in lookup:
            encoded[position] = lookup[value]
            continue
        try:
            as_int = int(float(value))
        except ValueError:
            as_int = -1
        if not 0 <= as_int < len(label_names) or str(value).strip() == "":
            raise DataError(
                f"{source}: example {position} has label {value!r}, which is not one of "
                f"{label_names} nor an index 0..{len(label_names) - 1}."
            )
        encoded[position] = as_int
    return encoded


def load_hub_split(spec: TaskSpec, split: str, *, local_problem: str = "") -> Split:
    """GLUE from the Hugging Face hub via ``datasets`` (needs network or the hub cache)."""
    hub_split = {
        "dev": "validation",
        "dev_matched": "validation_matched",
        "dev_mismatched": "validation_mismatched",
        "test_matched": "test_matched",
        "test_mismatched": "test_mismatched",
    }.get(split, split)
    try:
        import datasets

        hub_data = datasets.load_dataset("nyu-mll/glue", spec.name, split=hub_split)
    except Exception as error:
        raise DataError(
            f"GLUE {spec.name} {split}: {local_problem or 'no local copy'}, and loading "
            f"'nyu-mll/glue' ({spec.name}, {hub_split}) from the Hugging Face hub failed "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). "
            f"Offline? Point --data-dir or {DATA_ENV_VAR} at a local GLUE copy in the standard "
            "TSV layout (e.g. FEWDIMS_DATA=../shared/data/glue)."
        ) from error
    texts = [tuple(row[name] for name in spec.text_columns) for row in hub_data]
    labels_raw = np.asarray(hub_data["label"])
    labeled = bool(len(labels_raw)) and not (not spec.is_regression and np.all(labels_raw < 0))
    if not texts:
        raise DataError(f"Hub GLUE {spec.name} {split} is empty.")
    labels = None
    if labeled:
        labels = labels_raw.astype(np.float32 if spec.is_regression else np.int64)
    row_index = (
        np.asarray(hub_data["idx"], dtype=np.int64)
        if "idx" in hub_data.column_names
        else np.arange(len(texts))
    )
    return Split(
        task=spec.name,
        split=split,
        texts=texts,
        labels=labels,
        row_index=row_index,
        text_columns=list(spec.text_columns),
        label_column="label" if labeled else "",
        label_names=list(spec.label_names),
        is_regression=spec.is_regression,
        source=f"hub:nyu-mll/glue/{spec.name}/{hub_split}",
    )


def load_local_file(
    path: str | Path,
    text_columns: list[str],
    label_column: str | None,
    *,
    task_name: str | None = None,
    split: str = "train",
    label_names: list[str] | None = None,
    regression: bool = False,
    data_format: str = AUTO_FORMAT,
) -> Split:
    """A user's own csv / tsv / jsonl / parquet file.

    Class labels may be names or integers; without ``label_names`` the sorted distinct
    values become the classes (recorded in the cache). ``label_column=None`` loads the file
    unlabeled (probe will refuse it for training, extract accepts it). ``data_format``:
    ``csv``, ``tsv``, ``jsonl`` or ``parquet``, or ``auto`` (by the extension). A file
    that is not in the format it is read as fails naming ``file:line`` where it has lines.
    """
    path = Path(path)
    data_format = resolve_data_format(path, data_format)
    if data_format == "conllu":
        raise DataError(
            f"{path} is read as CoNLL-U, which has word labels, not sentence columns: only "
            "`fewdims extract` reads it (without --text-columns), and word probes use "
            "`fewdims probe --label`. Pass --data-format for its real format otherwise."
        )
    if not path.is_file():
        raise DataError(f"Data file {path} does not exist; check --data-file.")
    if not text_columns or len(text_columns) > 2:
        raise DataError("--text-columns needs one column name, or two for sentence pairs.")
    records = _read_records(path, data_format)
    if not records:
        raise DataError(f"{path} holds no rows; the split is empty.")
    columns = list(records[0].keys())
    wanted = [*text_columns, *([label_column] if label_column else [])]
    missing = [name for name in wanted if name not in columns]
    if missing:
        raise DataError(
            f"{path}: column(s) {missing} not found; the file has columns {columns}. "
            "Fix --text-columns / --label-column."
        )
    texts = [
        tuple("" if row[name] is None else str(row[name]) for name in text_columns)
        for row in records
    ]
    labels = None
    names: list[str] = []
    if label_column:
        raw = [
            "" if row[label_column] is None else str(row[label_column]).strip() for row in records
        ]
        if regression:
            try:
                labels = np.asarray([float(value) for value in raw], dtype=np.float32)
            except ValueError as error:
                raise DataError(
                    f"{path}: column {label_column!r} holds a non-number ({error})."
                ) from error
        else:
            if any(value == "" for value in raw):
                raise DataError(
                    f"{path}: column {label_column!r} has empty labels. Remove those rows, or load "
                    "the file without --label-column (unlabeled)."
                )
            names = list(label_names) if label_names else sorted(set(raw), key=_natural_key)
            labels = encode_class_labels(raw, names, path)
    return Split(
        task=task_name or path.stem,
        split=split,
        texts=texts,
        labels=labels,
        row_index=np.arange(len(texts), dtype=np.int64),
        text_columns=list(text_columns),
        label_column=label_column or "",
        label_names=names,
        is_regression=regression,
        source=str(path.resolve()),
    )


def _natural_key(value: str) -> tuple[int, float | str]:
    try:
        return (0, float(value))
    except ValueError:
        return (1, value)


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    """One JSON object per line; errors name the file's own line number."""
    records = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(
                    f"{path}: line {line_number} is not valid JSON ({error.msg})."
                ) from error
            if not isinstance(record, dict):
                raise DataError(
                    f"{path}: line {line_number} is not a JSON object with named columns."
                )
            records.append(record)
    return records


def _read_records(path: Path, data_format: str) -> list[dict[str, object]]:
    """Rows of a csv / tsv / jsonl / parquet file as {column: value} dicts."""
    try:
        if data_format in ("csv", "tsv"):
            return _read_delimited(path, data_format)
        if data_format == "jsonl":
            return _read_jsonl(path)
        import pyarrow
        import pyarrow.parquet as pq

        try:
            return pq.read_table(path).to_pylist()
        except pyarrow.ArrowInvalid as error:
            raise DataError(
                f"{path} cannot be read as Parquet ({error}). Is it another format? Name it "
                "with --data-format."
            ) from error
    except UnicodeDecodeError as error:
        raise DataError(
            f"{path} is not valid UTF-8 (byte {error.start}: {error.reason}); re-encode it as UTF-8."
        ) from error
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: line {error.lineno} is not valid JSON ({error.msg}).") from error


def _read_delimited(path: Path, data_format: str) -> list[dict[str, object]]:
    """A csv (quoted) or tsv (no quoting) file with a header row; blank lines are skipped.

    Every row must have the header's number of fields: a row that does not is the sign of
    a file in another format (a CoNLL-U file read as TSV, say) or a broken
    row, and fails naming ``file:line``, rather than loading shifted or empty columns.
    """
    csv.field_size_limit(sys.maxsize)
    delimiter, quoting = (
        ("\t", csv.QUOTE_NONE) if data_format == "tsv" else (",", csv.QUOTE_MINIMAL)
    )
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        header = next((row for row in reader if row), None)
        if header is None:
            return []
        header_line = reader.line_num
        records = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise DataError(
                    f"{path}:{reader.line_num}: {len(row)} fields where the header (line "
                    f"{header_line}) has {len(header)}, reading it as {data_format.upper()}. "
                    "Fix the row, or if the file is in another format name it with "
                    "--data-format (csv, tsv, jsonl, parquet, conllu)."
                )
            records.append(dict(zip(header, row, strict=True)))
        return records
