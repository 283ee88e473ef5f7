"""MkDocs hook: every page of docs/ is in the navigation.

A page listed under ``nav:`` in mkdocs.yml stays where it is listed; a Markdown file
of docs/ that is not listed is added at the end, under "More" (``docs/methods/`` pages
under "Methods"), so a new page is never built but unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig


def _listed(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return set().union(*(_listed(item) for item in nav)) if nav else set()
    if isinstance(nav, dict):
        return set().union(*(_listed(value) for value in nav.values()))
    return set()


def _section(nav: list[Any], title: str) -> list[Any]:
    for item in nav:
        if isinstance(item, dict) and title in item and isinstance(item[title], list):
            return item[title]
    section: list[Any] = []
    nav.append({title: section})
    return section


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    nav = config.nav
    if not nav:
        return config
    listed = _listed(nav)
    docs = Path(config.docs_dir)
    for path in sorted(docs.rglob("*.md")):
        page = path.relative_to(docs).as_posix()
        if page in listed or any(part.startswith((".", "_")) for part in path.parts):
            continue
        title = "Methods" if page.startswith("methods/") else "More"
        _section(nav, title).append(page)
    return config
