"""Binomial regression with the log link (risk ratios) and the identity link (risk differences).

``model="rr"`` is R's ``glm(family = binomial(link = "log"))`` and Stata's
``glm y x, family(binomial) link(log)`` (log-binomial model: ``log p = x'b``, so
``b`` is a log risk ratio); ``model="rd"`` is ``binomial(link = "identity")``
(``p = x'b``, a risk difference).  Both maximise the binomial likelihood
``sum y log p + (1 - y) log(1 - p)`` subject to every fitted risk being a
probability: the parameter space is ``x_i'b < 0`` for every participant (log
link) or ``0 < x_i'b < 1`` (identity link).

The fit is Newton-Raphson on the exact (observed) Hessian with step halving
that keeps every iterate strictly inside the parameter space (a step that
would give a fitted risk of 1, or of 0 with the identity link, is halved), so
it never fails as R's ``glm`` can ("no valid set of coefficients has been
found").  Both log-likelihoods are concave in ``b``, so a converged fit inside
the space is the maximum.  Standard errors are from the *expected* information
``X' diag(w) X`` at the estimate, as R's ``glm`` (``w = p / (1 - p)`` for the
log link, ``1 / (p (1 - p))`` for the identity link); Stata's ``glm`` default
(``ml``, OIM) uses the observed information instead (its ``irls`` option gives
the expected one, as here).

When the maximum lies on the edge of the parameter space (some fitted risks
reach 1, or 0 for the identity link - for instance no events in one arm) the
model has no standard errors there: the study is a ``boundary`` row saying how
many participants' fitted risk reached the edge.  A log-binomial fit whose
estimate diverges (no events in a level of a covariate, so its log risk ratio
runs to minus infinity) is ``separation``, found with the linear-programming
check of :mod:`ipdmeta.models.poisson`.

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 1.0])
    >>> X = np.column_stack([np.ones(10), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1.0]])
    >>> f = fit(y, X, names=("Intercept", "treat"), link="log")
    >>> round(f.estimate("treat"), 6), round(f.se("treat"), 6)   # log(0.8 / 0.4)
    (0.693147, 0.591608)
    >>> round(fit(y, X, names=("Intercept", "treat"), link="identity").estimate("treat"), 6)
    0.4
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ipdmeta.errors import InputError
from ipdmeta.models._mle import conclude, constant_column, count_text, inverse, screen
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
from ipdmeta.models.base import Fit, failed
from ipdmeta.models.logistic import LOGISTIC
from ipdmeta.models.poisson import POISSON

LINKS = ("log", "identity")
#: a fitted risk within this distance of 0 or 1 is on the edge of the parameter space
BOUNDARY_TOL = 1e-6


def _moments(link: str, eta: np.ndarray, y: np.ndarray
             ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(loglik, d loglik / d eta, expected weight, observed weight)`` or None outside
    the parameter space."""
    if link == "log":
        if eta.max(initial=-np.inf) >= 0:
            return None
        p = np.exp(eta)
        q = -np.expm1(eta)
        ll = float(np.sum(y * eta) + np.sum(np.log(q[y == 0])))
        return ll, (y - p) / q, p / q, (1 - y) * p / (q * q)
    if eta.min(initial=np.inf) <= 0 or eta.max(initial=-np.inf) >= 1:
        return None
    p, q = eta, 1 - eta
    ll = float(np.sum(np.log(p[y == 1])) + np.sum(np.log(q[y == 0])))
    return ll, (y - p) / (p * q), 1 / (p * q), y / (p * p) + (1 - y) / (q * q)


def _state_fn(link: str, Xs: np.ndarray, y: np.ndarray) -> StateFn:
    def state(beta: np.ndarray) -> State | None:
        eta = Xs @ beta
        m = _moments(link, eta, y)
        if m is None:
            return None
        ll, u, w_exp, w_obs = m
        chol = information_chol(Xs, w_exp)
        if chol is None:
            return None
        return State(ll, Xs.T @ u, chol, eta, ll, step_chol=information_chol(Xs, w_obs))

    return state


