"""Proportional-odds (cumulative logit) model for an ordered outcome.

As R's ``MASS::polr`` / ``ordinal::clm`` and Stata's ``ologit``: with the outcome
categories ``0 < 1 < ... < K-1`` (the sorted distinct values of ``y`` in the
study) and cut-points ``zeta_1 < ... < zeta_{K-1}``,

    logit P(y <= k | x) = zeta_{k+1} - x'b,

so a positive ``b`` shifts participants towards *higher* categories; ``polr`` and
``ologit`` use this same sign for the slopes (``ologit`` calls the cut-points
``/cut1 ...``, ``polr`` ``1|2 ...``).  The pooled estimate is the log cumulative
odds ratio of a covariate (the odds of a higher category).  There is no
intercept: a design column named ``Intercept`` is dropped (the cut-points take
its place); any other constant column is ``collinear``.

The log-likelihood ``sum log(F(zeta_{y+1} - eta) - F(zeta_y - eta))`` is concave in
``(b, zeta)`` (Pratt 1981); it is maximised by Newton-Raphson on the exact
Hessian with step halving that keeps the cut-points increasing.  The covariance
is the inverse observed information (as ``polr``'s, which differentiates the
analytic gradient numerically, ``clm``'s and ``ologit``'s).  A study whose
outcome takes one value is ``constant_outcome``; complete or quasi-complete
separation (the estimates diverge) is ``separation``, found with a linear
programme over the recession directions of the likelihood.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 2, 1, 0, 1, 2, 2, 2.0])
    >>> X = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1.0])[:, None]
    >>> f = fit(y, X, names=("treat",))
    >>> f.names, round(f.estimate("treat"), 6), round(f.se("treat"), 6)
    (('treat', 'cut1', 'cut2'), 1.44439, 1.250376)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import linalg
from scipy.special import expit, log_expit

from ipdmeta.errors import InputError
from ipdmeta.models._mle import conclude, inverse, screen
from ipdmeta.models._newton import (
    State,
    StateFn,
    as_design,
    column_scale,
    recession_direction,
    term_list,
)
from ipdmeta.models._newton import newton as newton_loop
from ipdmeta.models.base import Fit, failed

#: design columns with these names are the intercept: the cut-points replace them
INTERCEPT_NAMES = ("Intercept", "(Intercept)", "_cons")
#: the reason of a study whose outcome takes one value (also :mod:`ipdmeta.models.screens`)
CONSTANT_OUTCOME_REASON = "all {n} participants have the outcome {value:g}"


class _Layout:
    """The one-hot maps of each participant's upper and lower cut-point."""

    def __init__(self, k: np.ndarray, K: int):
        n = k.size
        self.K = K
        self.up = np.zeros((n, K - 1))
        self.low = np.zeros((n, K - 1))
        has_up, has_low = k < K - 1, k > 0
        self.up[np.flatnonzero(has_up), k[has_up]] = 1.0
        self.low[np.flatnonzero(has_low), k[has_low] - 1] = 1.0
        self.has_up, self.has_low = has_up, has_low


