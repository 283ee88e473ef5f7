"""Weighted least squares quantities of the meta-analytic model without k×k matrices.

All stage-2 estimators use the residual projection
``P = W - W X (X'WX)^{-1} X'W`` with ``W = diag(w)``.  For 10,000 studies P would
take 800 MB, so this module evaluates ``y'Py``, ``y'PPy``, ``tr(P)`` and ``tr(PP)``
from ``p × p`` matrices only (p = number of model coefficients).

Example:
    >>> import numpy as np
    >>> proj = Projection(np.array([1.0, 2.0, 4.0]), np.ones((3, 1)))
    >>> round(proj.quad(np.array([0.1, 0.3, 0.2])), 6)
    0.028571
"""

from __future__ import annotations

from functools import cached_property

import numpy as np


class Projection:
    """Weighted least-squares fit of ``y`` on ``X`` with weights ``w`` and its projection P."""

    def __init__(self, w: np.ndarray, X: np.ndarray) -> None:
        self.w = np.asarray(w, dtype=float)
        self.X = np.asarray(X, dtype=float)

    @cached_property
    def cov(self) -> np.ndarray:
        """``(X'WX)^{-1}``: the covariance of the coefficients when w are inverse variances."""
        return np.linalg.inv(self.X.T @ (self.w[:, None] * self.X))

    def coef(self, y: np.ndarray) -> np.ndarray:
        """Weighted least-squares coefficients."""
        return self.cov @ (self.X.T @ (self.w * y))

    def resid(self, y: np.ndarray) -> np.ndarray:
        """Residuals ``y - X b``."""
        return y - self.X @ self.coef(y)

    def quad(self, y: np.ndarray) -> float:
        """``y'Py``, the weighted residual sum of squares (Cochran's Q for w = 1/v)."""
        r = self.resid(y)
        return float(np.sum(self.w * r * r))

    def quad2(self, y: np.ndarray) -> float:
        """``y'PPy``."""
        wr = self.w * self.resid(y)
        return float(np.sum(wr * wr))

    def _cross(self, power: int) -> np.ndarray:
        """``(X'WX)^{-1} X' W^power X``."""
        return self.cov @ (self.X.T @ ((self.w**power)[:, None] * self.X))

    @cached_property
    def trace(self) -> float:
        """``tr(P)``."""
        return float(np.sum(self.w) - np.trace(self._cross(2)))

    @cached_property
    def trace_sq(self) -> float:
        """``tr(PP)`` (equal to ``sum(P * P)`` since P is symmetric)."""
        a2 = self._cross(2)
        return float(np.sum(self.w**2) - 2 * np.trace(self._cross(3)) + np.trace(a2 @ a2))

    def trace_times(self, v: np.ndarray) -> float:
        """``tr(P diag(v))``."""
        m = self.cov @ (self.X.T @ ((self.w**2 * v)[:, None] * self.X))
        return float(np.sum(self.w * v) - np.trace(m))

    @cached_property
    def logdet_xtwx(self) -> float:
        """``log det(X'WX)``."""
        return float(-np.linalg.slogdet(self.cov)[1])
