"""Benchmark ``fewdims finetune``: MiniLM on SST-2, all dims vs 3 selected vs 3 random dims vs frozen.

Measures dev accuracy and wall time of one short fine-tuning run per configuration (a
training subset, one epoch — enough to rank the configurations, not to reach published
scores) and writes ``reports/benchmarks/finetune.{json,md}``. Measures, never asserts.

The "3 selected dims" are picked in this script when no probe results are given: the three
dims with the highest univariate ANOVA F score (``sklearn.feature_selection.f_classif``) on
the final layer's cached CLS vectors of the same training subset (extracted with
``fewdims extract``'s library call). The dev split plays no part in the choice.

Usage: ``python tests/benchmarks/bench_finetune.py [--train-examples 2000] [--epochs 1]
[--max-length 64] [--data-dir ../shared/data/glue]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from extract.datasets import load_split  # noqa: E402
from extract.extractor import ExtractConfig, extract_split  # noqa: E402
from extract.finetune import FinetuneConfig, run_finetune, task_data  # noqa: E402
from extract.model import load_model  # noqa: E402
from probe.cache import Cache  # noqa: E402


def select_dims_on_train(train, model: str, layer: int, max_length: int, k: int) -> dict:
    """Top-k dims by ANOVA F on the training subset's cached CLS vectors (dev never used)."""
    from sklearn.feature_selection import f_classif

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        cache_path = Path(scratch) / "sst2-train.h5"
        config = ExtractConfig(model=model, max_length=max_length, layers=[layer], device="cpu")
        extract_split(train, cache_path, config)
        with Cache.open(cache_path) as cache:
            features = cache.pooled(layer, "cls")  # (n, H) float32, extraction order
            labels = cache.labels
    scores, _ = f_classif(features, labels)
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf))
    return {
        "dims": [int(dim) for dim in order[:k]],
        "f_scores": [float(scores[dim]) for dim in order[:k]],
        "method": f"top-{k} ANOVA F (sklearn f_classif) on layer-{layer} CLS of the training subset",
        "seconds": time.perf_counter() - started,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir",
        default=os.environ.get("FEWDIMS_DATA") or str(REPO.parent / "shared" / "data" / "glue"),
    )
    parser.add_argument("--train-examples", type=int, default=2000)
    parser.add_argument("--eval-examples", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    # One epoch of 2,000 rows is 63 steps: at the CLI defaults (2e-5 / 1e-3) the encoder
    # barely moves (all dims reached 0.694 dev accuracy), so the benchmark trains faster.
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--head-lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: on a 2-core machine shared with other jobs, 2 threads "
        "spin against each other and run slower and more erratically)",
    )
    parser.add_argument("--out-dir", default=str(REPO / "reports" / "benchmarks"))
    parser.add_argument(
        "--out-stem", default="finetune", help="writes <out-dir>/<stem>.json and <stem>.md"
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    started = time.perf_counter()
    train = load_split("sst2", "train", args.data_dir).subset(args.train_examples)
    dev = load_split("sst2", "dev", args.data_dir)
    if args.eval_examples:
        dev = dev.subset(args.eval_examples)
    loaded = load_model("default")
    layer, hidden = loaded.n_layers, loaded.hidden_size
    selection = select_dims_on_train(train, "default", layer, args.max_length, k=3)
    random_dims = sorted(np.random.default_rng(args.seed).choice(hidden, 3, replace=False).tolist())
    configurations = [
        ("all dims, fine-tuned, linear head", {"dims": "all"}),
        (
            "3 selected dims, fine-tuned, linear head",
            {"dims": ",".join(map(str, selection["dims"]))},
        ),
        ("3 random dims, fine-tuned, linear head", {"dims": ",".join(map(str, random_dims))}),
        ("all dims, frozen encoder, mlp2 head", {"dims": "all", "freeze": True, "head": "mlp2"}),
    ]
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, (name, overrides) in enumerate(configurations):
            config = FinetuneConfig(
                model="default",
                layer=layer,
                pooling="cls",
                epochs=args.epochs,
                lr=args.lr,
                head_lr=args.head_lr,
                batch_size=args.batch_size,
                max_length=args.max_length,
                seed=args.seed,
                device="cpu",
                **overrides,
            )
            print(f"[{index + 1}/{len(configurations)}] {name} ...", file=sys.stderr, flush=True)
            run_started = time.perf_counter()
            results = run_finetune(
                [task_data(train, dev)], config, Path(scratch) / f"run{index}.json"
            )
            wall = time.perf_counter() - run_started
            cell = results.cells[0]
            runs.append(
                {
                    "name": name,
                    "dims": cell.dims,
                    "frozen": config.freeze,
                    "head": config.head,
                    "dev_accuracy": cell.scores["eval"]["accuracy"],
                    "wall_seconds": wall,
                    "train_seconds": sum(
                        step["seconds"] - step["eval_seconds"] for step in cell.steps
                    ),
                    "eval_seconds": sum(step["eval_seconds"] for step in cell.steps),
                    "epochs": cell.steps,
                    "weights_changed": results.provenance["weights_sha256"]
                    != results.provenance["weights_sha256_after"],
                }
            )
            print(
                f"    dev accuracy {runs[-1]['dev_accuracy']:.4f}, {wall:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    payload = {
        "benchmark": "finetune",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "model": loaded.name,
        "weights_sha256": loaded.weights_sha256,
        "task": "sst2",
        "train": {
            "source": train.source,
            "n_examples": len(train),
            "subset": f"first {len(train)} rows",
        },
        "eval": {"source": dev.source, "n_examples": len(dev)},
        "layer": layer,
        "pooling": "cls",
        "settings": {
            key: getattr(args, key)
            for key in ("epochs", "max_length", "batch_size", "lr", "head_lr", "seed")
        },
        "selected_dims": selection,
        "random_dims": random_dims,
        "machine": {
            "device": "cpu (no GPU available)",
            "torch_threads": torch.get_num_threads(),
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "load_average_1_5_15_before": load_before,
            "load_average_1_5_15_after": os.getloadavg(),
        },
        "runs": runs,
        "total_seconds": time.perf_counter() - started,
    }
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{args.out_stem}.json"
    json_path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    json_path.with_suffix(".md").write_text(render_markdown(payload), encoding="utf-8")
    print(f"wrote {json_path} and {json_path.with_suffix('.md').name}", file=sys.stderr)
    return 0


def render_markdown(payload: dict) -> str:
    settings = payload["settings"]
    selection = payload["selected_dims"]
    lines = [
        "# Benchmark: fewdims finetune (SST-2, MiniLM, CPU)",
        "",
        f"Model {payload['model']} (weights sha256 {payload['weights_sha256'][:12]}…), layer "
        f"{payload['layer']} CLS, trained on the first {payload['train']['n_examples']} SST-2 "
        f"training rows for {settings['epochs']} epoch(s), evaluated on all "
        f"{payload['eval']['n_examples']} dev sentences. max_length {settings['max_length']}, "
        f"batch size {settings['batch_size']}, encoder lr {settings['lr']}, head lr "
        f"{settings['head_lr']}, seed {settings['seed']}.",
        "",
        f"**No GPU was available: every number is from the CPU** ({payload['machine']['cpu_count']} "
        f"cores, {payload['machine']['torch_threads']} torch threads, shared with other jobs, so "
        "wall times are indicative only; load average "
        f"{payload['machine']['load_average_1_5_15_before'][1]:.1f} before and "
        f"{payload['machine']['load_average_1_5_15_after'][1]:.1f} after, 5-minute).",
        "",
        "| configuration | dims | encoder | head | dev accuracy | vs all dims | wall time (s) "
        "| train (s) | eval (s) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    reference = payload["runs"][0]["dev_accuracy"]
    for run in payload["runs"]:
        dims = ",".join(map(str, run["dims"])) if run["dims"] else "all 384"
        lines.append(
            f"| {run['name']} | {dims} | {'frozen' if run['frozen'] else 'fine-tuned'} | "
            f"{run['head']} | {run['dev_accuracy']:.4f} | {run['dev_accuracy'] - reference:+.4f} | "
            f"{run['wall_seconds']:.0f} | "
            f"{run['train_seconds']:.0f} | {run['eval_seconds']:.0f} |"
        )
    lines += [
        "",
        f"Selected dims {selection['dims']}: no probe results for this model existed, so they "
        f"were chosen in the script — {selection['method']} ({selection['seconds']:.0f} s incl. "
        "extraction); the dev split played no part. Random dims "
        f"{payload['random_dims']} (numpy seed {settings['seed']}).",
        "",
        "Wall time covers loading the model, tokenizing, training and dev evaluation. The frozen "
        "run does no backward pass through the encoder (features under no_grad), hence its speed.",
        "",
        f"Total benchmark time {payload['total_seconds'] / 60:.1f} min. Reproduce with "
        f"`python tests/benchmarks/bench_finetune.py --lr {settings['lr']} --head-lr "
        f"{settings['head_lr']} --epochs {settings['epochs']} --max-length "
        f"{settings['max_length']} --train-examples {payload['train']['n_examples']}`.",
        "",
        "Learning rates: one epoch over 2,000 rows is only 63 optimiser steps. At the CLI "
        "defaults (encoder 2e-5, head 1e-3) the encoder hardly moves in that budget, so the "
        "default benchmark uses 1e-4 / 1e-2; `finetune-lr2e-5.{json,md}` holds the run at the "
        "CLI defaults.",
        "",
    ]
    return "\n".join(lines)


def rerender(json_path: Path) -> Path:
    """Rewrite the Markdown beside a benchmark JSON from the JSON alone (no rerun)."""
    payload = json.loads(json_path.read_text(encoding="utf-8"))
    md_path = json_path.with_suffix(".md")
    md_path.write_text(render_markdown(payload), encoding="utf-8")
    return md_path


if __name__ == "__main__":
    sys.exit(main())
