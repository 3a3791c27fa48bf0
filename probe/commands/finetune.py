"""``fewdims finetune``: fine-tune an encoder whose new head sees only the selected dims."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from probe.commands.extract import add_data_arguments, load_data
from probe.commands.options import (
    add_maxnorm_option,
    add_model_options,
    add_seed_options,
    seeds_of,
)
from probe.errors import DataError
from probe.vocabulary import POOLINGS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "finetune",
        help="fine-tune the encoder with a head that reads only a few selected dims",
        description="Fine-tune an encoder on a task while its new head may read only the "
        "selected hidden dimensions of one layer's pooled vector (Fukuhata & Kano 2025), or "
        "freeze the encoder for the comparison. Evaluates on dev with the task metric and "
        "writes a results file `fewdims report` can set beside frozen probes. Re-running the "
        "same command resumes an interrupted run from its last finished epoch (with --seeds, "
        "from the seed it stopped in).",
    )
    add_model_options(parser)
    add_data_arguments(parser)
    parser.add_argument(
        "--eval-file", help="with --data-file: the labeled file to evaluate on (same columns)"
    )
    dims = parser.add_mutually_exclusive_group()
    dims.add_argument(
        "--dims", default="all", help="'all' (default) or dims like 12,301,77 (head inputs)"
    )
    dims.add_argument(
        "--dims-from",
        metavar="RESULTS.json[:LAYER[:POOLING[:METHOD[:K]]]]",
        help="take dims from a `fewdims probe` results cell (best validation score among the "
        "matching cells; K = its K-dim step); its layer and pooling become the defaults",
    )
    parser.add_argument(
        "--pooling",
        choices=POOLINGS,
        help="sentence vector the head reads (default cls for an encoder, last for a decoder "
        "LM, or the --dims-from cell's); cls on a decoder is refused",
    )
    parser.add_argument(
        "--layer",
        type=int,
        help="hidden-state index: 0 = embeddings, -1 = last (default; or the --dims-from "
        "cell's). Blocks above it are not run.",
    )
    parser.add_argument(
        "--freeze", action="store_true", help="keep every pre-trained weight fixed; train the head"
    )
    parser.add_argument(
        "--balanced",
        action="store_true",
        help="weight the loss per class like the probes' class_weight='balanced' (skewed "
        "tasks such as CoLA; off by default)",
    )
    parser.add_argument(
        "--head",
        choices=["linear", "mlp2"],
        default="linear",
        help="linear (default) or a two-layer MLP (for the frozen comparison)",
    )
    parser.add_argument(
        "--then-task",
        nargs="+",
        default=[],
        metavar="TASK",
        help="GLUE tasks to fine-tune on next, in order, each with a fresh head; every task "
        "seen so far is re-evaluated after each stage (forgetting)",
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-train-examples", type=int, help="first N training examples only")
    parser.add_argument("--max-eval-examples", type=int, help="first N dev examples only")
    parser.add_argument(
        "--train-from-dev",
        type=float,
        metavar="FRACTION",
        help="no train split available (QNLI here): train on this seeded fraction of dev and "
        "evaluate on the rest — the same dev-part1/dev-part2 as `fewdims run --train-from-dev`, "
        "so dims probed there are fine-tuned on the rows they were selected on",
    )
    parser.add_argument("--lr", type=float, default=2e-5, help="encoder learning rate")
    parser.add_argument(
        "--head-lr", type=float, default=1e-3, help="learning rate of the new head (default 1e-3)"
    )
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--warmup-ratio", type=float, default=0.0)
    parser.add_argument(
        "--group-by-length",
        action="store_true",
        help="batch training examples of similar length together (less padding, ~3x faster "
        "on SST-2 on a CPU; changes the batch composition, so not the default)",
    )
    add_seed_options(
        parser,
        seed_help="seed of the head's init, the batch order and dropout (0)",
        seeds_help="run the same fine-tuning once per seed (e.g. 0,1,2) into one results "
        "file: every seed's scores and predictions are kept, mean ± sd over seeds printed and "
        "reported; a re-run after an interruption skips the seeds already finished",
    )
    add_maxnorm_option(parser)
    parser.add_argument(
        "--save-model", metavar="DIR", help="write the fine-tuned encoder + tokenizer here"
    )
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow model code from the hub"
    )
    parser.add_argument("--out", required=True, help="results file to write (JSON)")
    parser.set_defaults(handler=run)


def _load_tasks(args: argparse.Namespace) -> list:
    from extract.datasets import load_local_file
    from extract.finetune import task_data

    if args.train_from_dev is not None:
        if args.data_file:
            raise DataError(
                "--train-from-dev splits a GLUE dev set; it does not combine with --data-file."
            )
        if not args.task:
            raise DataError("--train-from-dev needs --task (a GLUE task whose dev set to split).")
        from extract.pipeline import dev_partition

        train, evaluation = dev_partition(args.task, args.train_from_dev, args.data_dir)
        return [task_data(train, evaluation), *_later_tasks(args)]
    try:
        train = load_data(args, "train")
    except DataError as error:
        if args.data_file:
            raise
        raise DataError(
            f"{error} — no train split for {args.task}. To fine-tune on it anyway, pass "
            "--train-from-dev 0.5: the seeded half of dev that `fewdims run --train-from-dev "
            "0.5` trains its probes on, scored on the other half."
        ) from error
    if args.data_file:
        if not args.eval_file:
            raise DataError(
                "--data-file needs --eval-file: a labeled file with the same columns to "
                "evaluate on (fine-tuning is never scored on its own training data)."
            )
        columns = [column.strip() for column in args.text_columns.split(",") if column.strip()]
        evaluation = load_local_file(
            args.eval_file,
            columns,
            args.label_column,
            task_name=train.task,
            split="dev",
            label_names=train.label_names or None,
            regression=args.regression,
        )
    else:
        evaluation = load_data(args, "dev")
    return [task_data(train, evaluation), *_later_tasks(args)]


def _later_tasks(args: argparse.Namespace) -> list:
    from extract.datasets import load_split
    from extract.finetune import task_data

    return [
        task_data(load_split(name, "train", args.data_dir), load_split(name, "dev", args.data_dir))
        for name in args.then_task
    ]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from extract.finetune import FinetuneConfig, TrainProgress, run_finetune
    from extract.finetune.dims import dims_from_results
    from probe.seeds import summary_lines

    seeds = seeds_of(args)
    config = FinetuneConfig(
        model=args.model,
        dims=args.dims,
        dims_from=args.dims_from,
        layer=args.layer,
        pooling=args.pooling,
        freeze=args.freeze,
        balanced=args.balanced,
        head=args.head,
        epochs=args.epochs,
        max_train_examples=args.max_train_examples,
        max_eval_examples=args.max_eval_examples,
        lr=args.lr,
        head_lr=args.head_lr,
        weight_decay=args.weight_decay,
        warmup_ratio=args.warmup_ratio,
        group_by_length=args.group_by_length,
        batch_size=args.batch_size,
        max_length=args.max_length,
        seed=seeds[0] if seeds else args.seed,
        seeds=seeds,
        device=args.device,
        maxnorm_includes_special=args.maxnorm_include_special,
        save_model=args.save_model,
        trust_remote_code=args.trust_remote_code,
    )
    config.check()
    tasks = _load_tasks(args)
    # The RESULTS.json[:LAYER[:POOLING[:METHOD[:K]]]] string is parsed here, at the edge;
    # the library takes the typed choice (config.dims_from stays as the recorded argument).
    choice = dims_from_results(args.dims_from) if args.dims_from else None
    bars: dict[str, tqdm] = {}

    def progress(event: TrainProgress) -> None:
        if event.kind == "batch":
            if event.batch == 1 or "bar" not in bars:
                if "bar" in bars:
                    bars.pop("bar").close()
                bars["bar"] = tqdm(
                    total=event.n_batches,
                    unit="batch",
                    desc=seed_text(event) + f"stage {event.stage}/{event.n_stages} {event.task} "
                    f"epoch {event.epoch}/{event.n_epochs}",
                    file=sys.stderr,
                    dynamic_ncols=True,
                )
            bars["bar"].update(1)
            bars["bar"].set_postfix_str(f"loss {event.loss:.4f}", refresh=False)
            return
        if "bar" in bars:
            bars.pop("bar").close()
        scores = ", ".join(f"{name} {value:.4f}" for name, value in event.eval_scores.items())
        tqdm.write(
            seed_text(event) + f"stage {event.stage} {event.task} epoch {event.epoch}: train loss "
            f"{event.loss:.4f}; dev {scores}",
            file=sys.stderr,
        )

    try:
        results = run_finetune(tasks, config, Path(args.out), progress=progress, choice=choice)
    finally:
        if "bar" in bars:
            bars.pop("bar").close()
    for cell in results.cells:
        details = cell.details
        primary = details.get("primary_metric", results.primary_metric)
        dims_text = ",".join(map(str, cell.dims)) if cell.dims else "all"
        print(
            seed_text(cell) + f"{details['stage']}: {primary} "
            f"{cell.scores['eval'].get(primary, float('nan')):.4f} (layer {cell.layer} "
            f"{cell.pooling}, dims {dims_text}, {'frozen' if details['frozen'] else 'trained'} "
            f"encoder, {details['head']} head, {cell.seconds:.1f} s)"
        )
    for line in summary_lines(results.seed_summary(), results.primary_metric):
        print(f"over seeds: {line}")
    provenance = results.provenance
    runs = provenance.get("per_seed") or [provenance]
    after = ", ".join(f"{run['weights_sha256_after'][:12]}…" for run in runs)
    print(
        f"{args.out}: {len(results.cells)} cell(s), {provenance['seconds']:.1f} s on "
        f"{provenance['device']}; weights {provenance['weights_sha256'][:12]}… → {after}"
        + (f"; model saved to {args.save_model}" if args.save_model else "")
        + (" (one folder per seed)" if args.save_model and seeds else "")
    )
    return 0


def seed_text(item: object) -> str:
    """``"seed 1: "`` for an event or cell of a ``--seeds`` run, else ``""``."""
    seed = getattr(item, "seed", None)
    return "" if seed is None else f"seed {seed}: "
