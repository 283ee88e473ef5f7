"""Correlations: the raw correlation (COR) and Fisher's z (ZCOR).

Both take ``r`` (correlations) and ``n`` (sample sizes) as arrays and return
``(estimate, variance)`` as metafor's ``escalc``; the variance is undefined (NaN) for
``n <= 3``.  Formulas and references: docs/methods/effect-sizes.md.

Example:
    >>> import numpy as np
    >>> y, v = fisher_z(np.array([0.187]), np.array([109.0]))
    >>> round(float(y[0]), 4), round(float(v[0]), 5)
    (0.1892, 0.00943)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Arrays = tuple[np.ndarray, np.ndarray]


def raw_correlation(r: np.ndarray, n: np.ndarray) -> Arrays:
    """Correlation ``r``, large-sample variance ``(1 - r²)²/(n - 1)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return r.astype(float), np.where(n > 3, (1 - r**2) ** 2 / (n - 1), np.nan)


def fisher_z(r: np.ndarray, n: np.ndarray) -> Arrays:
    """Fisher's z ``atanh(r)``, variance ``1/(n - 3)``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.arctanh(r), np.where(n > 3, 1 / (n - 3), np.nan)


CORRELATIONS: dict[str, Callable[..., Arrays]] = {
    "COR": raw_correlation,
    "ZCOR": fisher_z,
}
