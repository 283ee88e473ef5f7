"""The HTML report: self-contained structure (checked with html.parser), and opened in
headless Chromium when a chromium binary is installed (the table and the figure show)."""

from __future__ import annotations

import base64
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from ipdmeta import datasets
from ipdmeta.analysis import ipdmeta
from ipdmeta.pooling.metareg import metareg
from ipdmeta.pooling.pool import pool
from ipdmeta.report import ReportSection, package_versions, render_report, write_report

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


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install chromium); "
                                             "the structure is checked by the tests above")
def test_opens_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    # a copy with a probe that records, after load, what the browser shows
    probe = tmp_path / "probe.html"
    script = ("<script>addEventListener('load',()=>{const b=document.body;"
              "b.dataset.images=[...document.images].map(i=>i.naturalWidth).join(',');"
              "b.dataset.rows=document.querySelectorAll('table.stage1 tbody tr').length;"
              "b.dataset.width=document.querySelector('table.stage1').offsetWidth})</script>")
    probe.write_text(report.read_text(encoding="utf-8").replace("</body>", script + "</body>"),
                     encoding="utf-8")
    dom = _chromium(["--dump-dom", probe.as_uri()], tmp_path / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    parsed = Structure()
    parsed.feed(dom.stdout)
    body = parsed.find("body")[0]
    widths = [int(w) for w in (body["data-images"] or "").split(",")]
    assert len(widths) == 2 and min(widths) > 300               # the figures decoded
    assert int(body["data-rows"] or 0) == 33 + 13               # the stage-1 tables laid out
    assert int(body["data-width"] or 0) > 300
    # and a screenshot of the report itself is not blank
    shot = tmp_path / "shot.png"
    run = _chromium([f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri()],
                    tmp_path / "profile2")
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    from PIL import Image
    with Image.open(shot) as im:
        colors = im.convert("L").getcolors(maxcolors=1 << 16)
    assert colors is not None and len(colors) > 20               # text and lines, not blank
