"""Intervals and tests for the pooled effect, and the prediction interval.

CI methods (``ci=``):

* ``"z"``: Wald interval with normal quantiles.
* ``"t"``: Wald interval with t quantiles on k − 1 degrees of freedom.
* ``"hksj"``: Hartung-Knapp-Sidik-Jonkman: the variance is multiplied by
  ``q = Σ w*(y − μ)²/(k − 1)`` (w* = 1/(v + tau²)) and t quantiles on k − 1 df
  are used (Knapp & Hartung 2003; metafor ``test="knha"``).
* ``"hksj-trunc"``: the same with ``q`` truncated below at 1, so the interval is
  never narrower than the Wald-type interval with t quantiles (Knapp & Hartung
  2003; Jackson et al. 2017; metafor ``test="adhoc"``).
* ``"pl"``: profile-likelihood interval (Hardy & Thompson 1996) from the ML
  likelihood with tau² profiled out, as Stata's ``metan, model(pl)``.

Example:
    >>> lo, hi = wald_bounds(0.5, 0.1, 0.95, df=None)
    >>> round(lo, 4), round(hi, 4)
    (0.304, 0.696)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.projection import Projection

CI_METHODS = ("z", "t", "hksj", "hksj-trunc", "pl")
PI_METHODS = ("hts", "metafor")


@dataclass(frozen=True)
class Inference:
    """Standard error, interval and test of one pooled coefficient."""

    se: float
    ci_low: float
    ci_high: float
    statistic: float
    pvalue: float
    df: float | None
    scale: float = 1.0  # the HKSJ variance multiplier that was applied


def critical_value(level: float, df: float | None) -> float:
    """Two-sided critical value: normal when ``df`` is None, else t."""
    upper = 1 - (1 - level) / 2
    return float(stats.norm.ppf(upper) if df is None else stats.t.ppf(upper, df))


def wald_bounds(estimate: float, se: float, level: float, df: float | None
                ) -> tuple[float, float]:
    """``estimate ± crit × se``."""
    crit = critical_value(level, df)
    return estimate - crit * se, estimate + crit * se


def two_sided_p(statistic: float, df: float | None) -> float:
    """Two-sided p-value of a z (df None) or t statistic."""
    if df is None:
        return float(2 * stats.norm.sf(abs(statistic)))
    return float(2 * stats.t.sf(abs(statistic), df))


def hksj_scale(y: np.ndarray, v: np.ndarray, tau2: float, X: np.ndarray) -> float:
    """Knapp-Hartung variance multiplier ``Σ w*(y − Xb)²/(k − p)``."""
    k, p = X.shape
    q = Projection(1.0 / (v + tau2), X).quad(y) / (k - p)
    return 0.0 if q <= np.finfo(float).eps else q


def wald_inference(estimate: float, se: float, level: float, ci: str, k: int,
                   scale: float = 1.0) -> Inference:
    """Interval and test for ``ci`` in z, t, hksj, hksj-trunc given the model se."""
    df = None if ci == "z" else k - 1
    if ci == "hksj-trunc":
        scale = max(1.0, scale)
    elif ci != "hksj":
        scale = 1.0
    se_adj = se * np.sqrt(scale)
    lo, hi = wald_bounds(estimate, se_adj, level, df)
    stat = estimate / se_adj if se_adj > 0 else float("inf") * np.sign(estimate)
    return Inference(se_adj, lo, hi, stat, two_sided_p(stat, df), df, scale)


def ml_tau2_at(mu: float, y: np.ndarray, v: np.ndarray) -> float:
    """ML tau² ≥ 0 for a fixed mean ``mu`` (root of the tau² score)."""
    e2 = (y - mu) ** 2

    def score(t: float) -> float:
        return float(np.sum((e2 - v - t) / (v + t) ** 2))

    if score(0.0) <= 0:
        return 0.0
    upper = max(float(np.max(e2)), 1e-8)
    while score(upper) > 0:
        upper *= 2
    return float(optimize.brentq(score, 0.0, upper, xtol=1e-15, rtol=1e-15, maxiter=500))


def profile_loglik(mu: float, y: np.ndarray, v: np.ndarray) -> float:
    """ML log-likelihood of the random-effects model at mean ``mu``, tau² profiled out."""
    t = ml_tau2_at(mu, y, v)
    return float(-0.5 * np.sum(np.log(2 * np.pi * (v + t)) + (y - mu) ** 2 / (v + t)))


def profile_likelihood_inference(y: np.ndarray, v: np.ndarray, mu_ml: float, se: float,
                                 level: float) -> Inference:
    """Profile-likelihood interval and likelihood-ratio test (μ = 0) from the ML likelihood.

    ``mu_ml`` is the ML estimate of the mean; ``se`` is reported alongside.
    """
    top = profile_loglik(mu_ml, y, v)
    crit = float(stats.chi2.ppf(level, 1)) / 2

    def drop(mu: float) -> float:
        return top - profile_loglik(mu, y, v) - crit

    step = max(se, 1e-8)
    bounds = []
    for direction in (-1.0, 1.0):
        far = mu_ml + direction * 2 * step
        while drop(far) < 0:
            far = mu_ml + 2 * (far - mu_ml)
        bounds.append(optimize.brentq(drop, min(mu_ml, far), max(mu_ml, far),
                                      xtol=1e-14, rtol=1e-15, maxiter=500))
    lr = max(0.0, 2 * (top - profile_loglik(0.0, y, v)))
    stat = float(np.sign(mu_ml) * np.sqrt(lr))
    return Inference(se, bounds[0], bounds[1], stat, float(stats.chi2.sf(lr, 1)), None)


def prediction_interval(estimate: float, se: float, tau2: float, k: int, level: float,
                        kind: str, ci: str) -> tuple[float, float, str | None]:
    """Prediction interval for the effect in a new study.

    ``kind="hts"``: Higgins, Thompson & Spiegelhalter (2009), t with k − 2 df (as
    Stata's metan ``rfdist``).  ``kind="metafor"``: metafor's ``predict()``: normal
    quantiles for ``ci="z"``, t with k − 1 df otherwise.  Both use
    ``sqrt(se² + tau²)`` with the se of the chosen interval method.  Returns the
    bounds and a message when the interval is not given (k < 3).
    """
    if kind not in PI_METHODS:
        raise InputError(f"pi={kind!r} is not a prediction-interval method; use one of "
                         f"{', '.join(PI_METHODS)}")
    if k < 3:
        return float("nan"), float("nan"), (
            f"no prediction interval with k = {k} studies (at least 3 are needed)")
    if kind == "hts":
        df: float | None = k - 2
    else:
        df = None if ci in ("z", "pl") else k - 1
    lo, hi = wald_bounds(estimate, float(np.sqrt(se**2 + tau2)), level, df)
    return lo, hi, None
