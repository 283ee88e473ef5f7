"""Cox proportional hazards model for stage 1: exact partial likelihood, vectorised.

:func:`fit` maximises the (optionally stratified) partial log-likelihood with
Efron's (R ``coxph`` default) or Breslow's (Stata ``stcox`` default) handling of
ties, by Newton-Raphson with step halving as ``coxph``; ``cov`` is the inverse
observed information (``vcov(coxph)``).  Firth's penalised partial likelihood
is :mod:`ipdmeta.models.cox_firth`.

Speed: rows are sorted once by (stratum, time, deaths first).  Each iteration
reads the risk-set sums ``S0 = sum w``, ``S1 = sum w x`` of every tied-time group,
and its deaths' sums ``D``, off one reverse cumulative sum (of segment sums from
``np.add.reduceat`` when there are few distinct times).  Efron's terms
``l = 0..d-1`` (``S0 - (l/d) D0``) are carried by the death rows (total length =
events) and reduced back to the groups, so the information is
``X' diag(c) X - sum_l m_l m_l'`` with ``c`` a per-row weight and the ``m_l m_l'``
sum expanded into ``S1``/``D1`` products per group.  No Python loop runs over
participants or event times; no ``(n, p, p)`` array is formed.

Problems are failed :class:`~ipdmeta.models.base.Fit` rows, never exceptions:
``too_few_rows``, ``no_events``, ``collinear`` (from the information at zero),
``separation`` (monotone likelihood: when the iterates run away, each covariate,
then any combination (a linear programme), is checked exactly for every
participant with the event having the largest value in their risk set),
``not_converged``, ``runaway``.  Malformed input raises
:class:`~ipdmeta.errors.InputError`.

Example:
    >>> import numpy as np
    >>> time = np.array([5.0, 8, 8, 12, 15, 20, 22, 30])
    >>> event = np.array([1, 1, 0, 1, 1, 0, 1, 0])
    >>> treat = np.array([0.0, 1, 0, 0, 1, 1, 0, 1])
    >>> f = fit(np.column_stack([time, event]), treat[:, None], names=("treat",))
    >>> f.ok, f.events, round(f.estimate("treat"), 6), round(f.se("treat"), 6)
    (True, 5, -0.775156, 0.931388)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ipdmeta.errors import InputError
from ipdmeta.models.base import Fit, failed

#: a term is aliased when its information, given the earlier terms, is below
#: ``ALIAS_TOL`` times its own (on the correlation scale of the information).
ALIAS_TOL = 1e-10
#: runaway: ``|b| * range(x) > RUNAWAY_EST`` and ``se * range(x) > RUNAWAY_SE``.
RUNAWAY_EST = 10.0
RUNAWAY_SE = 100.0
#: a standardised Newton step still this large after the log-likelihood has
#: converged means the estimate is running away (monotone likelihood).
DIVERGING_STEP = 1e-4


# ----------------------------------------------------------------------------- preparation
class Prep(NamedTuple):
    """Sorted data and the group structure of the risk sets (computed once per fit).

    Rows are sorted by (stratum, time) with, within a tied time, the deaths first.
    An *event group* is a (stratum, time) with at least one death; ``G`` of them.
    """

    XT: np.ndarray         # (p, n) centred, scaled, sorted covariates (a view into X1T)
    X1T: np.ndarray        # (p+1, n) [1; XT]
    Xin: np.ndarray        # (n, p) covariates as given (unsorted)
    order: np.ndarray      # (n,) the sort order
    xd: np.ndarray         # (p,) sum of XT over the deaths
    drow: np.ndarray       # (E,) row of each death
    dgrp: np.ndarray       # (E,) event group of each death
    dstart: np.ndarray     # (G,) first death of each event group (into drow)
    nd: np.ndarray         # (G,) deaths in each event group (float)
    f: np.ndarray          # (E,) Efron fraction l/d of each death (zeros for Breslow)
    seg: np.ndarray | None  # segment starts for the risk sums (None: every row)
    ia: np.ndarray         # (G,) reverse-cumsum index: from the group's first row
    iad: np.ndarray        # (G,) reverse-cumsum index: from the row after its deaths
    ib: np.ndarray         # (G,) reverse-cumsum index: from the end of its stratum
    gstart: np.ndarray     # (G,) first row of each event group
    gs: np.ndarray         # (G,) stratum of each event group
    row_pos: np.ndarray    # (n,) event groups up to and including the row's time
    row_base: np.ndarray | None  # (n,) event groups in earlier strata (None: one stratum)
    sid: np.ndarray        # (n,) stratum of each row, 0..S-1, ascending
    sstart: np.ndarray     # (S,) first row of each stratum
    efron: bool            # Efron correction needed (ties="efron" and some tied deaths)
    scale: np.ndarray      # (p,) column scale (sd) used to standardise X

    def raw(self) -> np.ndarray:
        """The sorted covariates as given, ``(p, n)``."""
        return np.take(self.Xin.T, self.order, axis=1)


def _strata_codes(strata, n: int) -> np.ndarray | None:
    """Integer codes 0..S-1 of the strata (sorted), or None when there are none."""
    if strata is None:
        return None
    s = np.asarray(strata).reshape(-1)
    if s.shape[0] != n:
        raise InputError(f"strata has {s.shape[0]} values but the outcome has {n} rows")
    try:
        if s.dtype.kind == "f" and not np.all(np.isfinite(s)):
            raise TypeError
        return np.unique(s, return_inverse=True)[1].reshape(-1).astype(np.intp)
    except TypeError as err:  # missing values, None, mixed types
        raise InputError("strata has missing or unorderable values: drop incomplete rows "
                         "before fitting") from err


def _first_flags(*keys: np.ndarray) -> np.ndarray:
    """True where any of the sorted ``keys`` changes (and at row 0)."""
    new = np.zeros(keys[0].size, dtype=bool)
    new[:1] = True
    for k in keys:
        new[1:] |= k[1:] != k[:-1]
    return new


def prepare(time: np.ndarray, event: np.ndarray, X: np.ndarray, codes: np.ndarray | None,
            ties: str, segments: bool | None = None) -> Prep:
    """Sort once by (stratum, time, deaths first) and build every index the likelihood needs.

    ``segments``: sum rows into segments between event times before cumulating
    (default: when there are fewer than n/4 segments).
    """
    n, p = X.shape
    order = np.argsort(time)
    if codes is not None:
        order = order[np.argsort(codes[order], kind="stable")]
    t = time[order]
    sid = codes[order] if codes is not None else np.zeros(n, dtype=np.intp)
    newstr = _first_flags(sid)
    newgrp = _first_flags(sid, t)
    gid = np.cumsum(newgrp) - 1
    d = event[order] != 0
    # deaths first within each tied time: a stable sort of a nearly sorted key
    key = 2 * gid + ~d
    if np.any(key[1:] < key[:-1]):
        o2 = np.argsort(key, kind="stable")
        order, d = order[o2], d[o2]
    sstart = np.flatnonzero(newstr)
    drow = np.flatnonzero(d)
    dg_all = gid[drow]
    newd = _first_flags(dg_all)
    dstart = np.flatnonzero(newd)
    dgrp = np.cumsum(newd) - 1
    gstart = drow[dstart]
    ndeath = np.diff(np.append(dstart, drow.size))
    gs = sid[gstart]
    gend = np.append(sstart, n)[gs + 1]
    is_ev = np.zeros(int(gid[-1]) + 1, dtype=np.intp)
    is_ev[dg_all[dstart]] = 1
    evcum = np.concatenate(([0], np.cumsum(is_ev)))
    row_pos = evcum[gid + 1]
    row_base = evcum[gid[sstart]][sid] if sstart.size > 1 else None
    efron = ties == "efron" and bool(np.any(ndeath > 1))
    f = ((np.arange(drow.size) - dstart[dgrp]) / ndeath[dgrp] if efron
         else np.zeros(drow.size))
    after = gstart + ndeath
    mark = np.zeros(n + 1, dtype=bool)
    mark[np.concatenate([gstart, sstart, after if efron else gstart])] = True
    bounds = np.flatnonzero(mark[:n])
    seg = bounds if (segments if segments is not None else bounds.size * 4 < n) else None

    def pos(r: np.ndarray) -> np.ndarray:   # index into the reverse cumulative sums
        return n - r if seg is None else bounds.size - np.searchsorted(bounds, r)
    X1T = np.empty((p + 1, n))
    X1T[0] = 1.0
    XT = X1T[1:]
    XT[:] = np.take(X, order, axis=0).T
    center = XT.mean(axis=1)
    XT -= center[:, None]
    scale = np.sqrt(np.einsum("ij,ij->i", XT, XT) / n)
    const = scale <= 1e-12 * np.maximum(np.abs(center), 1e-300)
    XT[const] = 0.0
    scale[const | (scale == 0)] = 1.0
    XT /= scale[:, None]
    return Prep(XT=XT, X1T=X1T, Xin=X, order=order, xd=XT[:, drow].sum(axis=1), drow=drow,
                dgrp=dgrp, dstart=dstart, nd=ndeath.astype(float), f=f, seg=seg,
                ia=pos(gstart), iad=pos(after), ib=pos(gend), gstart=gstart, gs=gs,
                row_pos=row_pos, row_base=row_base, sid=sid, sstart=sstart, efron=efron,
                scale=scale)


# ----------------------------------------------------------------------------- likelihood
class Eval(NamedTuple):
    """Partial log-likelihood, score and information at one coefficient vector."""

    loglik: float
    score: np.ndarray      # (p,)
    info: np.ndarray       # (p, p)
    w: np.ndarray          # (n,) exp(eta - stratum max)
    S: np.ndarray          # (p+1, G) risk-set sums of w [1; x] at each event group
    D: np.ndarray | None   # (p+1, G) the same over the group's deaths (Efron only)
    s0: np.ndarray         # (E,) Efron-adjusted S0 of each death's term
    c: np.ndarray          # (n,) per-row weight: X' diag(c) X is the S2 part of the information


def rev_cumsum(P: Prep, ZT: np.ndarray) -> np.ndarray:
    """Reverse cumulative sums of ``ZT`` (..., n) over rows (or segments); index 0 is 0."""
    if P.seg is not None:
        ZT = np.add.reduceat(ZT, P.seg, axis=-1)
    k = ZT.shape[-1]
    C = np.empty((*ZT.shape[:-1], k + 1))
    C[..., 0] = 0.0
    np.cumsum(ZT[..., ::-1], axis=-1, out=C[..., 1:])
    return C


def at_groups(P: Prep, C: np.ndarray, start: np.ndarray) -> np.ndarray:
    """From reverse cumulative sums ``C``: the sums from ``start`` to the stratum end."""
    if P.row_base is None:           # one stratum: the sum to the end is the sum to n
        return np.take(C, start, axis=-1)
    return np.take(C, start, axis=-1) - np.take(C, P.ib, axis=-1)


def risk_sums(P: Prep, ZT: np.ndarray) -> np.ndarray:
    """Risk-set sums of ``ZT`` (..., n) at every event group, ``(..., G)``."""
    return at_groups(P, rev_cumsum(P, ZT), P.ia)


def cum_groups(P: Prep, a: np.ndarray) -> np.ndarray:
    """Per row: the sum of ``a`` (..., G) over the event groups whose risk set holds the row."""
    C = np.empty((*a.shape[:-1], a.shape[-1] + 1))
    C[..., 0] = 0.0
    np.cumsum(a, axis=-1, out=C[..., 1:])
    if P.row_base is None:
        return np.take(C, P.row_pos, axis=-1)
    return np.take(C, P.row_pos, axis=-1) - np.take(C, P.row_base, axis=-1)


def evaluate(P: Prep, beta: np.ndarray) -> Eval | None:
    """Log-likelihood, score and information at ``beta`` (standardised scale).

    Returns None where the likelihood cannot be evaluated (overflow).
    """
    XT = P.XT
    eta = beta @ XT
    if P.sstart.size == 1:
        mx = eta.max()
        eta -= mx
        shift = mx * float(P.drow.size)
    else:
        mxs = np.maximum.reduceat(eta, P.sstart)
        eta -= mxs[P.sid]
        shift = float(P.nd @ mxs[P.gs])
    ll = float(beta @ P.xd) - shift
    with np.errstate(all="ignore"):
        w = np.exp(eta)
        C = rev_cumsum(P, P.X1T * w)
        Ca = np.take(C, P.ia, axis=1)
        S = Ca - np.take(C, P.ib, axis=1) if P.row_base is not None else Ca
        S1 = S[1:]
        if P.efron:
            D = Ca - np.take(C, P.iad, axis=1)
            D1 = D[1:]
            f = P.f
            s0 = S[0, P.dgrp] - f * D[0, P.dgrp]
            inv = 1.0 / s0
            inv2 = inv * inv
            a, b, al0, al1, al2 = np.add.reduceat(
                np.stack([inv, f * inv, inv2, f * inv2, f * f * inv2]), P.dstart, axis=1)
            ll -= float(np.log(s0).sum())
            cross = (S1 * al1) @ D1.T
            MM = (S1 * al0) @ S1.T - cross - cross.T + (D1 * al2) @ D1.T
            c = w * cum_groups(P, a)
            c[P.drow] -= w[P.drow] * b[P.dgrp]
        else:
            D = None
            s0g = S[0]
            a = P.nd / s0g
            ll -= float(P.nd @ np.log(s0g))
            MM = (S1 * (a / s0g)) @ S1.T
            c = w * cum_groups(P, a)
            s0 = s0g[P.dgrp]
        U = P.xd - XT @ c
        info = (XT * c) @ XT.T - MM
    if not (np.isfinite(ll) and np.all(np.isfinite(info)) and np.all(s0 > 0)):
        return None
    return Eval(ll, U, info, w, S, D, s0, c)


def newton_step(info: np.ndarray, score: np.ndarray) -> np.ndarray | None:
    """``info^{-1} score``, or None when the information is not invertible."""
    try:
        step = np.linalg.solve(info, score)
    except np.linalg.LinAlgError:
        return None
    return step if np.all(np.isfinite(step)) else None


# ----------------------------------------------------------------------------- checks
def aliased_terms(info: np.ndarray, names: Sequence[str]) -> tuple[list[int], str]:
    """Terms whose information given the earlier terms vanishes, and the reason in words."""
    diag = np.diag(info)
    top = float(diag.max())
    keep: list[int] = []
    bad: list[int] = []
    parts: list[str] = []
    for j in range(info.shape[0]):
        if not diag[j] > ALIAS_TOL * top:
            bad.append(j)
            parts.append(f"'{names[j]}' does not vary among the participants at risk at the "
                         "event times (aliased with the baseline hazard)")
            continue
        if keep:   # residual information of j given the kept terms (correlation scale)
            d = np.sqrt(diag[keep])
            r = info[keep, j] / (d * np.sqrt(diag[j]))
            coef = np.linalg.lstsq(info[np.ix_(keep, keep)] / np.outer(d, d), r, rcond=None)[0]
            if 1.0 - float(r @ coef) <= ALIAS_TOL * 1e2:
                bad.append(j)
                used = [names[k] for k, cc in zip(keep, coef, strict=True) if abs(cc) > 1e-6]
                terms = ", ".join(f"'{u}'" for u in used) or "the other terms"
                parts.append(f"'{names[j]}' is a linear combination of {terms} among the "
                             "participants at risk (aliased)")
                continue
        keep.append(j)
    return bad, "; ".join(parts)


def _risk_extremes(P: Prep, ZT: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Max and min of each row of ``ZT`` (k, n) over the risk set of each event group."""
    if P.sstart.size == 1:
        mx = np.maximum.accumulate(ZT[:, ::-1], axis=1)[:, ::-1]
        mn = np.minimum.accumulate(ZT[:, ::-1], axis=1)[:, ::-1]
    else:  # separate the strata by an offset so that the running extremes restart
        off = -P.sid * (2.0 * (np.ptp(ZT, axis=1, keepdims=True) + 1.0))
        mx = np.maximum.accumulate((ZT + off)[:, ::-1], axis=1)[:, ::-1] - off
        mn = np.minimum.accumulate((ZT - off)[:, ::-1], axis=1)[:, ::-1] + off
    return mx[:, P.gstart], mn[:, P.gstart]


