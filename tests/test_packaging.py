"""Packaging metadata: one version, an SPDX licence, package data and the typing marker.

The full check (build the sdist and the wheel, install each into a fresh virtual
environment, run ``ipdmeta demo``) is ``scripts/package.sh``, run by ``.ci/run``.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import ipdmeta

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
PROJECT = PYPROJECT["project"]


def test_version_has_one_source() -> None:
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    attr = PYPROJECT["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "ipdmeta._version.__version__"
    assert ipdmeta.__version__ == ipdmeta._version.__version__
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert f"[{ipdmeta.__version__}]" in changelog


def test_licence_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["license"] == "MIT"                  # not the deprecated table form
    assert all((ROOT / f).is_file() for f in PROJECT["license-files"])
    requires = PYPROJECT["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=") and
               int(r.split(">=")[1].split(".")[0]) >= 77 for r in requires)


def test_package_data_and_typing_marker() -> None:
    package = Path(ipdmeta.__file__).parent
    assert (package / "py.typed").is_file()
    data = PYPROJECT["tool"]["setuptools"]["package-data"]["ipdmeta"]
    assert "py.typed" in data
    shipped = {p.name for pattern in data for p in package.glob(pattern)}
    assert {"bcg.csv", "hypertension.csv", "weight_gain.csv", "weight_gain_binary.csv",
            "make_datasets.py"} <= shipped
    assert {p.name for p in (package / "datasets").glob("*.csv")} <= shipped


def test_urls_classifiers_and_extras() -> None:
    assert {"Homepage", "Documentation", "Source", "Changelog"} <= set(PROJECT["urls"])
    assert "Typing :: Typed" in PROJECT["classifiers"]
    extras = PROJECT["optional-dependencies"]
    assert any(d.startswith("mkdocs-material") for d in extras["docs"])
    assert not any("mkdocs" in d for d in PROJECT["dependencies"])   # docs tools not at runtime
