#!/usr/bin/env bash
# The GPU configuration of the RL benchmark (not run in CI): Qwen2.5-Coder-0.5B-Instruct as the
# policy, 300 GRPO steps of 64 completions (8 per prompt), every SciFact item summarized (no
# sub-corpus). Policy, rollouts, rewrites and summaries run on the GPU (APTRANK_DEVICE; TRL picks
# bf16 there through GRPOTrainConfig.precision="auto"); BM25 rewards stay on the CPU. Resumable
# like the CPU run. Writes benchmarks/results/rl-gpu.{json,md,png}. Arguments after the script's
# override its defaults (argparse keeps the last value), which is how the CPU test runs it tiny.
#
#   APTRANK_DATA=../shared/data bash benchmarks/rl_gpu.sh
#
# The packaged Qwen GGUF is ~400 MB: a lent GPU machine without internet needs it in its cache
# (APTRANK_CACHE/models) beforehand.
source "$(dirname "$0")/gpu_env.sh"
"$PY" benchmarks/rl.py --name rl-gpu \
    --policy qwen2.5-coder-0.5b-instruct --steps 300 --generations 8 --batch 64 \
    --summary-steps 300 --summary-tokens 40 --summary-words 150 --summary-batch 64 --summary-lr 5e-6 \
    --lr 5e-6 --beta 0.04 --summary-docs 0 --eval-batch 64 "$@"
