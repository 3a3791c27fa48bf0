"""``fewdims run --task sst2``: extract train + dev, probe the full sweep, (fine-tune,) report.

The one command from a model and task names to ``reports/NAME/report.html``. Caches are
reused when their fingerprint matches, so re-running only redoes what changed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from probe.cache import DEFAULT_CACHE_DIR
from probe.commands.options import (
    add_model_options,
    add_store_option,
    add_sweep_options,
    seeds_of,
    sweep_selection,
)


def add_parser(subparsers: Any) -> None:
    from probe.commands.word_options import add_word_arguments

    parser = subparsers.add_parser(
        "run",
        help="model + task(s) → caches → probe sweep → (fine-tune) → report, in one command",
        description="Extract train and dev caches (reused when they match), run the probe "
        "sweep, optionally fine-tune with the best dims, and render reports/NAME/report.html.",
    )
    parser.add_argument("--task", help="GLUE task(s), comma-separated: sst2,cola,stsb")
    parser.add_argument(
        "--train-file",
        type=Path,
        help="word-level run: a CoNLL-U file to train probes on (with --eval-file and --label)",
    )
    parser.add_argument(
        "--eval-file", type=Path, help="word-level run: the CoNLL-U file probes are scored on"
    )
    add_model_options(parser)
    parser.add_argument(
        "--data-dir", help="GLUE TSV folder (default $FEWDIMS_DATA, else data/glue, else the hub)"
    )
    parser.add_argument("--out", type=Path, help="report folder (default reports/<tasks>)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE_DIR,
        help="where caches are made and reused (default: %(default)s, as fewdims extract)",
    )
    parser.add_argument(
        "--max-train-examples",
        type=int,
        help="probe on a seeded random sample of train (default: all of it)",
    )
    parser.add_argument("--max-eval-examples", type=int, help="seeded random sample of dev")
    parser.add_argument(
        "--train-from-dev",
        type=float,
        metavar="FRACTION",
        help="no train split available: train on this seeded fraction of dev, "
        "evaluate on the rest (named dev-part1/dev-part2 everywhere)",
    )
    add_store_option(parser)
    add_sweep_options(parser, token_rows=False)
    parser.add_argument(
        "--finetune", action="store_true", help="also fine-tune with the best probe dims"
    )
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--finetune-max-train-examples", type=int, default=2000)
    add_word_arguments(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.train_file or args.eval_file or args.label:
        return run_words(args)
    if not args.task:
        from probe.errors import FewdimsError

        raise FewdimsError(
            "Pass --task (GLUE task names), or --train-file/--eval-file CoNLL-U files with "
            "--label for word-level probing."
        )
    from tqdm import tqdm

    from extract.extractor import ExtractConfig
    from extract.pipeline import RunConfig, run_pipeline
    from probe.cluster import execution_from_args
    from probe.vocabulary import POOLINGS

    tasks = [task.strip() for task in args.task.split(",") if task.strip()]
    execution = execution_from_args(args)
    seeds = seeds_of(args)
    config = RunConfig(
        tasks=tasks,
        data_dir=args.data_dir,
        out_dir=args.out,
        cache_dir=args.cache_dir,
        max_train_examples=args.max_train_examples,
        max_eval_examples=args.max_eval_examples,
        train_from_dev=args.train_from_dev,
        sample_seed=args.seed,
        extract=ExtractConfig(
            model=args.model,
            max_length=args.max_length,
            batch_size=args.batch_size,
            device=args.device,
            store=args.store,
        ),
        **sweep_selection(args, POOLINGS),
        k=16 if args.k is None else args.k,
        seed=seeds[0] if seeds else args.seed,
        seeds=seeds,
        jobs=execution.jobs,
        scheduler=execution.scheduler,
        finetune=args.finetune,
        finetune_epochs=args.finetune_epochs,
        finetune_max_train_examples=args.finetune_max_train_examples,
    )

    def progress(label: str, total: int, unit: str):
        bar = tqdm(
            total=total, unit=unit, desc=label, file=sys.stderr, dynamic_ncols=True, leave=False
        )

        def advance(count: int) -> None:
            bar.update(count)
            if bar.n >= total:
                bar.close()

        return advance

    outcome = run_pipeline(
        config,
        on_event=lambda message: print(f"[fewdims run] {message}", file=sys.stderr),
        progress=progress,
    )
    for warning in outcome.warnings:
        print(f"warning: {warning}")
    print(f"report: {outcome.report_html}")
    print(f"        {outcome.report_markdown}")
    return 0


def run_words(args: argparse.Namespace) -> int:
    """The word-level path: two CoNLL-U files -> caches -> word sweep per label -> report."""
    from extract.extractor import ExtractConfig
    from extract.word_pipeline import WordRunConfig, run_word_pipeline
    from probe.commands.word_options import word_labels, word_spec_from_args
    from probe.errors import FewdimsError

    if not (args.train_file and args.eval_file and args.label):
        raise FewdimsError(
            "Word-level runs need --train-file, --eval-file (CoNLL-U) and --label "
            "(upos, xpos, deprel, deprel_full), e.g. fewdims run --train-file dev.conllu "
            "--eval-file test.conllu --label upos,deprel"
        )
    labels = word_labels(args)
    config = WordRunConfig(
        train_file=args.train_file,
        eval_file=args.eval_file,
        labels=labels,
        sweep=word_spec_from_args(args, "", "", labels[0]),
        out_dir=args.out or Path("reports") / "words",
        cache_dir=args.cache_dir,
        extract=ExtractConfig(
            model=args.model,
            max_length=args.max_length,
            batch_size=args.batch_size,
            device=args.device,
        ),
    )
    outcome = run_word_pipeline(
        config, on_event=lambda message: print(f"[fewdims run] {message}", file=sys.stderr)
    )
    print(f"report: {outcome.report_html}")
    print(f"        {outcome.report_markdown}")
    return 0
