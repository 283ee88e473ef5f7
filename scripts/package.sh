#!/usr/bin/env sh
# Packaging smoke test: build the sdist and the wheel, install each into a fresh virtual
# environment and run `ipdmeta demo` from it.  Fails on a build warning about the
# package metadata, on missing package data, or when the installed command fails.
# Usage: scripts/package.sh [BUILD_PYTHON]   (default: .venv/bin/python, which needs `build`)
set -eu
cd "$(dirname "$0")/.."
PY="${1:-${VENV:-.venv}/bin/python}"
"$PY" -m pip install --quiet build
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$PY" -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
if grep -iE "SetuptoolsDeprecationWarning|license.*deprecat" "$WORK/build.log"; then
    echo "package.sh: the build printed a deprecation warning (above)" >&2; exit 1
fi
WHEEL="$(ls "$WORK"/dist/*.whl)"; SDIST="$(ls "$WORK"/dist/*.tar.gz)"
# package data and the typing marker are in the wheel
LISTING="$("$PY" -m zipfile -l "$WHEEL")"
for f in ipdmeta/py.typed ipdmeta/datasets/hypertension.csv ipdmeta/datasets/weight_gain.csv \
         ipdmeta/datasets/weight_gain_binary.csv ipdmeta/datasets/bcg.csv \
         ipdmeta/datasets/make_datasets.py; do
    printf '%s\n' "$LISTING" | grep -q "^$f " || { echo "package.sh: $f missing from $WHEEL" >&2; exit 1; }
done
VERSION="$("$PY" -c 'import runpy; print(runpy.run_path("src/ipdmeta/_version.py")["__version__"])')"
for kind in wheel sdist; do
    [ "$kind" = wheel ] && artefact="$WHEEL" || artefact="$SDIST"
    python3 -m venv "$WORK/venv-$kind"
    "$WORK/venv-$kind/bin/python" -m pip install --quiet "$artefact"
    (cd "$WORK" && "$WORK/venv-$kind/bin/python" -c "
import ipdmeta, pathlib, sys
assert ipdmeta.__version__ == '$VERSION', ipdmeta.__version__
assert 'site-packages' in ipdmeta.__file__, ipdmeta.__file__
assert (pathlib.Path(ipdmeta.__file__).parent / 'py.typed').exists()
print(f'$kind: ipdmeta {ipdmeta.__version__} from {ipdmeta.__file__}')")
    (cd "$WORK" && "$WORK/venv-$kind/bin/ipdmeta" demo --out "$WORK/demo-$kind" >/dev/null 2>&1) || {
        echo "package.sh: ipdmeta demo failed from the $kind" >&2; exit 1; }
    for f in report.html hypertension_forest.png weight_gain_forest.png weight_gain_binary_forest.png; do
        [ -s "$WORK/demo-$kind/$f" ] || { echo "package.sh: demo from the $kind wrote no $f" >&2; exit 1; }
    done
    echo "$kind: ipdmeta demo wrote $(ls "$WORK/demo-$kind" | wc -l) files"
done
echo "package.sh: sdist and wheel of ipdmeta $VERSION build, install and run"
