# Sourced by webui.sh and test.sh: create .venv when missing, install what changed, activate it.
# TORCH_COMMAND overrides how torch is installed (as in A1111's webui.sh), e.g. for a ROCm or another CUDA build.
# shellcheck shell=bash
set -euo pipefail
python_cmd="${python_cmd:-python3}"
venv_dir="${venv_dir:-.venv}"
TORCH_COMMAND="${TORCH_COMMAND:-pip install torch==2.14.1 torchvision==0.29.1}"

if [ ! -x "$venv_dir/bin/python" ]; then
  echo "Creating the virtual environment in $venv_dir"
  "$python_cmd" -m venv "$venv_dir"
fi
# shellcheck disable=SC1091
source "$venv_dir/bin/activate"

install_if_changed() {  # $1: stamp name, rest: files whose content decides
  local stamp="$venv_dir/.installed-$1" digest
  digest=$(cat "${@:2}" <(echo "$TORCH_COMMAND") | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" != "$digest" ]; then
    if [ "$1" = runtime ]; then
      echo "Installing torch: $TORCH_COMMAND"
      python -m pip install -q --upgrade pip
      $TORCH_COMMAND
    fi
    echo "Installing ${*:2}"
    # torch and torchvision came from TORCH_COMMAND: the pins in requirements.txt must not replace that build
    for f in "${@:2}"; do
      flags=(); [[ "$f" == *nodeps* ]] && flags=(--no-deps)
      python -m pip install -q "${flags[@]}" -r <(grep -v -E '^(torch|torchvision)==' "$f")
    done
    echo "$digest" > "$stamp"
  fi
}
install_if_changed runtime requirements.txt requirements-nodeps.txt
