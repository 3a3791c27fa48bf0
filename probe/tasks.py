"""The GLUE task table: columns, label names and the metric each task is judged by.

This is the single place that knows what a GLUE task *is*. The dataset readers in
``extract`` use it to parse files; the probes and reports in ``probe`` use it to pick the
metric. It lives in ``probe`` (not ``extract``) because ``probe`` must work without torch and
``extract`` may import from ``probe``, never the other way round.

Metrics follow GLUE / ``transformers`` ``run_glue.py``: Matthews correlation for CoLA,
F1 + accuracy for MRPC and QQP, Pearson + Spearman for STS-B, accuracy elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from probe.errors import DataError, FewdimsError


class UnknownTaskError(FewdimsError, ValueError):
    """Raised for a task name that is not in the table (the message lists the known ones)."""


@dataclass(frozen=True)
class TaskSpec:
    """What fewdims needs to know about one task.

    ``text_columns`` name the text fields in the canonical (hub) schema; one name means
    single-sentence input, two mean a sentence pair encoded with the tokenizer's pair
    encoding. ``label_names`` is empty for regression. ``metrics`` lists every metric
    reported; ``primary_metric`` is the one subsets are selected by.
    """

    name: str
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]
    metrics: tuple[str, ...]
    primary_metric: str
    splits: tuple[str, ...] = ("train", "dev", "test")

    @property
    def is_regression(self) -> bool:
        return not self.label_names

    @property
    def num_labels(self) -> int:
        return 1 if self.is_regression else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        return len(self.text_columns) == 2


GLUE_TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in [
        TaskSpec("cola", ("sentence",), ("unacceptable", "acceptable"), ("mcc", "accuracy"), "mcc"),
        TaskSpec("sst2", ("sentence",), ("negative", "positive"), ("accuracy",), "accuracy"),
        TaskSpec(
            "mrpc",
            ("sentence1", "sentence2"),
            ("not_equivalent", "equivalent"),
            ("f1", "accuracy"),
            "f1",
        ),
        TaskSpec(
            "qqp",
            ("question1", "question2"),
            ("not_duplicate", "duplicate"),
            ("f1", "accuracy"),
            "f1",
        ),
        TaskSpec("stsb", ("sentence1", "sentence2"), (), ("pearson", "spearman"), "pearson"),
        TaskSpec(
            "mnli",
            ("premise", "hypothesis"),
            ("entailment", "neutral", "contradiction"),
            ("accuracy",),
            "accuracy",
            splits=("train", "dev_matched", "dev_mismatched", "test_matched", "test_mismatched"),
        ),
        TaskSpec(
            "qnli",
            ("question", "sentence"),
            ("entailment", "not_entailment"),
            ("accuracy",),
            "accuracy",
        ),
        TaskSpec(
            "rte",
            ("sentence1", "sentence2"),
            ("entailment", "not_entailment"),
            ("accuracy",),
            "accuracy",
        ),
        TaskSpec(
            "wnli",
            ("sentence1", "sentence2"),
            ("not_entailment", "entailment"),
            ("accuracy",),
            "accuracy",
        ),
    ]
}

# Names users type for the same task (hub spelling, GLUE folder spelling).
TASK_ALIASES: dict[str, str] = {
    "sst-2": "sst2",
    "sts-b": "stsb",
    "mnli-m": "mnli",
    "mnli_matched": "mnli",
}

# Split names users type → the GLUE file stem. ``validation`` is the hub's name for dev.
SPLIT_ALIASES: dict[str, str] = {
    "validation": "dev",
    "val": "dev",
    "validation_matched": "dev_matched",
    "validation_mismatched": "dev_mismatched",
}

# GLUE folder names in the standard TSV layout (download_glue_data.py).
GLUE_FOLDERS: dict[str, str] = {
    "cola": "CoLA",
    "sst2": "SST-2",
    "mrpc": "MRPC",
    "qqp": "QQP",
    "stsb": "STS-B",
    "mnli": "MNLI",
    "qnli": "QNLI",
    "rte": "RTE",
    "wnli": "WNLI",
}


def get_task(name: str) -> TaskSpec:
    """Look a GLUE task up by any common spelling; raise ``UnknownTaskError`` naming the options."""
    key = name.strip().lower()
    key = TASK_ALIASES.get(key, key)
    if key not in GLUE_TASKS:
        known = ", ".join(sorted(GLUE_TASKS))
        raise UnknownTaskError(
            f"Unknown task {name!r}. Known GLUE tasks: {known}. For your own data, pass a file "
            "with --data-file plus --text-columns and --label-column instead of --task."
        )
    return GLUE_TASKS[key]


def canonical_split(task: TaskSpec, split: str) -> str:
    """Map a user's split name to the GLUE file stem, checking the task has it."""
    key = SPLIT_ALIASES.get(split.strip().lower(), split.strip().lower())
    if key == "dev" and task.name == "mnli":
        key = "dev_matched"
    if key == "test" and task.name == "mnli":
        key = "test_matched"
    if key not in task.splits:
        raise DataError(
            f"Task {task.name!r} has no split {split!r}; its splits are: {', '.join(task.splits)}."
        )
    return key


def is_labeled_split(split: str) -> bool:
    """GLUE test splits carry no labels."""
    return not split.startswith("test")
