"""Fine-Gray proportional subdistribution hazards model for competing risks.

As R's ``cmprsk::crr`` (and Stata's ``stcrreg``, which gives the same estimates and
standard errors): the outcome is ``(time, status)`` with status 0 censored, 1 the
event of interest, 2 a competing event.  The subdistribution hazard of the event
of interest is ``h1(t | x) = h10(t) exp(x'b)``; ``b`` are log subdistribution hazard
ratios (measure "SHR").  Fine & Gray (1999) estimate ``b`` by the weighted partial
likelihood (Breslow's handling of ties)

    l(b) = sum over distinct event times t of
           [ sum_{i fails at t} x_i'b - d_t log sum_j w_j(t) exp(x_j'b) ],

where everyone with ``T_j >= t`` has ``w_j(t) = 1``, a participant with a competing
event before ``t`` stays in the risk set with ``w_j(t) = G(t-) / G(T_j-)`` (``G`` the
Kaplan-Meier estimate of the censoring distribution, left limits as ``crr``), and
censored participants leave it.  All risk-set sums are cumulative sums over the
time-sorted data, so an iteration costs ``O(n p^2)``.

The covariance is Fine & Gray's sandwich ``I^{-1} (sum_i (eta_i + psi_i)(eta_i + psi_i)')
I^{-1}``: ``eta_i`` is participant ``i``'s score residual and ``psi_i`` accounts for the
estimated censoring distribution (``crr``'s ``var``).  ``extra["cov_model"]`` keeps the
inverse information (the model-based variance that ``survival::finegray`` + ``coxph``
report).

Statuses: ``too_few_rows``, ``no_events`` (no event of interest), ``collinear``,
``separation`` (a binary covariate with no event of interest in one level, so its
log SHR diverges), ``not_converged``, ``runaway``.

Example:
    >>> import numpy as np
    >>> t = np.array([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    >>> s = np.array([1, 2, 1, 0, 1, 1, 2, 1, 0, 1])
    >>> x = np.array([0.0, 1, 0, 1, 0, 1, 0, 1, 0, 1])
    >>> f = fit(np.column_stack([t, s]), x[:, None], names=("treat",))
    >>> f.ok, f.events
    (True, 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import linalg

from ipdmeta.errors import ConvergenceError, InputError
from ipdmeta.models._mle import conclude
from ipdmeta.models._newton import State, StateFn, collinear, newton
from ipdmeta.models.base import Fit, failed

#: the reason of a study without an event of interest (also :mod:`ipdmeta.models.screens`)
NO_EVENTS_REASON = "no events of interest among the {n} participants"


class Prep(NamedTuple):
    """Time-sorted data and the indices of the risk sets (computed once per fit)."""

    X: np.ndarray          # (n, p) centred, scaled, sorted covariates
    t: np.ndarray          # (n,) sorted times
    fail: np.ndarray       # (n,) event of interest
    comp: np.ndarray       # (n,) competing event
    cens: np.ndarray       # (n,) censored
    G: np.ndarray          # (n,) G(T_i-) of each row
    ft: np.ndarray         # (m,) distinct times of the event of interest
    d: np.ndarray          # (m,) events of interest at each
    first: np.ndarray      # (m,) first row with T >= ft
    Gf: np.ndarray         # (m,) G(ft-)
    upto: np.ndarray       # (n,) event times <= T_i (how many)
    order: np.ndarray      # (n,) the sort order
    scale: np.ndarray      # (p,) column scales


def censoring_km(t: np.ndarray, cens: np.ndarray) -> np.ndarray:
    """``G(T_i-)``: the Kaplan-Meier estimate of the censoring distribution just before each
    (sorted) time, censoring as the event."""
    times, first = np.unique(t, return_index=True)
    at_risk = t.size - first
    censored = np.add.reduceat(cens.astype(float), first)
    G = np.cumprod(1 - censored / at_risk)
    G_before = np.r_[1.0, G[:-1]]
    return G_before[np.searchsorted(times, t)]


def prepare(time: np.ndarray, status: np.ndarray, X: np.ndarray) -> Prep:
    """Sort by time and index the risk sets."""
    order = np.argsort(time, kind="stable")
    t, s = time[order], status[order]
    Xs = X[order]
    center = Xs.mean(axis=0)
    scale = Xs.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Xs = (Xs - center) / scale
    fail, comp, cens = s == 1, s == 2, s == 0
    G = censoring_km(t, cens)
    ft, d = np.unique(t[fail], return_counts=True)
    first = np.searchsorted(t, ft, side="left")
    return Prep(Xs, t, fail, comp, cens, G, ft, d.astype(float), first, G[first],
                np.searchsorted(ft, t, side="right"), order, scale)


def _cum_before(v: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Sums of the rows of ``v`` before each index (``v`` (n, ...), ``idx`` (m,))."""
    c = np.concatenate([np.zeros((1, *v.shape[1:])), np.cumsum(v, axis=0)])
    return c[idx]


