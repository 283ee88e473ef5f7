"""Ordinary least squares (as R's ``lm`` and Stata's ``regress``).

Solved by a QR decomposition of ``X`` (never the normal equations), so the
estimates keep full precision for badly scaled covariates.  The covariance is
``sigma^2 (X'X)^{-1}`` with ``sigma^2 = RSS / (n - p)``; ``loglik`` is the
Gaussian log-likelihood at the ML variance ``RSS / n`` (R's ``logLik.lm``).

Example:
    >>> import numpy as np
    >>> y = np.array([1.0, 3, 2, 5, 4]); X = np.column_stack([np.ones(5), np.arange(5.0)])
    >>> f = fit(y, X, names=("Intercept", "x"))
    >>> round(f.estimate("x"), 6), round(f.se("x"), 6), f.events
    (0.8, 0.34641, None)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg

from ipdmeta.models._newton import as_design, collinear, too_few_rows
from ipdmeta.models.base import Fit, failed

#: a residual standard deviation below this fraction of the outcome's spread is a perfect fit
PERFECT_FIT_TOL = 1e-10


def fit(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], **_: Any) -> Fit:
    """Least-squares fit of ``y`` on the design ``X`` (intercept included).

    Returns a :class:`~ipdmeta.models.base.Fit` (``events=None``) or a failed Fit:
    ``too_few_rows`` (n <= p: no residual degrees of freedom), ``collinear``
    (an aliased term, named), ``perfect_fit`` (zero residual variance, so the
    standard errors would be zero).

    Example:
        >>> import numpy as np
        >>> f = fit([1.0, 2, 3], np.ones((3, 2)), names=("Intercept", "treat"))
        >>> f.problem, f.reason
        ('collinear', "'treat' is 1 for every participant, so it is collinear with 'Intercept'")
    """
    y, X, names, _off = as_design(y, X, names)
    n, p = X.shape
    bad = too_few_rows(X, names, events=None) or collinear(X, names, events=None)
    if bad is not None:
        return bad
    Q, R = np.linalg.qr(X, mode="reduced")
    coef = linalg.solve_triangular(R, Q.T @ y, lower=False)
    resid = y - X @ coef
    rss = float(resid @ resid)
    df = n - p
    sigma2 = rss / df
    spread = float(np.max(np.abs(y - y.mean()))) if n else 0.0
    if np.sqrt(sigma2) <= PERFECT_FIT_TOL * max(spread, float(np.max(np.abs(y))), 1e-300):
        return failed("perfect_fit", "the model reproduces the outcome exactly (zero residual "
                      "variance), so the standard errors are zero", names=names, n=n,
                      extra={"last_coef": coef})
    cov = sigma2 * linalg.cho_solve((R, False), np.eye(p))   # R'R = X'X
    loglik = -0.5 * n * (np.log(2 * np.pi) + 1.0 + np.log(rss / n))
    return Fit(coef=coef, cov=cov, names=names, n=n, events=None, converged=True, iterations=0,
               loglik=float(loglik), extra={"sigma": float(np.sqrt(sigma2)), "df_resid": df,
                                            "rss": rss, "family": "linear"})
