"""Shared machinery of the stage-1 fitters: input checks, aliasing, the Newton loop.

One Newton-Raphson loop (:func:`newton`) serves every likelihood-based fitter:
for the canonical-link GLMs (logistic, Poisson) Newton-Raphson and Fisher
scoring (IRLS) coincide, and Firth's penalised likelihood uses the same loop
with a modified score.  Each iteration costs ``O(n p^2)``: the information
``X'WX`` is formed from the ``(n, p)`` design and solved by Cholesky; no
``(n, n)`` matrix is ever formed.  Columns are scaled to unit maximum before
iterating, which keeps the information well conditioned whatever the units
of the covariates, and the results are transformed back.

:func:`glm_fit` runs the whole pipeline for a :class:`Family` and turns every
problem into a failed :class:`~ipdmeta.models.base.Fit` (too few rows, no
events, aliased terms, separation / monotone likelihood, non-convergence,
runaway estimates).

Example:
    >>> import numpy as np
    >>> X = np.column_stack([np.ones(4), [0.0, 1, 2, 3], [0.0, 2, 4, 6]])
    >>> aliased_columns(X)
    [2]
    >>> collinear_reason(X, ("Intercept", "x", "x2"), [2])
    "'x2' is a linear combination of 'x' (aliased)"
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy import linalg
from scipy.optimize import linprog

from ipdmeta.errors import InputError
from ipdmeta.models.base import Fit, failed
from ipdmeta.models.padded import segment_ptp

#: a column is aliased when its residual on the preceding columns is below
#: ``ALIAS_TOL`` times its norm (the tolerance of R's ``lm``/``glm``).
ALIAS_TOL = 1e-7
#: a coefficient with ``|b| * range(x) > RUNAWAY_EST`` and ``se * range(x) > RUNAWAY_SE``
#: (log scale) is a runaway estimate.
RUNAWAY_EST = 10.0
RUNAWAY_SE = 100.0


# ----------------------------------------------------------------------------- inputs
def as_design(y, X, names: Sequence[str], offset=None
              ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], np.ndarray | None]:
    """Check shapes and finiteness; return float arrays and the names as a tuple.

    Raises :class:`~ipdmeta.errors.InputError` for malformed input (a programming
    or data-preparation error, not a property of the study).

    Example:
        >>> y, X, names, off = as_design([1, 0], [[1, 2], [1, 3]], ["Intercept", "x"])
        >>> X.shape, names, off is None
        ((2, 2), ('Intercept', 'x'), True)
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    names = tuple(str(s) for s in names)
    if y.ndim != 1:
        raise InputError(f"the outcome must be one-dimensional, got shape {y.shape}")
    if X.ndim != 2:
        raise InputError(f"the design matrix must be two-dimensional, got shape {X.shape}")
    if X.shape[0] != y.shape[0]:
        raise InputError(f"the design matrix has {X.shape[0]} rows but the outcome has "
                         f"{y.shape[0]}")
    if X.shape[1] == 0:
        raise InputError("the design matrix has no columns: the model needs at least one term")
    if len(names) != X.shape[1]:
        raise InputError(f"{len(names)} names given for {X.shape[1]} design columns")
    if not np.all(np.isfinite(y)):
        raise InputError("the outcome has missing or infinite values: drop incomplete "
                         "rows before fitting")
    bad = ~np.all(np.isfinite(X), axis=0)
    if bad.any():
        raise InputError(f"design column '{names[int(np.argmax(bad))]}' has missing or "
                         "infinite values: drop incomplete rows before fitting")
    if offset is not None:
        offset = np.asarray(offset, dtype=float).reshape(-1)
        if offset.shape != y.shape:
            raise InputError(f"the offset has {offset.size} values but the outcome has "
                             f"{y.size}")
        if not np.all(np.isfinite(offset)):
            raise InputError("the offset has missing or infinite values (log of a zero "
                             "exposure?)")
    return y, X, names, offset


# ----------------------------------------------------------------------------- aliasing
def aliased_columns(X: np.ndarray, tol: float = ALIAS_TOL) -> list[int]:
    """Indices of columns that are linear combinations of the columns before them.

    As R's ``lm``/``glm``: going left to right, a column is aliased when the norm
    of its residual on the earlier non-aliased columns is at most ``tol`` times
    its own norm (an all-zero column is always aliased).

    Example:
        >>> aliased_columns(np.array([[1.0, 0, 1], [1, 1, 1], [1, 2, 1]]))
        [2]
    """
    n, p = X.shape
    norms = np.linalg.norm(X, axis=0)
    out: list[int] = []
    while True:
        cols = [j for j in range(p) if j not in out]
        if not cols:
            return out
        R = np.linalg.qr(X[:, cols], mode="r")
        d = np.zeros(len(cols))
        k = min(n, len(cols))
        d[:k] = np.abs(np.diag(R)[:k])
        bad = np.flatnonzero(d <= tol * norms[cols])
        if bad.size == 0:
            return sorted(out)
        out.append(cols[int(bad[0])])


