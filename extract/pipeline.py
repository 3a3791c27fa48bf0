"""``fewdims run``: from a model and task names to a finished report, in one call.

For each task: extract the train and eval splits (reusing any cache with the same
fingerprint, so a second run extracts nothing), run the probe sweep, optionally fine-tune
with the best dims the sweep found, then render one report over every results file.

This is orchestration only: each step is the same library call the single-purpose command
makes (``extract_split``, ``run_sweep``, ``finetune``, ``render_report``). It lives in
``extract`` because it runs the model; ``probe`` stays torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from extract.datasets import Split, load_split
from extract.extractor import ExtractConfig, ExtractSummary, extract_split
from extract.model import LoadedModel, load_model, resolve_device
from probe.cache import DEFAULT_CACHE_DIR, default_cache_path
from probe.cluster import check_scheduler
from probe.errors import DataError
from probe.results import DimsChoice
from probe.search import DEFAULT_METHODS, SearchConfig
from probe.sweep import SweepSpec, run_sweep, solver_warning_summary
from probe.tasks import get_task

EventCallback = Callable[[str], None]
# progress(label, total, unit) -> advance(n): the CLI hands in tqdm bars, tests hand in nothing.
ProgressFactory = Callable[[str, int, str], Callable[[int], None]]


@dataclass
class RunConfig:
    """What ``fewdims run`` does. Sizes of None mean the whole split.

    ``train_from_dev``: for tasks whose train split is not available (QNLI here), train on a
    seeded fraction of dev and evaluate on the rest; the cache and results name the parts
    ``dev-part1`` / ``dev-part2`` so nobody mistakes them for the official splits.
    The model is ``extract.model``, the one place its name is kept (fine-tuning uses it too).
    ``out_dir`` None is ``reports/<task>-<task>...`` (:meth:`report_dir`).
    """

    tasks: list[str]
    data_dir: str | None = None
    out_dir: Path | None = None
    cache_dir: Path = DEFAULT_CACHE_DIR
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    train_from_dev: float | None = None
    sample_seed: int = 0
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    methods: tuple[str, ...] = DEFAULT_METHODS
    layers: tuple[int, ...] = ()
    poolings: tuple[str, ...] = ()  # () = every pooling the caches store
    k: int = 16
    seed: int = 0
    seeds: tuple[int, ...] = ()  # repeat the sweep per inner-split seed (SweepSpec.seeds)
    jobs: int = 1
    scheduler: str | None = None
    finetune: bool = False
    finetune_epochs: int = 1
    finetune_max_train_examples: int | None = 2000

    def report_dir(self) -> Path:
        """The report folder: ``out_dir``, or ``reports/`` + the task names joined by '-'."""
        return self.out_dir or Path("reports") / "-".join(self.tasks)


@dataclass
class TaskRun:
    """What happened for one task."""

    task: str
    train_cache: ExtractSummary
    eval_cache: ExtractSummary
    probe_results: Path
    finetune_results: list[Path] = field(default_factory=list)


@dataclass
class RunOutcome:
    tasks: list[TaskRun]
    report_html: Path
    report_markdown: Path
    warnings: list[str]


def eval_split_name(task: str) -> str:
    """The labelled held-out split of a GLUE task (MNLI has two; the matched one)."""
    return "dev_matched" if get_task(task).name == "mnli" else "dev"


def dev_partition(
    task: str, fraction: float, data_dir: str | None, seed: int = RunConfig.sample_seed
) -> tuple[Split, Split]:
    """(dev-part1, dev-part2) of a task without a train split. ``fewdims run`` probes and
    ``fewdims finetune`` trains on the same part1 (same default seed), so dims selected by
    the sweep are fine-tuned on the rows they were selected on."""
    dev = load_split(get_task(task).name, eval_split_name(task), data_dir)
    return dev.partition(fraction, seed)


def task_splits(task: str, config: RunConfig) -> tuple[Split, Split, str]:
    """The (train, eval, size tag) splits for one task, honouring the size limits."""
    spec = get_task(task)
    if config.train_from_dev is not None:
        train, evaluation = dev_partition(
            task, config.train_from_dev, config.data_dir, config.sample_seed
        )
    else:
        try:
            train = load_split(spec.name, "train", config.data_dir)
        except DataError as error:
            raise DataError(
                f"{error} — no train split for {spec.name}. To probe it anyway, pass "
                "--train-from-dev 0.5: a seeded half of dev trains, the other half evaluates."
            ) from error
        evaluation = load_split(spec.name, eval_split_name(task), config.data_dir)
    tag = ""
    if config.max_train_examples and len(train) > config.max_train_examples:
        train = train.sample(config.max_train_examples, config.sample_seed)
        tag = f"-n{config.max_train_examples}-s{config.sample_seed}"
    if config.max_eval_examples and len(evaluation) > config.max_eval_examples:
        evaluation = evaluation.sample(config.max_eval_examples, config.sample_seed)
    return train, evaluation, tag


def run_pipeline(
    config: RunConfig,
    *,
    on_event: EventCallback | None = None,
    progress: ProgressFactory | None = None,
    loaded: LoadedModel | None = None,
) -> RunOutcome:
    """Run extract → probe → (fine-tune) → report for every task in ``config``."""
    from probe.report import render_report

    say = on_event or (lambda message: None)
    if not config.tasks:
        raise DataError("Pass at least one task, e.g. --task sst2 or --task sst2,cola.")
    task_inputs = [(task, *task_splits(task, config)) for task in config.tasks]
    if config.scheduler:  # fail in seconds, not after the extraction
        check_scheduler(config.scheduler)
    if loaded is None:
        say(f"loading model {config.extract.model}")
        loaded = load_model(
            config.extract.model,
            device=resolve_device(config.extract.device),
            trust_remote_code=config.extract.trust_remote_code,
        )
    runs: list[TaskRun] = []
    results_paths: list[Path] = []
    for task, train, evaluation, tag in task_inputs:
        summaries = []
        for split, split_tag in ((train, tag), (evaluation, "")):
            path = default_cache_path(
                config.cache_dir,
                loaded.name,
                split.task,
                split.split,
                split_tag,
                storage=config.extract.store,
            )
            summary = extract_split(
                split,
                path,
                config.extract,
                loaded=loaded,
                progress=_batch_progress(progress, split),
            )
            say(f"{'reused' if summary.reused else 'extracted'} {path}")
            summaries.append(summary)
        spec = SweepSpec(
            train_path=str(summaries[0].path),
            eval_path=str(summaries[1].path),
            layers=config.layers,
            poolings=config.poolings,
            methods=config.methods,
            config=SearchConfig(k=config.k, seed=config.seed),
            jobs=config.jobs,
            scheduler=config.scheduler,
            seeds=config.seeds,
        )
        say(f"probing {task}: {', '.join(config.methods)}")
        poolings = config.poolings or tuple(summaries[0].meta.poolings)
        n_groups = len(config.layers or summaries[0].meta.layers) * len(poolings)
        results = run_sweep(spec, progress=_group_progress(progress, task, n_groups))
        probe_path = config.report_dir() / "results" / f"{results.task}-probe.json"
        results.save(probe_path)
        note = solver_warning_summary(results)
        if note:
            say(f"note: {note}")
        results_paths.append(probe_path)
        run = TaskRun(task, summaries[0], summaries[1], probe_path)
        if config.finetune:
            best_pair = results.dims_choice(method="pairs", source=str(probe_path))
            run.finetune_results = _finetune_best(config, train, evaluation, best_pair, say)
            results_paths.extend(run.finetune_results)
        runs.append(run)
    say(f"rendering report into {config.report_dir()}")
    paths = render_report(results_paths, config.report_dir())
    return RunOutcome(runs, paths.html, paths.markdown, list(paths.warnings))


def _batch_progress(
    progress: ProgressFactory | None, split: Split
) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    advance = progress(f"extract {split.task}/{split.split}", len(split), "ex")
    return lambda tokens, examples: advance(examples)


def _group_progress(
    progress: ProgressFactory | None, task: str, n_groups: int
) -> Callable[[object], None] | None:
    if progress is None:
        return None
    advance = progress(f"probe {task} (layer x pooling)", n_groups, "cell")
    return lambda done: advance(1)


def _finetune_best(
    config: RunConfig,
    train: Split,
    evaluation: Split,
    best_pair: DimsChoice,
    say: EventCallback,
) -> list[Path]:
    """Fine-tune twice on the probe's train split: with the best 2-dim probe cell's dims
    (chosen by validation score, at that cell's layer and pooling) and with all dims.

    Each run starts from a fresh copy of the pre-trained weights; the encoder held for
    extraction is never modified.
    """
    from extract.finetune import FinetuneConfig, run_finetune, task_data

    data = task_data(train, evaluation)
    outputs = []
    for label, choice in (("best-pair", best_pair), ("all-dims", None)):
        say(f"fine-tuning {train.task} ({label})")
        out = config.report_dir() / "results" / f"{train.task}-finetune-{label}.json"
        run_finetune(
            [data],
            FinetuneConfig(
                model=config.extract.model,
                epochs=config.finetune_epochs,
                max_train_examples=config.finetune_max_train_examples,
                max_length=config.extract.max_length,
                batch_size=config.extract.batch_size,
                device=config.extract.device,
                seed=config.seed,
            ),
            out,
            choice=choice,
        )
        outputs.append(out)
    return outputs
