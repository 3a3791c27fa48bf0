"""``fewdims extract``: run a model over one split and write its feature cache.

Sharding: ``--shard I/N`` (or ``torchrun --nproc_per_node N fewdims extract ...``, which sets
``RANK``/``WORLD_SIZE``) writes shard I to ``<out stem>.shard-I-of-N.h5``; the process that
finishes the last shard merges them into ``--out`` (``fewdims merge`` does it by hand, e.g.
after copying shards from several machines).

``FEWDIMS_PART_TOKENS`` (environment, undocumented in ``--help``): real tokens per crash-safe
part; tests set it small so a killed run has many parts to resume from. It is part of the
cache fingerprint, so resume with the same value.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from probe.commands.options import add_maxnorm_option, add_model_options, add_store_option
from probe.errors import FewdimsError
from probe.vocabulary import AUTO_FORMAT, DATA_FORMATS, parse_layers, resolve_data_format


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments that choose a dataset: a GLUE task, or a local file with its columns."""
    parser.add_argument(
        "--task", help="GLUE task: cola, sst2, mrpc, qqp, stsb, mnli, qnli, rte, wnli"
    )
    parser.add_argument(
        "--data-dir",
        help="folder in the standard GLUE TSV layout (default: $FEWDIMS_DATA, else data/glue; "
        "the hub is tried when no local copy exists)",
    )
    parser.add_argument(
        "--data-file",
        help="your own .csv/.tsv/.jsonl/.parquet instead of --task, or a .conllu treebank file "
        "(per-word UPOS/XPOS/DEPREL/HEAD with subword spans; no column flags needed)",
    )
    parser.add_argument(
        "--data-format",
        default=AUTO_FORMAT,
        choices=DATA_FORMATS,
        help="with --data-file: how to read it (default auto: by its extension, .csv .tsv "
        ".jsonl/.json .parquet .conllu/.conll); e.g. conllu for a treebank named .txt",
    )
    parser.add_argument(
        "--text-columns", help="with --data-file: one column, or two for pairs (a,b)"
    )
    parser.add_argument(
        "--label-column", help="with --data-file: the label column (omit if unlabeled)"
    )
    parser.add_argument(
        "--regression", action="store_true", help="with --data-file: labels are scores"
    )


def data_format_of(args: argparse.Namespace) -> str | None:
    """The format ``--data-file`` is read as (``--data-format``, else by extension); None
    without ``--data-file``."""
    if not args.data_file:
        if args.data_format != AUTO_FORMAT:
            raise FewdimsError(
                f"--data-format {args.data_format} says how to read --data-file; pass "
                "--data-file too (GLUE tasks from --task need no format)."
            )
        return None
    return resolve_data_format(args.data_file, args.data_format)


def load_data(args: argparse.Namespace, split: str):
    from extract.datasets import load_local_file, load_split

    data_format = data_format_of(args)
    if data_format == "conllu":
        raise FewdimsError(
            f"--data-file {args.data_file} is read as CoNLL-U (word labels); `fewdims "
            f"{getattr(args, 'command', 'extract')}` reads sentence-labelled csv / tsv / jsonl / parquet files. Word "
            "labels are probed with `fewdims extract` + `fewdims probe --label`."
        )
    if data_format is not None:
        if not args.text_columns:
            raise FewdimsError("--data-file needs --text-columns (and --label-column if labeled).")
        columns = [column.strip() for column in args.text_columns.split(",") if column.strip()]
        return load_local_file(
            args.data_file,
            columns,
            args.label_column,
            task_name=args.task or Path(args.data_file).stem,
            split=split,
            regression=args.regression,
            data_format=data_format,
        )
    if not args.task:
        raise FewdimsError("Pass --task (a GLUE task) or --data-file with --text-columns.")
    return load_split(args.task, split, args.data_dir)


def load_conllu_with_model(args: argparse.Namespace):
    """A CoNLL-U split aligned with the model's own tokenizer, and the loaded model."""
    from extract.model import load_model
    from extract.treebank import load_conllu_split

    loaded = load_model(args.model, trust_remote_code=args.trust_remote_code)
    split = load_conllu_split(
        args.data_file,
        loaded.tokenizer,
        max_length=args.max_length,
        task=args.task or "",
        split=args.split,
    )
    return split, loaded


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="run a model once over a split and cache all layers x all tokens to HDF5",
        description="Run a model once over a dataset split and cache every layer's hidden "
        "states for every real token, plus pooled sentence vectors, to one HDF5 file. "
        "Re-running the same command resumes an interrupted run or reuses a finished cache.",
    )
    add_model_options(parser)
    add_data_arguments(parser)
    parser.add_argument(
        "--split", default="dev", help="train, dev (validation), test, ... (default dev)"
    )
    parser.add_argument(
        "--out", help="cache path (default data/features/<model>/<task>-<split>.h5)"
    )
    parser.add_argument("--max-examples", type=int, help="only the first N examples (quick runs)")
    parser.add_argument(
        "--dtype",
        default="float16",
        choices=["float16", "bfloat16", "float32"],
        help="storage dtype of hidden states (default float16)",
    )
    parser.add_argument(
        "--compute-dtype",
        default="auto",
        choices=["auto", "float32", "float16", "bfloat16"],
        help="forward precision (auto: float16 autocast on CUDA, float32 on CPU)",
    )
    parser.add_argument(
        "--layers", default="all", help="'all' or hidden-state indices, e.g. 0,6,12 or 4-12"
    )
    add_store_option(parser)
    add_maxnorm_option(parser)
    parser.add_argument(
        "--compression",
        choices=["gzip", "lzf"],
        help="compress hidden states (saves <=13%% on float16 at ~30x write cost; off by default)",
    )
    parser.add_argument(
        "--no-checksum", action="store_true", help="skip Fletcher-32 chunk checksums"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace a different cache or partial run at --out"
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for another extraction writing --out"
    )
    parser.add_argument(
        "--trust-remote-code", action="store_true", help="allow model code from the hub"
    )
    parser.add_argument(
        "--shard",
        metavar="I/N",
        help="extract shard I of N (0-based) to <out stem>.shard-I-of-N.h5; under torchrun "
        "the shard comes from RANK/WORLD_SIZE. The last shard to finish merges all into --out",
    )
    parser.set_defaults(handler=run)


