#!/usr/bin/env bash
# Download, here, the wheels that scripts/gpu_check.sh installs on a GPU machine whose
# Python 3.12 has torch, pytest and numpy but not IPython: IPython and everything it imports,
# graphviz, torchviz and setuptools (torchviz imports distutils). Versions follow .venv when
# it exists (so the GPU run tests what runs here), else the newest. Output: .whl/
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(ipython ipython_pygments_lexers traitlets decorator jedi parso matplotlib-inline
          pexpect ptyprocess prompt_toolkit wcwidth pygments stack_data executing asttokens
          pure_eval psutil typing_extensions graphviz torchviz setuptools)
PIP=(python3 -m pip)
[ -x .venv/bin/python ] && PIP=(.venv/bin/python -m pip)

version() {  # the version installed in .venv, if any
    [ -x .venv/bin/python ] || return 0
    .venv/bin/python - "$1" <<'PY' 2>/dev/null || true
import importlib.metadata, sys
print(importlib.metadata.version(sys.argv[1]))
PY
}

specs=()
for name in "${PACKAGES[@]}"; do
    v=$(version "$name")
    specs+=("${name}${v:+==$v}")
done

mkdir -p .whl
"${PIP[@]}" download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d .whl "${specs[@]}"
ls .whl
