"""Benchmark: fine-tuning throughput of ``fewdims finetune``'s training loop vs a bare loop.

Not a test: it measures and writes ``reports/benchmarks/finetune_throughput.{json,md}``.
Run with::

    python tests/benchmarks/bench_finetune_throughput.py [--model mpnet] [--batches 4]
        [--dims all] [--layer 12] [--max-length 128] [--batch-size 32]

Why: at 768 dims x 12 layers a CPU fine-tune of 1,000 rows takes minutes, so before long
runs we check that the loop wastes nothing. On the same SST-2 training batches (the first
``--batches`` of epoch 1 in ``train_epoch``'s seeded order), three loops are timed, each
after one untimed warm-up batch:

* ``fewdims``: ``extract.finetune.training.train_epoch`` on a ``SelectedDimsModel`` (collate,
  pooling, dims head, loss, clipping, fused AdamW, scheduler, loss read-back per batch);
* ``bare``: the same padded batches through the plain Hugging Face encoder, CLS → one
  ``nn.Linear``, cross-entropy, backward, clipping, fused AdamW — nothing else;
* ``bare, length-grouped``: the same rows, batched by length (all rows sorted at once), to
  price the padding of shuffled batches;
* ``fewdims, --group-by-length``: ``train_epoch`` with ``group_by_length=True`` (the fix);
* ``bare-same-grouped``: the bare loop over exactly the batches ``fewdims-grouped`` trains on
  (its groups of 50 batches sorted by length, in its order), so that fewdims' overhead with
  grouping on is measured on the same tokens, not against another padding share.

``--loops`` picks which of them run (default: all); ``--repeats N`` times each loop N times,
interleaved, and reports the median by CPU seconds (all repeats are kept in the JSON).

Reported: real tokens/s (padding excluded) and padded tokens/s for each, the padding share,
and fewdims' overhead against the bare loop. The machine is shared; the load average is
recorded beside the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

REPORT_DIR = REPO / "reports" / "benchmarks"
OUT_NAME = "finetune_throughput"


def token_counts(encoded, batches: list[np.ndarray]) -> tuple[int, int]:
    """(real tokens, padded tokens) of ``batches``: padded = batch size x longest member."""
    lengths = encoded.lengths
    real = int(sum(lengths[batch].sum() for batch in batches))
    padded = int(sum(len(batch) * lengths[batch].max() for batch in batches))
    return real, padded


def bare_loop(
    encoder, encoded, batches: list[np.ndarray], n_outputs: int, lr: float
) -> tuple[float, float]:
    """(wall, CPU) seconds for forward + backward + clip + AdamW over ``batches`` (first
    one untimed)."""
    import torch
    from torch import nn

    from extract.extractor import pad_batch

    head = nn.Linear(encoder.config.hidden_size, n_outputs)
    parameters = [p for p in encoder.parameters() if p.requires_grad] + list(head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=lr, fused=True)
    encoder.train()
    started = cpu_started = 0.0
    for index, example_ids in enumerate(batches):
        if index == 1:
            started, cpu_started = time.perf_counter(), time.process_time()
        padded = pad_batch(encoded, example_ids, encoded.pad_id)
        hidden = encoder(
            input_ids=torch.from_numpy(padded["input_ids"]),
            attention_mask=torch.from_numpy(padded["attention_mask"]),
        ).last_hidden_state
        loss = nn.functional.cross_entropy(
            head(hidden[:, 0]), torch.from_numpy(encoded.labels[example_ids])
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(parameters, 1.0)
        optimizer.step()
    return time.perf_counter() - started, time.process_time() - cpu_started


def fewdims_loop(
    loaded, encoded, task_name: str, args, n_outputs: int, group_by_length: bool = False
) -> tuple[float, float]:
    """(wall, CPU) seconds of ``train_epoch`` over the batches after the first (timed from
    the per-batch progress callback)."""
    import torch

    from extract.finetune.dims import parse_dims
    from extract.finetune.head import SelectedDimsModel
    from extract.finetune.training import StageTask, build_optimizer, train_epoch

    choice = parse_dims(args.dims)
    model = SelectedDimsModel(
        loaded.model,
        layer=args.layer,
        pooling="cls",
        selected_dims=choice.dims,
        hidden_size=loaded.hidden_size,
        frozen=False,
    )
    model.add_head("0", "linear", n_outputs)
    task = StageTask(task_name, "0", encoded, encoded, ("accuracy",), n_outputs, False)
    optimizer, scheduler = build_optimizer(
        model, "0", lr=1e-4, head_lr=1e-2, weight_decay=0.0, total_steps=10_000, warmup_ratio=0.0
    )
    stamps: list[tuple[float, float]] = []

    def progress(event) -> None:
        stamps.append((time.perf_counter(), time.process_time()))

    try:
        train_epoch(
            model,
            task,
            optimizer,
            scheduler,
            None,
            torch.device("cpu"),
            batch_size=args.batch_size,
            seed=0,
            stage=1,
            n_stages=1,
            epoch=1,
            n_epochs=1,
            progress=progress,
            group_by_length=group_by_length,
        )
    finally:
        model.restore_encoder()
    # batches 2..n (the first batch is the warm-up)
    return stamps[-1][0] - stamps[0][0], stamps[-1][1] - stamps[0][1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mpnet")
    parser.add_argument("--data-dir", default=os.environ.get("FEWDIMS_DATA"))
    parser.add_argument("--batches", type=int, default=4, help="timed batches (+1 warm-up)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--layer", type=int, default=12)
    parser.add_argument("--dims", default="all")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--loops",
        default="fewdims,bare,bare-grouped,fewdims-grouped,bare-same-grouped",
        help="which loops to time",
    )
    parser.add_argument("--repeats", type=int, default=1, help="median of N timings per loop")
    parser.add_argument("--out-stem", default=OUT_NAME, help="writes <stem>.json and <stem>.md")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from extract.datasets import load_split
    from extract.finetune.batches import encode_split, training_order
    from extract.model import load_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = [round(v, 2) for v in os.getloadavg()]
    n_rows = (args.batches + 1) * args.batch_size
    train = load_split("sst2", "train", args.data_dir).subset(n_rows)
    loaded = load_model(args.model)
    encoded = encode_split(loaded.tokenizer, train, args.max_length)
    shuffled = training_order(n_rows, args.batch_size, 0, 1, 1)  # train_epoch's own order
    by_length = np.argsort(-encoded.lengths, kind="stable")
    grouped = [by_length[i : i + args.batch_size] for i in range(0, n_rows, args.batch_size)]
    grouped = [grouped[0], *list(np.random.default_rng(0).permutation(grouped[1:]))]

    own_grouped = training_order(n_rows, args.batch_size, 0, 1, 1, encoded.lengths)
    loops = {
        "fewdims": lambda: (fewdims_loop(loaded, encoded, "sst2", args, 2), shuffled[1:]),
        "bare": lambda: (bare_loop(loaded.model, encoded, shuffled, 2, 1e-4), shuffled[1:]),
        "bare-grouped": lambda: (bare_loop(loaded.model, encoded, grouped, 2, 1e-4), grouped[1:]),
        "fewdims-grouped": lambda: (
            fewdims_loop(loaded, encoded, "sst2", args, 2, group_by_length=True),
            own_grouped[1:],
        ),
        "bare-same-grouped": lambda: (
            bare_loop(loaded.model, encoded, own_grouped, 2, 1e-4),
            own_grouped[1:],
        ),
    }
    names = args.loops.split(",")
    repeats: dict[str, list[tuple[tuple[float, float], list[np.ndarray]]]] = {n: [] for n in names}
    for _ in range(args.repeats):  # interleaved, so a load change hits every loop alike
        for name in names:
            repeats[name].append(loops[name]())
    timed = {
        name: sorted(runs, key=lambda run: run[0][1])[len(runs) // 2]
        for name, runs in repeats.items()
    }
    rows = []
    for name, ((seconds, cpu_seconds), batches) in timed.items():
        real, padded = token_counts(encoded, batches)
        rows.append(
            {
                "loop": name,
                "repeats_cpu_seconds": [run[0][1] for run in repeats[name]],
                "repeats_seconds": [run[0][0] for run in repeats[name]],
                "seconds": seconds,
                "cpu_seconds": cpu_seconds,
                "real_tokens_per_cpu_s": real / cpu_seconds,
                "batches": len(batches),
                "real_tokens": real,
                "padded_tokens": padded,
                "padding_share": 1 - real / padded,
                "real_tokens_per_s": real / seconds,
                "padded_tokens_per_s": padded / seconds,
                "seconds_per_row": seconds / sum(len(b) for b in batches),
            }
        )
    payload: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": args.threads,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "model": loaded.name,
        "weights_sha256": loaded.weights_sha256,
        "settings": vars(args),
        "rows": rows,
        "loops": list(timed),
        "load_before": load_before,
        "load_after": [round(v, 2) for v in os.getloadavg()],
    }
    by_name = {row["loop"]: row for row in rows}
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    (REPORT_DIR / f"{args.out_stem}.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [
        "# Fine-tuning throughput: fewdims' training loop vs a bare loop",
        "",
        f"Written by `tests/benchmarks/bench_finetune_throughput.py` on {payload['machine']} "
        f"({payload['cpus']} CPUs, torch threads {args.threads}), {payload['date']}. "
        f"{loaded.name} (weights {loaded.weights_sha256[:12]}…), SST-2 train, "
        f"{args.batches} timed batches of {args.batch_size} after one warm-up batch "
        f"(median of {args.repeats} interleaved repeats by CPU seconds), layer "
        f"{args.layer} CLS, dims {args.dims}, max length {args.max_length}, CPU float32. "
        f"Shared machine: load average {load_before} before, {payload['load_after']} after.",
        "",
        "| loop | wall s | CPU s | real tokens per CPU s | wall s per row | real tokens/s (wall) | padded tokens/s (wall) | padding share |",
        "|---|---|---|---|---|---|---|---|",
        *(
            f"| {r['loop']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
            f"{r['real_tokens_per_cpu_s']:.0f} | {r['seconds_per_row']:.2f} | "
            f"{r['real_tokens_per_s']:.0f} | {r['padded_tokens_per_s']:.0f} | "
            f"{r['padding_share']:.0%} |"
            for r in rows
        ),
        "",
        "Compare loops by CPU seconds (one torch thread, so CPU time is compute time), which "
        "other jobs on the machine inflate far less than wall time. "
        + "; ".join(
            f"{a} / {b}: **{by_name[a]['cpu_seconds'] / by_name[b]['cpu_seconds']:.2f}×** CPU"
            for a, b in (
                ("fewdims", "bare"),
                ("bare", "bare-grouped"),
                ("fewdims", "fewdims-grouped"),
                ("fewdims-grouped", "bare-same-grouped"),
            )
            if a in by_name and b in by_name
        )
        + " (fewdims / bare = 1.00 means no overhead).",
        "",
    ]
    (REPORT_DIR / f"{args.out_stem}.md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
