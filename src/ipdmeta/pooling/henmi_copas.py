"""Henmi-Copas confidence interval for the mean of a random-effects meta-analysis.

Henmi & Copas (2010) keep the common-effect (inverse-variance) estimate, which is
robust to publication bias, and give it the random-effects variance
``se² = (1 + τ̂²W₂)/W₁`` (``W₁ = Σw``, ``W₂ = Σw²/W₁``, ``w = 1/v``, τ̂² the DL
estimate).  The interval ``μ̂ ± u·se`` uses the quantile ``u`` of the pivot
``U = R/√(1 + τ̂²W₂)·…``: the distribution of the standardised mean ``R`` given the
estimated heterogeneity, with Q approximated by a Gamma distribution whose mean and
variance depend on R.  The quantile solves
``∫_x^∞ P_Γ(Q ≤ f⁻¹(r/x) | R = r·SDR) φ(r) dr = α/2`` for ``x``, then ``u = SDR·x`` with
``SDR = √(1 + τ̂²W₂)``.  This follows metafor's ``hc()`` (verified against it in the
tests); the p-value is metan's (``model(hc)``): ``2∫_{|z|/SDR}^∞ … dr`` at the observed
``z = μ̂/se``.

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> hc = henmi_copas(bcg["yi"].to_numpy(), bcg["vi"].to_numpy())
    >>> round(hc.estimate, 4), round(hc.ci_low, 4), round(hc.ci_high, 4)
    (-0.4303, -1.1555, 0.295)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special, stats

from ipdmeta.errors import InputError


@dataclass(frozen=True)
class HenmiCopas:
    """Henmi-Copas estimate (common effect), se, interval, p-value and DL tau²."""

    estimate: float
    se: float
    ci_low: float
    ci_high: float
    pvalue: float
    tau2: float
    crit: float


def henmi_copas(y: np.ndarray, v: np.ndarray, level: float = 0.95) -> HenmiCopas:
    """Henmi & Copas (2010) interval, as metafor ``hc()``; p-value as metan ``model(hc)``."""
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    k = y.size
    if k < 2:
        raise InputError("the Henmi-Copas interval needs at least 2 studies")
    w = 1.0 / v
    w1 = w.sum()
    w2, w3, w4 = (np.sum(w**j) / w1 for j in (2, 3, 4))
    beta = float(np.sum(w * y) / w1)
    q = float(np.sum(w * (y - beta) ** 2))
    tau2 = max(0.0, (q - (k - 1)) / (w1 - w2))
    se = float(np.sqrt((tau2 * w2 + 1) / w1))
    vr = 1 + tau2 * w2
    sdr = np.sqrt(vr)
    a = w3 - w2**2
    b = w4 - 2 * w2 * w3 + w2**3

    def eq(r: np.ndarray) -> np.ndarray:
        return (k - 1) + tau2 * (w1 - w2) + tau2**2 * (r**2 / vr**2 - 1 / vr) * a

    def vq(r: np.ndarray) -> np.ndarray:
        s = r**2 / vr**2 - 1 / vr
        return (2 * (k - 1) + 4 * tau2 * (w1 - w2) + 2 * tau2**2 * (w1 * w2 - 2 * w3 + w2**2)
                + 4 * tau2**2 * s * a + 4 * tau2**3 * s * b
                + 2 * tau2**4 * (1 / vr**2 - 2 * r**2 / vr**3) * a**2)

    def finv(f: np.ndarray) -> np.ndarray:
        return (w1 / w2 - 1) * (f**2 - 1) + (k - 1)

    def tail(x: float) -> float:
        def integrand(r: float) -> float:
            mean, var = eq(sdr * r), vq(sdr * r)
            return float(special.gammainc(mean**2 / var, finv(np.asarray(r / x)) * mean / var)
                         * stats.norm.pdf(r))
        return integrate.quad(integrand, x, np.inf, epsabs=0, epsrel=1e-12, limit=500)[0]

    alpha = 1 - level
    t0 = optimize.brentq(lambda x: tail(x) - alpha / 2, 1e-8, 2.0, xtol=1e-14, rtol=1e-14)
    u0 = float(sdr * t0)
    z = beta / se
    pvalue = min(1.0, 2 * tail(abs(z) / sdr)) if z != 0 else 1.0
    return HenmiCopas(estimate=beta, se=se, ci_low=beta - u0 * se, ci_high=beta + u0 * se,
                      pvalue=float(pvalue), tau2=float(tau2), crit=u0)
