"""One-stage linear and generalised linear mixed models against lme4 / lmerTest / pbkrtest / nlme.

Reference values: tests/reference/onestage_lme4.R (R 4.2, lme4 1.1-31, lmerTest 3.1-3,
pbkrtest 0.5.2, nlme) on real data with trial-like clusters (lme4 sleepstudy, mlmRev Exam,
Contraception and Mmmec), stratified intercepts as fixed factors
(``y ~ 0 + factor(cluster) + treat + (0 + treat | cluster)``) or random intercepts.
lmer fits use bobyqa with rhoend = 1e-12; glmer fits are polished on lme4's own deviance
function to a gradient of about 1e-7.  Estimates, standard errors and variance
components are compared at 1e-5 (relative), log-likelihoods at 1e-9 and lme4's deviance
function at given parameters at 1e-10 (lmer) and 1e-8 (glmer).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.special import gammaln, xlogy

from ipdmeta.onestage import linear, onestage
from ipdmeta.onestage.design import build_design
from ipdmeta.onestage.glmm import Problem

REF = Path(__file__).parent / "reference"
CASES = {c["name"]: c for c in json.loads((REF / "onestage_lme4.json").read_text())["cases"]}
DATA = {"sleepstudy": "onestage_sleepstudy.csv", "exam": "onestage_exam.csv",
        "mmmec": "onestage_mmmec.csv"}


def _data(case: dict) -> pd.DataFrame:
    name = case["data"]
    if name.startswith("contraception"):
        return pd.read_csv(REF / "data" / "onestage_contraception.csv")
    if name.startswith("exam_sub"):
        ex = pd.read_csv(REF / "data" / "onestage_exam.csv")
        return ex[ex["school"] <= case["call"]["subset_max_school"]]
    return pd.read_csv(REF / "data" / DATA[name])


def _kwargs(case: dict) -> dict:
    call = {k: v for k, v in case["call"].items() if k != "subset_max_school"}
    if isinstance(call.get("interaction"), list):
        call["interaction"] = tuple(call["interaction"])
    return call


def _close(a, b, rtol=1e-5, atol=1e-8) -> None:
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float),
                               rtol=rtol, atol=atol)


def _varcorr(case: dict, study: str) -> dict[tuple[str, str], float]:
    vc = case["varcorr"]
    return {(g, v1, v2): val for g, v1, v2, val in
            zip(vc["grp"], vc["var1"], vc["var2"], vc["vcov"], strict=True)}


def _G(res, case: dict) -> None:
    """Random-effect (co)variances and the residual variance against VarCorr."""
    vc = _varcorr(case, case["call"]["study"])
    study = case["call"]["study"]
    re = res.random_effects.set_index("term")
    for (g, v1, v2), val in vc.items():
        if g == "Residual":
            _close(res.sigma2, val)
        elif v2 == "":
            _close(re.loc[v1.replace("(Intercept)", "Intercept"), "variance"], val, atol=1e-10)
        else:
            cov = re["corr"].iloc[1] * re["sd"].iloc[0] * re["sd"].iloc[1]
            _close(cov, val, atol=1e-8)
        assert g in (study, "Residual")


LINEAR = [n for n, c in CASES.items() if c["family"] == "linear" and "varcorr" in c]
HETERO = [n for n, c in CASES.items() if c["family"] == "linear" and "varcorr" not in c]
GLMM = [n for n, c in CASES.items() if c["family"] in ("binomial", "poisson")]


@pytest.fixture(scope="module")
def fits() -> dict:
    return {}


def _fit(fits: dict, name: str, **extra):
    key = (name, tuple(sorted(extra.items())))
    if key not in fits:
        case = CASES[name]
        fits[key] = onestage(_data(case), **{**_kwargs(case), **extra})
    return fits[key]


@pytest.mark.parametrize("name", LINEAR)
def test_lmer_estimates(name: str, fits: dict) -> None:
    case = CASES[name]
    res = _fit(fits, name, tau2_ci="profile_sd_ci" in case)
    _close(res.coef["estimate"], case["coef"]["estimate"])
    _close(res.coef["se"], case["coef"]["se"])
    _G(res, case)
    _close(res.loglik, case["loglik"], rtol=1e-9)
    _close(res.aic, case["aic"], rtol=1e-9)
    assert res.n_params == case["npar"] and res.n == case["nobs"]


@pytest.mark.parametrize("name", LINEAR)
def test_lmer_satterthwaite(name: str, fits: dict) -> None:
    case = CASES[name]
    res = _fit(fits, name, tau2_ci="profile_sd_ci" in case)
    _close(res.coef["df"], case["df_satterthwaite"], rtol=1e-5)


@pytest.mark.parametrize("name", [n for n in LINEAR if "kr" in CASES[n]])
def test_kenward_roger(name: str, fits: dict) -> None:
    case = CASES[name]
    res = _fit(fits, name, df="kenward-roger", tau2_ci=False)
    _close(res.coef["se"], case["kr"]["se"])
    _close(res.coef["df"], case["kr"]["df"], rtol=1e-5)


@pytest.mark.parametrize("name", LINEAR)
def test_lmer_deviance_function(name: str) -> None:
    """Our profiled (restricted) deviance at lme4's theta equals lme4's devfun."""
    case = CASES[name]
    d = build_design(_data(case), **{k: v for k, v in _kwargs(case).items()
                                     if k not in ("method",)})
    cp = linear.cross_products(d)
    reml = case["call"]["method"] == "REML"
    for theta, value in zip(case["devfun"]["theta"], case["devfun"]["value"], strict=True):
        th = np.atleast_1d(np.asarray(theta, dtype=float))
        if th.size == 3:   # lme4: (Intercept, slope) order; ours: (slope, Intercept)
            T = np.array([[th[0], 0], [th[1], th[2]]])
            G = (T @ T.T)[::-1, ::-1]
            th = np.linalg.cholesky(G + 1e-300 * np.eye(2))[np.tril_indices(2)]
        ll, _, _ = linear.profiled_loglik(cp, th, reml)
        _close(-2 * ll, value, rtol=1e-10)


@pytest.mark.parametrize("name", LINEAR)
def test_lmer_blups(name: str, fits: dict) -> None:
    case = CASES[name]
    res = _fit(fits, name, tau2_ci="profile_sd_ci" in case)
    bl = case["blups"]
    for key in bl:
        if not key.startswith("b_"):
            continue
        term = key[2:].replace("(Intercept)", "Intercept")
        mine = res.blups[res.blups["term"] == term]
        assert mine["study"].astype(str).tolist() == [str(s) for s in bl["study"]]
        scale = max(1.0, float(np.max(np.abs(bl[key]))))
        _close(mine["blup"], bl[key], rtol=1e-5, atol=1e-6 * scale)
        _close(mine["se"], bl["se_" + key[2:]], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("name", [n for n in LINEAR if "profile_sd_ci" in CASES[n]])
def test_profile_interval_of_tau(name: str, fits: dict) -> None:
    """lme4's confint(profile) profiles the ML deviance, also for a REML fit (its REML and
    ML fits give the same interval), and interpolates the profile with splines: agreement
    with ipdmeta's ML profile interval is to about 1e-3.  (ipdmeta profiles the restricted
    likelihood of a REML fit; that interval's defining property is checked exactly in
    test_onestage_api.)"""
    case = CASES[name]
    res = _fit(fits, name, tau2_ci=True, method="ML")
    lo, hi = np.sqrt(res.tau2_ci)
    ref = case["profile_sd_ci"]
    np.testing.assert_allclose([lo, hi], ref, rtol=2e-3, atol=1e-4)


@pytest.mark.parametrize("name", HETERO)
def test_nlme_varident(name: str) -> None:
    """Trial-specific residual variances against nlme::lme(weights = varIdent(~1 | trial))."""
    case = CASES[name]
    data = _data(case)
    res = onestage(data, **_kwargs(case), tau2_ci=False)
    _close(res.coef["estimate"], case["coef"]["estimate"], rtol=1e-5)
    _close(res.coef["se"], case["coef"]["se"], rtol=1e-4)
    _close(res.tau2, case["tau2"], rtol=1e-4)
    s2 = res.sigma2_study.set_index(res.sigma2_study["study"].astype(str))["sigma2"]
    ref = dict(zip(case["sigma2_study"]["study"], case["sigma2_study"]["value"], strict=True))
    _close(s2.loc[list(ref)].to_numpy(), list(ref.values()), rtol=1e-4)
    common = onestage(data, **{**_kwargs(case), "residual_variance": "common"}, tau2_ci=False)
    _close(common.tau2, case["tau2_common"], rtol=1e-5)
    _close(common.estimate, case["estimate_common"], rtol=1e-7)
    # nlme's REML log-likelihood differs from lme4's by a constant (its restricted
    # likelihood adds 1/2 log|X'X|); the difference between the two models is the same
    _close(res.loglik - common.loglik, case["loglik"] - case["loglik_common"], rtol=1e-5)


# ----------------------------------------------------------------- glmer
def _glmm_params(case: dict, prob: Problem, par: list[float]) -> np.ndarray:
    """lme4's (theta, beta) as our (local, global, vech Lambda) vector."""
    nth = np.atleast_1d(case["theta"]).size
    par = np.asarray(par, dtype=float)
    theta, beta = par[:nth], par[nth:]
    K, a = prob.K, prob.a
    x = np.zeros(prob.size)
    if case["call"]["intercepts"] == "stratified":
        x[:K * a] = beta[:K]
        x[K * a:K * a + prob.g] = beta[K:]
        x[K * a + prob.g:] = theta
    else:
        x[:prob.g] = beta
        T = np.array([[theta[0], 0], [theta[1], theta[2]]])
        G = (T @ T.T)[::-1, ::-1]
        x[prob.g:] = np.linalg.cholesky(G)[np.tril_indices(2)]
    return x


