# Sourced by the *_gpu.sh scripts: stop on the first error, run from the repository root with
# the project's interpreter (PY, default .venv/bin/python), send models to APTRANK_DEVICE
# (default cuda), and refuse to start without a visible CUDA GPU unless APTRANK_DEVICE=cpu
# (which is how the tests run these scripts tiny).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PY:-.venv/bin/python}
export APTRANK_DEVICE=${APTRANK_DEVICE:-cuda}
if [ "$APTRANK_DEVICE" != cpu ]; then
    "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA GPU visible')"
fi
