"""Load results files and group them by (task, model) for reporting.

Reports compare cells of one task side by side, so cells from every file of that task are
pooled. Cells from different models must not be pooled silently: each model gets its own
group, and the mix is reported as a warning line rather than refused, because comparing two
models on one task is a legitimate thing to put in one report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from probe.errors import FewdimsError
from probe.results import ResultCell, ResultsError, ResultsFile, ResultsFormatError
from probe.tasks import get_task

UNKNOWN_MODEL = "unknown model"


@dataclass(frozen=True)
class LoadedResults:
    """One results file and where it came from (the path is shown in the provenance block)."""

    path: Path
    results: ResultsFile

    @property
    def model(self) -> str:
        return str(self.results.provenance.get("model") or UNKNOWN_MODEL)

    @property
    def weights_sha256(self) -> str:
        return str(self.results.provenance.get("weights_sha256") or "")


@dataclass
class TaskGroup:
    """All results of one task for one model: what one section of the report summarises."""

    task: str
    model: str
    primary_metric: str
    probe_files: list[LoadedResults] = field(default_factory=list)
    # Fine-tuning cells that score this task, with the file each came from. A cross-task
    # fine-tuning file spreads its cells over several groups (``details["task"]``).
    finetune_cells: list[tuple[LoadedResults, ResultCell]] = field(default_factory=list)
    # True when the same task also has results from another model, so titles must name the model.
    shares_task: bool = False

    @property
    def files(self) -> list[LoadedResults]:
        """Every file with a cell in this group, probe files first, each once."""
        finetune = [item for item, _ in self.finetune_cells]
        unique = {id(item): item for item in [*self.probe_files, *finetune]}
        return list(unique.values())

    @property
    def title(self) -> str:
        return f"{self.task} — {self.model}" if self.shares_task else self.task


def load_results(paths: Sequence[str | Path]) -> list[LoadedResults]:
    """Load every path, raising a ``FewdimsError`` naming the bad file and the fix."""
    if not paths:
        raise FewdimsError(
            "No results files given; pass one or more files written by `fewdims probe` or "
            "`fewdims finetune`, e.g. `fewdims report results/sst2.json --out reports/sst2/`."
        )
    loaded = []
    for raw_path in paths:
        path = Path(raw_path)
        try:
            results = ResultsFile.load(path)
        except ResultsError:
            raise  # already names the file and the fix (ResultsFormatError is a ValueError too)
        except (KeyError, TypeError, ValueError) as error:
            # from_dict accepted the header but a field is missing or of the wrong shape.
            raise ResultsFormatError(
                f"{path} has a fewdims results header but its content is malformed ({error!r}); "
                "the file was probably edited or truncated — re-run the experiment that wrote it."
            ) from error
        if results.kind not in ("probe", "finetune"):
            raise ResultsFormatError(
                f"{path} is a results file of kind {results.kind!r}; `fewdims report` renders "
                "kinds 'probe' and 'finetune'. Pass the files written by those commands."
            )
        loaded.append(LoadedResults(path=path, results=results))
    return loaded


def group_by_task(loaded: Sequence[LoadedResults]) -> tuple[list[TaskGroup], list[str]]:
    """Group results into (task, model) sections, in first-seen order, plus warning lines.

    Fine-tuning cells join the probe group of the task they score (``details["task"]``, else
    the file's task) and the same model name; if there is none (fine-tuned from a model that
    was not probed) they join that task's first group, or form their own group when the task
    has no probe results at all.
    """
    groups: dict[tuple[str, str], TaskGroup] = {}
    for item in loaded:
        if item.results.kind != "probe":
            continue
        key = (item.results.task, item.model)
        group = groups.setdefault(
            key, TaskGroup(item.results.task, item.model, item.results.primary_metric)
        )
        group.probe_files.append(item)
    for item in loaded:
        if item.results.kind != "finetune":
            continue
        for cell in item.results.cells:
            task, metric = finetune_task(item.results, cell)
            key = (task, item.model)
            if key not in groups:
                same_task = [group for (name, _), group in groups.items() if name == task]
                if same_task:
                    same_task[0].finetune_cells.append((item, cell))
                    continue
                groups[key] = TaskGroup(task, item.model, metric)
            groups[key].finetune_cells.append((item, cell))
    ordered = list(groups.values())
    warnings = _mixing_warnings(ordered)
    return ordered, warnings


def finetune_task(results: ResultsFile, cell: ResultCell) -> tuple[str, str]:
    """The task a fine-tuning cell scores and its primary metric.

    A cross-task run writes one file named after its first task; each cell says which task it
    was evaluated on in ``details["task"]`` (and its metric in ``details["primary_metric"]``).
    """
    task = str(cell.details.get("task") or results.task)
    metric = cell.details.get("primary_metric")
    if not metric:
        metric = results.primary_metric if task == results.task else _task_metric(task)
    return task, str(metric)


def _task_metric(task: str) -> str:
    try:
        return get_task(task).primary_metric
    except FewdimsError:
        return "score"


def _mixing_warnings(groups: list[TaskGroup]) -> list[str]:
    """Warn where one task's results come from different models or different weights."""
    warnings = []
    tasks = list(dict.fromkeys(group.task for group in groups))
    for task in tasks:
        task_groups = [group for group in groups if group.task == task]
        items = list({id(i): i for group in task_groups for i in group.files}.values())
        models = sorted({item.model for item in items})
        if len(models) > 1:
            for group in task_groups:
                group.shares_task = True
            listing = "; ".join(
                f"{model} ({', '.join(str(i.path) for i in items if i.model == model)})"
                for model in models
            )
            warnings.append(
                f"Task {task} mixes results from {len(models)} models: {listing}. Each model's "
                "probe results get their own section; scores across models are not "
                "like-for-like."
            )
        for model in models:
            hashes = sorted({i.weights_sha256 for i in items if i.model == model} - {""})
            if len(hashes) > 1:
                short = ", ".join(sha[:12] for sha in hashes)
                warnings.append(
                    f"Task {task}: results for {model} come from different weights "
                    f"(sha256 {short}); they are pooled in one section — re-run on one "
                    "checkpoint for a clean comparison."
                )
        metrics = sorted({i.results.primary_metric for g in task_groups for i in g.probe_files})
        if len(metrics) > 1:
            warnings.append(
                f"Task {task}: results files disagree on the primary metric "
                f"({', '.join(metrics)}); the section uses the first file's metric."
            )
    return warnings
