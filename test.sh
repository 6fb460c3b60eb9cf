#!/usr/bin/env bash
# Fresh machine -> the whole test suite: the same set-up as webui.sh plus the test dependencies, then pytest.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup_env.sh
install_if_changed test requirements.txt requirements-test.txt
# Two cores: one torch thread per process keeps a busy neighbour from making OpenMP spin.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
exec python -m pytest -q -p no:cacheprovider tests "$@"
