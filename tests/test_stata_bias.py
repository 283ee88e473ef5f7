"""metabias / metatrim / metafunnel: translation, the numbers they give (checked against
the definitions in Stata's help files, computed here independently), plots and code."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import ipdmeta as ipd
from ipdmeta.stata import StataSyntaxError, translate
from ipdmeta.stata.session import StataSession


@pytest.fixture(scope="module")
def bcg():
    data = ipd.datasets.load_bcg()
    return data.assign(se=np.sqrt(data["vi"]))


def _session(data, tmp_path):
    return StataSession(data, workdir=tmp_path, graph_dir=tmp_path)


def test_metabias_egger_is_the_galbraith_regression(bcg, tmp_path) -> None:
    """Stata's metabias, egger: OLS of y/se on 1/se; 'bias' is the intercept (t, k-2 df)."""
    step = _session(bcg, tmp_path).run("metabias yi se, egger")
    z, x = bcg["yi"] / bcg["se"], 1 / bcg["se"]
    fit = stats.linregress(x, z)
    t = fit.intercept / fit.intercept_stderr
    assert step.result.statistic == pytest.approx(t, rel=1e-10)
    assert step.result.df == len(bcg) - 2
    assert step.result.pvalue == pytest.approx(2 * stats.t.sf(abs(t), len(bcg) - 2), rel=1e-9)
    assert "Egger" in step.output


def test_metabias_harbord_and_peters_from_counts(bcg, tmp_path) -> None:
    """Harbord: OLS of Z/sqrt(V) on sqrt(V), the intercept; Peters: WLS of log OR on 1/n
    with weights d*h/n (Stata help of metabias)."""
    s = _session(bcg, tmp_path)
    a, b, c, d = (bcg[k].to_numpy(float) for k in ("tpos", "tneg", "cpos", "cneg"))
    n = a + b + c + d
    Z = a - (a + b) * (a + c) / n
    V = (a + b) * (c + d) * (a + c) * (b + d) / (n**2 * (n - 1))
    fit = stats.linregress(np.sqrt(V), Z / np.sqrt(V))
    h = s.run("metabias tpos tneg cpos cneg, or harbord").result
    assert h.estimate == pytest.approx(fit.intercept, rel=1e-10)
    assert h.se == pytest.approx(fit.intercept_stderr, rel=1e-10)
    lor = np.log(a * d / (b * c))
    w = (a + c) * (b + d) / n
    X = np.column_stack([np.ones_like(n), 1 / n])
    beta = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (w * lor))
    p = s.run("metabias tpos tneg cpos cneg, peters").result
    assert p.estimate == pytest.approx(beta[1], rel=1e-10)


def test_metabias_begg_normal_score_test(bcg, tmp_path) -> None:
    step = _session(bcg, tmp_path).run("metabias yi se, begg")
    y, v = bcg["yi"].to_numpy(), bcg["vi"].to_numpy()
    w = 1 / v
    ystar = (y - np.sum(w * y) / w.sum()) / np.sqrt(v - 1 / w.sum())
    k = len(y)
    score = sum(np.sign(ystar[j] - ystar[i]) * np.sign(v[j] - v[i])
                for i in range(k) for j in range(i + 1, k))
    z = score / np.sqrt(k * (k - 1) * (2 * k + 5) / 18)
    assert step.result.pvalue == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-10)
    assert not step.result.exact
    assert any("continuity" in n for n in step.notes)


def test_metatrim_defaults_side_and_estimators(bcg, tmp_path) -> None:
    s = _session(bcg, tmp_path)
    step = s.run("metatrim yi vi, var")
    m = ipd.pool(bcg, estimate="yi", variance="vi", method="common")
    tf = m.trimfill(side="left", estimator="L0")
    assert step.result.k0 == tf.k0 and step.result.side == "left"
    assert step.result.result.overall.estimate == pytest.approx(tf.result.overall.estimate)
    step = s.run("metatrim yi se, reffect flip est(run) funnel eform idvar(trial)")
    tf = ipd.pool(bcg, estimate="yi", se="se", study="trial", method="DL").trimfill(
        side="right", estimator="R0")
    assert step.result.k0 == tf.k0 and step.result.estimator == "R0"
    assert "Trim-and-fill" in step.output and "exponentiated" in step.output
    assert [f.name for f in step.files] == ["funnel1.png"]
    assert "tf.funnel(eform=True, path=" in step.python


