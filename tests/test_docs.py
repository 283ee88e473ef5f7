"""Every code block in README.md and docs/ runs as written.

Python blocks of one file run in order in one namespace (like a notebook); shell
blocks run command by command with ``bash``; both in a temporary folder that holds
the bundled datasets as CSV files (``hypertension.csv``, ``weight_gain.csv``,
``weight_gain_binary.csv``, ``bcg.csv``), with the ``ipdmeta`` command of this
interpreter first on the PATH.  A block that is deliberately not run is preceded by
an HTML comment ``<!-- not run: reason -->`` (the reason is required); a block
preceded by ``<!-- requires: name -->`` runs once ``ipdmeta.name`` exists (the
gallery shows plots of features still being added; the site's build leaves those
sections out the same way); blocks without a language or in ``text`` are output,
not code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

import ipdmeta as ipd

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
FENCE = re.compile(r"^([ \t]*)```([\w-]*)[^\n]*\n(.*?)^[ \t]*```\s*$", re.S | re.M)
SKIP = re.compile(r"<!--\s*not run:\s*(\S.*?)\s*-->\s*$", re.S)
REQUIRES = re.compile(r"<!--\s*requires:\s*([\w.]+)\s*-->\s*$")
PYTHON = {"python", "py", "pycon"}
SHELL = {"sh", "bash", "shell", "console"}


def _exists(name: str) -> bool:
    obj = ipd
    for part in name.removeprefix("ipdmeta.").split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def blocks(path: Path) -> list[tuple[int, str, str, str | None]]:
    """(line, language, code, skip reason) of every fenced block of ``path``."""
    text = path.read_text(encoding="utf-8")
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip().rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        reason = skip.group(1) if skip else None
        needs = REQUIRES.search(before)
        if needs and not _exists(needs.group(1)):
            reason = f"needs ipdmeta.{needs.group(1)}, not in this version"
        line = text.count("\n", 0, m.start()) + 1
        code = textwrap.dedent(m.group(3)) if m.group(1) else m.group(3)
        out.append((line, m.group(2).lower(), code, reason))
    return out


def shell_commands(code: str) -> list[str]:
    """Commands of a shell block: continuation lines joined, comments and prompts removed."""
    joined = re.sub(r"\s*\\\n\s*", " ", code)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        if line and not line.startswith("#"):
            out.append(line)
    return out


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    for name in ipd.datasets.list()["name"]:
        ipd.datasets.load(name).to_csv(folder / f"{name}.csv", index=False)
    return folder


def _ids(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_the_runner_finds_blocks_and_markers() -> None:
    md = ("text\n<!-- not run: installs a venv -->\n```sh\n./scripts/demo.sh\n```\n"
          "```python\nx = 1\n```\n```\noutput\n```\n"
          "<!-- requires: pool -->\n```python\ny = 1\n```\n"
          "<!-- requires: no_such_function -->\n```python\nz = 1\n```\n")
    tmp = ROOT / "tests" / "_runner_probe.md"
    try:
        tmp.write_text(md)
        found = blocks(tmp)
    finally:
        tmp.unlink()
    assert [(b[1], b[3]) for b in found] == [
        ("sh", "installs a venv"), ("python", None), ("", None), ("python", None),
        ("python", "needs ipdmeta.no_such_function, not in this version")]
    assert shell_commands("ipdmeta run a \\\n  --b c\n# note\n$ ls") == [
        "ipdmeta run a --b c", "ls"]


#: the pages with code to run (architecture.md and the formula pages have none)
DOCS_WITH_CODE = [p for p in DOCS if any(b[1] in PYTHON | SHELL for b in blocks(p))]


def test_pages_with_code_are_found() -> None:
    assert ROOT / "README.md" in DOCS_WITH_CODE and len(DOCS_WITH_CODE) >= 15


@pytest.mark.parametrize("path", DOCS_WITH_CODE, ids=_ids)
def test_code_blocks_run(path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    found = blocks(path)
    code_blocks = [b for b in found if b[1] in PYTHON | SHELL]
    folder = workdir / path.stem
    folder.mkdir(exist_ok=True)
    for csv in workdir.glob("*.csv"):
        target = folder / csv.name
        if not target.exists():
            target.write_bytes(csv.read_bytes())
    monkeypatch.chdir(folder)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}"
                                 f"{os.environ.get('PATH', '')}", "MPLBACKEND": "Agg"}
    namespace: dict = {"__name__": f"docs_{path.stem}"}
    for line, lang, code, skip in code_blocks:
        if skip is not None:
            continue
        where = f"{_ids(path)}:{line}"
        if lang in PYTHON:
            try:
                exec(compile(code, where, "exec"), namespace)
            except Exception as err:   # the block's own error, with where it is
                raise AssertionError(f"{where}: {type(err).__name__}: {err}") from err
        else:
            for cmd in shell_commands(code):
                res = subprocess.run(["bash", "-c", cmd], cwd=folder, env=env,
                                     capture_output=True, text=True, timeout=600)
                assert res.returncode == 0, (f"{where}: `{cmd}` exited {res.returncode}\n"
                                             f"{res.stderr[-2000:]}")
