"""One-group measures: proportions (PR, PLO, PAS, PFT) and incidence rates (IR, IRLN),
plus the two-group incidence rate ratio (IRR).

Proportion functions take ``x`` (events) and ``m`` (non-events) after any continuity
correction (so ``n = x + m``); rate functions take ``x`` (events) and ``t`` (person-time).
All return ``(estimate, variance)`` with metafor's ``escalc`` definitions; formulas and
references in docs/methods/effect-sizes.md.

Example:
    >>> import numpy as np
    >>> y, v = freeman_tukey(np.array([16.0]), np.array([1.0]))
    >>> round(float(y[0]), 4), round(float(v[0]), 5)
    (1.2819, 0.01429)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray]


def raw_proportion(x: np.ndarray, m: np.ndarray) -> Arrays:
    """Proportion ``p = x/n``, variance ``p(1-p)/n``."""
    n = x + m
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / n
        return p, p * (1 - p) / n


def logit_proportion(x: np.ndarray, m: np.ndarray) -> Arrays:
    """Log odds ``log(x/m)``, variance ``1/x + 1/m``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        p = x / (x + m)
        return np.log(p / (1 - p)), 1 / x + 1 / m


def arcsine_proportion(x: np.ndarray, m: np.ndarray) -> Arrays:
    """Arcsine square-root ``asin(sqrt(p))``, variance ``1/(4n)``."""
    n = x + m
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.arcsin(np.sqrt(x / n)), 1 / (4 * n)


def freeman_tukey(x: np.ndarray, m: np.ndarray) -> Arrays:
    """Freeman-Tukey double arcsine, variance ``1/(4n + 2)``.

    ``(asin(sqrt(x/(n+1))) + asin(sqrt((x+1)/(n+1)))) / 2`` (metafor's scale, half of
    Freeman & Tukey's 1950 sum).
    """
    n = x + m
    with np.errstate(divide="ignore", invalid="ignore"):
        y = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
        return y, 1 / (4 * n + 2)


def incidence_rate(x: np.ndarray, t: np.ndarray) -> Arrays:
    """Rate ``x/t``, variance ``x/t²``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return x / t, x / t**2


def log_incidence_rate(x: np.ndarray, t: np.ndarray) -> Arrays:
    """Log rate ``log(x/t)``, variance ``1/x``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x / t), 1 / x


def log_rate_ratio(x1: np.ndarray, t1: np.ndarray, x2: np.ndarray, t2: np.ndarray) -> Arrays:
    """Log incidence rate ratio ``log(x1/t1) - log(x2/t2)``, variance ``1/x1 + 1/x2``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x1 / t1) - np.log(x2 / t2), 1 / x1 + 1 / x2


PROPORTIONS: dict[str, Callable[..., Arrays]] = {
    "PR": raw_proportion,
    "PLO": logit_proportion,
    "PAS": arcsine_proportion,
    "PFT": freeman_tukey,
}
RATES: dict[str, Callable[..., Arrays]] = {
    "IR": incidence_rate,
    "IRLN": log_incidence_rate,
}
