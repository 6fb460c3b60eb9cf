#!/usr/bin/env bash
# Fresh machine -> the whole test suite: the same set-up as webui.sh plus the test dependencies, then pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup_env.sh
install_if_changed test requirements.txt requirements-nodeps.txt requirements-test.txt requirements-ray.txt
# The samplers' reference in the tests is k-diffusion's own code. Its package imports its training and evaluation
# tools (torchvision, CLIP, wandb ...) when imported whole, so it comes without them; the tests load its sampler module.
python -m pip show k-diffusion 2>/dev/null | grep -q '^Version: 0.1.1.post1$' \
  || python -m pip install -q --no-deps k-diffusion==0.1.1.post1
# The browser tests drive Debian's Chromium (never a downloaded browser); as root, install it when missing.
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Debian's chromium for the browser tests"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# Two cores: one torch thread per process keeps a busy neighbour from making OpenMP spin.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec python -m pytest -q -p no:cacheprovider tests "$@"
