"""MkDocs hook: the home page is README.md and the changelog page is CHANGELOG.md.

Both live at the top of the repository (where GitHub and PyPI show them), so they are
added to the site at build time, with README's links into ``docs/`` made relative to
the site.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

#: (page in the site, file in the repository)
PAGES = (("index.md", "README.md"), ("changelog.md", "CHANGELOG.md"))


def site_markdown(text: str) -> str:
    """README's Markdown as a page of the site: ``](docs/x.md)`` becomes ``](x.md)`` and
    the top-level files that are pages link to their page."""
    text = re.sub(r"\]\(docs/", "](", text)
    for page, source in PAGES:
        text = text.replace(f"]({source})", f"]({page})")
    return text


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).parent
    for page, source in PAGES:
        text = (root / source).read_text(encoding="utf-8")
        files.append(File.generated(config, page, content=site_markdown(text)))
    return files