def _saturated(case: dict, y: np.ndarray) -> float:
    """lme4's adaptive-quadrature deviance (nAGQ > 1) is relative to the saturated model,
    so for counts its logLik is off by the saturated log-likelihood
    sum(y log y - y - log y!) (zero for 0/1 outcomes); Laplace fits use the true one."""
    if case["family"] != "poisson" or case["nAGQ"] == 1:
        return 0.0
    return float(np.sum(xlogy(y, y) - y - gammaln(y + 1)))


@pytest.mark.parametrize("name", GLMM)
def test_glmer_deviance_function(name: str) -> None:
    """-2 x our Laplace / adaptive-quadrature log-likelihood at given (theta, beta) equals
    lme4's deviance function there (so the approximation itself is lme4's).  At 1e-8:
    with two random effects lme4's penalised least squares stops ~1e-9 (relative) short
    of the conditional modes, which ipdmeta finds to 1e-11."""
    case = CASES[name]
    kw = _kwargs(case)
    d = build_design(_data(case), study=kw["study"], formula=kw["formula"], model=kw["model"],
                     intercepts=kw["intercepts"], exposure=kw.get("exposure"))
    prob = Problem(d, case["nAGQ"])
    sat = _saturated(case, d.y)
    for par, value in zip(case["devfun"]["par"], case["devfun"]["value"], strict=True):
        ll, _ = prob.fun(_glmm_params(case, prob, par))
        _close(-2 * (ll - sat), value, rtol=1e-8)
    # lme4's logLik is -deviance/2 at its own fit
    _close(case["loglik_lme4_fit"], -case["deviance_lme4_fit"] / 2, rtol=1e-12)


