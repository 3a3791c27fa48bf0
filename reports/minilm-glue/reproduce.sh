#!/usr/bin/env bash
# Rebuild reports/minilm-glue/ from scratch: the packaged all-MiniLM-L6-v2 on every GLUE task
# available offline (SST-2, CoLA, STS-B, WNLI; QNLI has only dev here, so it is split in two).
# Frozen probes for every task; fine-tuning runs for the paper's five findings on SST-2
# (plus CoLA / STS-B with the best pair and all dims). CPU only; about an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/../.."
export FEWDIMS_DATA="${FEWDIMS_DATA:-../shared/data/glue}" HF_HUB_OFFLINE=1
OUT=reports/minilm-glue
RES=$OUT/results
mkdir -p "$RES"
METHODS=full,rank,pairs,greedy,backward,random,control

# 1. Frozen probes. SST-2 train is sampled (20,000 of 67,349 rows, seed 0) to keep the cache ~1.5 GB.
if [ ! -f "$RES/wnli-probe.json" ]; then
    fewdims run --task sst2,cola,stsb,wnli --max-train-examples 20000 --methods "$METHODS" --out "$OUT/.probe-run"
    cp "$OUT"/.probe-run/results/*-probe.json "$OUT"/.probe-run/results/*-probe.predictions.npz "$RES"/
fi
if [ ! -f "$RES/qnli-probe.json" ]; then
    fewdims run --task qnli --train-from-dev 0.5 --methods "$METHODS" --out "$OUT/.qnli-run"
    cp "$OUT"/.qnli-run/results/*-probe.json "$OUT"/.qnli-run/results/*-probe.predictions.npz "$RES"/
fi

# 1b. Token rows, out of core: every SST-2 word token is a row labelled with its sentence's label.
CACHES=data/features/sentence-transformers__all-MiniLM-L6-v2
if [ ! -f "$RES/sst2-tokens-probe.json" ]; then
    fewdims probe --train "$CACHES/sst2-train-n20000-s0.h5" --eval "$CACHES/sst2-dev.h5" \
        --pooling tokens --methods full,pairs,greedy --k 3 --out "$RES/sst2-tokens-probe.json"
fi

# 1c. Description length (MDL, online code) at SST-2's last layer, mean pooling: all dims vs
#     the best pair vs greedy's 3 dims (10 all-dims fits per slice, so one slice only).
if [ ! -f "$RES/sst2-mdl-probe.json" ]; then
    fewdims probe --train "$CACHES/sst2-train-n20000-s0.h5" --eval "$CACHES/sst2-dev.h5" \
        --layers 6 --pooling mean --methods mdl --k 3 --out "$RES/sst2-mdl-probe.json"
fi

# 2. Fine-tuning (1,500 training rows, 2 epochs, max length 64: CPU budget; say so in the report).
#    lr 1e-4 encoder / 1e-2 head: at 2e-5 a 1,500-row run barely moves (tests/benchmarks/bench_finetune.py).
#    The headline pair (best pair vs all dims on SST-2) runs 3 seeds (mean ± sd); the rest seed 0.
FT=(--max-train-examples 1500 --epochs 2 --max-length 64 --lr 1e-4 --head-lr 1e-2)
ft() { local name=$1; shift; [ -f "$RES/$name.json" ] || fewdims finetune "${FT[@]}" --seed 0 "$@" --out "$RES/$name.json"; }
ft3() { local name=$1; shift; [ -f "$RES/$name.json" ] || fewdims finetune "${FT[@]}" --seeds 0,1,2 "$@" --out "$RES/$name.json"; }
ft3 sst2-ft-bestpair  --task sst2 --dims-from "$RES/sst2-probe.json:::pairs"
ft3 sst2-ft-all-cls   --task sst2 --dims all --pooling cls
ft sst2-ft-all-maxnorm --task sst2 --dims all --pooling maxnorm
ft sst2-ft-frozen-mlp2 --task sst2 --dims all --pooling cls --freeze --head mlp2
ft sst2-ft-pair-layer2 --task sst2 --dims-from "$RES/sst2-probe.json:2:cls:pairs"
ft sst2-ft-pair-layer6 --task sst2 --dims-from "$RES/sst2-probe.json:6:cls:pairs"
ft sst2-then-cola     --task sst2 --then-task cola --dims all --pooling cls
ft cola-ft-bestpair   --task cola --dims-from "$RES/cola-probe.json:::pairs"
ft cola-ft-all        --task cola --dims all --pooling cls
ft cola-ft-bestpair-balanced --task cola --dims-from "$RES/cola-probe.json:::pairs" --balanced
ft cola-ft-all-balanced      --task cola --dims all --pooling cls --balanced
ft stsb-ft-bestpair   --task stsb --dims-from "$RES/stsb-probe.json:::pairs"
ft stsb-ft-all        --task stsb --dims all --pooling cls

# 3. One report over everything.
fewdims report "$RES"/*.json --out "$OUT"
rm -rf "$OUT/.probe-run" "$OUT/.qnli-run"