def monotone_directions(P: Prep, ZT: np.ndarray) -> np.ndarray:
    """Per row of ``ZT`` (k, n): +1 when every death has the largest value in its risk
    set, -1 when every death has the smallest, 0 otherwise."""
    mx, mn = _risk_extremes(P, ZT)
    zd = ZT[:, P.drow]
    tol = 1e-9 * (np.abs(ZT).max(axis=1) + 1e-300) * max(1.0, float(P.sstart.size))
    up = np.all(zd >= mx[:, P.dgrp] - tol[:, None], axis=1)
    down = np.all(zd <= mn[:, P.dgrp] + tol[:, None], axis=1)
    return up.astype(int) - down.astype(int)


def _column_reason(P: Prep, j: int, direction: int, name: str) -> str:
    """Plain words for monotone likelihood in one covariate."""
    x = np.take(P.Xin[:, j], P.order)
    vals = np.unique(x)
    xd = x[P.drow]
    arrow = "→ +∞" if direction > 0 else "→ −∞"
    if vals.size == 2:
        lo, hi = vals
        empty = lo if direction > 0 else hi
        if not np.any(xd == empty):
            what = "infinite" if direction > 0 else "0"
            val = str(int(empty)) if float(empty).is_integer() else f"{empty:.4g}"
            return (f"monotone likelihood: no events in {name}={val}, so the hazard "
                    f"ratio for '{name}' is {what} (log HR {arrow})")
    side = "highest" if direction > 0 else "lowest"
    return (f"monotone likelihood: at every event time the participant(s) with the event had "
            f"the {side} '{name}' among those at risk, so the log hazard ratio for "
            f"'{name}' {arrow}")


