"""MkDocs hook: the API reference, generated from the package (mkdocstrings).

One page per room of ``src/ipdmeta`` (docs/architecture.md): the room's docstring and
every public module in it, with their public functions and classes (names starting
with ``_`` are left out).  ``api/index.md`` lists every name of ``ipdmeta.__all__``
with a link to where it is documented.  A new module or room needs nothing here: it is
found in the source tree.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

#: rooms in the order of the flow (docs/architecture.md); rooms not named here follow
ORDER = ("ipdmeta", "analysis", "stage1", "models", "effects", "onestage", "pooling",
         "plots", "report", "io", "stata", "cli", "datasets")
NAV_TITLE = "API reference"
ROLE = re.compile(r":(?:py:)?[a-z]+:`~?([^`]+)`")


def _source(config: MkDocsConfig) -> Path:
    return Path(config.config_file_path).parent / "src" / "ipdmeta"


def rooms(package: Path) -> dict[str, list[str]]:
    """Room -> its public modules (dotted names), the room's package first.

    Top-level modules (``analysis``, ``errors``...) form the room ``ipdmeta``.
    """
    found: dict[str, list[str]] = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts[-1] == "__main__" or any(p.startswith("_") for p in parts):
            continue
        room = parts[1] if len(parts) > 1 and (package / parts[1]).is_dir() else "ipdmeta"
        found.setdefault(room, []).append(".".join(parts))
    rank = {name: i for i, name in enumerate(ORDER)}
    return {room: sorted(mods, key=lambda m: (m.count("."), m))
            for room, mods in sorted(found.items(), key=lambda r: (rank.get(r[0], 99), r[0]))}


def _summary(obj: Any) -> str:
    doc = inspect.getdoc(obj) or ""
    first = " ".join(doc.split("\n\n", 1)[0].split())
    return ROLE.sub(r"`\1`", first).replace("|", "\\|")


def room_page(room: str, modules: list[str]) -> str:
    """The Markdown of one room's page: mkdocstrings directives."""
    package = modules[0]
    lines = [f"# `{package}`", "", f"::: {package}", "    options:",
             "      show_root_heading: false", "      members: false", ""]
    for module in modules[1:]:
        lines += [f"::: {module}", ""]
    if room == "ipdmeta":
        lines[0] = "# `ipdmeta`: the package and its top-level modules"
    return "\n".join(lines)


def _target(obj: Any) -> str | None:
    if inspect.ismodule(obj):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}.{qualname}" if module and qualname else None


def _kind(obj: Any) -> str:
    if inspect.isclass(obj):
        return "Errors" if issubclass(obj, Exception) else "Classes"
    if inspect.ismodule(obj):
        return "Modules"
    return "Functions" if callable(obj) else "Values"


def index_page(found: dict[str, list[str]]) -> str:
    """``api/index.md``: the public names of ``import ipdmeta as ipd`` and the rooms."""
    ipd = importlib.import_module("ipdmeta")
    lines = ["# API reference", "",
             "`import ipdmeta as ipd` gives the names below (`ipdmeta.__all__`); each links",
             "to its documentation in the page of the room that defines it. The pages are",
             "generated from the docstrings of the installed package "
             f"(version {ipd.__version__}).", ""]
    groups: dict[str, list[str]] = {k: [] for k in ("Functions", "Classes", "Errors",
                                                     "Modules", "Values")}
    for name in ipd.__all__:
        obj = getattr(ipd, name)
        target = _target(obj)
        shown = f"`ipd.{name}`"
        cell = f"[{shown}][{target}]" if target else shown
        what = _summary(obj) if target else f"`{obj!r}`"
        groups[_kind(obj)].append(f"| {cell} | {what} |")
    for title, rows in groups.items():
        if rows:
            lines += [f"## {title}", "", "| name | what it is |", "|---|---|", *rows, ""]
    lines += ["## Rooms", "",
              "The package is laid out along the flow of an analysis "
              "([architecture](../architecture.md)):", ""]
    for room, modules in found.items():
        summary = _summary(importlib.import_module(modules[0]))
        lines.append(f"- [`{modules[0]}`]({room}.md): {summary}")
    return "\n".join(lines) + "\n"


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    pages = ["api/index.md", *(f"api/{room}.md" for room in rooms(_source(config)))]
    for i, item in enumerate(config.nav or []):
        if isinstance(item, dict) and NAV_TITLE in item:
            config.nav[i] = {NAV_TITLE: pages}
    return config


def on_files(files: Files, config: MkDocsConfig) -> Files:
    found = rooms(_source(config))
    files.append(File.generated(config, "api/index.md", content=index_page(found)))
    for room, modules in found.items():
        files.append(File.generated(config, f"api/{room}.md",
                                    content=room_page(room, modules)))
    return files
