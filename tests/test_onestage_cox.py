"""One-stage Cox model (stratified baseline, random treatment effect; coxme's method).

coxme cannot be installed here, so the fit is checked three ways:

1. **The inner problem exactly**: at a fixed tau, the penalised partial likelihood
   ``log PL - sum b^2 / (2 tau^2)`` is what survival::coxph maximises with a ridge
   penalty (theta = 1/tau^2, unscaled) on trial-by-treatment columns; its ``var`` is the
   inverse penalised information, from which R computes the Laplace value too
   (tests/reference/onestage_coxme.R, hypertension data with tied times, Efron and
   Breslow).  Compared at 1e-8; tau = 0 is coxph with strata(trial).
2. **A published coxme fit**: coxme's test file slope1 (coxme 2.2-22, printed output in
   tests/slope1.Rout.save) fits ``Surv(time, status) ~ age + trt + (trt | inst) +
   strata(inst)`` to simulated data that R regenerates here (seed 56).  Compared at the
   printed digits (coxme's own optimiser stops about 3e-5 from the optimum in tau).
3. **Numerical integration**: the integrated partial likelihood is computed
   independently (a plain partial likelihood without ties, a 60-point adaptive
   Gauss-Hermite rule per trial, checked against scipy's ``quad``).  The Laplace value
   at the fitted point is compared with it: they differ by the Laplace error (here
   under 0.01 on the log scale); and the maximiser of the integrated likelihood is
   compared with coxme's estimates, which are not the same estimator (coxme takes beta
   from the penalised likelihood), to within a small fraction of a standard error.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize
from scipy.special import logsumexp

from ipdmeta import datasets
from ipdmeta.onestage import cox, onestage
from ipdmeta.onestage._blocks import Arrow
from ipdmeta.onestage.design import build_design

REF = Path(__file__).parent / "reference"
COXME = json.loads((REF / "onestage_coxme.json").read_text())
SLOPE = pd.read_csv(REF / "data" / "onestage_coxme_slope.csv")


@pytest.fixture(scope="module")
def slope_fit():
    return onestage(SLOPE, study="inst", formula="Surv(time, status) ~ age + trt",
                    random="trt")


# ----------------------------------------------------------------- 1. the inner problem
@pytest.mark.parametrize("case", COXME["hypertension_ppl"],
                         ids=lambda c: f"{c['ties']}-tau{c['tau']}")
def test_penalised_partial_likelihood_against_coxph_ridge(case: dict) -> None:
    d = build_design(datasets.load("hypertension"), study="trial",
                     formula="Surv(time, event) ~ treat + age")
    prob = cox.Problem(d, case["ties"])
    sc = prob.pl.scale
    a, g, K = prob.a, prob.g, prob.K
    opt, laplace = prob.maximise(case["tau"] * sc[a + g], np.zeros(prob.size))
    arrow = Arrow(*prob.blocks(opt.x))
    beta = opt.x[K * (a + 1):] / sc[a:a + g]
    np.testing.assert_allclose(beta, case["coef"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(np.sqrt(np.diag(arrow.inv_WW)) / sc[a:a + g], case["se"],
                               rtol=1e-8)
    np.testing.assert_allclose(laplace, case["laplace"], rtol=1e-11)
    if case["tau"] > 0:
        b = opt.x[:K * (a + 1)].reshape(K, a + 1)[:, a] / sc[a + g]
        np.testing.assert_allclose(b, case["b"], rtol=1e-7, atol=1e-10)
        np.testing.assert_allclose(np.sqrt(arrow.inv_LL[:, a, a]) / sc[a + g], case["se_b"],
                                   rtol=1e-8)


# ----------------------------------------------------------------- 2. published coxme
def test_published_coxme_slope1(slope_fit) -> None:
    """coxme 2.2-22 tests/slope1.Rout.save, ``print(sfit1, rcoef=TRUE, digits=4)``."""
    r = slope_fit
    assert (r.n, r.events, r.k) == (2376, 1504, 9)
    coef = r.coef.set_index("term")
    np.testing.assert_allclose(coef.loc["age", "estimate"], 0.03097, atol=1e-5)
    np.testing.assert_allclose(coef.loc["trt", "estimate"], -0.31038, atol=3e-5)
    np.testing.assert_allclose(coef.loc["age", "se"], 0.003047, atol=1e-6)
    np.testing.assert_allclose(coef.loc["trt", "se"], 0.116564, atol=3e-5)
    np.testing.assert_allclose(np.sqrt(r.tau2), 0.31042, atol=5e-5)
    np.testing.assert_allclose(r.loglik, -7564.201, atol=1e-3)
    np.testing.assert_allclose(r.extra["loglik_penalised_fit"], -7553.573, atol=2e-3)
    np.testing.assert_allclose(r.extra["loglik_null"], -7636.963, atol=1e-3)
    printed = [-0.23574, -0.23583, -0.34250, -0.03709, -0.01858, -0.09182, 0.03376, 0.39190,
               0.53589]
    printed_se = [0.190686, 0.179152, 0.176387, 0.174728, 0.165983, 0.163471, 0.162333,
                  0.159318, 0.155067]
    np.testing.assert_allclose(r.blups["blup"], printed, atol=5e-5)
    np.testing.assert_allclose(r.blups["se"], printed_se, atol=3e-5)
    assert r.status == "ok" and r.convergence.converged


def test_tau_zero_is_the_stratified_cox_model() -> None:
    ref = COXME["coxph_strata"]["efron"]
    d = build_design(SLOPE, study="inst", formula="Surv(time, status) ~ age + trt",
                     random="trt")
    prob = cox.Problem(d, "efron")
    opt, value = prob.maximise(0.0, np.zeros(prob.size))
    sc = prob.pl.scale
    np.testing.assert_allclose(opt.x[prob.K * (prob.a + 1):] / sc[:2], ref["coef"], rtol=1e-9)
    np.testing.assert_allclose(value, ref["loglik"][1], rtol=1e-12)


# ----------------------------------------------------------------- 3. integration
def _log_pl_trials(frame: pd.DataFrame, eta_fixed: np.ndarray, z: np.ndarray,
                   b: np.ndarray) -> np.ndarray:
    """log partial likelihood of one trial (no tied times) for each value of ``b``."""
    order = np.argsort(-frame["time"].to_numpy())      # longest first: risk sets = prefixes
    eta = eta_fixed[order][:, None] + z[order][:, None] * b[None, :]
    risk = np.logaddexp.accumulate(eta, axis=0)
    d = frame["status"].to_numpy()[order] == 1
    return np.sum(eta[d] - risk[d], axis=0)


def test_quadrature_of_one_trial_against_scipy_quad() -> None:
    tr = SLOPE[SLOPE["inst"] == 1]
    beta, tau = np.array([0.03, -0.3]), 0.3
    eta = beta[0] * tr["age"].to_numpy() + beta[1] * tr["trt"].to_numpy()
    z = tr["trt"].to_numpy(dtype=float)
    shift = _log_pl_trials(tr, eta, z, np.array([0.0]))[0]
    val, _ = integrate.quad(lambda b: np.exp(_log_pl_trials(tr, eta, z, np.array([b]))[0]
                                             - shift) * np.exp(-0.5 * (b / tau) ** 2)
                            / (tau * np.sqrt(2 * np.pi)), -3, 3, epsabs=0, epsrel=1e-12,
                            limit=200)
    np.testing.assert_allclose(_integrated_one(tr, beta, tau), np.log(val) + shift, rtol=1e-11)


def _integrated_one(tr: pd.DataFrame, beta: np.ndarray, tau: float) -> float:
    """log int PL(beta, b) N(b; 0, tau^2) db of one trial: a 60-point Gauss-Hermite rule
    centred at the mode of the integrand and scaled by its curvature."""
    z_gh, w_gh = np.polynomial.hermite_e.hermegauss(60)
    logw = np.log(w_gh / np.sqrt(2 * np.pi))
    eta = beta[0] * tr["age"].to_numpy() + beta[1] * tr["trt"].to_numpy()
    z = tr["trt"].to_numpy(dtype=float)
    res = optimize.minimize_scalar(lambda b: -(_log_pl_trials(tr, eta, z, np.array([b]))[0]
                                               - 0.5 * (b / tau) ** 2),
                                   bounds=(-3, 3), method="bounded",
                                   options={"xatol": 1e-10})
    m, h = res.x, 1e-3 * tau
    pts = np.array([m - h, m, m + h])
    vals = _log_pl_trials(tr, eta, z, pts) - 0.5 * (pts / tau) ** 2
    s = 1 / np.sqrt(-(vals[0] - 2 * vals[1] + vals[2]) / h**2)
    b = m + s * z_gh
    g = _log_pl_trials(tr, eta, z, b) - 0.5 * (b / tau) ** 2
    return float(logsumexp(logw + g + 0.5 * z_gh**2) + np.log(s / tau))


def test_laplace_against_numerical_integration(slope_fit) -> None:
    """What is comparable: (a) the Laplace value and the integrated partial likelihood
    at the fitted point differ only by the Laplace error; (b) the maximiser of the
    integrated likelihood (beta and tau jointly) is close to coxme's estimates."""
    r = slope_fit
    coef = r.coef.set_index("term")
    beta = coef.loc[["age", "trt"], "estimate"].to_numpy()
    tau = float(np.sqrt(r.tau2))
    exact = sum(_integrated_one(tr, beta, tau) for _, tr in SLOPE.groupby("inst"))
    assert abs(exact - r.loglik) < 0.01
    res = optimize.minimize(lambda p: -sum(_integrated_one(tr, p[:2], abs(p[2]))
                                           for _, tr in SLOPE.groupby("inst")),
                            np.r_[beta, tau], method="Nelder-Mead",
                            options={"xatol": 1e-6, "fatol": 1e-8, "maxiter": 400})
    se = coef.loc[["age", "trt"], "se"].to_numpy()
    assert np.all(np.abs(res.x[:2] - beta) < 0.05 * se)
    assert abs(abs(res.x[2]) - tau) < 0.02
