#!/usr/bin/env bash
# The constraint scorer's larger configuration (not run yet: no GPU has been lent to this work):
# five times the generated pairs from SciFact's documents (whole abstracts, 180 words), the
# scorer trained two epochs at 256 tokens and batch 32 on the exclusion kinds, then the whole
# benchmark (NegConstraint, generated dev pairs, SciFact, latency) with it, written beside the CPU
# figures as benchmarks/results/constraints-gpu.{json,md}. Still no NegConstraint query, document
# or judgment is used to build or choose anything.
#
#   APTRANK_DATA=../shared/data bash benchmarks/constraints_gpu.sh
source "$(dirname "$0")/gpu_env.sh"
APTRANK=${APTRANK:-.venv/bin/aptrank}
WORK=${WORK:-runs/constraints-gpu}
mkdir -p "$WORK" benchmarks/results/constraints-gpu
"$APTRANK" constraints generate scifact --out "$WORK/pairs" --n 30000 --dev 2000 --max-words 180
"$APTRANK" constraints train --pairs "$WORK/pairs" --out "$WORK/scorer" --max-length 256 \
    --epochs 2 --batch-size 32 --lr 3e-5 --no-progress
"$PY" benchmarks/constraints.py --model "$WORK/scorer" --pairs "$WORK/pairs" --max-length 256 \
    --results benchmarks/results/constraints-gpu --force "$@"
