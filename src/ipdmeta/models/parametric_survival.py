"""Weibull and exponential survival models, proportional-hazards or accelerated-failure-time.

Proportional hazards (the default, as Stata's ``streg, dist(weibull)`` /
``dist(exponential)``): the hazard is ``h(t | x) = p t^(p-1) exp(x'b)`` (``p = 1``
for the exponential), ``b`` are log hazard ratios (with the log baseline rate as
the intercept) and the ancillary parameter is ``log_p`` (Stata's ``/ln_p``).  For
right-censored data ``(t_i, d_i)`` the log-likelihood is

    l = sum d_i (x_i'b + log p + (p - 1) log t_i) - exp(x_i'b) t_i^p,

the log density of ``T`` (R's ``survreg`` reports the same ``loglik``).  It is
maximised by Newton-Raphson on the exact Hessian in ``(b, log p)`` with step
halving, starting from the exponential fit, which is a Poisson regression of
``d`` with offset ``log t`` (so the exponential model and the zero-event checks
reuse :mod:`ipdmeta.models.poisson`).  The covariance is the inverse observed
information.

Accelerated failure time (``scale="aft"``, as R's ``survreg`` and Stata's
``streg ..., time``): ``log T = x'g + sigma W`` with ``W`` standard extreme-value,
``g = -b / p`` (log time ratios) and ``sigma = 1 / p``; reported as ``g`` and
``log_scale = log sigma = -log p`` (survreg's ``Log(scale)``), the covariance by
the delta method (exact for a reparametrisation at the maximum).  So a
``survreg`` coefficient ``g`` converts to the log hazard ratio ``-g / sigma``
(``-g`` for the exponential).

Failures: ``too_few_rows``, ``no_events``, ``collinear``, ``separation`` (no events
in a level of a covariate: the log hazard ratio diverges), ``not_converged``,
``runaway``; non-positive times raise :class:`~ipdmeta.errors.InputError`.

Example:
    >>> import numpy as np
    >>> t = np.array([2.0, 3, 5, 7, 11, 4, 9, 12, 15, 20])
    >>> d = np.array([1, 1, 1, 0, 1, 1, 1, 0, 1, 0])
    >>> X = np.column_stack([np.ones(10), np.repeat([0.0, 1], 5)])
    >>> f = fit(np.column_stack([t, d]), X, names=("Intercept", "treat"), dist="exponential")
    >>> round(f.estimate("treat"), 6)   # log(3 / 60) - log(4 / 28)
    -1.049822
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from scipy import linalg

from ipdmeta.errors import InputError
from ipdmeta.models import poisson
from ipdmeta.models._mle import conclude
from ipdmeta.models._newton import State, StateFn, as_design, column_scale, newton
from ipdmeta.models.base import Fit
from ipdmeta.models.poisson import _ETA_MAX

DISTS = ("weibull", "exponential")
SCALES = ("ph", "aft")


def _outcome(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[1] != 2:
        raise InputError(f"the survival outcome must be an (n, 2) array of time and event, "
                         f"got shape {y.shape}")
    time, event = y[:, 0], y[:, 1]
    if not np.all(np.isfinite(y)):
        raise InputError("the survival time or event has missing or infinite values: drop "
                         "incomplete rows before fitting")
    if np.any(time <= 0):
        raise InputError(f"survival times must be positive for a parametric model; found "
                         f"{time[time <= 0][0]:g}")
    if not np.all((event == 0) | (event == 1)):
        raise InputError("the event indicator must be coded 1 (event) / 0 (censored)")
    return time, event


def _state_fn(Xs: np.ndarray, logt: np.ndarray, d: np.ndarray) -> StateFn:
    """Weibull PH log-likelihood, score and Hessian in ``(b, log p)``."""
    k = Xs.shape[1]

    def state(par: np.ndarray) -> State | None:
        eta = Xs @ par[:k]
        pp = float(np.exp(par[k]))
        s = pp * logt
        z = eta + s
        if z.max(initial=-np.inf) > _ETA_MAX:
            return None
        lam = np.exp(z)                        # cumulative hazard of each participant
        ll = float(np.sum(d * (eta + par[k] + s - logt) - lam))
        score = np.r_[Xs.T @ (d - lam), np.sum(d * (1 + s) - lam * s)]
        H = np.empty((k + 1, k + 1))
        H[:k, :k] = -(Xs.T @ (lam[:, None] * Xs))
        H[:k, k] = H[k, :k] = -(Xs.T @ (lam * s))
        H[k, k] = float(np.sum(d * s - lam * s * (1 + s)))
        try:
            chol = linalg.cholesky(-H, lower=False)
        except (linalg.LinAlgError, ValueError):
            return None
        return State(ll, score, chol, eta, ll)

    return state


def to_aft(f: Fit, dist: str) -> Fit:
    """The accelerated-failure-time form of a PH fit (delta method)."""
    k = len(f.names) - (dist == "weibull")
    b = f.coef[:k]
    if dist == "exponential":
        return replace(f, coef=-b, extra={**f.extra, "scale": "aft"})
    inv_p = float(np.exp(-f.coef[k]))
    J = np.zeros((k + 1, k + 1))
    J[:k, :k] = -inv_p * np.eye(k)
    J[:k, k] = b * inv_p
    J[k, k] = -1.0
    return replace(f, coef=np.r_[-b * inv_p, -f.coef[k]], cov=J @ f.cov @ J.T,
                   names=(*f.names[:k], "log_scale"), extra={**f.extra, "scale": "aft"})


def fit(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], dist: str = "weibull",
        scale: str = "ph",
        maxiter: int = 100, tol: float = 1e-10, **_: Any) -> Fit:
    """Weibull or exponential regression of ``y = (time, event)`` on ``X`` (intercept
    included).

    ``scale="ph"`` (default): log hazard ratios, then ``log_p`` for the Weibull;
    ``scale="aft"``: log time ratios, then ``log_scale`` (as ``survreg``).
    ``extra["shape"]`` is ``p``; ``events`` is the number of events.

    Example:
        >>> import numpy as np
        >>> y = np.column_stack([[1.0, 2, 3, 4], [1, 1, 0, 0]])
        >>> X = np.column_stack([np.ones(4), [0.0, 0, 1, 1]])
        >>> fit(y, X, names=("Intercept", "treat")).problem
        'separation'
    """
    if dist not in DISTS:
        raise InputError(f"dist={dist!r} is not known; use 'weibull' or 'exponential'")
    if scale not in SCALES:
        raise InputError(f"scale={scale!r} is not known; use 'ph' (log hazard ratios, as "
                         "Stata's streg) or 'aft' (log time ratios, as R's survreg)")
    time, d = _outcome(y)
    d, X, names, _off = as_design(d, X, names)
    logt = np.log(time)
    exp_fit = poisson.fit(d, X, names=names, offset=logt, maxiter=maxiter, tol=tol)
    if not exp_fit.ok:
        return replace(exp_fit, extra={**exp_fit.extra, "family": dist})
    if dist == "exponential":
        f = replace(exp_fit, loglik=exp_fit.loglik - float(d @ logt),
                    extra={"family": dist, "dist": dist, "shape": 1.0, "scale": "ph"})
        return to_aft(f, dist) if scale == "aft" else f
    n, k = X.shape
    sc = np.r_[column_scale(X), 1.0]
    Xs = X / sc[:k]
    res = newton(_state_fn(Xs, logt, d), np.r_[exp_fit.coef * sc[:k], 0.0], maxiter=maxiter,
                 tol=tol)
    cov = (np.full((k + 1, k + 1), np.nan) if res.state is None
           else linalg.cho_solve((res.state.chol, False), np.eye(k + 1)))
    f = conclude(res, X=X, scale=sc, names=(*names, "log_p"), n=n, events=int(d.sum()),
                 family=dist, cov_scaled=cov, extra={"dist": dist, "scale": "ph"})
    if not f.ok:
        return f
    f = replace(f, extra={**f.extra, "shape": float(np.exp(f.coef[k]))})
    return to_aft(f, dist) if scale == "aft" else f


def fit_weibull(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], **options: Any) -> Fit:
    """``model="weibull"``: :func:`fit` with ``dist="weibull"``."""
    return fit(y, X, names=names, **{**options, "dist": "weibull"})


def fit_exponential(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], **options: Any) -> Fit:
    """``model="exponential"``: :func:`fit` with ``dist="exponential"``."""
    return fit(y, X, names=names, **{**options, "dist": "exponential"})
