"""MkDocs hook: the gallery's pictures are drawn at build time by the page's own code.

``docs/gallery.md`` is a page of Python blocks (run as written by tests/test_docs.py
too).  Here the blocks run in order, in one namespace, in a temporary folder; every
image a block writes (``path="forest.png"``) is added to the site as
``gallery/<name>`` and shown right after the block.  An error in a block fails the
build.  A new picture is a new section with its block.
"""

from __future__ import annotations

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
BLOCK = re.compile(r"```python\n(.*?)^```[ \t]*$", re.S | re.M)
_page: dict[str, str] = {}


def render(text: str, folder: Path) -> tuple[str, dict[str, bytes]]:
    """Run the page's blocks in ``folder``: (the page with its pictures, the pictures by
    name)."""
    matplotlib.use("Agg")
    namespace: dict[str, Any] = {"__name__": "gallery"}
    pictures: dict[str, bytes] = {}
    here = Path.cwd()
    os.chdir(folder)
    try:
        page = BLOCK.sub(lambda m: _run(m, namespace, folder, pictures), text)
    finally:
        os.chdir(here)
    return page, pictures


def _run(match: re.Match[str], namespace: dict[str, Any], folder: Path,
         pictures: dict[str, bytes]) -> str:
    code = match.group(1)
    before = {p: p.stat().st_mtime_ns for p in folder.iterdir()}
    try:
        exec(compile(code, f"docs/{PAGE}", "exec"), namespace)
    except Exception as err:
        raise PluginError(f"docs/{PAGE}: a gallery block failed ({type(err).__name__}: "
                          f"{err}):\n{code}") from err
    new = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGES
                  and before.get(p) != p.stat().st_mtime_ns),
                 key=lambda p: (p.stat().st_mtime_ns, p.name))   # in the order drawn
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
        text, pictures = render(source.read_text(encoding="utf-8"), Path(tmp))
    for name, content in pictures.items():
        files.append(File.generated(config, f"{FOLDER}/{name}", content=content))
    _page[PAGE] = text
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if page.file.src_uri == PAGE and PAGE in _page:
        return _page[PAGE]
    return markdown
