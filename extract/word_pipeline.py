"""``fewdims run --train-file A.conllu --eval-file B.conllu --label upos``: one command from
two treebank files to a word-level report.

Extracts both files (reusing caches with the same fingerprint), runs the word sweep of
``probe.words.sweep`` for every requested label, and renders one report. Orchestration only:
each step is the library call ``fewdims extract`` / ``fewdims probe --label`` make. When a
treebank has no train file here (UD EWT: dev and test only), pass dev as the train file and
test as the eval file; the results and the report say which file each side came from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from extract.conllu import default_task_name
from extract.extractor import ExtractConfig, extract_split
from extract.model import LoadedModel, load_model, resolve_device
from extract.treebank import load_conllu_split
from probe.cache import default_cache_path
from probe.errors import DataError
from probe.words.sweep import WordSweepSpec, run_word_sweep

EventCallback = Callable[[str], None]


@dataclass(frozen=True)
class WordRunConfig:
    """What the word-level ``fewdims run`` does; ``sweep`` is a template (paths, label set here)."""

    train_file: Path
    eval_file: Path
    labels: tuple[str, ...]
    sweep: WordSweepSpec
    out_dir: Path = Path("reports") / "words"
    cache_dir: Path = Path("data") / "features"
    extract: ExtractConfig = field(default_factory=ExtractConfig)


@dataclass
class WordRunOutcome:
    caches: tuple[Path, Path]
    results: list[Path]
    report_html: Path
    report_markdown: Path


def run_word_pipeline(
    config: WordRunConfig,
    *,
    on_event: EventCallback | None = None,
    loaded: LoadedModel | None = None,
) -> WordRunOutcome:
    """Extract both files, probe every label, render the report."""
    from probe.report import render_report

    say = on_event or (lambda message: None)
    if Path(config.train_file).resolve() == Path(config.eval_file).resolve():
        raise DataError(
            f"--train-file and --eval-file are the same file ({config.train_file}); pass two "
            "files of one treebank (e.g. dev to train the probe, test to evaluate it)."
        )
    if loaded is None:
        say(f"loading model {config.extract.model}")
        loaded = load_model(
            config.extract.model,
            device=resolve_device(config.extract.device),
            trust_remote_code=config.extract.trust_remote_code,
        )
    task = default_task_name(config.train_file)
    caches = []
    for path, role in ((config.train_file, "train"), (config.eval_file, "eval")):
        split_name = Path(path).stem.split("-")[-1] if "-ud-" in Path(path).stem else role
        split = load_conllu_split(
            path,
            loaded.tokenizer,
            max_length=config.extract.max_length,
            task=task,
            split=split_name,
        )
        cache = default_cache_path(config.cache_dir, loaded.name, task, split_name)
        summary = extract_split(split, cache, config.extract, loaded=loaded)
        say(f"{'reused' if summary.reused else 'extracted'} {cache} ({role})")
        caches.append(summary.path)
    results_paths = []
    for label in config.labels:
        spec = replace(
            config.sweep, train_path=str(caches[0]), eval_path=str(caches[1]), label=label
        )
        say(f"probing {label}: {', '.join(spec.methods)}")
        results = run_word_sweep(
            spec,
            progress=lambda layer, pooling, done, total, label=label: say(
                f"{label}: layer {layer} {pooling} done ({done}/{total})"
            ),
        )
        path = config.out_dir / "results" / f"{results.task}-probe.json"
        results.save(path)
        results_paths.append(path)
    say(f"rendering report into {config.out_dir}")
    paths = render_report(results_paths, config.out_dir)
    return WordRunOutcome((caches[0], caches[1]), results_paths, paths.html, paths.markdown)
