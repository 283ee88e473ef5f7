"""Markdown that GitHub shows right but the documentation site (Python-Markdown) would
not: the checks that ``mkdocs build --strict`` cannot make (it builds such pages without
a warning).  The site itself is built strictly by ``.ci/run``."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
ITEM = re.compile(r"^(\s*)([-*+]|\d+\.) ")
MATH = re.compile(r"\$[^$\n]+\$")


def _prose(path: Path) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    out, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            out.append((number, line))
    return out


def list_without_blank_line(lines: list[tuple[int, str]]) -> list[int]:
    """Lines starting like a list item right after a paragraph line: GitHub starts a
    list there, Python-Markdown (the site) runs the line into the paragraph."""
    bad = []
    for (_, before), (number, line) in pairwise(lines):
        if (ITEM.match(line) and not line[0].isspace() and before.strip()
                and not ITEM.match(before) and not before.startswith(("#", " ", "|", "<"))):
            bad.append(number)
    return bad


def bars_in_table_math(lines: list[tuple[int, str]]) -> list[int]:
    """Table rows with ``|`` inside ``$...$``: the table splits the formula into cells
    (write ``\\lvert x \\rvert`` or ``\\mid``)."""
    return [n for n, line in lines if line.lstrip().startswith("|")
            and any("|" in m.group(0) for m in MATH.finditer(line))]


def test_the_checks_find_what_they_look_for() -> None:
    lines = list(enumerate(["Text:", "- item", "", "| a | $|x|$ |", "Fine:", "", "- item"], 1))
    assert list_without_blank_line(lines) == [2]
    assert bars_in_table_math(lines) == [4]


@pytest.mark.parametrize("path", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_renders_on_the_site(path: Path) -> None:
    lines = _prose(path)
    assert list_without_blank_line(lines) == [], (
        f"{path.name}: a line starts like a list item after a paragraph line: put a blank "
        "line before a list, or reflow the text so no line starts with '- ', '* ', '+ ', '1. '")
    assert bars_in_table_math(lines) == [], (
        f"{path.name}: '|' inside $...$ in a table row (use \\lvert ... \\rvert)")
