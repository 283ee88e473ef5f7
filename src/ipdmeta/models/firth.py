"""Firth's penalised-likelihood logistic regression (Firth 1993; Heinze & Schemper 2002).

Maximises ``l(b) + 0.5 log|I(b)|`` with ``I(b) = X'WX``, the Jeffreys-prior
penalty, which removes the first-order bias of the ML estimate and gives
finite estimates under separation.  The Newton step uses the modified score
``U*(b) = X'(y - mu + h (1/2 - mu))`` with ``h`` the diagonal of the hat matrix
``W^{1/2} X (X'WX)^{-1} X' W^{1/2}`` and the exact Hessian of the penalised
likelihood (falling back to the information ``X'WX``, logistf's step, where that
is not negative definite), with steps capped at 5 and step halving on the
penalised likelihood: quadratic convergence, also for tiny studies where
logistf's fixed-point iteration oscillates.  Standard errors are Wald: the
square roots of the diagonal of ``I(b)^{-1}`` at the penalised estimate
(``logistf``'s default).  ``Fit.loglik``
is the penalised log-likelihood; the plain one is ``extra["loglik_unpenalised"]``.

Separation is no failure here; too few rows, no or all events and aliased
terms still are.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 0, 1, 1, 1.0]); X = np.column_stack([np.ones(6), y])
    >>> f = fit(y, X, names=("Intercept", "treat"))
    >>> f.ok, round(f.estimate("treat"), 6), round(f.se("treat"), 6)
    (True, 3.89182, 2.468854)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg

from ipdmeta.models._newton import State, StateFn, glm_fit, information_chol
from ipdmeta.models.base import Fit
from ipdmeta.models.logistic import LOGISTIC, LogisticFamily

#: largest Newton step (on the scaled design), as logistf's ``maxstep``
MAXSTEP = 5.0


def penalised_state(family: LogisticFamily, Xs: np.ndarray, y: np.ndarray,
                    offset: np.ndarray, *, logscale: float = 0.0) -> StateFn:
    """The Firth-penalised :class:`~ipdmeta.models._newton.State` function.

    ``logscale`` is ``sum(log(column scales))``: it turns the penalty computed on
    the scaled design into the penalty of the original design.
    """

    def state(beta: np.ndarray) -> State | None:
        eta = Xs @ beta + offset
        moments = family.moments(eta, y)
        if moments is None:
            return None
        ll, resid, w = moments
        chol = information_chol(Xs, w)
        if chol is None:
            return None
        # rows a_i = sqrt(w_i) R^{-T} x_i: the hat matrix is A A', its diagonal h
        A = linalg.solve_triangular(chol, Xs.T, trans="T", lower=False).T * np.sqrt(w)[:, None]
        h = np.einsum("ij,ij->i", A, A)
        d = 0.5 - (y - resid)            # 1/2 - mu
        score = Xs.T @ (resid + h * d)
        pen = float(np.sum(np.log(np.diag(chol)))) + logscale
        return State(ll + pen, score, chol, eta, ll, step_chol=_hessian_chol(Xs, A, w, h, d))

    return state


def _hessian_chol(Xs: np.ndarray, A: np.ndarray, w: np.ndarray, h: np.ndarray,
                  d: np.ndarray) -> np.ndarray | None:
    """Cholesky factor of minus the exact Hessian of the penalised log-likelihood.

    ``-d2/db db' [l + 0.5 log|I|] = X' diag(w (1 + h) - 2 h d^2) X + 2 T T'`` with
    ``d = 1/2 - mu`` and ``T[r] = A' diag(d x_r) A`` (flattened), ``A A'`` the hat
    matrix; cost ``O(n p^3)``, no ``(n, n)`` matrix.  None where it is not positive
    definite (away from the optimum): the step then uses the information ``X'WX``
    (logistf's step), with step halving.
    """
    p = Xs.shape[1]
    U = d[:, None] * Xs
    T = np.stack([(A * U[:, [r]]).T @ A for r in range(p)]).reshape(p, p * p)
    J = Xs.T @ ((w * (1 + h) - 2 * h * d * d)[:, None] * Xs) + 2 * (T @ T.T)
    try:
        return linalg.cholesky(J, lower=False)
    except (linalg.LinAlgError, ValueError):
        return None


def fit(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], maxiter: int = 100,
        tol: float = 1e-10, **_: Any) -> Fit:
    """Firth-penalised logistic regression of a 0/1 outcome ``y`` on ``X``.

    Same call shape and result as :func:`ipdmeta.models.logistic.fit`; estimates
    are finite under separation.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 1, 0, 1, 1.0]); X = np.column_stack([np.ones(5), [0, 0, 1, 1, 1.0]])
        >>> round(fit(y, X, names=("Intercept", "treat")).estimate("treat"), 6)
        0.510826
    """
    return glm_fit(LOGISTIC, y, X, names=names, maxiter=maxiter, tol=tol,
                   penalised=penalised_state, maxstep=MAXSTEP)