PART_TOKENS_ENV = "FEWDIMS_PART_TOKENS"


def part_tokens_from_env() -> int | None:
    """``$FEWDIMS_PART_TOKENS`` as a positive int, or None when unset."""
    text = os.environ.get(PART_TOKENS_ENV, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise FewdimsError(f"{PART_TOKENS_ENV}={text!r} must be a positive integer (or unset).")
    return int(text)


def resolve_shard(args: argparse.Namespace) -> tuple[int, int]:
    """``--shard I/N``, else torchrun's RANK/WORLD_SIZE, else (0, 1)."""
    from extract.sharding import parse_shard, shard_from_env

    if args.shard:
        return parse_shard(args.shard)
    return shard_from_env() or (0, 1)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from extract.extractor import ExtractConfig, extract_split, merge_if_complete
    from extract.model import resolve_model_path
    from probe.cache import DEFAULT_CACHE_DIR, SpaceEstimate, default_cache_path, shard_path

    shard_index, shard_count = resolve_shard(args)
    part_tokens = part_tokens_from_env()
    loaded = None
    if data_format_of(args) == "conllu":
        split, loaded = load_conllu_with_model(args)
    else:
        split = load_data(args, args.split)
    if args.max_examples:
        split = split.subset(args.max_examples)
    config = ExtractConfig(
        model=args.model,
        max_length=args.max_length,
        batch_size=args.batch_size,
        device=args.device,
        dtype=args.dtype,
        compute_dtype=args.compute_dtype,
        layers=list(parse_layers(args.layers)) or None,
        maxnorm_includes_special=args.maxnorm_include_special,
        compression=args.compression,
        checksum=not args.no_checksum,
        trust_remote_code=args.trust_remote_code,
        part_tokens=part_tokens,
        shard_index=shard_index,
        shard_count=shard_count,
        store=args.store,
    )
    merged_out = (
        Path(args.out)
        if args.out
        else default_cache_path(
            DEFAULT_CACHE_DIR,
            resolve_model_path(args.model)[0],
            split.task,
            split.split,
            storage=args.store,
        )
    )
    out = shard_path(merged_out, shard_index, shard_count) if shard_count > 1 else merged_out
    with tqdm(
        total=len(split),
        unit="ex",
        desc=f"extract {split.task}/{split.split}",
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        tokens_done = [0]

        def progress(tokens: int, examples: int) -> None:
            tokens_done[0] += tokens
            bar.update(examples)
            rate = tokens_done[0] / max(bar.format_dict["elapsed"], 1e-9)
            bar.set_postfix_str(f"{rate:,.0f} tok/s", refresh=False)

        def announce(estimate: SpaceEstimate) -> None:
            bar.write(
                f"{out}: estimated {estimate.cache_bytes / 2**20:,.1f} MiB ({args.store}); "
                f"needs {estimate.needed_bytes / 2**20:,.1f} MiB free while writing, "
                f"{estimate.free_bytes / 2**20:,.1f} MiB free",
                file=sys.stdout,
            )

        summary = extract_split(
            split,
            out,
            config,
            loaded=loaded,
            overwrite=args.overwrite,
            wait_for_lock=args.wait,
            progress=progress,
            on_estimate=announce,
        )
    meta = summary.meta
    if summary.reused:
        print(f"{out}: already complete (same model, data and settings); nothing to do.")
    else:
        resumed = (
            f", resumed {summary.resumed_parts} finished part(s)" if summary.resumed_parts else ""
        )
        print(
            f"{out}: {meta.n_examples} examples, {meta.n_tokens} tokens, {len(meta.layers)} layers x "
            f"{meta.hidden_size} dims, {meta.n_truncated} truncated; {summary.seconds:.1f} s, "
            f"{summary.tokens_per_second:,.0f} tokens/s, padding {summary.padding_fraction:.1%}{resumed}"
        )
    if meta.words:
        print(
            f"words: {meta.words['n_words']:,}; {meta.words['n_truncated']} dropped by "
            f"--max-length {meta.max_length}, {meta.words['n_without_subwords']} without subwords"
        )
    if shard_count > 1:
        merged = merge_if_complete(merged_out, shard_count)
        if merged is None:
            print(
                f"shard {shard_index}/{shard_count} done; the last shard to finish merges all "
                f"into {merged_out} (or run `fewdims merge {shard_path(merged_out, 0, shard_count)} "
                f"... --out {merged_out}`)."
            )
        else:
            print(
                f"{merged_out}: merged {shard_count} shards, {merged.n_examples} examples "
                "(virtual datasets: keep the shard files beside it)."
            )
    return 0
