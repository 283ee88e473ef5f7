"""Heterogeneity: Cochran's Q, I², H² and confidence intervals for tau², I² and H².

I² and H² follow metafor: for a common-effect model ``I² = (Q - df)/Q`` and
``H² = Q/df``; for a random-effects model ``I² = tau²/(tau² + s²)`` and
``H² = (tau² + s²)/s²`` with the "typical" within-study variance
``s² = (k - p)/tr(P)`` (Higgins & Thompson 2002).  The tau² interval is the
Q-profile interval (Viechtbauer 2007) or, for ML/REML, the profile-likelihood
interval (Hardy & Thompson 1996); the I² and H² intervals are its transforms.

Example:
    >>> import numpy as np
    >>> het = cochran_q(np.array([0.1, 0.5, 0.3]), np.array([0.01, 0.02, 0.03]), np.ones((3, 1)))
    >>> round(het.Q, 4), het.df
    (5.4545, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from ipdmeta.pooling.projection import Projection
from ipdmeta.pooling.tau2 import log_likelihood, solve_q_equation

NAN = float("nan")


@dataclass(frozen=True)
class CochranQ:
    """Cochran's Q test of homogeneity and the typical within-study variance."""

    Q: float
    df: int
    pvalue: float
    typical_variance: float


def cochran_q(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> CochranQ:
    """Q with inverse-variance weights, its df ``k - p`` and p-value."""
    k, p = X.shape
    if k <= p:
        return CochranQ(0.0, 0, 1.0, 0.0)
    proj = Projection(1.0 / v, X)
    q = max(0.0, proj.quad(y))
    return CochranQ(q, k - p, float(stats.chi2.sf(q, k - p)), (k - p) / proj.trace)


def i2_h2(tau2: float, het: CochranQ, common: bool) -> tuple[float, float]:
    """I² (percent) and H² as metafor defines them for the common or random model."""
    if het.df == 0:
        return 0.0, 1.0
    if common:
        i2 = 0.0 if het.Q <= 0 else max(0.0, 100 * (het.Q - het.df) / het.Q)
        return i2, het.Q / het.df
    s2 = het.typical_variance
    return 100 * tau2 / (s2 + tau2), tau2 / s2 + 1


def i2_h2_q(het: CochranQ, v: np.ndarray, level: float, common: bool
            ) -> tuple[float, float, tuple[float, float], tuple[float, float]]:
    """Q-based I² and H² with their intervals, as Stata's metan (its default).

    ``I² = max(0, (Q − df)/Q)`` and ``H² = max(1, Q/df)`` whatever the model.  The
    interval for Q is from a non-central χ² with non-centrality ``max(0, Q − df)``
    (common effect) or a Gamma distribution with mean Q and the Biggerstaff-Tweedie
    variance ``2df + 4cτ² + 2dτ⁴`` at the untruncated DL τ² (random effects; Hedges &
    Pigott 2001); the lower bound is 0 when Q < df.  I² and H² transform it.
    """
    q, df = het.Q, het.df
    if df == 0 or q <= 0:
        return 0.0, 1.0, (NAN, NAN), (NAN, NAN)
    alpha = 1 - level
    if common:
        nc = max(0.0, q - df)
        lo = 0.0 if nc == 0 else float(stats.ncx2.ppf(alpha / 2, df, nc))
        hi = float(stats.ncx2.ppf(1 - alpha / 2, df, nc) if nc > 0
                   else stats.chi2.ppf(1 - alpha / 2, df))
    else:
        w = 1.0 / v
        w1, w2, w3 = w.sum(), np.sum(w**2), np.sum(w**3)
        c = w1 - w2 / w1
        tau2 = (q - df) / c
        var_q = 2 * df + 4 * tau2 * c + 2 * tau2**2 * (w2 - 2 * w3 / w1 + (w2 / w1) ** 2)
        dist = stats.gamma(q * q / var_q, scale=var_q / q)
        lo = 0.0 if q < df else float(dist.ppf(alpha / 2))
        hi = float(dist.ppf(1 - alpha / 2))

    def i2(x: float) -> float:
        return 100 * max(0.0, (x - df) / x) if x > 0 else 0.0

    return (i2(q), max(1.0, q / df), (i2(lo), 100 * min(1.0, (hi - df) / hi)),
            (max(1.0, lo / df), hi / df))


def tau2_ci_qprofile(y: np.ndarray, v: np.ndarray, X: np.ndarray, level: float
                     ) -> tuple[float, float]:
    """Q-profile interval: tau² values where Q(tau²) equals the chi² quantiles."""
    k, p = X.shape
    alpha = 1 - level
    lower = solve_q_equation(float(stats.chi2.ppf(1 - alpha / 2, k - p)), y, v, X)
    upper = solve_q_equation(float(stats.chi2.ppf(alpha / 2, k - p)), y, v, X)
    return lower, upper


def tau2_ci_likelihood(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray,
                       level: float, reml: bool) -> tuple[float, float]:
    """Profile-likelihood interval for tau² around the ML/REML estimate ``tau2``."""
    crit = float(stats.chi2.ppf(level, 1)) / 2
    top = log_likelihood(tau2, y, v, X, reml)

    def drop(t: float) -> float:
        return top - log_likelihood(t, y, v, X, reml) - crit

    lower = 0.0
    if tau2 > 0 and drop(0.0) > 0:
        lower = optimize.brentq(drop, 0.0, tau2, xtol=1e-15, rtol=1e-15, maxiter=500)
    upper = max(tau2 * 2, 1e-4)
    while drop(upper) < 0:
        upper *= 2
        if upper > 1e12:
            return float(lower), float("inf")
    upper = optimize.brentq(drop, tau2, upper, xtol=1e-15, rtol=1e-15, maxiter=500)
    return float(lower), float(upper)


def i2_h2_interval(tau2_ci: tuple[float, float], het: CochranQ
                   ) -> tuple[tuple[float, float], tuple[float, float]]:
    """I² and H² intervals from the tau² interval (monotone transforms)."""
    s2 = het.typical_variance
    if het.df == 0 or s2 <= 0:
        return (float("nan"), float("nan")), (float("nan"), float("nan"))
    lo, hi = tau2_ci
    return (100 * lo / (s2 + lo), 100 * hi / (s2 + hi)), (lo / s2 + 1, hi / s2 + 1)
