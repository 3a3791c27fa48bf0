"""``fewdims probe --train CACHE --eval CACHE --out results.json``: the layer x pooling x method sweep.

Parses, calls :func:`probe.sweep.run_sweep`, shows progress (tqdm lives here, not in the
library) and prints a one-line summary per cell. No torch is imported.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from probe.commands.options import add_sweep_options, seeds_of, sweep_selection


def add_parser(subparsers: Any) -> None:
    from probe.commands.word_options import add_word_arguments
    from probe.stats.bootstrap import add_bootstrap_arguments

    parser = subparsers.add_parser(
        "probe",
        help="find which layer, pooling and how few hidden dims a task needs (cached features)",
        description="Search dimension subsets of cached hidden states. Subsets are selected on "
        "a seeded inner validation split of --train and reported on --eval (never selected on).",
    )
    parser.add_argument(
        "--train", required=True, type=Path, metavar="CACHE", help="labeled train-split cache"
    )
    parser.add_argument(
        "--eval", required=True, type=Path, metavar="CACHE", help="labeled eval (dev) cache"
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="RESULTS.json", help="results file to write"
    )
    add_sweep_options(parser, token_rows=True)
    parser.add_argument(
        "--top-k", type=int, default=50, help="screened candidates re-fitted exactly (50)"
    )
    parser.add_argument(
        "--validation-fraction",
        type=float,
        default=0.2,
        help="share of train held out for selection (0.2)",
    )
    parser.add_argument(
        "--C", type=float, default=1.0, dest="C", help="inverse L2 strength of subset probes (1.0)"
    )
    parser.add_argument(
        "--no-balanced",
        action="store_true",
        help="unweighted classes (default is class_weight='balanced': small probes on skewed "
        "tasks otherwise predict the majority class)",
    )
    parser.add_argument("--random-draws", type=int, default=200, help="random subsets per k (200)")
    parser.add_argument(
        "--random-ks",
        default="1,2,3,4,8,16",
        help="subset sizes of the random baseline, or 'all' for every k up to --k "
        "(default: %(default)s; all 16 sizes cost minutes per slice on a laptop)",
    )
    parser.add_argument(
        "--backward-start",
        default="greedy",
        choices=("greedy", "pairs", "triples"),
        help="set backward elimination starts from (greedy)",
    )
    parser.add_argument(
        "--out-of-core",
        default="auto",
        choices=("auto", "always", "never"),
        help="read slices in chunks instead of whole (methods full, rank, pairs, greedy only). "
        "auto: token rows, and pooled slices that need more than half the memory left (auto)",
    )
    parser.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        metavar="N",
        help="rows per chunk out of core (default: about 8 MiB of float32)",
    )
    add_bootstrap_arguments(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_word_arguments(parser)
    parser.set_defaults(handler=run)


def _parse_ks(text: str) -> tuple[int, ...]:
    from probe.errors import FewdimsError

    if text.strip().lower() == "all":
        return ()
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as error:
        raise FewdimsError(
            f"--random-ks takes 'all' or comma-separated sizes like 1,2,4; got {text!r}."
        ) from error


def run(args: argparse.Namespace) -> int:
    seeds = seeds_of(args)  # a bad list is refused before anything runs
    if args.label:
        from probe.commands.word_options import run_word_probe

        return run_word_probe(args)
    from probe.cluster import execution_from_args
    from probe.search import SearchConfig
    from probe.seeds import summary_lines
    from probe.stats.bootstrap import bootstrap_from_args, interval_text, records_to_intervals
    from probe.sweep import SweepSpec, run_sweep, solver_warning_summary
    from probe.vocabulary import ROW_KINDS

    execution = execution_from_args(args)
    config = SearchConfig(
        k=16 if args.k is None else args.k,
        top_k=args.top_k,
        pool_size=max(500, args.top_k),
        n_random_draws=args.random_draws,
        random_ks=_parse_ks(args.random_ks),
        backward_start=args.backward_start,
        seed=seeds[0] if seeds else args.seed,
    )
    spec = SweepSpec(
        train_path=str(args.train),
        eval_path=str(args.eval),
        **sweep_selection(args, ROW_KINDS),
        config=config,
        validation_fraction=args.validation_fraction,
        C=args.C,
        balanced=not args.no_balanced,
        jobs=execution.jobs,
        scheduler=execution.scheduler,
        out_of_core=args.out_of_core,
        chunk_rows=args.chunk_rows,
        bootstrap=bootstrap_from_args(args),
        seeds=seeds,
    )
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(desc="fewdims probe", unit="slice")

    def on_group(done: Any) -> None:
        if bar is not None:
            bar.total = done.total
            bar.set_postfix_str(f"layer {done.layer} {done.pooling}")
            bar.update(1)

    try:
        results = run_sweep(spec, progress=on_group)
    finally:
        if bar is not None:
            bar.close()
    path = results.save(args.out)
    metric = results.primary_metric
    for cell in results.cells:
        value = cell.eval_score(metric)
        dims = ",".join(str(d) for d in cell.dims) if cell.dims else "-"
        shown = f"{value:.4f}" if value == value else "  -   "
        ci = interval_text(records_to_intervals(cell.intervals.get("eval")).get(metric), 4)
        shown += f" {ci}" if ci else ""
        seed = "" if cell.seed is None else f"seed {cell.seed} "
        print(
            f"layer {cell.layer:>2} {cell.pooling:<7} {cell.method:<8} {seed}eval {metric} "
            f"{shown}  dims {dims}"
        )
    for line in summary_lines(results.seed_summary(), metric, max_k=3):
        print(f"over seeds: {line}")
    streamed = results.provenance.get("out_of_core")
    if streamed and streamed["skipped_methods"]:
        print(
            f"note: {', '.join(streamed['row_kinds'])} rows were probed out of core, where "
            f"{', '.join(streamed['skipped_methods'])} do not run (skipped there)"
        )
    note = solver_warning_summary(results)
    if note:
        print(f"note: {note}")
    print(f"wrote {path} ({len(results.cells)} cells)")
    return 0