def _fmt(v: float) -> str:
    """A number as short text: ``1.0`` -> ``"1"``."""
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def collinear_reason(X: np.ndarray, names: Sequence[str], aliased: Sequence[int]) -> str:
    """Plain words naming each aliased term and what it is collinear with."""
    keep = [j for j in range(X.shape[1]) if j not in aliased]
    parts = []
    for j in aliased:
        x = X[:, j]
        if not np.any(x):
            parts.append(f"'{names[j]}' is zero for every participant (aliased)")
            continue
        if np.ptp(x) == 0:
            consts = [names[k] for k in keep if np.ptp(X[:, k]) == 0]
            what = f"'{consts[0]}'" if consts else "the other terms"
            parts.append(f"'{names[j]}' is {_fmt(x[0])} for every participant, so it is "
                         f"collinear with {what}")
            continue
        Xk = X[:, keep]
        c = np.linalg.lstsq(Xk, x, rcond=None)[0] if keep else np.zeros(0)
        contrib = np.abs(c) * np.linalg.norm(Xk, axis=0) if keep else c
        used = [names[k] for k, cc in zip(keep, contrib, strict=True)
                if cc > 1e-6 * np.linalg.norm(x)]
        nonconst = [u for u in used if np.ptp(X[:, names.index(u)]) > 0]
        if nonconst:
            terms = ", ".join(f"'{u}'" for u in nonconst)
            parts.append(f"'{names[j]}' is a linear combination of {terms} (aliased)")
        else:
            parts.append(f"'{names[j]}' is collinear with the other terms (aliased)")
    return "; ".join(parts)


def too_few_rows(X: np.ndarray, names: tuple[str, ...], *, events: int | None) -> Fit | None:
    """A ``too_few_rows`` failure when n <= p, else None."""
    n, p = X.shape
    if n > p:
        return None
    return failed("too_few_rows", f"{people(n)} for {p} coefficient{'s' * (p != 1)}: need "
                  "more participants than coefficients", names=names, n=n, events=events)


def collinear(X: np.ndarray, names: tuple[str, ...], *, events: int | None) -> Fit | None:
    """A ``collinear`` failure naming the aliased terms, else None."""
    al = aliased_columns(X)
    if not al:
        return None
    return failed("collinear", collinear_reason(X, names, al), names=names, n=X.shape[0],
                  events=events, extra={"aliased": tuple(names[j] for j in al)})


# ----------------------------------------------------------------------------- Newton loop
@dataclass
class State:
    """The likelihood at one coefficient vector (of the scaled design)."""

    objective: float      # log-likelihood (penalised for Firth)
    score: np.ndarray     # gradient of the objective (modified score for Firth)
    chol: np.ndarray      # upper Cholesky factor of the information X'WX
    eta: np.ndarray       # linear predictor, offset included
    loglik: float         # the unpenalised log-likelihood
    step_chol: np.ndarray | None = None  # Cholesky factor of the step matrix, if not ``chol``


@dataclass
class NewtonResult:
    """Where the loop stopped."""

    beta: np.ndarray
    state: State | None
    iterations: int
    converged: bool


StateFn = Callable[[np.ndarray], "State | None"]


