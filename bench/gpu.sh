#!/usr/bin/env bash
# GPU benchmark, under 5 minutes, no downloads: SD 1.5-shaped random model, core vs bare diffusers, eager and
# torch.compile. The lent GPU machines have torch but not diffusers: carry its wheel in .whl/ (bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import diffusers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
exec python3 bench/gpu_bench.py "$@"
