"""Influence diagnostics, sensitivity to tau², small-study tests and trim-and-fill against
R's metafor (``tests/reference/stage2_metareg.json``, written by
``tests/reference/stage2_metareg.R``), to 1e-6 absolute; and the funnel plot.
"""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.plots.funnel import funnel_plot
from ipdmeta.pooling.bias import (
    egger_test,
    funnel_data,
    kendall_cdf,
    rank_test,
    ranktest,
    regtest,
    trimfill,
)
from ipdmeta.pooling.influence import baujat, influence, tau2_sensitivity, typical_variance
from ipdmeta.pooling.metareg import metareg
from test_metareg import REF, assert_close, frame_of, run

matplotlib.use("Agg")

METHOD = {"FE": "common"}
INFLUENCE_COLUMNS = ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat",
                     "weight")


def model(rec: dict[str, Any]) -> Any:
    """The pooled result (formula "~ 1") or meta-regression a reference record was made on."""
    if rec.get("formula", "~ 1") == "~ 1":
        return ipd.pool(frame_of(rec["data"]), estimate="yi", variance="vi", study="study",
                        method=METHOD.get(rec["method"], rec["method"]), ci=rec["ci"])
    return run(rec["data"], rec["formula"], rec["method"], rec["ci"])


def tag(rec: dict[str, Any]) -> str:
    return "-".join(str(rec[k]) for k in ("data", "formula", "method", "ci", "model",
                                          "predictor", "estimator", "side_given") if k in rec)


# ---------------------------------------------------------------- influence
@pytest.mark.parametrize("rec", REF["influence"], ids=tag)
def test_influence_matches_metafor(rec: dict[str, Any]) -> None:
    res = influence(model(rec))
    ours = {c: res.table[c].to_numpy() for c in INFLUENCE_COLUMNS}
    ref = {c: rec[c] for c in INFLUENCE_COLUMNS}
    ours["baujat_x"], ref["baujat_x"] = res.baujat["x"].to_numpy(), rec["baujat_x"]
    ours["baujat_y"], ref["baujat_y"] = res.baujat["y"].to_numpy(), rec["baujat_y"]
    for j, col in enumerate(rec["dfbetas"].values()):
        ours[f"dfbetas[{j}]"], ref[f"dfbetas[{j}]"] = res.dfbetas.iloc[:, j + 1].to_numpy(), col
    assert_close(ours, ref, tag(rec))
    assert res.table["influential"].tolist() == rec["influential"]
    assert res.to_frame().shape[1] == res.table.shape[1] + len(rec["dfbetas"])


def test_influence_method_on_results() -> None:
    mr = run("bcg", "~ ablat", "REML", "z")
    assert mr.influence().table.equals(influence(mr).table)
    m = model({"data": "bcg", "method": "DL", "ci": "z"})
    assert baujat(m).columns.tolist() == ["study", "x", "y"]


def test_influence_deletion_that_breaks_the_design_is_nan() -> None:
    frame = frame_of("bcg")
    frame.loc[0, "alloc"] = "unique"  # only study 1 has this level
    res = influence(metareg(frame, "~ C(alloc)", estimate="yi", variance="vi", study="study"))
    assert np.isnan(res.table.loc[0, "rstudent"]) and np.isfinite(res.table.loc[1, "rstudent"])
    assert any("failed" in m for m in res.messages)


def test_profile_likelihood_ci_and_genq() -> None:
    frame = frame_of("bcg")
    pl = ipd.pool(frame, estimate="yi", variance="vi", study="study", ci="pl")
    z = ipd.pool(frame, estimate="yi", variance="vi", study="study", ci="z")
    a, b = influence(pl), influence(z)
    np.testing.assert_allclose(a.table["rstudent"], b.table["rstudent"])
    assert any("ci='z'" in m for m in a.messages)
    genq = ipd.pool(frame, estimate="yi", variance="vi", study="study", method="GENQ")
    with pytest.raises(InputError, match="GENQ"):
        influence(genq)


