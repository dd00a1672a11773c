#!/usr/bin/env bash
# The full distillation configuration, for a machine with a CUDA GPU (not run in CI):
# rerank BM25's top-100 (not 30), 10x the synthetic data of the CPU run, bigger batches, and
# the student recipe the dev slice chose (3 epochs, 12 margin triples per synthetic query; the
# CPU run keeps 1 x 6 for its budget, see benchmarks/device/2026-11-27b-h200).
# Models and scores go to the GPU through APTRANK_DEVICE (aptrank.rankers.encoders.default_device);
# the trainers use bf16/fp16 there (CrossEncoderTrainConfig.precision="auto"). Resumable like the
# CPU run: labels in the label store, checkpoints beside each model. Writes
# benchmarks/results/distill-gpu.{json,md,png}.
#
#   APTRANK_DATA=../shared/data bash benchmarks/distill_gpu.sh
source "$(dirname "$0")/gpu_env.sh"
"$PY" benchmarks/distill.py --name distill-gpu \
    --parts teachers judges teach students system throughput \
    --trained trained:all-mpnet-base-v2 --out runs/distill-gpu \
    --depth 100 --synthetic-docs 8000 --sizes 0 500 1000 2000 \
    --batch-size 64 --max-length 256 --pairs 2000 "$@"
