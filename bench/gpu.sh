#!/usr/bin/env bash
# GPU benchmark, under 5 minutes, no downloads: SD 1.5-shaped random model, core vs bare diffusers, eager and
# torch.compile. The lent GPU machines have torch but not diffusers: carry its wheel in .whl/ (bench/README.md).
#   bash bench/gpu.sh               one GPU: core vs diffusers
#   bash bench/gpu.sh --multi-gpu   every GPU: one Ray worker each against one in-process worker (bench/ray.py);
#                                   needs Ray's wheel in .whl/ too where Ray is not installed
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import diffusers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
if [ "${1:-}" = "--multi-gpu" ]; then
  shift
  gpus=$(python3 -c "import torch; print(torch.cuda.device_count())")
  exec python3 bench/ray.py --device cuda --ckpt sd15 --jobs $((4 * gpus)) "$@"
fi
exec python3 bench/gpu_bench.py "$@"