@pytest.mark.parametrize("rec", REF["leave1out"], ids=tag)
def test_leave_one_out_matches_metafor(rec: dict[str, Any]) -> None:
    l1o = model(rec).leave_one_out()
    keys = ("estimate", "se", "ci_low", "ci_high", "pvalue", "tau2", "Q", "I2")
    assert_close({k: l1o[k].to_numpy() for k in keys}, {k: rec[k] for k in keys}, tag(rec))


# ---------------------------------------------------------------- sensitivity to tau²
@pytest.mark.parametrize("rec", REF["sensitivity"],
                         ids=lambda r: f"{r['ci']}-tau2={r['tau2']:.4g}-I2={r['I2_given']}")
def test_tau2_sensitivity_matches_metafor(rec: dict[str, Any]) -> None:
    m = model({"data": rec["data"], "method": "REML", "ci": rec["ci"]})
    if rec["I2_given"] is None:
        row = tau2_sensitivity(m, tau2=rec["tau2"]).iloc[0]
    else:
        row = tau2_sensitivity(m, I2=rec["I2_given"]).iloc[0]
        assert row["I2"] == pytest.approx(rec["I2_given"], abs=1e-9)
    keys = ("tau2", "estimate", "se", "ci_low", "ci_high", "z_or_t", "pvalue", "I2", "H2",
            "pi_low", "pi_high")
    assert_close({k: row[k] for k in keys}, {k: rec[k] for k in keys}, "tau2 sensitivity")


def test_tau2_sensitivity_of_a_meta_regression_and_errors() -> None:
    mr = run("bcg", "~ ablat", "REML", "hksj")
    sa = tau2_sensitivity(mr, tau2=[0.0, mr.tau2])
    assert sa["term"].tolist() == ["Intercept", "ablat"] * 2
    np.testing.assert_allclose(sa["estimate"].iloc[2:], mr.coef["estimate"], atol=1e-12)
    assert typical_variance(mr) == pytest.approx(mr.fit.typical_variance)
    with pytest.raises(InputError, match="percentage"):
        tau2_sensitivity(mr, I2=[100])
    with pytest.raises(InputError, match="give tau2"):
        tau2_sensitivity(mr)


# ---------------------------------------------------------------- small-study tests
@pytest.mark.parametrize("rec", REF["regtest"], ids=tag)
def test_egger_matches_regtest(rec: dict[str, Any]) -> None:
    e = egger_test(model(rec), model=rec["model"], predictor=rec["predictor"])
    ours = {"statistic": e.statistic, "pvalue": e.pvalue,
            "df": np.nan if e.df is None else e.df, "estimate": e.estimate,
            "ci_low": e.ci_low, "ci_high": e.ci_high, "coef": e.fit.beta}
    assert_close(ours, {k: rec[k] for k in ours}, tag(rec))


def test_egger_sample_size_predictors() -> None:
    frame = frame_of("bangertdrowns2004")
    m = ipd.pool(frame, estimate="yi", variance="vi", study="study")
    for predictor in ("ni", "ninv", "sqrtni", "sqrtninv"):
        e = egger_test(m, predictor=predictor)
        assert np.isfinite(e.statistic) and np.isnan(e.estimate) == (predictor in ("ni",
                                                                                    "sqrtni"))
    assert regtest is egger_test and ranktest is rank_test
    no_n = model({"data": "bcg", "method": "REML", "ci": "z"})
    with pytest.raises(InputError, match="sample sizes"):
        egger_test(no_n, predictor="ni")
    with pytest.raises(InputError, match="model="):
        egger_test(no_n, model="glm")


@pytest.mark.parametrize("rec", REF["ranktest"], ids=lambda r: r["data"])
def test_rank_test_matches_ranktest(rec: dict[str, Any]) -> None:
    r = rank_test(model({"data": rec["data"], "method": "REML", "ci": "z"}))
    assert r.exact == (not rec["ties"])
    assert_close({"tau": r.tau, "pvalue": r.pvalue}, {"tau": rec["tau"], "pvalue": rec["pvalue"]},
                 rec["data"])


