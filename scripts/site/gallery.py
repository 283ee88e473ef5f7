"""MkDocs hook: the gallery's pictures are drawn at build time by the page's own code.

``docs/gallery.md`` is a page of Python blocks (run as written by tests/test_docs.py
too).  Here the blocks run in order, in one namespace, in a temporary folder; every
image a block writes (``path="forest.png"``) is added to the site as
``gallery/<name>`` and shown right after the block.  A section whose block is preceded
by ``<!-- requires: NAME -->`` is left out (with a note in the build log) while
``ipdmeta.NAME`` does not exist, e.g. a function another change is adding; any other
error in a block fails the build.  A new picture is a new section with its block.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import matplotlib
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

PAGE = "gallery.md"
FOLDER = "gallery"
IMAGES = (".png", ".svg", ".jpg")
BLOCK = re.compile(r"((?:<!--\s*requires:\s*([\w.]+)\s*-->\s*\n)?)```python\n(.*?)^```[ \t]*$",
                   re.S | re.M)
log = logging.getLogger("mkdocs.plugins.ipdmeta.gallery")
_page: dict[str, str] = {}


def _available(name: str) -> bool:
    obj: Any = importlib.import_module("ipdmeta")
    for part in name.removeprefix("ipdmeta.").split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def _sections(text: str) -> list[str]:
    return re.split(r"(?m)^(?=## )", text)


def render(text: str, folder: Path) -> tuple[str, dict[str, bytes], list[str]]:
    """Run the page's blocks in ``folder``: (the page with its pictures, the pictures by
    name, the titles of the sections left out)."""
    matplotlib.use("Agg")
    namespace: dict[str, Any] = {"__name__": "gallery"}
    pictures: dict[str, bytes] = {}
    skipped: list[str] = []
    out: list[str] = []
    here = Path.cwd()
    os.chdir(folder)
    try:
        for section in _sections(text):
            title = section.split("\n", 1)[0].lstrip("# ").strip()
            missing = [m.group(2) for m in BLOCK.finditer(section)
                       if m.group(2) and not _available(m.group(2))]
            if missing:
                skipped.append(f"{title} (needs ipdmeta.{', ipdmeta.'.join(missing)})")
                continue
            out.append(BLOCK.sub(lambda m: _run(m, namespace, folder, pictures), section))
    finally:
        os.chdir(here)
    return "".join(out), pictures, skipped


def _run(match: re.Match[str], namespace: dict[str, Any], folder: Path,
         pictures: dict[str, bytes]) -> str:
    code = match.group(3)
    before = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    try:
        exec(compile(code, f"docs/{PAGE}", "exec"), namespace)
    except Exception as err:
        raise PluginError(f"docs/{PAGE}: a gallery block failed ({type(err).__name__}: "
                          f"{err}):\n{code}") from err
    new = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGES
                 and before.get(p) != p.stat().st_mtime_ns)
    if not new:
        return f"```python\n{code}```"
    shown = []
    for p in new:
        pictures[p.name] = p.read_bytes()
        shown.append(f"![{p.stem.replace('_', ' ')}]({FOLDER}/{p.name})")
    return f"```python\n{code}```\n\n" + "\n\n".join(shown)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    source = Path(config.docs_dir) / PAGE
    if not source.exists():
        return files
    with tempfile.TemporaryDirectory() as tmp:
        text, pictures, skipped = render(source.read_text(encoding="utf-8"), Path(tmp))
    for name, content in pictures.items():
        files.append(File.generated(config, f"{FOLDER}/{name}", content=content))
    for title in skipped:
        log.info("gallery: section '%s' left out", title)
    _page[PAGE] = text
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri == PAGE and PAGE in _page:
        return _page[PAGE]
    return markdown
