"""The word-level options of ``fewdims probe`` and ``fewdims run`` (``--label`` and friends).

Declared here, beside the code that reads them, so the sentence-level commands only call
:func:`add_word_arguments` and :func:`word_spec_from_args`.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from probe.words.sweep import WordSweepSpec


def add_word_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--label",
        help="word-level probing of CoNLL-U caches: upos, xpos, deprel (universal relation) or "
        "deprel_full; comma-separated for several (fewdims run). Rows are words, not sentences",
    )
    parser.add_argument(
        "--subword-pooling",
        default="first,mean",
        help="with --label: how a word's subword vectors become its row: first, last, mean "
        "(comma-separated; default: %(default)s)",
    )
    parser.add_argument(
        "--balanced",
        action="store_true",
        help="with --label: class_weight='balanced' word probes (default off: accuracy is "
        "reported, and weighting trades it for macro-F1)",
    )


def word_labels(args: argparse.Namespace) -> tuple[str, ...]:
    from probe.vocabulary import parse_names
    from probe.words.problem import LABELS

    return parse_names(args.label, LABELS, "--label")


def word_spec_from_args(
    args: argparse.Namespace, train_path: str, eval_path: str, label: str
) -> WordSweepSpec:
    """A word sweep spec from the shared probe flags; unset sizes keep the word defaults."""
    from probe.errors import FewdimsError
    from probe.search import METHOD_MODULES
    from probe.vocabulary import parse_layers, parse_names
    from probe.words.rows import SUBWORD_POOLINGS
    from probe.words.sweep import WORD_SEARCH_CONFIG, WordSweepSpec

    if getattr(args, "seeds", None) is not None:
        raise FewdimsError(
            "--seeds repeats sentence-level sweeps only; word-level probing (--label) takes "
            "one --seed per run."
        )
    config = replace(WORD_SEARCH_CONFIG, seed=args.seed)
    if getattr(args, "k", None) is not None:
        config = replace(
            config, k=args.k, random_ks=tuple(k for k in (1, 2, 4, 8, 16) if k <= args.k)
        )
    return WordSweepSpec(
        train_path=train_path,
        eval_path=eval_path,
        label=label,
        layers=parse_layers(args.layers),
        poolings=parse_names(args.subword_pooling, SUBWORD_POOLINGS, "--subword-pooling"),
        methods=parse_names(args.methods, tuple(METHOD_MODULES), "--methods"),
        config=config,
        validation_fraction=getattr(args, "validation_fraction", 0.2),
        C=getattr(args, "C", 1.0),
        balanced=args.balanced,
        jobs=args.jobs,
        out_of_core=getattr(args, "out_of_core", "auto"),
    )


def run_word_probe(args: argparse.Namespace) -> int:
    """``fewdims probe --label L``: the word sweep of one label, results to ``--out``."""
    from probe.errors import FewdimsError
    from probe.words.sweep import run_word_sweep

    labels = word_labels(args)
    if len(labels) != 1:
        raise FewdimsError(
            f"fewdims probe writes one label's results per file; --label got {', '.join(labels)}. "
            "Run it once per label, or use fewdims run --label upos,deprel."
        )
    (label,) = labels
    spec = word_spec_from_args(args, str(args.train), str(args.eval), label)
    results = run_word_sweep(spec)
    path = results.save(args.out)
    labels = results.provenance["labels"]
    for cell in results.cells:
        value = cell.eval_score("accuracy")
        dims = ",".join(str(d) for d in cell.dims) if cell.dims else "-"
        shown = f"{value:.4f}" if value == value else "  -   "
        print(
            f"layer {cell.layer:>2} {cell.pooling:<5} {cell.method:<8} eval accuracy {shown}  dims {dims}"
        )
    if labels["n_eval_unseen"]:
        unseen = ", ".join(
            f"{name} ({count})" for name, count in labels["unseen_eval_labels"].items()
        )
        print(
            f"note: {labels['n_eval_unseen']} eval word(s) have a {label} label unseen in train "
            f"and are not scored: {unseen}"
        )
    streamed = results.provenance.get("out_of_core")
    if streamed and streamed["skipped_methods"]:
        print(
            f"note: word rows were probed out of core, where "
            f"{', '.join(streamed['skipped_methods'])} do not run (skipped there)"
        )
    print(f"wrote {path} ({len(results.cells)} cells)")
    return 0