def test_kendall_distribution() -> None:
    n = 6
    total = n * (n - 1) // 2
    assert kendall_cdf(total, n) == pytest.approx(1.0)
    assert kendall_cdf(-1, n) == 0.0
    for q in range(total):  # symmetric: P(T <= q) = P(T >= total - q)
        assert kendall_cdf(q, n) == pytest.approx(1 - kendall_cdf(total - q - 1, n))
    assert kendall_cdf(0, 4) == pytest.approx(1 / 24)


# ---------------------------------------------------------------- trim and fill
@pytest.mark.parametrize("rec", REF["trimfill"], ids=tag)
def test_trimfill_matches_metafor(rec: dict[str, Any]) -> None:
    tf = trimfill(model(rec), side=rec["side_given"], estimator=rec["estimator"])
    o = tf.result.overall
    filled = tf.filled[tf.filled["filled"]]
    assert (tf.k0, tf.side) == (rec["k0"], rec["side"])
    ours = {"se_k0": tf.se_k0, "p_k0": tf.p_k0, "filled_yi": filled["estimate"].to_numpy(),
            "filled_vi": filled["se"].to_numpy() ** 2, **{k: getattr(o, k) for k in (
                "estimate", "se", "ci_low", "ci_high", "z_or_t", "pvalue", "tau2", "I2", "Q",
                "Q_pvalue", "k")}}
    assert_close(ours, {k: rec[k] for k in ours}, tag(rec))


def test_trimfill_errors_and_no_fill() -> None:
    m = model({"data": "hackshaw1998", "method": "REML", "ci": "z"})
    with pytest.raises(InputError, match="estimator"):
        trimfill(m, estimator="X0")
    with pytest.raises(InputError, match="side"):
        trimfill(m, side="up")
    tf = trimfill(m, side="right")
    if tf.k0 == 0:
        assert tf.result is m
    small = ipd.pool(frame_of("bcg").head(2), estimate="yi", variance="vi", study="study")
    with pytest.raises(InputError, match="at least 3"):
        trimfill(small)


# ---------------------------------------------------------------- funnel plot
def test_funnel_data_and_plot() -> None:
    m = model({"data": "hackshaw1998", "method": "REML", "ci": "z"})
    tf = trimfill(m)
    fd = funnel_data(tf, contours=(0.05, 0.01))
    assert fd.points["filled"].sum() == tf.k0 == 7
    assert fd.center == pytest.approx(tf.result.overall.estimate)
    assert [a for a, _ in fd.contours] == [0.05, 0.01]
    assert fd.contours[1][1] == pytest.approx(2.5758293035489, abs=1e-9)
    fig = funnel_plot(tf, contours=True)
    ax = fig.axes[0]
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # se axis inverted
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Filled studies" in labels and "p < 0.01" in labels
    fig2 = funnel_plot(m, yaxis="precision", eform=True, title="t")
    assert fig2.axes[0].get_ylabel() == "Precision (1/se)"
    assert funnel_plot(fd).axes  # FunnelData directly
    with pytest.raises(InputError, match="yaxis"):
        funnel_plot(m, yaxis="variance")
    assert tf.funnel().axes
    import matplotlib.pyplot as plt

    plt.close("all")


def test_plots_compute_no_statistics() -> None:
    """The plot modules import no statistics beyond the result readers."""
    from pathlib import Path

    import ipdmeta.plots.bubble as bubble
    import ipdmeta.plots.funnel as funnel

    for mod in (bubble, funnel):
        source = Path(mod.__file__).read_text()
        assert "scipy" not in source and "fit_regression" not in source
    frame = pd.DataFrame({"yi": [0.1, 0.3, 0.2], "vi": [0.01, 0.02, 0.03]})
    assert funnel_data(ipd.pool(frame)).points["filled"].sum() == 0


def test_funnel_axis_says_the_scale() -> None:
    """Log risk ratios are labelled 'log RR' (not 'RR'); eform labels the ratio scale."""
    import matplotlib

    matplotlib.use("Agg")
    import ipdmeta as ipd

    bcg = ipd.datasets.load_bcg()
    m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", measure="RR")
    assert m.funnel().axes[0].get_xlabel() == "log RR"
    fig = m.funnel(eform=True)
    assert fig.axes[0].get_xlabel() == "RR (log scale)"
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert "1" in ticks                       # exp(0): ticks are ratios