def _combination_reason(names: Sequence[str], v: np.ndarray, scale: np.ndarray) -> str:
    """Plain words for monotone likelihood along a combination of covariates."""
    idx = np.flatnonzero(v)
    u = v[idx] / scale[idx]
    u = u / np.abs(u).max()
    combo = " + ".join(f"{c:.3g}*{names[j]}" for c, j in zip(u, idx, strict=True))
    terms = ", ".join(f"'{names[j]}'" for j in idx)
    return (f"monotone likelihood in a combination of {terms}: at every event time the "
            f"participant(s) with the event had the highest {combo} among those at risk, "
            "so these log hazard ratios diverge to ±∞")


# ----------------------------------------------------------------------------- fitting
class Loop(NamedTuple):
    """Where a Newton loop stopped."""

    beta: np.ndarray
    ev: Eval
    iterations: int
    converged: bool


def newton(P: Prep, ev: Eval, *, maxiter: int, tol: float) -> Loop:
    """Newton-Raphson with step halving on the partial log-likelihood, as ``coxph``.

    Converged when the relative change of the log-likelihood is at most ``tol``.
    """
    beta = np.zeros(P.XT.shape[0])
    for it in range(1, maxiter + 1):
        step = newton_step(ev.info, ev.score)
        if step is None:
            return Loop(beta, ev, it - 1, False)
        slack = 1e-13 * max(1.0, abs(ev.loglik))
        for _ in range(60):
            new = evaluate(P, beta + step)
            if new is not None and new.loglik >= ev.loglik - slack:
                break
            step = step / 2
        else:
            return Loop(beta, ev, it, False)
        change = abs(new.loglik - ev.loglik)
        beta, ev = beta + step, new
        if change <= tol * max(1.0, abs(ev.loglik)):
            return Loop(beta, ev, it, True)
    return Loop(beta, ev, maxiter, False)


