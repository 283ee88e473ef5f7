"""Render the forest-plot baselines used by tests/test_forest.py (image regression).

Run from the repository root after a deliberate change to the look of the plots:

    .venv/bin/python tests/baseline/make_baselines.py

and look at the PNGs before committing them.  Each case has a fixed ``figsize`` so
that the image size does not depend on font metrics; rcParams are reset to
matplotlib's defaults, and the plot pins its own font (DejaVu Sans, shipped with
matplotlib), so the images are the same on any machine with the same matplotlib.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.ft2font
import matplotlib.pyplot as plt
import matplotlib.style
import pandas as pd
from matplotlib.figure import Figure

import ipdmeta as ipd
from ipdmeta import datasets
from ipdmeta.plots.forest import forest_plot

HERE = Path(__file__).resolve().parent
DPI = 50
VERSIONS = HERE / "versions.json"

# Cox log hazard ratios of the ten simulated hypertension trials (stage 1, lifelines)
HR_TRIALS = pd.DataFrame({
    "study": ["ARBOR-HT", "BEACON-HT", "CEDAR-HT", "DUNE-HT", "EMBER-HT", "FALCON-HT",
              "GLACIER-HT", "HARBOR-HT", "IRIS-HT", "JADE-HT"],
    "estimate": [-0.2555, -0.0208, -0.5986, -0.2247, 0.0746, -0.3618, 0.1018, -0.4365,
                 -0.3454, -0.3055],
    "se": [0.2357, 0.3336, 0.2034, 0.2594, 0.1326, 0.2877, 0.2156, 0.2208, 0.2189, 0.2626],
    "n": [460, 150, 640, 280, 1200, 190, 540, 330, 390, 230],
    "events": [74, 36, 103, 61, 230, 50, 87, 86, 85, 63],
})

# mean differences (kg) of a few weight-gain trials, two of them not estimable
MD_TRIALS = pd.DataFrame({
    "study": ["Abernethy 1998", "Baptiste 1999", "Castellano 2001", "Dunmore 2002",
              "Eriksen 2003", "Galbraith 2004", "Ingleby 2005", "Rasmussen 2009"],
    "estimate": [-1.12, -0.94, -0.45, float("nan"), -1.86, 0.93, -1.31, float("nan")],
    "se": [1.62, 1.72, 0.97, float("nan"), 0.78, 1.22, 0.82, float("nan")],
    "n": [42, 24, 88, 18, 120, 64, 150, 40],
    "intervention": ["diet", "exercise", "mixed", "diet", "exercise", "diet", "mixed", "diet"],
    "status": ["ok", "ok", "ok", "no_treated", "ok", "ok", "ok", "singular"],
    "reason": ["", "", "", "no participants in the intervention arm", "", "", "",
               "treatment collinear with baseline weight"],
})


def bcg_frame() -> pd.DataFrame:
    """The BCG trials with unique labels 'Author, year'."""
    bcg = datasets.load_bcg()
    bcg["label"] = bcg["author"] + ", " + bcg["year"].astype(str)
    return bcg


def case_bcg_subgroups() -> Figure:
    """Risk ratios by allocation, common and random diamonds, favours labels."""
    m = ipd.pool(bcg_frame(), estimate="yi", variance="vi", study="label", by="alloc",
                 measure="RR", method="REML")
    return forest_plot(m, show_common=True, favours=("Favours BCG", "Favours control"),
                       figsize=(8.0, 9.0))


def case_hr_xticks() -> Figure:
    """Hazard ratios with HKSJ, given ticks, left columns, pooled line, title."""
    m = ipd.pool(HR_TRIALS, method="REML", ci="hksj", measure="HR")
    return forest_plot(m, xticks=[0.2, 0.5, 1, 2], left_columns=["n", "events"],
                       left_headers=["Trial", "N", "Events"], pooled_line=True,
                       title="Time to cardiovascular event", figsize=(8.0, 4.2))


def case_md_excluded() -> Figure:
    """Mean differences, a text left column, excluded studies, arrows past xlim."""
    m = ipd.pool(MD_TRIALS, method="DL", measure="MD")
    return forest_plot(m, left_columns=["intervention", "n"], xlim=(-4, 4),
                       favours=("Favours intervention", "Favours control"),
                       figsize=(8.0, 4.0))


CASES: dict[str, Callable[[], Figure]] = {
    "forest_bcg_subgroups": case_bcg_subgroups,
    "forest_hr_xticks": case_hr_xticks,
    "forest_md_excluded": case_md_excluded,
}


def render(name: str, path: Path) -> Path:
    """Render case ``name`` to ``path`` (PNG at ``DPI``) with default rcParams."""
    with matplotlib.style.context("default"):
        fig = CASES[name]()
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
    return path


def renderer_versions() -> dict[str, str]:
    """The versions that decide how text is rasterised (FreeType above all)."""
    return {"freetype": matplotlib.ft2font.__freetype_version__,
            "matplotlib": matplotlib.__version__}


def main() -> int:
    for name in CASES:
        out = render(name, HERE / f"{name}.png")
        print(f"wrote {out}")
    VERSIONS.write_text(json.dumps(renderer_versions(), indent=2) + "\n")
    print(f"wrote {VERSIONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
