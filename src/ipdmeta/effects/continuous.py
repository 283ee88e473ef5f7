"""Two-group continuous outcomes: (standardised) mean differences and the ratio of means.

Every function takes ``m1, m2`` (means), ``s1, s2`` (standard deviations) and ``n1, n2``
(group sizes) as arrays, group 1 being the treatment, and returns ``(estimate,
variance)``.  ``SMD`` is Hedges' g with the exact small-sample correction and the
large-sample variance, as metafor's ``escalc("SMD")``; ``SMD_cohen``, ``SMD_metan`` and
``GLASS`` are Stata metan's ``cohen``, ``hedges`` and ``glass`` (Deeks, Altman &
Bradburn 2001).  Formulas and references: docs/methods/effect-sizes.md.

Example:
    >>> import numpy as np
    >>> y, v = hedges_g(np.array([55.0]), np.array([75.0]), np.array([47.0]),
    ...                 np.array([64.0]), np.array([155.0]), np.array([156.0]))
    >>> round(float(y[0]), 4), round(float(v[0]), 5)
    (-0.3552, 0.01306)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.special import gammaln

Arrays = tuple[np.ndarray, np.ndarray]


def _pooled_sd(s1: np.ndarray, s2: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))


def hedges_correction(df: np.ndarray) -> np.ndarray:
    """Exact bias-correction factor ``J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))``; NaN for m ≤ 1.

    Example:
        >>> import numpy as np
        >>> round(float(hedges_correction(np.array([10.0]))[0]), 6)
        0.922746
    """
    df = np.asarray(df, dtype=float)
    ok = df > 1
    safe = np.where(ok, df, 2.0)
    value = np.exp(gammaln(safe / 2) - np.log(np.sqrt(safe / 2)) - gammaln((safe - 1) / 2))
    return np.where(ok, value, np.nan)


def mean_difference(m1: np.ndarray, m2: np.ndarray, s1: np.ndarray, s2: np.ndarray,
                    n1: np.ndarray, n2: np.ndarray) -> Arrays:
    """Raw mean difference ``m1 - m2``, variance ``s1²/n1 + s2²/n2`` (unequal variances)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return m1 - m2, s1**2 / n1 + s2**2 / n2


def hedges_g(m1: np.ndarray, m2: np.ndarray, s1: np.ndarray, s2: np.ndarray,
             n1: np.ndarray, n2: np.ndarray) -> Arrays:
    """Hedges' g: ``J(n1+n2-2) (m1-m2)/s_pooled``, variance ``1/n1 + 1/n2 + g²/(2N)``."""
    sp = _pooled_sd(s1, s2, n1, n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = hedges_correction(n1 + n2 - 2) * (m1 - m2) / sp
        return g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2))


def cohen_d(m1: np.ndarray, m2: np.ndarray, s1: np.ndarray, s2: np.ndarray,
            n1: np.ndarray, n2: np.ndarray) -> Arrays:
    """Cohen's d ``(m1-m2)/s_pooled``, variance ``N/(n1 n2) + d²/(2(N-2))`` (metan)."""
    sp = _pooled_sd(s1, s2, n1, n2)
    total = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (m1 - m2) / sp
        return d, total / (n1 * n2) + d**2 / (2 * (total - 2))


def hedges_g_metan(m1: np.ndarray, m2: np.ndarray, s1: np.ndarray, s2: np.ndarray,
                   n1: np.ndarray, n2: np.ndarray) -> Arrays:
    """metan's Hedges' g: ``d (1 - 3/(4N - 9))``, variance ``N/(n1 n2) + g²/(2(N-3.94))``."""
    sp = _pooled_sd(s1, s2, n1, n2)
    total = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        g = (m1 - m2) / sp * (1 - 3 / (4 * total - 9))
        return g, total / (n1 * n2) + g**2 / (2 * (total - 3.94))


def glass_delta(m1: np.ndarray, m2: np.ndarray, s1: np.ndarray, s2: np.ndarray,
                n1: np.ndarray, n2: np.ndarray) -> Arrays:
    """Glass's delta ``(m1-m2)/s2`` (control SD), variance ``N/(n1 n2) + Δ²/(2(n2-1))``."""
    total = n1 + n2
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (m1 - m2) / s2
        return delta, total / (n1 * n2) + delta**2 / (2 * (n2 - 1))


def log_ratio_of_means(m1: np.ndarray, m2: np.ndarray, s1: np.ndarray, s2: np.ndarray,
                       n1: np.ndarray, n2: np.ndarray) -> Arrays:
    """Log ratio of means ``log(m1/m2)``, variance ``s1²/(n1 m1²) + s2²/(n2 m2²)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(m1 / m2), s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)


MEANS: dict[str, Callable[..., Arrays]] = {
    "MD": mean_difference,
    "SMD": hedges_g,
    "SMD_cohen": cohen_d,
    "SMD_metan": hedges_g_metan,
    "GLASS": glass_delta,
    "ROM": log_ratio_of_means,
}
