"""The HTML report: self-contained structure (checked with html.parser), and opened in
headless Chromium: the page renders, every image decodes, no console or load errors,
the tables are laid out; a full-page screenshot is kept in ``output/ci/report.png``.

Without a chromium binary the browser tests skip, except when
``IPDMETA_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs Chromium): then a
missing or broken browser fails them.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ipdmeta import datasets
from ipdmeta.analysis import ipdmeta
from ipdmeta.pooling.metareg import metareg
from ipdmeta.pooling.pool import pool
from ipdmeta.report import ReportSection, package_versions, render_report, write_report

ROOT = Path(__file__).resolve().parents[1]
#: where the screenshot is kept (output/ is git-ignored; CI keeps it as an artefact)
SCREENSHOT = ROOT / "output" / "ci" / "report.png"
REQUIRE_BROWSER = os.environ.get("IPDMETA_REQUIRE_BROWSER", "") == "1"
CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser",
                                                         "google-chrome", "chrome")) if p),
                None)


class Structure(HTMLParser):
    """Collects what the tests check: tags, attributes, table cells and text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.cells: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("td", "th"):
            self._in_cell = True
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_cell:
            self.cells[-1] += data

    def find(self, tag: str, **attrs: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag
                and all(v in (a.get(k) or "").split() for k, v in attrs.items())]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    res = ipdmeta(datasets.load("weight_gain_binary"), study="studyid",
                  formula="gdm ~ trt + baseline_wt", model="logistic", by="intervention",
                  keep=["study_name"], method="REML", ci="hksj")
    mr = metareg(res.aggregate, "~ C(intervention)")
    bcg = pool(datasets.load_bcg(), estimate="yi", variance="vi", study="trial", measure="RR")
    sections = [
        ReportSection("Gestational diabetes", res, command="ipdmeta run wgb.csv ...",
                      call='res = ipd.ipdmeta(data, study="studyid")',
                      forest={"xlabel": "Odds ratio"}),
        ReportSection("Meta-regression", mr, eform=True),
        ReportSection("BCG <trials> & co", bcg),
    ]
    path = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(sections, path, title="Test report", command="ipdmeta demo")


def test_structure_is_self_contained(report: Path) -> None:
    text = report.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    doc = Structure()
    doc.feed(text)
    assert len(doc.find("style")) == 1
    assert doc.find("link") == [] and doc.find("script") == []
    assert all(not (a.get("src") or "").startswith(("http", "//", "file:"))
               for _, a in doc.tags)
    images = doc.find("img", **{"class": "forest"})
    assert len(images) == 2                                    # two pooled analyses
    for img in images:
        src = img["src"] or ""
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "BCG &lt;trials&gt; &amp; co" in text               # escaped


def test_content(report: Path) -> None:
    doc = Structure()
    doc.feed(report.read_text(encoding="utf-8"))
    assert len(doc.find("table", **{"class": "stage1"})) == 2
    excluded = doc.find("tr", **{"class": "excluded"})
    assert len(excluded) == 5                                 # the not estimable trials
    cells = doc.cells
    assert "no events among the 18 participants" in cells
    assert "separation" in cells
    assert "Random (REML, HKSJ)" in cells and "Prediction interval" in cells
    text = " ".join(doc.text)
    for words in ("Participants", "Events", "Missing values", "Cochran's Q", "τ²",
                  "Subgroups by intervention", "Test of subgroup differences",
                  "Coefficients", "C(intervention)[T.mixed]", "Reproducibility"):
        assert words in text, words
    for package in ("ipdmeta", "numpy", "scipy", "pandas", "matplotlib", "Python"):
        assert package in cells
    assert set(package_versions()) >= {"numpy", "scipy", "pandas", "matplotlib", "Python"}
    assert "ipdmeta run wgb.csv ..." in text and 'res = ipd.ipdmeta(data, study="studyid")' \
        in text


def test_render_single_result_without_forest() -> None:
    m = pool(datasets.load_bcg(), estimate="yi", variance="vi", study="trial")
    text = render_report(ReportSection("BCG", m, forest=False))
    assert "<img" not in text and "Heterogeneity" in text


