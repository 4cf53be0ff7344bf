#!/usr/bin/env bash
# Set up graphmagic for development: .venv with torch (CPU build by default), graphmagic
# editable with its test extra (pytest, selenium, jupyterlab), Graphviz's `dot`, a CJK font,
# Chromium and its driver for the browser tests, and the venv's Jupyter kernel.
# Idempotent: a second run only checks. Overrides (environment):
#   PYTHON=python3.12            interpreter for the venv (>= 3.11)
#   TORCH_SPEC="torch==2.13.0"   the torch requirement installed first
#   TORCH_INDEX_URL=...          index to take torch from (e.g. a CPU-only wheel index)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-}
VENV=.venv
PY=$VENV/bin/python

say() { printf 'setup: %s\n' "$*"; }

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    say "$PYTHON is missing or older than 3.11; set PYTHON=/path/to/python3.11+" >&2
    exit 1
fi

if [ ! -x "$PY" ]; then
    say "creating $VENV with $("$PYTHON" -V 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

# Reinstall only when pyproject.toml or the torch request changed since the last success.
stamp=$VENV/.graphmagic-setup
want="$(cat pyproject.toml) | $TORCH_SPEC | $TORCH_INDEX_URL"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && "$PY" -c 'import graphmagic, torch, nbclient, ipykernel, pytest, selenium, jupyterlab' 2>/dev/null; then
    say "python packages up to date"
else
    say "installing $TORCH_SPEC"
    if [ -n "$TORCH_INDEX_URL" ]; then
        "$PY" -m pip install -q --index-url "$TORCH_INDEX_URL" "$TORCH_SPEC"
    else
        "$PY" -m pip install -q "$TORCH_SPEC"
    fi
    say "installing graphmagic (editable) with its test extra"
    "$PY" -m pip install -q -e ".[test]"
    printf '%s' "$want" > "$stamp"
fi

# Graphviz's dot draws the graphs; Noto CJK renders Chinese labels in them; the browser
# tests (tests/browser) load reports in headless Chromium (Debian's packages).
need=()
command -v dot >/dev/null 2>&1 || need+=(graphviz)
if ! command -v fc-list >/dev/null 2>&1 || [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    need+=(fonts-noto-cjk)
fi
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || command -v google-chrome >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if [ ${#need[@]} -gt 0 ]; then
    sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo -n)
    if command -v apt-get >/dev/null 2>&1 && { [ ${#sudo[@]} -eq 0 ] || sudo -n true 2>/dev/null; }; then
        say "installing ${need[*]} with apt-get"
        if ! { "${sudo[@]}" apt-get update -qq \
               && DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; }; then
            say "apt-get could not install ${need[*]}; graphs need Graphviz's dot," \
                "the browser tests skip without Chromium" >&2
        fi
    else
        say "please install ${need[*]} (Debian/Ubuntu: sudo apt-get install ${need[*]});" \
            "graph pictures need dot, the browser tests Chromium" >&2
    fi
fi

# Register the venv's kernel so Jupyter and `python -m graphmagic run` find it.
"$PY" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (graphmagic)" >/dev/null
say "ready: $("$PY" -c 'import sys, torch; print(f"Python {sys.version.split()[0]}, torch {torch.__version__}")')"