def _as_inputs(y, X, names) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """Check shapes, finiteness and the event coding; return time, event, X, names."""
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    names = tuple(str(s) for s in names)
    if y.ndim != 2 or y.shape[1] != 2:
        raise InputError(f"the Cox outcome must be an (n, 2) array of time and event, got "
                         f"shape {y.shape}")
    if X.ndim == 1 and len(names) == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise InputError(f"the design matrix has shape {X.shape} but the outcome has "
                         f"{y.shape[0]} rows")
    if len(names) != X.shape[1]:
        raise InputError(f"{len(names)} names given for {X.shape[1]} design columns")
    if not np.all(np.isfinite(y)):
        raise InputError("the survival time or event has missing or infinite values: drop "
                         "incomplete rows before fitting")
    if not np.isfinite(X).all():
        bad = ~np.all(np.isfinite(X), axis=0)
        raise InputError(f"design column '{names[int(np.argmax(bad))]}' has missing or "
                         "infinite values: drop incomplete rows before fitting")
    event = y[:, 1]
    if not np.all((event == 0) | (event == 1)):
        raise InputError("the event indicator must be coded 1 (event) / 0 (censored)")
    return y[:, 0].copy(), event.copy(), X, names


def screen(n: np.ndarray, events: np.ndarray, p: int) -> np.ndarray:
    """Per study: "too_few_rows" (fewer than 2 rows, or no more rows than
    coefficients), "no_events", or "" (to be fitted).  The per-study and the
    batched fitter (:mod:`ipdmeta.models.batched_cox`) both screen with this.

    Example:
        >>> screen(np.array([1, 10, 10]), np.array([1, 0, 3]), p=2).tolist()
        ['too_few_rows', 'no_events', '']
    """
    n, events = np.asarray(n), np.asarray(events)
    return np.where((n < 2) | (n <= p), "too_few_rows", np.where(events == 0, "no_events", ""))