def _rev_from(v: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Sums of the rows of ``v`` from each index to the end."""
    c = np.concatenate([np.cumsum(v[::-1], axis=0)[::-1], np.zeros((1, *v.shape[1:]))])
    return c[idx]


class Sums(NamedTuple):
    """Risk-set sums at each event time and per-row weights at one coefficient vector."""

    loglik: float
    score: np.ndarray
    info: np.ndarray
    e: np.ndarray          # (n,) exp(eta - max)
    S0: np.ndarray         # (m,)
    xbar: np.ndarray       # (m, p)


def evaluate(P: Prep, beta: np.ndarray) -> Sums | None:
    """Weighted partial log-likelihood, score and information at ``beta`` (scaled)."""
    eta = P.X @ beta
    mx = float(eta.max())
    e = np.exp(eta - mx)
    ce = np.where(P.comp, e / P.G, 0.0)
    E1 = np.column_stack([e, e[:, None] * P.X])
    C1 = np.column_stack([ce, ce[:, None] * P.X])
    S = _rev_from(E1, P.first) + P.Gf[:, None] * _cum_before(C1, P.first)
    S0 = S[:, 0]
    if not np.all(S0 > 0) or not np.all(np.isfinite(S)):
        return None
    xbar = S[:, 1:] / S0[:, None]
    a = P.d / S0
    reg = _cum_before(a, P.upto)                  # event times at or before T_j
    ahead = _rev_from(a * P.Gf, P.upto)           # event times after T_j
    c = e * (reg + np.where(P.comp, ahead / P.G, 0.0))
    xd = P.X[P.fail].sum(axis=0)
    score = xd - P.d @ xbar
    info = (P.X * c[:, None]).T @ P.X - (xbar * P.d[:, None]).T @ xbar
    ll = float(eta[P.fail].sum() - P.d @ (np.log(S0) + mx))
    return Sums(ll, score, info, e, S0, xbar)


def _state_fn(P: Prep) -> StateFn:
    def state(beta: np.ndarray) -> State | None:
        s = evaluate(P, beta)
        if s is None:
            return None
        try:
            chol = linalg.cholesky(s.info, lower=False)
        except (linalg.LinAlgError, ValueError):
            return None
        return State(s.loglik, s.score, chol, beta, s.loglik)

    return state


def crr_variance(P: Prep, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fine & Gray's sandwich and the inverse information, on the scaled coefficients."""
    s = evaluate(P, beta)
    if s is None:
        raise ConvergenceError("the Fine-Gray likelihood cannot be evaluated at the estimate")
    e, S0, xbar, X = s.e, s.S0, s.xbar, P.X
    # eta_i: the score residual of each participant
    a = P.d / S0
    A, B = _cum_before(a, P.upto), _cum_before(xbar * a[:, None], P.upto)
    g = a * P.Gf
    C, D = _rev_from(g, P.upto), _rev_from(xbar * g[:, None], P.upto)
    eta = -e[:, None] * (X * A[:, None] - B)
    eta -= np.where(P.comp, e / P.G, 0.0)[:, None] * (X * C[:, None] - D)
    pos = np.searchsorted(P.ft, P.t[P.fail])
    eta[P.fail] += X[P.fail] - xbar[pos]
    # psi_i: the estimated censoring distribution, at the distinct censoring times u
    times, first = np.unique(P.t, return_index=True)
    c_u = np.add.reduceat(P.cens.astype(float), first)
    u_idx = np.flatnonzero(c_u > 0)
    Y = (P.t.size - first)[u_idx]
    ce = np.where(P.comp, e / P.G, 0.0)
    W0 = _cum_before(ce, first[u_idx])                       # competing, T_k < u
    W1 = _cum_before(ce[:, None] * X, first[u_idx])
    fu = np.searchsorted(P.ft, times[u_idx], side="left")   # event times >= u
    gS = P.d * P.Gf / S0
    E1, E2 = _rev_from(gS, fu), _rev_from(xbar * gS[:, None], fu)
    q = W1 * E1[:, None] - E2 * W0[:, None]                  # (censoring times, p)
    step = -(c_u[u_idx] / Y**2)[:, None] * q
    psi = _cum_before(step, np.searchsorted(times[u_idx], P.t, side="right"))  # u <= T_i
    cens_pos = np.searchsorted(times[u_idx], P.t[P.cens])
    psi[P.cens] += q[cens_pos] / Y[cens_pos][:, None]
    r = eta + psi
    inv = linalg.inv(s.info)
    return inv @ (r.T @ r) @ inv, inv


def _outcome(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=float)
    if y.ndim != 2 or y.shape[1] != 2:
        raise InputError(f"the Fine-Gray outcome must be an (n, 2) array of time and status, "
                         f"got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise InputError("the time or status has missing or infinite values: drop incomplete "
                         "rows before fitting")
    status = y[:, 1]
    if not np.all(np.isin(status, (0, 1, 2))):
        bad = status[~np.isin(status, (0, 1, 2))][0]
        raise InputError(f"the competing-risks status must be coded 0 (censored), 1 (event of "
                         f"interest) or 2 (competing event); found {bad:g}")
    return y[:, 0], status


def _separation(X: np.ndarray, status: np.ndarray, names: tuple[str, ...]) -> str | None:
    for j in range(X.shape[1]):
        levels = np.unique(X[:, j])
        if levels.size == 2:
            for v in levels:
                if not np.any((X[:, j] == v) & (status == 1)):
                    val = int(v) if float(v).is_integer() else v
                    return (f"monotone likelihood: no events of interest with "
                            f"{names[j]}={val}, so the log subdistribution hazard ratio of "
                            f"'{names[j]}' diverges")
    return None


def fit(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], maxiter: int = 100,
        tol: float = 1e-10, **_: Any) -> Fit:
    """Fine-Gray regression of ``y = (time, status)`` (0/1/2) on ``X`` (no intercept).

    Returns log subdistribution hazard ratios with crr's sandwich covariance,
    ``events`` = events of interest, ``extra["competing"]`` and ``extra["cov_model"]``.

    Example:
        >>> import numpy as np
        >>> y = np.column_stack([[1.0, 2, 3, 4], [2, 2, 0, 2]])
        >>> fit(y, np.array([[0.0], [1], [0], [1]]), names=("x",)).reason
        'no events of interest among the 4 participants'
    """
    time, status = _outcome(y)
    X = np.asarray(X, dtype=float)
    names = tuple(str(v) for v in names)
    if X.ndim != 2 or X.shape[0] != time.size or X.shape[1] != len(names):
        raise InputError(f"the design matrix has shape {X.shape} for {time.size} rows and "
                         f"{len(names)} names")
    n, p = X.shape
    events = int(np.sum(status == 1))
    common: dict[str, Any] = {"names": names, "n": n, "events": events}
    if n < 2 or n <= p:
        return failed("too_few_rows", f"{n} participants for {p} coefficients", **common)
    if events == 0:
        return failed("no_events", NO_EVENTS_REASON.format(n=n), **common)
    bad = collinear(np.column_stack([np.ones(n), X]), ("baseline", *names), events=events)
    if bad is not None:
        return failed("collinear", bad.reason or "", **common)
    P = prepare(time, status, X)
    res = newton(_state_fn(P), np.zeros(p), maxiter=maxiter, tol=tol)
    if res.state is not None:
        V, V0 = crr_variance(P, res.beta)
    else:
        V = V0 = np.full((p, p), np.nan)
    f = conclude(res, X=X, scale=P.scale, names=names, n=n, events=events, family="finegray",
                 cov_scaled=V, separation=lambda: _separation(X, status, names),
                 extra={"competing": int(np.sum(status == 2))})
    if not f.ok:
        return f
    return Fit(coef=f.coef, cov=f.cov, names=names, n=n, events=events,
               iterations=f.iterations, loglik=f.loglik,
               extra={**f.extra, "cov_model": V0 / np.outer(P.scale, P.scale)})
