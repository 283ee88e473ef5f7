"""Negative binomial (NB2) regression with the dispersion by maximum likelihood.

As R's ``MASS::glm.nb`` and Stata's ``nbreg`` (default ``dispersion(mean)``):
``y ~ NB(mu, theta)`` with ``log mu = x'b + offset`` and variance
``mu + mu^2 / theta`` (Stata's ``alpha = 1 / theta``).  The log-likelihood

    l = sum lgamma(y + theta) - lgamma(theta) - lgamma(y + 1) + theta log theta
        + y log mu - (y + theta) log(theta + mu)

is maximised jointly in ``(b, log theta)`` by Newton-Raphson on the exact
Hessian (step halving), from the Poisson fit.  When the score for ``alpha`` at
the Poisson estimate, ``sum((y - mu)^2 - y) / 2``, is not positive, the data show
no overdispersion and the maximum is at ``alpha = 0`` (``theta`` infinite): the
fit is then the Poisson one (what ``glm.nb`` approaches with a huge ``theta`` and
``nbreg`` reports with ``alpha`` = 0), ``extra["theta"] = inf`` and the reason
says so (the fit is still ``ok``).

Standard errors: ``variance="expected"`` (default) is the inverse expected
information of ``b`` given ``theta``, ``X' diag(mu theta / (theta + mu)) X``, as
``vcov(glm.nb)``; ``variance="observed"`` the ``b`` block of the inverse observed
information of ``(b, log alpha)``, as Stata's ``nbreg`` (OIM).  ``extra`` holds
``theta``, its standard error (as ``glm.nb``'s ``SE.theta``) and ``alpha``.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 1, 5, 2, 0, 7, 3, 9, 1, 12.0])
    >>> X = np.column_stack([np.ones(10), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1.0]])
    >>> f = fit(y, X, names=("Intercept", "treat"))
    >>> round(f.estimate("treat"), 6), round(f.extra["theta"], 6)
    (1.386294, 2.235242)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import linalg
from scipy.special import digamma, gammaln, polygamma

from ipdmeta.errors import InputError
from ipdmeta.models import poisson
from ipdmeta.models._mle import conclude, inverse, screen
from ipdmeta.models._newton import (
    State,
    StateFn,
    as_design,
    check_outcome,
    column_scale,
    events_problem,
    information_chol,
    newton,
)
from ipdmeta.models.base import Fit
from ipdmeta.models.poisson import _ETA_MAX, POISSON

VARIANCES = ("expected", "observed")
#: log theta above this (theta > 1e13) is no overdispersion: the Poisson limit
LOG_THETA_MAX = 30.0


def loglik_terms(y: np.ndarray, mu: np.ndarray, theta: float) -> np.ndarray:
    """Per-participant NB2 log-likelihood (``glm.nb``'s, with ``lgamma(y + 1)``)."""
    return (gammaln(y + theta) - gammaln(theta) - gammaln(y + 1) + theta * np.log(theta)
            + y * np.log(np.where(y > 0, mu, 1.0)) - (y + theta) * np.log(theta + mu))


def _state_fn(Xs: np.ndarray, y: np.ndarray, offset: np.ndarray) -> StateFn:
    """Log-likelihood, score and Hessian in ``(b, t = log theta)``."""
    p = Xs.shape[1]

    def state(par: np.ndarray) -> State | None:
        beta, t = par[:p], float(par[p])
        eta = Xs @ beta + offset
        if eta.max(initial=-np.inf) > _ETA_MAX or abs(t) > 2 * LOG_THETA_MAX:
            return None
        mu, th = np.exp(eta), np.exp(t)
        tm = th + mu
        ll = float(np.sum(loglik_terms(y, mu, th)))
        u_eta = th * (y - mu) / tm
        d_th = float(np.sum(digamma(y + th) - digamma(th) + np.log(th) + 1 - np.log(tm)
                            - (y + th) / tm))
        h_th = float(np.sum(polygamma(1, y + th) - polygamma(1, th) + 1 / th - 2 / tm
                            + (y + th) / (tm * tm)))
        H = np.empty((p + 1, p + 1))
        H[:p, :p] = -(Xs.T @ ((th * mu * (y + th) / (tm * tm))[:, None] * Xs))
        H[:p, p] = H[p, :p] = Xs.T @ (th * (y - mu) * mu / (tm * tm))
        H[p, p] = th * th * h_th + th * d_th
        score = np.r_[Xs.T @ u_eta, th * d_th]
        w_exp = mu * th / tm
        chol = information_chol(Xs, w_exp)
        if chol is None or not np.isfinite(ll):
            return None
        try:
            step = linalg.cholesky(-H, lower=False)
        except (linalg.LinAlgError, ValueError):   # away from the maximum: block-diagonal
            step = linalg.block_diag(chol, np.sqrt(max(float(-H[p, p]), 1e-8 * y.size)))
        return State(ll, score, step, eta, ll, step_chol=None)

    return state


def _theta_info(y: np.ndarray, mu: np.ndarray, th: float) -> float:
    """Observed information of theta with ``mu`` fixed (``MASS::theta.ml``)."""
    return float(-np.sum(polygamma(1, th + y) - polygamma(1, th) + 1 / th - 2 / (mu + th)
                         + (y + th) / (mu + th) ** 2))


def fit(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], offset: np.ndarray | None = None,
        variance: str = "expected",
        maxiter: int = 100, tol: float = 1e-10, **_: Any) -> Fit:
    """NB2 regression of counts ``y`` on ``X`` (intercept included), optional ``offset``.

    Returns log rate ratios with their covariance (``variance`` as above),
    ``events = sum(y)``, ``extra["theta"]``, ``extra["se_theta"]``, ``extra["alpha"]``;
    or a failed Fit (``too_few_rows``, ``no_events``, ``collinear``, ``separation``,
    ``not_converged``, ``runaway``).

    Example:
        >>> import numpy as np
        >>> f = fit(np.array([1, 2, 1, 2, 1, 2.0]), np.ones((6, 1)), names=("Intercept",))
        >>> f.ok, f.extra["theta"], f.reason
        (True, inf, 'no overdispersion: alpha is estimated as 0, so the fit is the Poisson one')
    """
    if variance not in VARIANCES:
        raise InputError(f"variance={variance!r} is not known; use 'expected' (as R's "
                         "glm.nb) or 'observed' (as Stata's nbreg)")
    y, X, names, offset = as_design(y, X, names, offset)
    check_outcome(POISSON, y)
    n, p = X.shape
    off = np.zeros(n) if offset is None else offset
    events = round(float(y.sum()))
    bad = screen(X, names, events=events, problem=events_problem(POISSON, y, names))
    if bad is not None:
        return bad
    pois = poisson.fit(y, X, names=names, offset=offset, maxiter=maxiter, tol=tol)
    if not pois.ok:
        return pois
    mu = np.exp(X @ pois.coef + off)
    excess = float(np.sum((y - mu) ** 2 - y))
    poisson_limit = replace(
        pois, extra={"family": "negbin", "theta": np.inf, "se_theta": np.nan, "alpha": 0.0},
        reason="no overdispersion: alpha is estimated as 0, so the fit is the Poisson one")
    if excess <= 0:
        return poisson_limit
    scale = np.r_[column_scale(X), 1.0]
    Xs = X / scale[:p]
    alpha0 = excess / float(np.sum(mu * mu))
    start = np.r_[pois.coef * scale[:p], -np.log(alpha0)]
    res = newton(_state_fn(Xs, y, off), start, maxiter=maxiter, tol=tol)
    if res.state is not None and res.beta[p] > LOG_THETA_MAX:
        return poisson_limit
    names_all = (*names, "log_theta")
    if res.state is None:
        cov = np.full((p + 1, p + 1), np.nan)
    elif variance == "observed":
        cov = inverse(res.state.chol, p + 1)
    else:
        mu = np.exp(res.state.eta)
        th = float(np.exp(res.beta[p]))
        cov = linalg.block_diag(inverse(information_chol(Xs, mu * th / (th + mu)), p),
                                1 / (th * th * _theta_info(y, mu, th)))
    f = conclude(res, X=X, scale=scale, names=names_all, n=n, events=events, family="negbin",
                 cov_scaled=cov, extra={"variance": variance})
    if not f.ok:
        return replace(f, names=names, coef=f.coef[:p], cov=f.cov[:p, :p])
    th = float(np.exp(f.coef[p]))
    mu = np.exp(X @ f.coef[:p] + off)
    se_th = 1 / np.sqrt(_theta_info(y, mu, th))
    return replace(f, names=names, coef=f.coef[:p], cov=f.cov[:p, :p],
                       extra={**f.extra, "theta": th, "se_theta": float(se_th),
                              "alpha": 1 / th})
