"""Variance corrections and alternative weightings of the pooled effect, as Stata's metan.

* ``kenward_roger``: Kenward-Roger variance and degrees of freedom for the REML
  random-effects mean (Kenward & Roger 1997, for meta-analysis Morris et al. 2018;
  metan ``model(kroger)``), expected (default) or observed information.
* ``multiplicative``: common-effect estimate with its variance multiplied by
  ``Q/(k − 1)`` (Thompson & Sharp 1999; metan ``model(mult)``).
* ``ivhet``: common-effect (inverse-variance) estimate with the variance it has under the
  random-effects model, ``Σw²(v + τ²)/(Σw)²`` with the DL τ² (Doi et al. 2015; metan
  ``model(ivhet)``).
* ``biggerstaff_tweedie``: weights ``E[1/(v_i + τ̂²)]`` averaging over the approximate
  Gamma distribution of Cochran's Q (Biggerstaff & Tweedie 1997; metan ``model(bt)``),
  with its tau² interval.

Example:
    >>> import numpy as np
    >>> y = np.array([0.1, 0.5, 0.3, 0.9]); v = np.array([0.01, 0.02, 0.03, 0.02])
    >>> se, df = kenward_roger(v, 0.08)
    >>> round(se, 4), round(df, 3)
    (0.1583, 2.929)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize, special, stats


def kenward_roger(v: np.ndarray, tau2: float, y: np.ndarray | None = None,
                  observed: bool = False) -> tuple[float, float]:
    """Kenward-Roger standard error and denominator degrees of freedom of the mean.

    With ``w = 1/(v + τ²)``, ``W_j = Σw^j``: the REML expected information of τ² is
    ``I = W₂/2 − W₃/W₁ + (W₂/W₁)²/2`` (observed: ``(Σw²r)²/W₁ + Σw³r² − I`` with
    residuals ``r = y − μ̂``); ``V = 1/W₁ + 2(W₃ − W₂²/W₁)/(I·W₁²)`` and
    ``df = 2/A`` with ``A = (V·W₂)²/I`` (Morris et al. 2018, as metan).
    """
    w = 1.0 / (v + tau2)
    w1, w2, w3 = w.sum(), np.sum(w**2), np.sum(w**3)
    info = w2 / 2 - w3 / w1 + (w2 / w1) ** 2 / 2
    if observed:
        if y is None:
            raise ValueError("the observed information needs the estimates y")
        r = y - np.sum(w * y) / w1
        info = max(0.0, np.sum(w**2 * r) ** 2 / w1 + np.sum(w**3 * r**2) - info)
    var_tau2 = 1.0 / info
    var = 1.0 / w1 + 2 * var_tau2 * (w3 - w2**2 / w1) / w1**2
    a = var_tau2 * (var * w2) ** 2
    return float(np.sqrt(var)), float(2 / a)


def multiplicative(y: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """Common-effect estimate, its se scaled by ``√(Q/(k − 1))``, and the factor ``Q/(k − 1)``."""
    w = 1.0 / v
    mu = float(np.sum(w * y) / w.sum())
    k = y.size
    phi = float(np.sum(w * (y - mu) ** 2)) / (k - 1) if k > 1 else 1.0
    return mu, float(np.sqrt(phi / w.sum())), phi


def ivhet(y: np.ndarray, v: np.ndarray, tau2: float) -> tuple[float, float]:
    """Common-effect estimate and its random-effects se ``√(Σw²(v + τ²))/Σw``, w = 1/v."""
    w = 1.0 / v
    mu = float(np.sum(w * y) / w.sum())
    return mu, float(np.sqrt(np.sum(w**2 * (v + tau2))) / w.sum())


@dataclass(frozen=True)
class GammaQ:
    """Biggerstaff-Tweedie Gamma approximation of Cochran's Q: shape r, rate λ."""

    shape: float
    rate: float
    c: float
    d: float
    k: int


def _gamma_q(v: np.ndarray, tau2: float) -> GammaQ:
    w = 1.0 / v
    k = v.size
    w1, w2, w3 = w.sum(), np.sum(w**2), np.sum(w**3)
    c = w1 - w2 / w1
    d = w2 - 2 * w3 / w1 + (w2 / w1) ** 2
    eq = (k - 1) + c * tau2
    vq = 2 * (k - 1) + 4 * c * tau2 + 2 * d * tau2**2
    return GammaQ(shape=eq * eq / vq, rate=eq / vq, c=c, d=d, k=k)


@dataclass(frozen=True)
class BTResult:
    """Biggerstaff-Tweedie pooling: weights, estimate, se, DL tau² and its interval."""

    weights: np.ndarray
    estimate: float
    se: float
    tau2: float
    tau2_ci: tuple[float, float]


def biggerstaff_tweedie(y: np.ndarray, v: np.ndarray, level: float = 0.95) -> BTResult:
    """Biggerstaff & Tweedie (1997) weights, pooled estimate and tau² interval (as metan ``bt``).

    Q is approximated by a Gamma distribution with mean ``(k − 1) + c·τ̂²`` and variance
    ``2(k − 1) + 4cτ̂² + 2dτ̂²`` at the untruncated DL estimate τ̂²; the weight of study i
    is ``E[1/(v_i + max(0, (Q − (k − 1))/c))]``.  The estimate's se is
    ``√(Σw*²(v + τ²_DL))/Σw*``; the tau² interval holds the τ² whose Gamma distribution
    puts Q_obs between its (1 ± level)/2 quantiles.
    """
    w = 1.0 / v
    k = y.size
    mu_ce = np.sum(w * y) / w.sum()
    q_obs = float(np.sum(w * (y - mu_ce) ** 2))
    c = w.sum() - np.sum(w**2) / w.sum()
    tau_m = (q_obs - (k - 1)) / c
    g = _gamma_q(v, tau_m)
    dist = stats.gamma(g.shape, scale=1 / g.rate)
    below = float(dist.cdf(k - 1))
    tail = integrate.quad_vec(lambda q: dist.pdf(q) / (v + (q - (k - 1)) / c), k - 1, np.inf,
                              epsabs=0, epsrel=1e-12, limit=500)[0]
    weights = below / v + tail
    tau2 = max(0.0, tau_m)
    mu = float(np.sum(weights * y) / weights.sum())
    se = float(np.sqrt(np.sum(weights**2 * (v + tau2))) / weights.sum())
    return BTResult(weights, mu, se, tau2, _bt_tau2_ci(v, q_obs, level))


def _bt_tau2_ci(v: np.ndarray, q_obs: float, level: float) -> tuple[float, float]:
    """τ² with ``P(Q ≤ Q_obs | τ²) = (1 ± level)/2`` under the Gamma approximation."""
    def prob(t: float) -> float:
        g = _gamma_q(v, t)
        return float(special.gammainc(g.shape, g.rate * q_obs))

    bounds = []
    for target in (0.5 + level / 2, 0.5 - level / 2):
        if prob(0.0) <= target:
            bounds.append(0.0)
            continue
        hi = 1.0
        while prob(hi) > target:
            hi *= 10
        bounds.append(float(optimize.brentq(lambda t, a=target: prob(t) - a, 0.0, hi,
                                            xtol=1e-14, rtol=1e-14)))
    return bounds[0], bounds[1]
