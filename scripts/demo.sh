#!/usr/bin/env sh
# Create a virtual environment, install ipdmeta and run the demo analyses into ./output.
set -eu
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e .
"$VENV/bin/ipdmeta" demo --out "${1:-output}"