def newton(state_fn: StateFn, beta0: np.ndarray, *, maxiter: int = 100, tol: float = 1e-10,
           maxstep: float | None = None, maxhalf: int = 30) -> NewtonResult:
    """Maximise an objective by Newton steps ``I^{-1} U`` with step halving.

    ``I`` is ``State.step_chol`` when given (e.g. the exact negative Hessian of a
    penalised likelihood), else ``State.chol`` (the information).

    ``state_fn(beta)`` returns the :class:`State` at ``beta`` or None where the
    objective is undefined (overflow, information not positive definite).
    Converged when the relative change of the objective is below ``tol`` and
    every step ``|delta_j| / (1 + |beta_j|)`` is below ``tol`` (or the steps stop
    shrinking below 1e-7: the numerical floor).  Steps of size above 1e-3 that no
    longer change the objective (three in a row) mean the estimates diverge
    (separation): the loop stops, not converged.

    Example:
        >>> def f(b):  # maximise -(b - 2)^2 / 2
        ...     return State(-(b[0] - 2) ** 2 / 2, np.array([2 - b[0]]), np.eye(1), b, 0.0)
        >>> r = newton(f, np.zeros(1))
        >>> r.converged, float(r.beta[0])
        (True, 2.0)
    """
    beta = np.asarray(beta0, dtype=float).copy()
    st = state_fn(beta)
    if st is None:
        return NewtonResult(beta, None, 0, False)
    flat = 0
    prev_d = np.inf
    for it in range(1, maxiter + 1):
        step_chol = st.chol if st.step_chol is None else st.step_chol
        delta = linalg.cho_solve((step_chol, False), st.score)
        if not np.all(np.isfinite(delta)):
            return NewtonResult(beta, st, it, False)
        big = np.max(np.abs(delta)) if delta.size else 0.0
        if maxstep is not None and big > maxstep:
            delta *= maxstep / big
        slack = 1e-12 * (abs(st.objective) + 1.0)
        step = 1.0
        for _ in range(maxhalf):
            new_beta = beta + step * delta
            new = state_fn(new_beta)
            if new is not None and new.objective >= st.objective - slack:
                break
            step /= 2
        else:
            # no step improves the objective: at the optimum up to rounding, or stuck
            return NewtonResult(beta, st, it, bool(big < 1e-7))
        change = abs(new.objective - st.objective) / (abs(new.objective) + 0.1)
        d = float(np.max(np.abs(step * delta) / (1.0 + np.abs(beta)))) if delta.size else 0.0
        beta, st = new_beta, new
        if change < tol and (d < tol or (d < 1e-7 and d >= prev_d)):
            return NewtonResult(beta, st, it, True)
        flat = flat + 1 if (change < tol and d > 1e-3) else 0
        if flat >= 3:
            return NewtonResult(beta, st, it, False)
        prev_d = d
    return NewtonResult(beta, st, maxiter, False)


