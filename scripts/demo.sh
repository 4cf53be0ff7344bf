#!/usr/bin/env bash
# Set up (scripts/setup.sh), then run demo.ipynb headless into demo.html.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m graphmagic run demo.ipynb --html demo.html "$@"