def valid_rows(time: np.ndarray, event: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Rows with a finite time, an event coded 0/1 and finite covariates."""
    return (np.isfinite(time) & ((event == 0) | (event == 1))
            & np.all(np.isfinite(X), axis=1))


class Start(NamedTuple):
    """A study ready for Newton: prepared data, the evaluation at zero, and the fields
    every resulting ``Fit`` shares."""

    P: Prep
    ev0: Eval
    common: dict
    extra: dict


def start(y, X, *, names: Sequence[str], strata=None, ties: str = "efron",
          firth: bool = False) -> Start | Fit:
    """Check and prepare one study; a failed (or, with no covariates, final) ``Fit``
    when there is nothing to iterate: too few rows, no events, aliased terms."""
    if ties not in ("efron", "breslow"):
        raise InputError(f"ties must be 'efron' or 'breslow', got {ties!r}")
    time, event, X, names = _as_inputs(y, X, names)
    codes = _strata_codes(strata, time.shape[0])
    n, p = X.shape
    events = int(event.sum())
    common = {"names": names, "n": n, "events": events}
    problem = str(screen(np.array([n]), np.array([events]), p)[0])
    if problem == "too_few_rows":
        return failed(problem, f"{n} participant{'s' * (n != 1)} for {p} "
                      f"coefficient{'s' * (p != 1)}: need more participants than "
                      "coefficients", **common)
    if problem == "no_events":
        return failed(problem, f"no events among the {n} participants", **common)
    P = prepare(time, event, X, codes, ties)
    ev0 = evaluate(P, np.zeros(p))
    if ev0 is None:  # pragma: no cover - cannot overflow at zero
        return failed("not_converged", "the partial likelihood could not be evaluated",
                      **common)
    extra: dict = {"ties": ties, "firth": firth, "strata": int(P.sstart.size),
                   "loglik_null": ev0.loglik}
    if p == 0:
        return Fit(coef=np.zeros(0), cov=np.zeros((0, 0)), loglik=ev0.loglik, extra=extra,
                   **common)
    bad, why = aliased_terms(ev0.info, names)
    if bad:
        return failed("collinear", why, **common,
                      extra={**extra, "aliased": tuple(names[j] for j in bad)})
    return Start(P, ev0, common, extra)


def fit(y, X, *, names: Sequence[str], strata=None, ties: str = "efron",
        maxiter: int = 100, tol: float = 1e-10, **_) -> Fit:
    """Fit a Cox proportional hazards model by maximum partial likelihood.

    Args:
        y: ``(n, 2)``: follow-up time, event (1 event, 0 censored).  X: ``(n, p)``
            covariates, no intercept; ``names`` their names.
        strata: optional ``n`` stratum codes: a baseline hazard per stratum
            (``strata()`` in ``coxph``/``stcox``).
        ties: ``"efron"`` (R ``coxph`` default) or ``"breslow"`` (Stata ``stcox`` default).
        maxiter, tol: Newton iterations; converged when the relative change of the
            log-likelihood is at most ``tol``.

    Returns:
        A :class:`~ipdmeta.models.base.Fit`: ``cov`` the inverse observed information,
        ``loglik`` the partial log-likelihood, ``extra["loglik_null"]`` that at zero.
        Firth's penalised fit: :func:`ipdmeta.models.cox_firth.fit`.

    Example:
        >>> import numpy as np
        >>> y = np.array([[1.0, 1], [2, 1], [3, 0], [4, 0]])
        >>> f = fit(y, np.array([[0.0], [0], [1], [1]]), names=("treat",))
        >>> f.problem, f.reason.split(",")[0]
        ('separation', 'monotone likelihood: no events in treat=1')
    """
    s = start(y, X, names=names, strata=strata, ties=ties)
    if isinstance(s, Fit):
        return s
    res = newton(s.P, s.ev0, maxiter=maxiter, tol=tol)
    return finish(s.P, res, common=s.common, extra=s.extra, names=s.common["names"])


def recession_lp(P: Prep, max_pairs: int = 300_000) -> tuple[bool, np.ndarray | None]:
    """Search for a direction ``v`` along which the partial likelihood never decreases.

    A linear programme over all (death ``i``, risk-set member ``k``) pairs:
    maximise ``sum (x_i - x_k)'v`` subject to ``(x_i - x_k)'v >= 0`` and
    ``|v_j| <= 1``.  A positive optimum means monotone likelihood.  Returns
    ``(searched, v)``; not searched when there are more than ``max_pairs`` pairs.
    """
    from scipy.optimize import linprog

    gend = (np.append(P.sstart, P.XT.shape[1]))[P.gs + 1]
    counts = (gend - P.gstart)[P.dgrp]
    total = int(counts.sum())
    if total > max_pairs:
        return False, None
    first = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(total) - first + np.repeat(P.gstart[P.dgrp], counts)
    i = np.repeat(P.drow, counts)
    Dm = (P.XT[:, i] - P.XT[:, k]).T
    p = Dm.shape[1]
    res = linprog(-Dm.sum(axis=0), A_ub=-Dm, b_ub=np.zeros(total), bounds=[(-1, 1)] * p,
                  method="highs")
    if res.status != 0 or -res.fun <= 1e-7 * max(1.0, float(np.abs(Dm).sum(axis=0).max())):
        return True, None
    v = np.where(np.abs(res.x) > 1e-7, res.x, 0.0)
    return True, (v if np.any(v != 0) else None)


def separation_reason(P: Prep, names: Sequence[str], step: np.ndarray | None,
                      beta: np.ndarray) -> str | None:
    """Plain words when the partial likelihood is monotone, else None.

    First each covariate on its own (every death has the largest, or every death
    the smallest, value in its risk set), then any combination (:func:`recession_lp`;
    for very large studies: the directions the iterates were running away in).
    """
    dirs = monotone_directions(P, P.raw())
    if np.any(dirs != 0):
        return "; ".join(_column_reason(P, int(j), int(dirs[j]), names[j])
                         for j in np.flatnonzero(dirs))
    searched, v = recession_lp(P)
    if not searched:   # too many pairs: check the directions the iterates ran away in
        for v in ([] if step is None else [np.where(np.abs(step) > 1e-3 * np.abs(step).max(),
                                                      step, 0.0)]) + [beta]:
            if np.any(v != 0) and monotone_directions(P, (v @ P.XT)[None, :])[0] > 0:
                break
        else:
            v = None
    return None if v is None else _combination_reason(names, v, P.scale)


def finish(P: Prep, res: Loop, *, common: dict, extra: dict, names: tuple[str, ...],
           loglik: float | None = None) -> Fit:
    """Back-transform a Newton result and turn divergence into a failed ``Fit``.

    ``loglik`` is given for a penalised fit (then monotone likelihood is no failure).
    """
    ev = res.ev
    scale = P.scale
    common = {**common, "iterations": res.iterations}
    coef = res.beta / scale
    try:
        cov = np.linalg.inv(ev.info) / np.outer(scale, scale)
    except np.linalg.LinAlgError:
        cov = np.full((coef.size, coef.size), np.nan)
    ll = ev.loglik if loglik is None else loglik
    lost = {"converged": False, "loglik": ll,
            "extra": {**extra, "last_coef": coef, "last_cov": cov}}
    with np.errstate(all="ignore"):
        se = np.sqrt(np.abs(np.diag(cov)))
    rng = np.ptp(P.XT, axis=1) * P.scale
    run = np.flatnonzero((np.abs(coef) * rng > RUNAWAY_EST) & ~(se * rng <= RUNAWAY_SE))
    converged = res.converged
    if loglik is None:
        step = newton_step(ev.info, ev.score)
        diverging = step is None or bool(np.any(np.abs(step) > DIVERGING_STEP))
        if diverging or not converged or run.size:
            why = separation_reason(P, names, step, res.beta)
            if why is not None:
                return failed("separation", why, **lost, **common)
        if diverging and converged:
            return failed("not_converged", "the log-likelihood converged but the estimates "
                          f"were still moving after {res.iterations} iterations", **lost,
                          **common)
    if not converged:
        return failed("not_converged", f"the Cox fit did not converge in {res.iterations} "
                      "iterations", **lost, **common)
    if not np.all(np.isfinite(cov)) or not np.all(np.diag(cov) > 0):
        return failed("not_converged", "the information matrix at the estimate is not "
                      "positive definite", **lost, **common)
    if run.size:
        j = int(run[0])
        return failed("runaway", f"the estimate of '{names[j]}' ({coef[j]:.3g}) is implausibly "
                      f"large with an enormous standard error ({se[j]:.3g})", **lost, **common)
    return Fit(coef=coef, cov=cov, converged=True, loglik=ll, extra=extra, **common)
