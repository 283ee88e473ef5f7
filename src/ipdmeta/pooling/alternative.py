"""Pooled estimates of the models that have their own estimate and variance.

Not the inverse-variance weights ``1/(v + τ̂²)`` of the standard random-effects model:

* ``"mult"``: common-effect estimate, variance × Q/(k − 1) (Thompson & Sharp 1999);
* ``"IVhet"``: common-effect estimate with its random-effects variance (Doi et al. 2015);
* ``"BT"``: Biggerstaff-Tweedie weights (Biggerstaff & Tweedie 1997);
* ``ci="hc"``: Henmi-Copas interval around the common-effect estimate (Henmi & Copas 2010);
* ``"t"``, ``"mixture"``: robust random effects by maximum likelihood with profile-likelihood
  intervals (Beath 2014, 2016; R metaplus).

:func:`fit_alternative` returns an :class:`AlternativeFit` that
:func:`ipdmeta.pooling.estimate.fit_pooled` turns into a ``Pooled`` result.

Example:
    >>> import ipdmeta as ipd
    >>> from ipdmeta.pooling.options import make_spec
    >>> bcg = ipd.datasets.load_bcg()
    >>> a = fit_alternative(bcg["yi"].to_numpy(), bcg["vi"].to_numpy(), make_spec("IVhet"))
    >>> round(a.estimate, 4), round(a.se, 4)
    (-0.4303, 0.2835)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ipdmeta.pooling.corrections import biggerstaff_tweedie, ivhet, multiplicative
from ipdmeta.pooling.henmi_copas import henmi_copas
from ipdmeta.pooling.inference import two_sided_p, wald_bounds
from ipdmeta.pooling.options import PoolSpec
from ipdmeta.pooling.robust import RobustFit, fit_robust
from ipdmeta.pooling.robust_lik import mixture_precision, t_precision
from ipdmeta.pooling.tau2 import dersimonian_laird

NAN = float("nan")


@dataclass(frozen=True)
class AlternativeFit:
    """Estimate, se, interval and test of an alternative model, with its study weights."""

    model: str
    method: str
    ci_method: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    pvalue: float
    df: float | None
    tau2: float
    tau2_ci: tuple[float, float]
    weights: np.ndarray
    messages: tuple[str, ...] = ()
    robust: RobustFit | None = None


def _wald(model: str, method: str, estimate: float, se: float, tau2: float,
          weights: np.ndarray, k: int,
          spec: PoolSpec, tau2_ci: tuple[float, float] = (NAN, NAN),
          messages: tuple[str, ...] = ()) -> AlternativeFit:
    df = None if spec.ci == "z" else k - 1
    lo, hi = wald_bounds(estimate, se, spec.level, df)
    stat = estimate / se
    return AlternativeFit(model, method, spec.ci, estimate, se, lo, hi, stat,
                          two_sided_p(stat, df), df, tau2, tau2_ci, np.asarray(weights),
                          messages)


def fit_robust_model(y: np.ndarray, v: np.ndarray, spec: PoolSpec) -> RobustFit:
    """The robust (t or mixture) fit of ``spec.method`` at ``spec.level``."""
    return fit_robust(y, v, model=spec.method, level=spec.level)


def fit_alternative(y: np.ndarray, v: np.ndarray, spec: PoolSpec,
                    robust: RobustFit | None = None) -> AlternativeFit:
    """The estimate of ``spec``'s alternative model (``spec.is_alternative``).

    ``robust`` is an existing fit of the t or mixture model to the same data.
    """
    k = y.size
    X = np.ones((k, 1))
    w = 1.0 / v
    if spec.ci == "hc":
        hc = henmi_copas(y, v, spec.level)
        note = () if spec.method == "DL" else (
            f"ci='hc': the Henmi-Copas interval uses the DerSimonian-Laird tau² by "
            f"definition, not {spec.method}",)
        return AlternativeFit("random", "DL", "hc", hc.estimate, hc.se, hc.ci_low, hc.ci_high,
                              hc.estimate / hc.se, hc.pvalue, None, hc.tau2, (NAN, NAN), w,
                              note)
    if spec.method == "mult":
        mu, se, phi = multiplicative(y, v)
        note = ((f"multiplicative heterogeneity: Q/(k - 1) = {phi:.4g} < 1, so the interval "
                 "is narrower than the common-effect one (as metan)"),) if phi < 1 else ()
        return _wald("common", "mult", mu, se, 0.0, w, k, spec, messages=note)
    if spec.method == "IVhet":
        tau2 = dersimonian_laird(y, v, X).tau2
        mu, se = ivhet(y, v, tau2)
        return _wald("random", "IVhet", mu, se, tau2, w, k, spec)
    if spec.method == "BT":
        bt = biggerstaff_tweedie(y, v, spec.level)
        return _wald("random", "BT", bt.estimate, bt.se, bt.tau2, bt.weights, k, spec,
                     bt.tau2_ci)
    fit = robust if robust is not None else fit_robust_model(y, v, spec)
    theta = fit.theta[None, :]
    precision = (t_precision if fit.model == "t" else mixture_precision)(
        theta, y[None, :], v[None, :], X)[0]
    stat = float(np.sign(fit.coef[0]) * np.sqrt(stats.chi2.isf(fit.pvalue[0], 1)))
    return AlternativeFit("random", fit.model, "pl", float(fit.coef[0]), float(fit.se[0]),
                          float(fit.ci_low[0]), float(fit.ci_high[0]), stat,
                          float(fit.pvalue[0]), None, fit.tau2, (NAN, NAN), precision,
                          fit.messages, fit)