def _derivatives(Xs: np.ndarray, L: _Layout, theta: np.ndarray
                 ) -> tuple[np.ndarray, ...] | None:
    """Per participant: ``log P``, its derivatives in the upper and lower cut (``a``,
    ``b``), and the second-derivative terms; None outside the parameter space."""
    p = Xs.shape[1]
    beta, zeta = theta[:p], theta[p:]
    if np.any(np.diff(zeta) <= 0):
        return None
    eta = Xs @ beta
    a = np.where(L.has_up, L.up @ zeta - eta, np.inf)
    b = np.where(L.has_low, L.low @ zeta - eta, -np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        logP = log_expit(a) + log_expit(-b) + np.log(-np.expm1(b - a))
    if not np.all(np.isfinite(logP)):
        return None
    P = np.exp(logP)
    Fa, Fb = expit(a), expit(b)
    fa, fb = Fa * (1 - Fa), Fb * (1 - Fb)
    ga, gb = fa * (1 - 2 * Fa), fb * (1 - 2 * Fb)
    ua, ub = fa / P, -fb / P          # d log P / d a, d log P / d b
    return eta, logP, ua, ub, ga / P - ua * ua, -gb / P - ub * ub, -ua * ub


def _row_scores(Xs: np.ndarray, L: _Layout, ua: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """Per-participant score contributions ``(n, p + K - 1)`` in ``(b, zeta)``."""
    return np.column_stack([-Xs * (ua + ub)[:, None], L.up * ua[:, None] + L.low * ub[:, None]])


def _state_fn(Xs: np.ndarray, L: _Layout) -> StateFn:
    p = Xs.shape[1]

    def state(theta: np.ndarray) -> State | None:
        d = _derivatives(Xs, L, theta)
        if d is None:
            return None
        eta, logP, ua, ub, haa, hbb, hab = d
        score = np.r_[-Xs.T @ (ua + ub), L.up.T @ ua + L.low.T @ ub]
        H = np.empty((p + L.K - 1,) * 2)
        H[:p, :p] = Xs.T @ ((haa + 2 * hab + hbb)[:, None] * Xs)
        H[:p, p:] = -Xs.T @ ((haa + hab)[:, None] * L.up + (hab + hbb)[:, None] * L.low)
        H[p:, :p] = H[:p, p:].T
        cross = L.up.T @ (hab[:, None] * L.low)
        H[p:, p:] = (L.up.T @ (haa[:, None] * L.up) + L.low.T @ (hbb[:, None] * L.low)
                     + cross + cross.T)
        try:
            chol = linalg.cholesky(-H, lower=False)
        except (linalg.LinAlgError, ValueError):
            return None
        ll = float(logP.sum())
        return State(ll, score, chol, eta, ll)

    return state


def scores(y: np.ndarray, X: np.ndarray, fit: Fit) -> np.ndarray:
    """Per-participant score contributions ``(n, p + K - 1)`` of an ordinal fit at its
    estimate (slopes, then cut-points), for :mod:`ipdmeta.models.robust`."""
    X = np.asarray(X, dtype=float)
    y, X, _names, _off = as_design(y, X, [f"x{j}" for j in range(X.shape[1])])
    X = X[:, (np.ptp(X, axis=0) > 0) | (X[0] == 0)]   # the intercept: the cut-points
    cats, k = np.unique(y, return_inverse=True)
    L = _Layout(k.astype(np.intp), cats.size)
    d = _derivatives(X, L, fit.coef)
    if d is None:
        raise InputError("the fit's cut-points are not increasing: refit the model")
    return _row_scores(X, L, d[2], d[3])


def _separation(Xs: np.ndarray, L: _Layout, names: tuple[str, ...]) -> str | None:
    """Plain words naming the separating term(s), or None (a linear programme: a direction
    of ``(b, zeta)`` along which no participant's category probability falls)."""
    p = Xs.shape[1]
    rows = [np.column_stack([-Xs, L.up])[L.has_up], np.column_stack([Xs, -L.low])[L.has_low]]
    order = np.zeros((L.K - 2, p + L.K - 1))
    for j in range(L.K - 2):
        order[j, p + j], order[j, p + j + 1] = -1.0, 1.0
    d = recession_direction(np.vstack([*rows, order]))
    if d is None:
        return None
    big = np.flatnonzero(np.abs(d[:p]) > 1e-6 * max(np.abs(d[:p]).max(initial=0.0), 1e-300))
    if big.size == 0:
        return "separation: the outcome categories are perfectly predicted"
    return (f"complete or quasi-complete separation: {term_list(big.tolist(), names)} perfectly "
            "predicts the ordering of the outcome categories (the estimate diverges)")


def fit(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], maxiter: int = 100,
        tol: float = 1e-10, **_: Any) -> Fit:
    """Proportional-odds logistic regression of the ordered outcome ``y`` on ``X``.

    ``y``: any numeric codes of the ordered categories (their sorted distinct values
    in the study are the categories).  Returns the slopes (log cumulative odds
    ratios) then the cut-points ``cut1..cut{K-1}``, with the inverse observed
    information; ``events`` is None and ``extra["categories"]`` lists the categories;
    or a failed Fit (``too_few_rows``, ``constant_outcome``, ``collinear``,
    ``separation``, ``not_converged``, ``runaway``).

    Example:
        >>> import numpy as np
        >>> fit(np.ones(5), np.arange(5.0)[:, None], names=("x",)).problem
        'constant_outcome'
    """
    y, X, names, _off = as_design(y, X, names)
    keep = [j for j, s in enumerate(names) if s not in INTERCEPT_NAMES]
    X, names = X[:, keep], tuple(names[j] for j in keep)
    cats, k = np.unique(y, return_inverse=True)
    K = cats.size
    n, p = X.shape
    cuts = tuple(f"cut{j}" for j in range(1, K))
    all_names = (*names, *cuts)
    one = None
    if K < 2:
        one = failed("constant_outcome", CONSTANT_OUTCOME_REASON.format(n=n, value=cats[0]),
                     names=all_names, n=n)
    X1 = np.column_stack([np.ones(n), X])
    bad = screen(X1, ("cut-points", *names), events=None, problem=one)
    if bad is None and n <= p + K - 1:
        bad = failed("too_few_rows", f"{n} participants for {p + K - 1} parameters "
                     f"({p} slopes, {K - 1} cut-points)", names=all_names, n=n)
    if bad is not None:
        return failed(str(bad.problem), bad.reason or "", names=all_names, n=n,
                      extra=bad.extra)
    L = _Layout(k.astype(np.intp), K)
    scale = np.r_[column_scale(X) if p else np.zeros(0), np.ones(K - 1)]
    Xs = X / scale[:p]
    cum = np.cumsum(np.bincount(k, minlength=K))[:-1] / n
    start = np.r_[np.zeros(p), np.log(cum / (1 - cum))]
    res = newton_loop(_state_fn(Xs, L), start, maxiter=maxiter, tol=tol)
    cov = inverse(None if res.state is None else res.state.chol, p + K - 1)
    return conclude(res, X=X, scale=scale, names=all_names, n=n, events=None,
                    family="ordinal", cov_scaled=cov,
                    separation=lambda: _separation(Xs, L, all_names),
                    extra={"categories": tuple(float(c) for c in cats)})
