"""Two-group binary outcomes: effect sizes of 2x2 tables (after any continuity correction).

Every function takes the four cells ``a`` (treatment events), ``b`` (treatment
non-events), ``c`` (control events), ``d`` (control non-events) as arrays and returns
``(estimate, variance)`` on the analysis scale, with metafor's ``escalc`` definitions
(formulas and references in docs/methods/effect-sizes.md).  Zeros give infinities or NaN
here; the caller decides what to do with them.

Example:
    >>> import numpy as np
    >>> y, v = log_odds_ratio(np.array([4.0]), np.array([119.0]), np.array([11.0]),
    ...                       np.array([128.0]))
    >>> round(float(y[0]), 4), round(float(v[0]), 4)
    (-0.9387, 0.3571)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray]


def log_odds_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> Arrays:
    """Log odds ratio ``log(a d / (b c))`` and Woolf's variance ``1/a + 1/b + 1/c + 1/d``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(a / b) - np.log(c / d), 1 / a + 1 / b + 1 / c + 1 / d


def log_risk_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> Arrays:
    """Log risk ratio ``log(a/n1) - log(c/n2)``, variance ``1/a - 1/n1 + 1/c - 1/n2``."""
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2


def risk_difference(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> Arrays:
    """Risk difference ``p1 - p2`` with the large-sample variance ``p(1-p)/n`` per arm."""
    n1, n2 = a + b, c + d
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p2 = a / n1, c / n2
        return p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2


def peto_log_odds_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray
                        ) -> Arrays:
    """Peto's one-step log odds ratio ``(O - E)/V`` with variance ``1/V``.

    ``E = n1 m1 / N`` and ``V = m1 m0 n1 n0 / (N² (N - 1))`` (hypergeometric), where
    ``m1``, ``m0`` are the event and non-event totals.
    """
    n1, n2 = a + b, c + d
    total = n1 + n2
    events, nonevents = a + c, b + d
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = events * n1 / total
        var = events * nonevents * (n1 / total) * (n2 / total) / (total - 1)
        return (a - expected) / var, 1 / var


TWO_BY_TWO: dict[str, Callable[..., Arrays]] = {
    "OR": log_odds_ratio,
    "RR": log_risk_ratio,
    "RD": risk_difference,
    "PETO": peto_log_odds_ratio,
}