# ----------------------------------------------------------------------------- GLM families
class Family(Protocol):
    """What :func:`glm_fit` and the batched fitter need from a canonical-link family.

    The outcome screens and starting values are vectorised over studies (rows of
    study ``i`` run from ``starts[i]``) so that the per-study path (one study) and
    the batched path (:mod:`ipdmeta.models.batched`) use the same code.
    """

    name: str
    label: str          # the family's name in messages ("logistic", "Poisson")
    outcome_rule: str   # what a valid outcome is ("coded 0/1")

    def valid_outcome(self, y: np.ndarray) -> np.ndarray:
        """Per row: is ``y`` a valid outcome of the family?"""

    def events_status(self, events: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Per study: "no_events", "all_events" or "" (estimable), from its total
        outcome ``events`` and its number of rows ``n``."""

    def start_eta(self, y: np.ndarray, offset: np.ndarray, starts: np.ndarray,
                  counts: np.ndarray) -> np.ndarray:
        """Per study: the intercept-only linear predictor used as the starting value."""

    def moments(self, eta: np.ndarray, y: np.ndarray
                ) -> tuple[float, np.ndarray, np.ndarray] | None:
        """``(loglik, y - mu, weights)`` at ``eta``, or None when undefined."""

    def separation_reason(self, X: np.ndarray, y: np.ndarray, names: tuple[str, ...]
                          ) -> str | None:
        """Plain-words separation / monotone-likelihood reason, or None when none."""


#: the reason of each events status of :meth:`Family.events_status`
EVENT_REASONS = {"no_events": "no events among the {n} participants",
                 "all_events": "all {n} participants had the event"}


def check_outcome(family: Family, y: np.ndarray) -> None:
    """Raise :class:`~ipdmeta.errors.InputError` when ``y`` has an invalid outcome."""
    bad = ~family.valid_outcome(y)
    if bad.any():
        raise InputError(f"the {family.label} outcome must be {family.outcome_rule}; found "
                         f"{_fmt(y[bad][0])}")


def events_problem(family: Family, y: np.ndarray, names: tuple[str, ...]) -> Fit | None:
    """A ``no_events`` / ``all_events`` failure of one study, else None."""
    n, events = y.size, round(float(y.sum()))
    status = str(family.events_status(np.array([y.sum()]), np.array([n]))[0])
    if not status:
        return None
    return failed(status, EVENT_REASONS[status].format(n=n), names=names, n=n, events=events)


def start_values(family: Family, Xs: np.ndarray, y: np.ndarray, offset: np.ndarray,
                 starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Starting coefficients ``(k, p)`` of every study: zero, except the first constant
    (intercept) column, set so that the study's fit starts at the family's
    ``start_eta``."""
    k, p = starts.size, Xs.shape[1]
    beta = np.zeros((k, p))
    eta0 = family.start_eta(y, offset, starts, counts)
    first = Xs[starts]
    const = (segment_ptp(Xs, starts) == 0) & (first != 0)
    has = const.any(axis=1)
    j = np.argmax(const, axis=1)
    rows = np.flatnonzero(has)
    beta[rows, j[has]] = eta0[has] / first[rows, j[has]]
    return beta


def canonical_state(family: Family, Xs: np.ndarray, y: np.ndarray, offset: np.ndarray
                    ) -> StateFn:
    """The ML :class:`State` function of a canonical-link GLM (score ``X'(y - mu)``)."""

    def state(beta: np.ndarray) -> State | None:
        eta = Xs @ beta + offset
        m = family.moments(eta, y)
        if m is None:
            return None
        ll, resid, w = m
        chol = information_chol(Xs, w)
        if chol is None:
            return None
        return State(ll, Xs.T @ resid, chol, eta, ll)

    return state


def information_chol(Xs: np.ndarray, w: np.ndarray) -> np.ndarray | None:
    """Upper Cholesky factor of ``X' diag(w) X``, or None when not positive definite."""
    info = Xs.T @ (w[:, None] * Xs)
    try:
        return linalg.cholesky(info, lower=False, check_finite=True)
    except (linalg.LinAlgError, ValueError):
        return None


def recession_direction(A_ineq: np.ndarray, A_eq: np.ndarray | None = None
                        ) -> np.ndarray | None:
    """A direction ``b != 0`` with ``A_ineq b >= 0`` and ``A_eq b = 0``, or None.

    Solved as the linear programme of Konis (2007): maximise ``sum(A_ineq b)``
    over ``|b_j| <= 1``.  For logistic regression ``A_ineq = diag(2y - 1) X``: a
    solution is a direction along which the likelihood increases for ever
    (complete or quasi-complete separation).  Columns of ``A_ineq`` should be
    scaled to unit maximum.

    Example:
        >>> X = np.column_stack([np.ones(4), [0.0, 0, 1, 1]]); y = np.array([0.0, 0, 1, 1])
        >>> b = recession_direction((2 * y - 1)[:, None] * X)
        >>> bool(b[1] > 0)
        True
    """
    n, p = A_ineq.shape
    kw = {}
    if A_eq is not None and A_eq.shape[0] > 0:
        kw = {"A_eq": A_eq, "b_eq": np.zeros(A_eq.shape[0])}
    res = linprog(-A_ineq.sum(axis=0), A_ub=-A_ineq, b_ub=np.zeros(n), bounds=[(-1, 1)] * p,
                  method="highs", **kw)
    if res.status != 0 or res.x is None:
        return None
    b = res.x
    s = A_ineq @ b
    if s.max(initial=0.0) <= 1e-6 or s.min(initial=0.0) < -1e-8:
        return None
    if A_eq is not None and A_eq.shape[0] > 0 and np.max(np.abs(A_eq @ b)) > 1e-8:
        return None
    return b


def strictly_separable(A: np.ndarray) -> bool:
    """True when some ``b`` has ``A b > 0`` in every row (complete, not quasi-complete
    separation): maximise ``t`` subject to ``A b >= t``, ``|b_j| <= 1``, ``0 <= t <= 1``."""
    n, p = A.shape
    res = linprog(np.r_[np.zeros(p), -1.0], A_ub=np.column_stack([-A, np.ones(n)]),
                  b_ub=np.zeros(n), bounds=[(-1, 1)] * p + [(0, 1)], method="highs")
    return bool(res.status == 0 and -res.fun > 1e-8)


def explain_direction(find: Callable[[list[int]], np.ndarray | None], X: np.ndarray
                      ) -> tuple[list[int], np.ndarray] | None:
    """The simplest explanation of a recession direction, or None when there is none.

    ``find(cols)`` looks for a recession direction using only the columns ``cols``.
    When the full design has one, each single non-constant term is tried with the
    constant columns alone, so the reason can name the one term that separates;
    otherwise the terms moved by the full-design direction are returned.  The
    direction is returned in full-design coordinates.
    """
    p = X.shape[1]
    b = find(list(range(p)))
    if b is None:
        return None
    const = [j for j in range(p) if np.ptp(X[:, j]) == 0]
    for j in range(p):
        if j in const:
            continue
        bj = find([*const, j])
        if bj is not None:
            full = np.zeros(p)
            full[[*const, j]] = bj
            return [j], full
    return direction_terms(b, X), b


def people(k: int) -> str:
    """``"1 participant"`` / ``"3 participants"``."""
    return f"{k} participant{'s' * (k != 1)}"


def direction_terms(b: np.ndarray, X: np.ndarray) -> list[int]:
    """Indices of the non-constant terms that a recession direction moves."""
    big = np.abs(b) > 1e-6 * max(np.max(np.abs(b)), 1e-300)
    return [j for j in range(X.shape[1]) if big[j] and np.ptp(X[:, j]) > 0]


def term_list(idx: Sequence[int], names: Sequence[str]) -> str:
    """``'a'`` or ``the combination of 'a', 'b'``."""
    if len(idx) == 1:
        return f"'{names[idx[0]]}'"
    return "the combination of " + ", ".join(f"'{names[j]}'" for j in idx)


def column_scale(X: np.ndarray) -> np.ndarray:
    """Maximum absolute value of each column (1 for an all-zero column)."""
    s = np.max(np.abs(X), axis=0)
    return np.where(s > 0, s, 1.0)


def runaway_terms(coef: np.ndarray, se: np.ndarray, X: np.ndarray) -> list[int]:
    """Coefficients whose effect over the observed range of the covariate is runaway."""
    rng = np.ptp(X, axis=0)
    rng = np.where(rng > 0, rng, np.max(np.abs(X), axis=0))
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(se) | ((np.abs(coef) * rng > RUNAWAY_EST)
                                  & (se * rng > RUNAWAY_SE))
    return [int(j) for j in np.flatnonzero(bad)]


def glm_fit(family: Family, y, X, *, names: Sequence[str], offset=None, maxiter: int = 100,
            tol: float = 1e-10, penalised: Callable[..., StateFn] | None = None,
            maxstep: float | None = None) -> Fit:
    """Fit a canonical-link GLM (or, with ``penalised``, its Firth version); never raises
    for a study that cannot be fitted.

    ``penalised(family, Xs, y, offset)`` builds the state function of a penalised
    likelihood; with it, separation is not a failure.
    """
    y, X, names, offset = as_design(y, X, names, offset)
    check_outcome(family, y)
    n, p = X.shape
    events = round(float(y.sum()))
    off = np.zeros(n) if offset is None else offset
    bad = (too_few_rows(X, names, events=events) or events_problem(family, y, names)
           or collinear(X, names, events=events))
    if bad is not None:
        return bad
    scale = column_scale(X)
    Xs = X / scale
    if penalised is None:
        state_fn = canonical_state(family, Xs, y, off)
    else:  # the penalty is computed on the scaled design: pass the log-Jacobian
        state_fn = penalised(family, Xs, y, off, logscale=float(np.sum(np.log(scale))))
    one = np.zeros(1, dtype=np.intp)
    beta0 = start_values(family, Xs, y, off, one, np.array([n]))[0]
    res = newton(state_fn, beta0, maxiter=maxiter, tol=tol, maxstep=maxstep)
    common = {"names": names, "n": n, "events": events, "iterations": res.iterations}
    st = res.state
    if st is None:
        return failed("not_converged", "the likelihood could not be evaluated at the "
                      "starting values", converged=False, **common)
    coef = res.beta / scale
    cov = linalg.cho_solve((st.chol, False), np.eye(p)) / np.outer(scale, scale)
    se = np.sqrt(np.abs(np.diag(cov)))
    runaway = runaway_terms(coef, se, X)
    extra = {"family": family.name}
    if penalised is not None:
        extra["loglik_unpenalised"] = st.loglik
    # a failed fit keeps NaN coefficients; the last iterate is in extra for inspection
    lost = {"converged": res.converged, "loglik": st.objective,
            "extra": {**extra, "last_coef": coef, "last_cov": cov}}
    if penalised is None and (not res.converged or runaway):
        why = family.separation_reason(X, y, names)
        if why is not None:
            return failed("separation", why, **lost, **common)
    if not res.converged:
        return failed("not_converged", f"the {family.name} fit did not converge in "
                      f"{res.iterations} iterations", **lost, **common)
    if runaway:
        j = runaway[0]
        return failed("runaway", f"the estimate of '{names[j]}' ({coef[j]:.3g}) is implausibly "
                      f"large with an enormous standard error ({se[j]:.3g})", **lost, **common)
    return Fit(coef=coef, cov=cov, converged=True, loglik=st.objective, extra=extra, **common)
