"""Robust random effects (t and normal mixture, as R's metaplus): likelihoods, fits, intervals,
outlier probabilities and the parametric-bootstrap test.

metaplus is not installable here, so the checks are:
* the vectorised quadrature of the t convolution against ``scipy.integrate.quad`` of the
  convolution integral itself, and the mixture likelihood against its closed form;
* analytic gradients and Hessians against finite differences;
* fits, profile-likelihood intervals, LR p-values and outlier probabilities against an
  independent R implementation (``tests/reference/robust_metaplus.R``: R's integrate() and
  nlminb(), on metadat data);
* metaplus' printed results for its examples (Beath 2016, R Journal 8(1):5-16, section 3.1,
  the magnesium trials = metadat::dat.egger2001 as log odds ratios), to the digits printed.
"""

from __future__ import annotations

import itertools
import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.robust import fit_robust
from ipdmeta.pooling.robust_bootstrap import lrt_statistic, outlier_test
from ipdmeta.pooling.robust_fit import fit_model, maximise, normal_ml
from ipdmeta.pooling.robust_lik import mixture_loglik, mixture_posterior, t_loglik

REF = json.loads((Path(__file__).parent / "reference" / "robust_metaplus.json").read_text())
DATA = REF["datasets"]


def data(name: str) -> tuple[np.ndarray, np.ndarray]:
    return np.array(DATA[name]["yi"]), np.array(DATA[name]["vi"])


@cache
def fitted(name: str, model: str):
    y, v = data(name)
    return fit_robust(y, v, model=model)


def t_theta(mu: float, tau2: float, vinv: float) -> np.ndarray:
    return np.array([[mu, np.sqrt(tau2), np.sqrt(2 * vinv)]])


def quad_t_loglik(y, v, mu, tau2, vinv, epsrel=1e-13):
    """The t convolution integrated directly, study by study, split at 0 and the residual."""
    total = 0.0
    for yi, vi in zip(y, v, strict=True):
        r, tau = yi - mu, np.sqrt(tau2)

        def f(u, r=r, vi=vi, tau=tau):
            return stats.norm.pdf(r - u, scale=np.sqrt(vi)) * stats.t.pdf(u / tau, 1 / vinv) / tau

        cuts = sorted({-np.inf, 0.0, r, np.inf})
        total += np.log(sum(integrate.quad(f, a, b, epsabs=0, epsrel=epsrel, limit=500)[0]
                            for a, b in itertools.pairwise(cuts)))
    return total


@pytest.mark.parametrize("name,frac_mu,tau2_factor,vinv", [
    ("raudenbush1985", 0.0, 1.0, 0.3), ("raudenbush1985", 0.5, 0.01, 2.0),
    ("raudenbush1985", -0.5, 3.0, 0.001), ("normand1999", 0.2, 0.2, 8.0),
    ("normand1999", 0.0, 1e-4, 1.0)])
def test_t_quadrature_matches_direct_integration(name, frac_mu, tau2_factor, vinv):
    y, v = data(name)
    mu = y.mean() + frac_mu * y.std()
    tau2 = tau2_factor * v.mean()
    ours = t_loglik(t_theta(mu, tau2, vinv), y[None], v[None], np.ones((y.size, 1)))[0][0]
    assert ours == pytest.approx(quad_t_loglik(y, v, mu, tau2, vinv), abs=1e-9)


@pytest.mark.parametrize("name", ["raudenbush1985", "normand1999", "egger2001"])
def test_likelihood_grid_matches_r(name):
    """Log-likelihoods at parameter values chosen in the R script (R integrate, 1e-12)."""
    y, v = data(name)
    X = np.ones((y.size, 1))
    bad = []
    for pt in DATA[name]["grid"]:
        if pt["model"] == "t":
            ours = t_loglik(t_theta(pt["mu"], pt["tau2"], pt["vinv"]), y[None], v[None], X)[0][0]
        else:
            th = np.array([[pt["mu"], np.sqrt(pt["tau2"]), np.sqrt(pt["tau2out"]),
                            np.log(pt["p"] / (1 - pt["p"]))]])
            ours = mixture_loglik(th, y[None], v[None], X)[0][0]
        if abs(ours - pt["loglik"]) > 1e-8:
            bad.append((pt, ours))
    assert not bad, bad


