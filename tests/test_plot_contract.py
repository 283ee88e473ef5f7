"""Every plot function takes ``ax=`` and ``path=`` and returns the matplotlib Figure."""

from __future__ import annotations

import inspect
from functools import cache

import matplotlib

matplotlib.use("Agg")

import pytest
from matplotlib.figure import Figure

import ipdmeta as ipd
from ipdmeta import plots
from ipdmeta.plots._text import new_figure

BCG = ipd.datasets.load_bcg()


@cache
def _calls():
    m = ipd.pool(BCG, estimate="yi", variance="vi", study="trial", measure="RR")
    mr = ipd.metareg(BCG, "~ ablat", estimate="yi", variance="vi", study="trial")
    ml = ipd.pool(BCG, estimate="yi", variance="vi", study="trial", method="ML")
    counts = ipd.pool(BCG.assign(n1=BCG.tpos + BCG.tneg, n0=BCG.cpos + BCG.cneg),
                      estimate="yi", variance="vi", study="trial", measure="RR")
    wg = ipd.datasets.load("weight_gain")
    one = ipd.onestage(wg, study="studyid", formula="final_wt ~ trt", model="linear",
                       tau2_ci=False)
    two = ipd.ipdmeta(wg, study="studyid", formula="final_wt ~ trt", model="linear")
    return {"forest_plot": (plots.forest_plot, (m,)),
            "compare_plot": (plots.compare_plot, (one.compare(two),)),
            "funnel_plot": (plots.funnel_plot, (m,)),
            "bubble_plot": (plots.bubble_plot, (mr, "ablat")),
            "leave_one_out_plot": (plots.leave_one_out_plot, (m,)),
            "cumulative_plot": (plots.cumulative_plot, (m,)),
            "results_set_plot": (plots.results_set_plot, (m.results_set(),)),
            "radial_plot": (plots.radial_plot, (m,)),
            "qq_plot": (plots.qq_plot, (m,)),
            "baujat_plot": (plots.baujat_plot, (m,)),
            "labbe_plot": (plots.labbe_plot, (counts, ("tpos", "cpos"), ("n1", "n0"))),
            "gosh_plot": (plots.gosh_plot, (m.gosh(),)),
            "profile_plot": (plots.profile_plot, (m.profile_tau2(),)),
            "selection_plot": (plots.selection_plot, (ml.selection_model(
                "stepfun", steps=[0.025], alternative="less"),))}


def test_every_public_plot_is_checked() -> None:
    drawing = {n for n in plots.__all__ if n.endswith("_plot")}
    assert drawing == set(_calls())


@pytest.mark.parametrize("name", sorted(_calls()))
def test_plot_takes_path_and_ax(name: str, tmp_path) -> None:
    fn, args = _calls()[name]
    params = inspect.signature(fn).parameters
    assert "ax" in params or "options" in params
    path = tmp_path / f"{name}.png"
    fig = fn(*args, path=path)
    assert isinstance(fig, Figure)
    assert path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if name not in ("forest_plot", "leave_one_out_plot", "cumulative_plot",
                    "results_set_plot"):  # these draw into an Axes given with ax=
        host = new_figure(figsize=(4, 3))
        ax = host.add_subplot()
        assert fn(*args, ax=ax) is host and ax.has_data()


def _png_width(path) -> int:
    return int.from_bytes(path.read_bytes()[16:20], "big")


@pytest.mark.parametrize("name", sorted(_calls()))
def test_plot_saves_at_the_dpi_asked_for(name: str, tmp_path) -> None:
    fn, args = _calls()[name]
    low, high = tmp_path / "low.png", tmp_path / "high.png"
    fn(*args, path=low, dpi=50)
    fn(*args, path=high, dpi=100)
    assert _png_width(high) == pytest.approx(2 * _png_width(low), abs=2)