def _start(link: str, Xs: np.ndarray, y: np.ndarray) -> np.ndarray | None:
    """Intercept at the overall risk (log or identity scale), other coefficients 0; for a
    design without an intercept, least squares on R's ``mustart = (y + 0.5) / 2``."""
    m = float(y.mean())
    j = constant_column(Xs)
    if j is not None:
        beta = np.zeros(Xs.shape[1])
        beta[j] = (np.log(m) if link == "log" else m) / Xs[0, j]
        return beta
    mu = (y + 0.5) / 2
    target = np.log(mu) if link == "log" else mu
    beta = np.linalg.lstsq(Xs, target, rcond=None)[0]
    return beta if _moments(link, Xs @ beta, y) is not None else None


def _edge(link: str, eta: np.ndarray) -> tuple[int, int]:
    """Participants whose fitted risk is within BOUNDARY_TOL of 1 and of 0."""
    p = np.exp(eta) if link == "log" else eta
    return int(np.sum(p > 1 - BOUNDARY_TOL)), int(np.sum(p < BOUNDARY_TOL)) * (link != "log")


def _boundary_reason(link: str, at_one: int, at_zero: int) -> str:
    parts = []
    if at_one:
        parts.append(f"the fitted risk reaches 1 for {count_text(at_one, '')}")
    if at_zero:
        parts.append(f"the fitted risk reaches 0 for {count_text(at_zero, '')}")
    model = "log-binomial" if link == "log" else "identity-binomial"
    alt = ("use model='logistic', or a Poisson model with robust standard errors for a "
           "risk ratio (Zou 2004)" if link == "log" else
           "use model='logistic', or pool 2x2 counts with a risk difference")
    return (f"the maximum-likelihood estimate is on the boundary of the parameter space: "
            f"{' and '.join(parts)}, so the {model} model has no standard errors there; {alt}")


def fit(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], link: str = "log",
        maxiter: int = 100,
        tol: float = 1e-10, **_: Any) -> Fit:
    """Binomial regression of a 0/1 outcome ``y`` on ``X`` with the log or identity link.

    Returns log risk ratios (``link="log"``) or risk differences (``"identity"``) with
    their covariance (inverse expected information, as R's ``glm``), ``events =
    sum(y)``; or a failed Fit: ``too_few_rows``, ``no_events``, ``all_events``,
    ``collinear``, ``boundary`` (the maximum is on the edge of the parameter space),
    ``separation`` (log link), ``not_converged``, ``runaway``.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 0, 0, 0, 1, 1, 0, 1.0])
        >>> X = np.column_stack([np.ones(8), [0, 0, 0, 0, 1, 1, 1, 1.0]])
        >>> f = fit(y, X, names=("Intercept", "treat"), link="identity")
        >>> f.problem
        'boundary'
    """
    if link not in LINKS:
        raise InputError(f"link={link!r} is not known; use 'log' (risk ratio) or 'identity' "
                         "(risk difference)")
    y, X, names, _off = as_design(y, X, names)
    check_outcome(LOGISTIC, y)
    n = X.shape[0]
    events = round(float(y.sum()))
    bad = screen(X, names, events=events, problem=events_problem(LOGISTIC, y, names))
    if bad is not None:
        return bad
    scale = column_scale(X)
    Xs = X / scale
    beta0 = _start(link, Xs, y)
    family = "log-binomial" if link == "log" else "identity-binomial"
    if beta0 is None:
        return failed("not_converged", "no starting values inside the parameter space: "
                      "include an intercept", names=names, n=n, events=events)
    res = newton(_state_fn(link, Xs, y), beta0, maxiter=maxiter, tol=tol)
    if res.state is not None:
        at_one, at_zero = _edge(link, res.state.eta)
        if at_one or at_zero:
            return failed("boundary", _boundary_reason(link, at_one, at_zero), names=names,
                          n=n, events=events, converged=False, iterations=res.iterations,
                          loglik=res.state.loglik,
                          extra={"family": family, "last_coef": res.beta / scale})
    cov = inverse(None if res.state is None else res.state.chol, X.shape[1])

    def separation() -> str | None:
        return POISSON.separation_reason(X, y, names) if link == "log" else None

    return conclude(res, X=X, scale=scale, names=names, n=n, events=events, family=family,
                    cov_scaled=cov, separation=separation, extra={"link": link})


def fit_rr(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], **options: Any) -> Fit:
    """``model="rr"``: :func:`fit` with the log link (log risk ratios)."""
    return fit(y, X, names=names, **{**options, "link": "log"})


def fit_rd(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], **options: Any) -> Fit:
    """``model="rd"``: :func:`fit` with the identity link (risk differences)."""
    return fit(y, X, names=names, **{**options, "link": "identity"})