#: injected first into a copy of the page: records console errors and warnings, script
#: errors, failed loads (images, styles) and CSP violations, then, after load, what the
#: browser shows, as data attributes that --dump-dom prints
PROBE = """<script>
window.__problems = [];
for (const level of ["error", "warn"]) {
  const original = console[level];
  console[level] = (...args) => { __problems.push(`console.${level}: ${args.join(" ")}`);
                                  original.apply(console, args); };
}
addEventListener("error", e => __problems.push(e.target && e.target !== window
  ? `failed to load <${e.target.tagName.toLowerCase()}> ${String(e.target.src || e.target.href
     || "").slice(0, 60)}` : `script error: ${e.message}`), true);
addEventListener("unhandledrejection", e => __problems.push(`unhandled rejection: ${e.reason}`));
document.addEventListener("securitypolicyviolation",
  e => __problems.push(`CSP: ${e.violatedDirective}`));
addEventListener("load", () => {
  const b = document.body;
  b.dataset.problems = JSON.stringify(__problems);
  b.dataset.images = JSON.stringify([...document.images].map(
    i => [i.complete, i.naturalWidth, i.naturalHeight, i.offsetWidth]));
  b.dataset.tables = JSON.stringify([...document.querySelectorAll("table")].map(
    t => [t.className, t.querySelectorAll("tbody tr").length, t.offsetWidth]));
  b.dataset.height = document.documentElement.scrollHeight;
  b.dataset.text = b.innerText.length;
});
</script>"""
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--hide-scrollbars", "--enable-logging=stderr", "--v=0"]


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium with a fresh profile; console messages go to stderr."""
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *CHROME_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120, check=False)


def _unavailable(reason: str) -> None:
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason}; IPDMETA_REQUIRE_BROWSER=1 needs a working Chromium "
                    "(.ci/run installs it with apt-get install chromium)")
    pytest.skip(f"{reason} (the structure is checked by the tests above)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The chromium binary, checked to start and render a page."""
    if CHROMIUM is None:
        _unavailable("no chromium binary (apt-get install chromium)")
    folder = tmp_path_factory.mktemp("chromium")
    page = folder / "hello.html"
    page.write_text("<!DOCTYPE html><title>t</title><p id=x>hello</p>", encoding="utf-8")
    try:
        run = _chromium(["--dump-dom", page.as_uri()], folder / "profile")
    except (OSError, subprocess.TimeoutExpired) as err:
        _unavailable(f"{CHROMIUM} cannot start: {err}")
    if run.returncode != 0 or "hello" not in run.stdout:
        _unavailable(f"{CHROMIUM} cannot render a page (exit {run.returncode}): "
                     f"{run.stderr[-1500:]}")
    return str(CHROMIUM)


@dataclass(frozen=True)
class Shown:
    """What the browser showed (from the probe) and what it logged."""

    problems: list[str]
    images: list[list[int]]
    tables: list[list]
    height: int
    text: int
    console: list[str]


def _open(page: Path, folder: Path) -> Shown:
    probe = folder / f"probe-{page.name}"
    text = page.read_text(encoding="utf-8")
    head = text.index("<head>") + len("<head>") if "<head>" in text else 0
    probe.write_text(text[:head] + PROBE + text[head:], encoding="utf-8")
    dom = _chromium(["--dump-dom", probe.as_uri()], folder / f"profile-{page.stem}")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = Structure()
    parsed.feed(dom.stdout)
    body = parsed.find("body")[0]
    assert "data-problems" in body, "the probe did not run: " + dom.stdout[:500]
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    return Shown(problems=json.loads(body["data-problems"] or "[]"),
                 images=json.loads(body["data-images"] or "[]"),
                 tables=json.loads(body["data-tables"] or "[]"),
                 height=int(body["data-height"] or 0), text=int(body["data-text"] or 0),
                 console=console)


def test_the_probe_catches_errors(browser: str, tmp_path: Path) -> None:
    # a page with a console error, a script error, a corrupt and a missing image
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><head><title>bad</title></head><body><p>text</p>"
                   '<img src="data:image/png;base64,AAAA"><img src="missing.png">'
                   "<table><tbody><tr><td>1</td></tr></tbody></table>"
                   "<script>console.error('boom'); undefined_function();</script>"
                   "</body></html>", encoding="utf-8")
    shown = _open(bad, tmp_path)
    assert "console.error: boom" in shown.problems
    assert any(p.startswith("script error:") and "undefined_function" in p
               for p in shown.problems)
    assert sum(p.startswith("failed to load <img>") for p in shown.problems) == 2
    assert [w for _, w, _, _ in shown.images] == [0, 0]
    assert shown.console                                   # and chromium logged it


def test_opens_in_headless_chromium(browser: str, report: Path, tmp_path: Path) -> None:
    shown = _open(report, tmp_path)
    assert shown.problems == [] and shown.console == [], (shown.problems, shown.console)
    assert shown.text > 2000                                     # the page rendered text
    assert len(shown.images) == 2                                # both forest plots ...
    for complete, width, height, laid_out in shown.images:       # ... decoded and shown
        assert complete and width > 300 and height > 100 and laid_out > 300
    stage1 = [t for t in shown.tables if "stage1" in t[0].split()]
    assert [t[1] for t in stage1] == [33, 13]                    # stage-1 rows laid out
    assert all(t[2] > 300 for t in stage1)
    assert len(shown.tables) >= 6 and all(t[2] > 0 for t in shown.tables)
    # a full-page screenshot, kept for people to look at (output/ci/report.png)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    height = min(max(shown.height, 800), 16_000)
    run = _chromium([f"--screenshot={SCREENSHOT}", f"--window-size=1200,{height}",
                     report.as_uri()], tmp_path / "profile-shot")
    assert run.returncode == 0 and SCREENSHOT.exists(), run.stderr[-2000:]
    from PIL import Image
    with Image.open(SCREENSHOT) as im:
        assert im.size == (1200, height)
        colors = im.convert("L").getcolors(maxcolors=1 << 16)
    assert colors is not None and len(colors) > 20               # text and lines, not blank
