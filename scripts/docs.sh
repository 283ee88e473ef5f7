#!/usr/bin/env sh
# Build the documentation site into ./site (strict: a broken link, a missing reference or a
# failing gallery block is an error), in a virtual environment with the `docs` extra.
# Usage: scripts/docs.sh            build (open site/index.html)
#        scripts/docs.sh serve      live preview on http://127.0.0.1:8000
set -eu
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e ".[docs]"
export NO_MKDOCS_2_WARNING=1 MPLBACKEND=Agg
if [ "${1:-build}" = serve ]; then
    exec "$VENV/bin/mkdocs" serve
fi
"$VENV/bin/mkdocs" build --strict --site-dir "${SITE_DIR:-site}"
