#!/usr/bin/env bash
# Fresh machine -> running app: create .venv, install, launch (on the built-in model when no checkpoint is found).
# Flags go to app.py, e.g. ./webui.sh --listen --port 7861 --ckpt models/Stable-diffusion/my-model
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup_env.sh
for arg in "$@"; do  # Ray is optional: installed when the workers are asked for
  case "$arg" in --ray|--ray=*) install_if_changed ray requirements-ray.txt ;; esac
done
exec python app.py "$@"
