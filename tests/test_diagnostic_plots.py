"""Radial, Q-Q, L'Abbé, GOSH data vs metafor, and the diagnostic plots render.

Reference values: ``tests/reference/stage2_bias.json`` (see ``test_bias_methods.py``).
GOSH is compared subset by subset on exact enumeration (13 studies, 8191 subsets).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from ipdmeta.errors import InputError
from ipdmeta.plots._text import new_figure
from ipdmeta.plots.diagnostics import baujat_plot, qq_plot, radial_plot
from ipdmeta.plots.gosh import gosh_plot
from ipdmeta.plots.labbe import labbe_plot
from ipdmeta.plots.profile import profile_plot
from ipdmeta.plots.selection import selection_plot
from ipdmeta.pooling.diagnostics import labbe_data, ppoints, qq_data, radial_data
from ipdmeta.pooling.gosh import all_subsets, gosh, random_subsets
from ipdmeta.pooling.pool import pool
from ipdmeta.pooling.profile import profile_mu, profile_tau2
from ipdmeta.pooling.selection import selection_model
from test_bias_methods import COUNTS, REF, fit, frame_of, vec
from test_metareg import assert_close

matplotlib.use("Agg")


@pytest.mark.parametrize("rec", REF["radial"], ids=lambda r: f"{r['data']}-{r['method']}")
def test_radial_matches_metafor(rec: dict[str, Any]) -> None:
    m = pool(frame_of(rec["data"]), estimate="yi", variance="vi", study="study",
             method={"FE": "common"}.get(rec["method"], rec["method"]),
             ci={"hksj": "hksj"}.get(rec["ci"], rec["ci"]))
    r = radial_data(m)
    assert_close({"x": r.points["x"], "y": r.points["y"], "estimate": r.estimate,
                  "ci_low": r.ci_low, "ci_high": r.ci_high},
                 {key: rec[key] for key in ("x", "y", "estimate", "ci_low", "ci_high")},
                 "radial", 1e-9)


@pytest.mark.parametrize("rec", REF["qqnorm"], ids=lambda r: f"{r['data']}-{r['formula']}")
def test_qq_points_match_rstandard_and_qqnorm(rec: dict[str, Any]) -> None:
    q = qq_data(fit(rec["data"], rec["method"], rec["formula"]), envelope=False)
    assert_close({"resid": q.points["resid"], "se": q.points["se"], "z": q.points["z"],
                  "theoretical": q.points["theoretical"]},
                 {"resid": rec["resid"], "se": rec["se"], "z": rec["z"],
                  "theoretical": rec["theoretical"]}, "qqnorm", 1e-9)


def test_qq_envelope_is_seeded_and_covers_the_null() -> None:
    m = fit("hackshaw1998")
    a = qq_data(m, seed=3, reps=400).envelope
    b = qq_data(m, seed=3, reps=400).envelope
    assert a.equals(b)
    assert (a["lower"] < a["upper"]).all()
    assert ppoints(5).tolist() == pytest.approx([(i - 3 / 8) / (5 + 1 - 3 / 4)
                                                 for i in range(1, 6)])
    # under the model the standardised residuals are N(0, 1): the median band is near 0
    mid = len(a) // 2
    assert abs(a["lower"].iloc[mid] + a["upper"].iloc[mid]) < 0.5


@pytest.mark.parametrize("rec", REF["labbe"], ids=lambda r: f"{r['data']}-{r['measure']}")
def test_labbe_matches_metafor(rec: dict[str, Any]) -> None:
    frame = frame_of(rec["data"]).assign(yi=rec["yi"], vi=rec["vi"])
    m = pool(frame, estimate="yi", variance="vi", study="study", measure=rec["measure"])
    d = labbe_data(m, **COUNTS)
    assert_close({"x": d.points["x"], "y": d.points["y"], "size": d.points["size"],
                  "estimate": d.estimate},
                 {key: rec[key] for key in ("x", "y", "size", "estimate")}, "labbe", 1e-9)
    line = d.line
    assert np.allclose(line["y"] - line["x"], rec["estimate"])


def test_labbe_needs_a_ratio_or_difference_and_counts() -> None:
    with pytest.raises(InputError, match="measure='OR', 'RR' or 'RD'"):
        labbe_data(fit("bcg"), **COUNTS)
    with pytest.raises(InputError, match="needs the 2x2 counts"):
        labbe_data(fit("bcg"), measure="OR")


@pytest.mark.parametrize("rec", REF["gosh"], ids=lambda r: f"{r['data']}-{r['method']}-"
                                                            f"{r['formula']}")
def test_gosh_matches_metafor_subset_by_subset(rec: dict[str, Any]) -> None:
    g = gosh(fit(rec["data"], rec["method"], rec["formula"]))
    assert g.exact
    codes = g.included.astype(np.int64) @ (2 ** np.arange(g.included.shape[1]))
    assert codes.tolist() == [int(c) for c in rec["incl_code"]]
    t = g.table
    ours = {"k": t["k"], "QE": t["QE"], "I2": t["I2"], "H2": t["H2"], "tau2": t["tau2"]}
    ref = {key: rec[key] for key in ours}
    for j, (name, values) in enumerate(rec["estimate"].items()):
        ours[name] = t[g.terms[j]]
        ref[name] = values
    assert_close(ours, ref, "gosh", 1e-6)


def test_gosh_sampling_is_seeded() -> None:
    m = fit("hackshaw1998", "DL")
    a, b = gosh(m, subsets=500, seed=11), gosh(m, subsets=500, seed=11)
    assert not a.exact and len(a.table) == 500
    assert a.table.equals(b.table)
    assert (a.table["k"] >= 1).all() and a.table["k"].is_monotonic_increasing
    assert all_subsets(4, 2).shape == (11, 4)
    incl = random_subsets(10, 2, 50, np.random.default_rng(1))
    assert (incl.sum(axis=1) >= 2).all()
    assert "GOSH" in a.summary() and "GoshResult(" in repr(a)


# ---------------------------------------------------------------- the plots render
def _plots() -> list[tuple[str, Any]]:
    m = pool(frame_of("bcg"), estimate="yi", variance="vi", study="study", measure="RR")
    ml = pool(frame_of("bcg"), estimate="yi", variance="vi", study="study", method="ML")
    return [
        ("radial", lambda **o: radial_plot(m, eform=True, labels=True, **o)),
        ("qq", lambda **o: qq_plot(m, seed=1, labels=2, **o)),
        ("baujat", lambda **o: baujat_plot(m, **o)),
        ("labbe", lambda **o: labbe_plot(m, **COUNTS, **o)),
        ("labbe-measure", lambda **o: labbe_plot(m, **COUNTS, scale="measure", **o)),
        ("profile-tau2", lambda **o: profile_plot(profile_tau2(m), **o)),
        ("profile-mu", lambda **o: profile_plot(profile_mu(m), eform=True, **o)),
        ("selection", lambda **o: selection_plot(
            selection_model(ml, "stepfun", steps=[0.025], alternative="less"), **o)),
    ]


@pytest.mark.parametrize("name", [name for name, _ in _plots()])
def test_plot_renders_to_file_and_into_axes(name: str, tmp_path: Path) -> None:
    draw = dict(_plots())[name]
    path = tmp_path / f"{name}.png"
    fig = draw(path=path)
    assert isinstance(fig, Figure) and path.stat().st_size > 5000
    host = new_figure(figsize=(4, 4))
    ax = host.add_subplot()
    assert draw(ax=ax) is host and ax.has_data()


def test_gosh_plot_renders(tmp_path: Path) -> None:
    g = gosh(fit("bcg", "DL"))
    fig = gosh_plot(g, highlight=g.studies[7], eform=True, path=tmp_path / "gosh.png")
    assert len(fig.axes) == 3 and (tmp_path / "gosh.png").exists()
    with pytest.raises(InputError, match="not a column"):
        gosh_plot(g, x="Q")
    with pytest.raises(InputError, match="not one of the studies"):
        gosh_plot(g, highlight="nobody")


def test_plots_refuse_meta_regressions_where_metafor_does() -> None:
    mr = fit("bcg", "REML", "~ ablat")
    with pytest.raises(InputError, match="pooled results only"):
        radial_plot(mr)
    qq = qq_data(mr, envelope=False)
    assert len(qq.points) == len(vec(REF["datasets"]["bcg"]["yi"]))