@pytest.mark.parametrize("name", GLMM)
def test_glmer_estimates(name: str, fits: dict) -> None:
    case = CASES[name]
    res = _fit(fits, name, tau2_ci=False)
    assert res.convergence.converged
    _close(res.coef["estimate"], case["coef"]["estimate"], rtol=1e-5, atol=1e-7)
    _close(res.coef["se"], case["coef"]["se"], rtol=1e-5)
    sat = _saturated(case, _data(case)[case["r_formula"].split("~")[0].strip()].to_numpy(float))
    _close(res.loglik - sat, case["loglik"], rtol=1e-9)
    assert res.n_params == case["npar"] and res.n == case["nobs"]
    theta = np.atleast_1d(np.asarray(case["theta"], dtype=float))
    if theta.size == 1:
        _close(np.sqrt(res.tau2), theta[0], rtol=1e-5)
    else:
        T = np.array([[theta[0], 0], [theta[1], theta[2]]])
        G = T @ T.T
        re = res.random_effects.set_index("term")
        _close([re.loc["Intercept", "variance"], re.loc[res.random, "variance"]],
               np.diag(G), rtol=1e-5)


@pytest.mark.parametrize("name", GLMM)
def test_glmer_blups(name: str, fits: dict) -> None:
    case = CASES[name]
    res = _fit(fits, name, tau2_ci=False)
    b = np.asarray(case["blups"]["b"], dtype=float).reshape(len(case["blups"]["study"]), -1)
    studies = [str(s) for s in case["blups"]["study"]]
    terms = [res.random] if b.shape[1] == 1 else ["Intercept", res.random]
    for j, term in enumerate(terms):
        mine = res.blups[res.blups["term"] == term].set_index(
            res.blups.loc[res.blups["term"] == term, "study"].astype(str))["blup"]
        _close(mine.loc[[s for s in studies if s in mine.index]].to_numpy(),
               b[[i for i, s in enumerate(studies) if s in mine.index], j], rtol=1e-5,
               atol=1e-6)
