#!/usr/bin/env sh
# Create a virtual environment, install ipdmeta with its test tools, run ruff and the tests.
set -eu
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[test]"
"$VENV/bin/ruff" check src tests benchmarks scripts
"$VENV/bin/python" -m pytest -q "$@"