def test_plots_and_equivalent_python(bcg, tmp_path) -> None:
    s = _session(bcg, tmp_path)
    assert [f.name for f in s.run("metabias yi se, egger graph").files] == ["radial1.png"]
    assert [f.name for f in s.run("metafunnel yi se, eform").files] == ["funnel1.png"]
    assert [f.name for f in s.run("metatrim yi se, graph").files] == ["forest1.png"]
    namespace = {"ipd": ipd, "data": bcg}
    exec(s.python().replace("import ipdmeta as ipd", ""), namespace)   # the script runs
    assert namespace["tf"].k0 == s.steps[-1].result.k0
    assert (tmp_path / "radial1.png").stat().st_size > 0


def test_confunnel_contours_and_metric(bcg, tmp_path) -> None:
    step = translate("confunnel yi se, contours(0.1 1 5 10) metric(invse) shadedcontours")
    assert step.forest == {"contours": [0.001, 0.01, 0.05, 0.1], "yaxis": "precision"}
    assert translate("confunnel yi se").forest == {"contours": [0.01, 0.05, 0.1]}
    out = _session(bcg, tmp_path).run("confunnel yi se, contours(5 10)")
    assert [f.name for f in out.files] == ["funnel1.png"]
    assert "res.funnel(contours=[0.05, 0.1], path=" in out.python


@pytest.mark.parametrize("kind", ["funnel", "trimfill", "contours", "precision"])
def test_funnel_legend_hides_no_study(bcg, kind: str) -> None:
    """The legend goes to a corner free of studies, or is drawn beneath the markers."""
    m = ipd.pool(bcg, estimate="yi", variance="vi", method="DL")
    fig = {"funnel": lambda: m.funnel(), "trimfill": lambda: m.trimfill(side="right").funnel(),
           "contours": lambda: m.funnel(contours=True),
           "precision": lambda: m.funnel(yaxis="precision")}[kind]()
    ax = fig.axes[0]
    legend = ax.get_legend()
    box = legend.get_window_extent(fig.canvas.get_renderer())
    for markers in ax.collections:
        if markers.get_label() not in ("Studies", "Filled studies"):
            continue
        xy = ax.transData.transform(markers.get_offsets())
        inside = ((xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0)
                  & (xy[:, 1] <= box.y1))
        assert not inside.any() or legend.get_zorder() < markers.get_zorder()


@pytest.mark.parametrize(("line", "message"), [
    ("metabias yi se", "exactly one of egger"),
    ("metabias yi se, egger begg", "exactly one of egger"),
    ("metabias yi se, harbord", "needs the 2x2 counts"),
    ("metabias tpos tneg cpos cneg, harbord rr", "log odds ratios only"),
    ("metabias tpos tneg cpos cneg, peters graph", "modified Galbraith"),
    ("metabias yi se, egger z(zz)", "never adds variables"),
    ("metatrim yi se, mixed", "not a mix"),
    ("metatrim es lo hi, ci", r"exp\(theta\) ll ul"),
    ("metatrim yi se, estimator(cubic)", "run, linear or quadratic"),
    ("metafunnel yi se, forcenull", "centred on the pooled estimate"),
    ("metafunnel yi se, mlabel(trial)", "not"),
    ("metafunnel a b c d", "takes the estimate and its standard error"),
    ("confunnel yi se, contours(0 5)", "between 0 and 100"),
    ("confunnel yi se, metric(var)", "not variances"),
    ("confunnel yi se, onesided(lower)", "two-sided"),
    ("confunnel yi se, contcolor(green)", "styling"),
])
def test_clear_refusals(line: str, message: str) -> None:
    with pytest.raises(StataSyntaxError, match=message):
        translate(line)


def test_cumulative_and_influence_still_translate() -> None:
    assert translate("metan es se, influence").analysis == "influence"
    assert translate("metan es se, cumulative").analysis == "cumulative"
