"""Command-line flags that several commands share, each declared once beside its parser.

``fewdims extract``, ``finetune`` and ``run`` all run a model (``--model``, ``--max-length``,
``--batch-size``, ``--device``); ``fewdims probe`` and ``run`` both choose a sweep
(``--layers``, ``--pooling``, ``--methods``, ``--k``, ``--seed`` or ``--seeds``, ``--jobs``,
``--scheduler``; the last two are declared by :mod:`probe.cluster`, which reads them). Each flag is
declared here once, with one help text, and :func:`sweep_selection` reads the sweep's lists
back with the one grammar of :mod:`probe.vocabulary`.

Why here and not as ``add_arguments`` on the config dataclasses: ``ExtractConfig``,
``FinetuneConfig`` and ``RunConfig`` live in modules that import torch, and the parser must
build on a core install without it (``fewdims --help``, ``probe``, ``report``). Torch-free.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from probe.cluster import add_execution_options
from probe.search import DEFAULT_METHODS, METHOD_MODULES
from probe.seeds import parse_seeds
from probe.vocabulary import (
    DECODER_POOLINGS,
    ENCODER_POOLINGS,
    STORED_POOLINGS,
    TOKEN_ROWS,
    parse_layers,
    parse_names,
    parse_poolings,
)

METHOD_HELP = (
    "comma-separated search methods (default: %(default)s). Available: full, rank, pairs, "
    "triples, greedy, backward, random, control, mdl. triples is not a default: 75 M "
    "candidates at hidden size 768 take 5-10 s per (layer, pooling) cell on a 2-core laptop; "
    "nor is mdl (online codelength, Voita & Titov 2020: 10 all-dims fits per cell)."
)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--max-length``, ``--batch-size``, ``--device``: how a model runs."""
    parser.add_argument(
        "--model",
        default="default",
        help="local path, hub name, 'default' (the packaged all-MiniLM-L6-v2) or 'mpnet' "
        "(the packaged all-mpnet-base-v2, extra [mpnet])",
    )
    parser.add_argument(
        "--max-length", type=int, default=128, help="tokens per input, longer ones are cut (128)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="examples per batch (32)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda[:N]")


def add_store_option(parser: argparse.ArgumentParser) -> None:
    """``--store``: what a cache keeps (``fewdims extract`` and ``fewdims run``)."""
    parser.add_argument(
        "--store",
        default="tokens",
        choices=["tokens", "pooled"],
        help="tokens: every token's vectors plus pooled sentence vectors (default); pooled: "
        "pooled vectors only, 5-9x smaller on SST-2 (no --pooling tokens probing), named "
        "<task>-<split>.pooled.h5 by default. The estimated size is printed before writing, and "
        "a disk without room for it is refused",
    )


def add_maxnorm_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--maxnorm-include-special",
        action="store_true",
        help="let [CLS]/[SEP] be chosen by maxnorm pooling (default: word tokens only)",
    )


def add_sweep_options(parser: argparse.ArgumentParser, *, token_rows: bool) -> None:
    """``--layers``, ``--pooling``, ``--methods``, ``--k``, ``--seed``/``--seeds``, ``--jobs``,
    ``--scheduler``.

    ``token_rows``: whether ``--pooling`` may name ``tokens`` (``fewdims probe`` reads them
    out of core; ``fewdims run`` probes pooled rows only).
    """
    parser.add_argument(
        "--layers",
        default="all",
        help="'all' or hidden-state indices and ranges, e.g. 0,6,-1 or 4-12 (default: all)",
    )
    pooling_help = (
        f"comma-separated poolings, or '{STORED_POOLINGS}' (default): every pooling the cache "
        f"holds ({', '.join(ENCODER_POOLINGS)} for an encoder, {', '.join(DECODER_POOLINGS)} for "
        "a decoder LM, whose 'last' is its last real token)"
    )
    if token_rows:
        pooling_help += (
            f", or '{TOKEN_ROWS}': every word token a row labelled with its sentence's label, "
            "probed out of core"
        )
    parser.add_argument("--pooling", default=STORED_POOLINGS, help=pooling_help)
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=METHOD_HELP)
    parser.add_argument(
        "--k",
        type=int,
        default=None,
        help="largest subset for greedy/backward/random/control (16; 8 for word labels)",
    )
    add_seed_options(
        parser,
        seed_help="seed of the inner split and random draws (0)",
        seeds_help="repeat the sweep once per seed (e.g. 0,1,2): each seed draws its own "
        "inner split (so selection may pick other dims), eval stays fixed; every seed's cells "
        "are kept and reports show mean ± sd over seeds",
    )
    add_execution_options(parser)  # --jobs and --scheduler, owned by probe.cluster


def add_seed_options(parser: argparse.ArgumentParser, *, seed_help: str, seeds_help: str) -> None:
    """``--seed N`` (one run) or ``--seeds S1,S2,...`` (the same run once per seed), not both.

    The help texts say what the seed decides in each command; :func:`seeds_of` reads the list
    back with the one grammar of :func:`probe.seeds.parse_seeds`.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--seed", type=int, default=0, help=seed_help)
    group.add_argument("--seeds", metavar="S1,S2,...", help=seeds_help)


def seeds_of(args: argparse.Namespace) -> tuple[int, ...]:
    """``--seeds`` parsed (``()`` when absent, i.e. one run with ``--seed``); a bad list
    raises ``FewdimsError`` (exit status 2)."""
    return () if args.seeds is None else parse_seeds(args.seeds)


def sweep_selection(args: argparse.Namespace, row_kinds: Sequence[str]) -> dict[str, Any]:
    """``layers``, ``poolings`` and ``methods`` of :func:`add_sweep_options`, parsed."""
    return {
        "layers": parse_layers(args.layers),
        "poolings": parse_poolings(args.pooling, row_kinds),
        "methods": parse_names(args.methods, tuple(METHOD_MODULES), "--methods"),
    }