def test_mixture_likelihood_and_posterior_closed_form():
    y, v = data("raudenbush1985")
    X = np.ones((y.size, 1))
    mu, t2, t2o, p = 0.05, 0.01, 0.3, 0.2
    th = np.array([[mu, np.sqrt(t2), np.sqrt(t2o), np.log(p / (1 - p))]])
    d0 = (1 - p) * stats.norm.pdf(y, mu, np.sqrt(v + t2))
    d1 = p * stats.norm.pdf(y, mu, np.sqrt(v + t2o))
    assert mixture_loglik(th, y[None], v[None], X)[0][0] == pytest.approx(
        np.sum(np.log(d0 + d1)), abs=1e-12)
    np.testing.assert_allclose(mixture_posterior(th, y[None], v[None], X)[0], d1 / (d0 + d1),
                               atol=1e-14)


@pytest.mark.parametrize("which", ["t", "t_boundary", "mixture"])
def test_gradient_and_hessian_match_finite_differences(which):
    y, v = data("raudenbush1985")
    X = np.column_stack([np.ones(y.size), np.linspace(-1, 1, y.size)])
    fun, th = {"t": (t_loglik, [0.05, 0.02, 0.08, 1.1]),
               "t_boundary": (t_loglik, [0.05, 0.02, 0.08, 0.0]),
               "mixture": (mixture_loglik, [0.05, 0.02, 0.05, 0.6, -1.2])}[which]
    th = np.array(th)
    _, g, H = fun(th[None], y[None], v[None], X)
    eps = 1e-6
    for i in range(th.size):
        e = np.zeros_like(th)
        e[i] = eps
        lp, gp, _ = fun((th + e)[None], y[None], v[None], X)
        lm, gm, _ = fun((th - e)[None], y[None], v[None], X)
        assert g[0, i] == pytest.approx((lp[0] - lm[0]) / (2 * eps), rel=1e-6, abs=1e-6)
        np.testing.assert_allclose(H[0, i], (gp[0] - gm[0]) / (2 * eps), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("name,model", [
    ("raudenbush1985", "normal"), ("raudenbush1985", "t"), ("raudenbush1985", "mixture"),
    ("normand1999", "normal"), ("normand1999", "t"), ("normand1999", "mixture"),
    ("egger2001", "normal")])
def test_fit_matches_independent_r_implementation(name, model):
    ref = DATA[name]["fits"][model]
    fit = fitted(name, model)
    assert fit.loglik == pytest.approx(ref["loglik"], abs=1e-8)
    assert fit.ci_low[0] == pytest.approx(ref["ci_low"], abs=1e-7)
    assert fit.ci_high[0] == pytest.approx(ref["ci_high"], abs=1e-7)
    assert fit.pvalue[0] == pytest.approx(ref["pvalue"], abs=1e-8)
    # the likelihood is flat in some directions: parameters agree to what nlminb resolves
    assert fit.coef[0] == pytest.approx(ref["mu"], rel=1e-6, abs=1e-6)
    assert fit.tau2 == pytest.approx(ref["tau2"], rel=1e-6, abs=1e-9)
    if model == "t":
        assert fit.vinv == pytest.approx(ref["vinv"], rel=1e-6)
    if model == "mixture":
        assert fit.tau2_out == pytest.approx(ref["tau2out"], rel=1e-5)
        assert fit.p_outlier == pytest.approx(ref["p_outlier"], rel=1e-6)
        np.testing.assert_allclose(fit.outlier_prob, ref["outlier_prob"], atol=1e-6)


def test_profile_bounds_are_where_the_likelihood_ratio_hits_the_quantile():
    """At each bound, brute-force maximisation over the nuisance parameters from 300 random
    starts gives LR = χ²₁(0.95): the interval is the true profile interval."""
    y, v = data("raudenbush1985")
    fit = fitted("raudenbush1985", "mixture")
    rng = np.random.default_rng(3)
    S = 300
    for bound in (fit.ci_low[0], fit.ci_high[0]):
        starts = np.column_stack([np.full(S, bound), rng.uniform(0, 0.5, S),
                                  rng.uniform(0, 1.5, S), rng.uniform(-4, 2, S)])
        _, ll, _ = maximise("mixture", starts, np.repeat(y[None], S, 0),
                            np.repeat(v[None], S, 0), np.ones((y.size, 1)),
                            fixed=np.array([True, False, False, False]))
        lr = 2 * (fit.loglik - np.nanmax(ll))
        assert lr == pytest.approx(stats.chi2.ppf(0.95, 1), abs=1e-7)


# ---------------------------------------------------------------- metaplus' printed examples
MAG_PRINTED = {   # Beath (2016) section 3.1, summary() outputs
    "normal": {"muhat": -0.7463, "tau2": 0.2540, "loglik": -19.68459, "aic": 43.36918,
               "bic": 44.91436, "pvalue": 0.000501},
    "t": {"muhat": -0.7463, "tau2": 0.2540, "vinv": 0.0, "loglik": -19.68459, "aic": 45.36918,
          "bic": 47.68695, "pvalue": 0.000501},
    "mixture": {"muhat": -0.7463152, "loglik": -19.68459, "aic": 47.36918, "bic": 50.45954},
}


@pytest.mark.parametrize("model", ["normal", "t", "mixture"])
def test_magnesium_example_as_printed_by_metaplus(model):
    fit = fitted("egger2001", model)
    printed = MAG_PRINTED[model]
    digits = {"muhat": 4 if model != "mixture" else 7, "tau2": 4, "vinv": 4, "loglik": 5,
              "aic": 5, "bic": 5}
    ours = {"muhat": fit.coef[0], "tau2": fit.tau2, "vinv": fit.vinv, "loglik": fit.loglik,
            "aic": fit.aic, "bic": fit.bic}
    for key, value in printed.items():
        if key == "pvalue":
            assert fit.pvalue[0] == pytest.approx(value, abs=5e-7)
        else:
            assert round(ours[key], digits[key]) == pytest.approx(value, abs=10**-digits[key])
    if model == "mixture":        # metaplus: tau2 = 0.2539984, tau2out = 0.2539985: no outlier
        assert fit.tau2_out == pytest.approx(fit.tau2, rel=1e-6)
        assert any("same variance" in m for m in fit.messages)


# ---------------------------------------------------------------- bootstrap test
def test_bootstrap_is_seeded_and_equals_one_draw_at_a_time():
    y, v = data("raudenbush1985")
    a = outlier_test(y, v, model="mixture", replicates=12, seed=7)
    b = outlier_test(y, v, model="mixture", replicates=12, seed=7)
    np.testing.assert_array_equal(a.sims, b.sims)
    assert a.pvalue == (np.sum(a.sims >= a.observed) + 1) / 13
    # the vectorised fits equal fitting each bootstrap data set on its own
    rng = np.random.default_rng(7)
    k = y.size
    X = np.ones((k, 1))
    base, _ = normal_ml(y[None], v[None], X)
    se_star = np.sqrt(v)[rng.integers(0, k, size=(12, k))]
    y_star = base[0, 0] + base[0, 1] * rng.standard_normal((12, k)) \
        + se_star * rng.standard_normal((12, k))
    for i in (0, 5, 11):
        b0, l0 = normal_ml(y_star[i][None], se_star[i][None] ** 2, X)
        _, l1, _ = fit_model("mixture", y_star[i][None], se_star[i][None] ** 2, X,
                             exhaustive=False, base=b0)
        assert a.sims[i] == pytest.approx(lrt_statistic(l1, l0, 1e-4)[0], abs=1e-8)


def test_bootstrap_observed_statistic_and_metaplus_zero_rule():
    y, v = data("raudenbush1985")
    res = outlier_test(y, v, model="t", replicates=5, seed=1)
    t, n = fitted("raudenbush1985", "t"), fitted("raudenbush1985", "normal")
    assert res.observed == pytest.approx(2 * (t.loglik - n.loglik), abs=1e-9)
    assert lrt_statistic(np.array([-10.0]), np.array([-10.0005]), 1e-4)[0] == 0.0
    assert lrt_statistic(np.array([-10.0]), np.array([-9.0]), 1e-4)[0] == 0.0
    assert lrt_statistic(np.array([-10.0]), np.array([-12.0]), 1e-4)[0] == 4.0


def test_magnesium_bootstrap_as_printed_by_metaplus():
    """Beath (2016) 3.1: 'Observed LRT statistic 0.0 p value 1' for t and mixture."""
    y, v = data("egger2001")
    for model in ("t", "mixture"):
        res = outlier_test(y, v, model=model, replicates=9, seed=2)
        assert res.observed == 0.0 and res.pvalue == 1.0


# ---------------------------------------------------------------- input checks and output
def test_errors_are_clear():
    with pytest.raises(InputError, match="robust model"):
        fit_robust([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], model="cauchy")
    with pytest.raises(InputError, match="at least 3"):
        fit_robust([0.1, 0.2], [0.1, 0.1], model="t")
    with pytest.raises(InputError, match="positive variance"):
        fit_robust([0.1, 0.2, 0.3], [0.1, 0.0, 0.1], model="t")
    with pytest.raises(InputError, match="'t' or 'mixture'"):
        outlier_test([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], model="normal")


def test_result_object():
    fit = fitted("raudenbush1985", "mixture")
    frame = fit.to_frame()
    assert list(frame.columns) == ["term", "estimate", "se", "ci_low", "ci_high", "pvalue"]
    d = fit.to_dict()
    assert d["aic"] == pytest.approx(-2 * fit.loglik + 8)
    assert "tau2out" in fit.summary() and "Outlier prob." in fit.summary()
    assert repr(fit).startswith("RobustFit(model='mixture'")
    with pytest.raises(AttributeError):
        fit.tau2 = 1.0


# ---------------------------------------------------------------- robust meta-regression
REG = json.loads((Path(__file__).parent / "reference" / "robust_metareg.json").read_text())


@pytest.mark.parametrize("model", ["normal", "mixture"])
def test_robust_metareg_matches_independent_r_implementation(model):
    """metareg(method=...) with a moderator (dat.raudenbush1985 ~ weeks) against R's
    nlminb/uniroot implementation: coefficients, profile intervals, LR p-values, the LR
    test of the moderator."""
    import pandas as pd

    import ipdmeta as ipd
    r = REG["raudenbush1985"]
    ref = r["fits"][model]
    data = pd.DataFrame({"yi": r["yi"], "vi": r["vi"], "weeks": r["x"]})
    if model == "normal":
        X = np.column_stack([np.ones(len(data)), data["weeks"]])
        fit = fit_robust(data["yi"], data["vi"], X, model="normal")
        coef, lo, hi, p = fit.coef, fit.ci_low, fit.ci_high, fit.pvalue
        loglik = fit.loglik
    else:
        mr = ipd.metareg(data, "~ weeks", estimate="yi", variance="vi", method=model)
        coef, lo, hi, p = (mr.coef[c].to_numpy() for c in ("estimate", "ci_low", "ci_high",
                                                           "pvalue"))
        loglik = mr.robust_model.loglik
        qm = mr.QM
        assert qm == pytest.approx(ref["QM"], abs=1e-8)
        assert mr.robust_model.tau2_out == pytest.approx(ref["tau2out"], rel=1e-6)
        assert mr.coef["pvalue"].iloc[1] == pytest.approx(mr.QM_pvalue, abs=1e-12)
        degenerate = abs(ref["tau2out"] - ref["tau2"]) < 1e-8
        if degenerate:   # tau2 = tau2out: the mixing proportion is not identified
            assert any("same variance" in m for m in mr.messages)
        else:
            np.testing.assert_allclose(mr.outlier_probabilities()["outlier_probability"],
                                       ref["outlier_prob"], atol=1e-6)
    np.testing.assert_allclose(coef, ref["coef"], atol=1e-7)
    np.testing.assert_allclose(lo, ref["ci_low"], atol=1e-7)
    np.testing.assert_allclose(hi, ref["ci_high"], atol=1e-7)
    np.testing.assert_allclose(p, ref["pvalue"], atol=1e-8)
    assert loglik == pytest.approx(ref["loglik"], abs=1e-8)
