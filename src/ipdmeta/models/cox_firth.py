"""Firth's penalised partial likelihood for the Cox model (Heinze & Schemper 2001).

The penalised log-likelihood is ``l*(b) = l(b) + 0.5 log det I(b)``.  Its score
is ``U*_j = U_j + 0.5 tr(I^{-1} dI/db_j)`` and, as in R's ``coxphf``, it is
maximised by the iteration ``b <- b + I(b)^{-1} U*(b)`` with each standardised
step component capped at 0.5 and step halving on ``l*``.  The covariance is the
inverse of the (unpenalised) information at the penalised estimate, as in
``coxphf``; ``Fit.loglik`` is the penalised log-likelihood (``coxphf``'s
``loglik[2]``) and ``extra["loglik_unpenalised"]`` the plain one.  Efron's
correction for ties is supported as well as Breslow's (``coxphf`` uses Breslow).

The derivative of the information needs third moments of the covariates
over every risk set.  They are never formed: with ``A = I^{-1}``, ``q_i =
x_i' A x_i`` and ``h_l = m_l / S0_l`` per death term,

``tr(A dI/db_j) = sum_i c_i x_ij q_i - sum_l T_l m_lj
- 2 sum_i w_i x_ij x_i' A G_i + 2 sum_l (m_l' A m_l) m_lj``

where ``T_l = (sum over the risk set of w q) / S0_l`` and ``G_i`` is the sum of
``h_l`` over the terms whose risk set holds row ``i`` (Efron weights included),
all computed by the same reverse cumulative sums as the likelihood.

Reference: Heinze G, Schemper M (2001). A solution to the problem of monotone
likelihood in Cox regression. Biometrics 57:114-119.

Example:
    >>> import numpy as np
    >>> y = np.array([[1.0, 1], [2, 1], [3, 1]])
    >>> f = fit(y, np.array([[1.0], [1], [0]]), names=("x",), ties="breslow")
    >>> f.ok, round(f.estimate("x"), 4)
    (True, 1.3291)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ipdmeta.models.base import Fit, failed
from ipdmeta.models.cox import (
    Eval,
    Loop,
    Prep,
    cum_groups,
    evaluate,
    finish,
    risk_sums,
    start,
)

#: largest change of a standardised coefficient in one iteration (``coxphf``'s maxstep).
MAXSTEP = 0.5


class PenState(NamedTuple):
    """Penalised log-likelihood and modified score at one coefficient vector."""

    pll: float
    score: np.ndarray
    ev: Eval


def penalty_score(P: Prep, ev: Eval, A: np.ndarray) -> np.ndarray:
    """``tr(A dI/db_j)`` for every ``j``, with ``A = I^{-1}`` (standardised scale)."""
    XT, w, s0, f = P.XT, ev.w, ev.s0, P.f
    S1 = ev.S[1:, P.dgrp]
    mT = (S1 - f * ev.D[1:, P.dgrp] if ev.D is not None else S1) / s0   # (p, E) term means
    AXT = A @ XT
    q = np.einsum("ij,ij->j", AXT, XT)
    wq = w * q
    Ql = risk_sums(P, wq)[P.dgrp]
    h = mT / s0
    G = cum_groups(P, np.add.reduceat(h, P.dstart, axis=1))
    if P.efron:
        Ql -= f * np.add.reduceat(wq[P.drow], P.dstart)[P.dgrp]
        G[:, P.drow] -= np.add.reduceat(f * h, P.dstart, axis=1)[:, P.dgrp]
    T = Ql / s0
    r = w * np.einsum("ij,ij->j", AXT, G)
    mAm = np.einsum("ij,ij->j", A @ mT, mT)
    return XT @ (ev.c * q - 2.0 * r) + mT @ (2.0 * mAm - T)


def pen_state(P: Prep, ev: Eval | None) -> PenState | None:
    """The penalised state built on an evaluation, or None where undefined."""
    if ev is None:
        return None
    sign, logdet = np.linalg.slogdet(ev.info)
    if sign <= 0 or not np.isfinite(logdet):
        return None
    try:
        A = np.linalg.inv(ev.info)
    except np.linalg.LinAlgError:
        return None
    with np.errstate(all="ignore"):
        t = penalty_score(P, ev, A)
    if not np.all(np.isfinite(t)):
        return None
    return PenState(ev.loglik + 0.5 * logdet, ev.score + 0.5 * t, ev)


def firth_loop(P: Prep, st: PenState, *, maxiter: int, tol: float) -> tuple[Loop, PenState]:
    """Iterate ``b += I^{-1} U*`` with capped steps and halving until the steps vanish."""
    beta = np.zeros(P.XT.shape[0])
    tol_b = 10.0 * max(tol, 1e-14)
    for it in range(1, maxiter + 1):
        try:
            step = np.linalg.solve(st.ev.info, st.score)
        except np.linalg.LinAlgError:
            return Loop(beta, st.ev, it - 1, False), st
        big = np.abs(step) > MAXSTEP
        step[big] = np.sign(step[big]) * MAXSTEP
        slack = 1e-13 * max(1.0, abs(st.pll))
        for _ in range(60):
            new = pen_state(P, evaluate(P, beta + step))
            if new is not None and new.pll >= st.pll - slack:
                break
            step = step / 2
        else:
            return Loop(beta, st.ev, it, False), st
        beta, st = beta + step, new
        size = float(np.abs(step).max())
        if size <= tol_b * (1.0 + float(np.abs(beta).max())):
            return Loop(beta, st.ev, it, True), st
    return Loop(beta, st.ev, maxiter, False), st


def fit_firth(P: Prep, ev0: Eval, *, names: tuple[str, ...], common: dict, extra: dict,
              maxiter: int, tol: float) -> Fit:
    """Penalised fit from the evaluation at zero; the result as a ``Fit``."""
    st0 = pen_state(P, ev0)
    if st0 is None:  # pragma: no cover - the information was checked for aliasing
        return failed("not_converged", "the penalised likelihood could not be evaluated",
                      **common)
    res, st = firth_loop(P, st0, maxiter=maxiter, tol=tol)
    logscale = float(np.sum(np.log(P.scale)))
    pll = st.pll + logscale       # log det of the information on the original scale
    extra = {**extra, "loglik_unpenalised": st.ev.loglik,
             "loglik_null": st0.pll + logscale, "loglik_null_unpenalised": ev0.loglik}
    return finish(P, res, common=common, extra=extra, names=names, loglik=pll)


def fit(y, X, *, names: Sequence[str], strata=None, ties: str = "efron", maxiter: int = 100,
        tol: float = 1e-10, **_) -> Fit:
    """Firth-penalised Cox model (``coxphf``): same call shape and result as
    :func:`ipdmeta.models.cox.fit`; monotone likelihood is no failure, ``loglik`` is
    the penalised log-likelihood and ``cov`` the inverse information at the estimate.

    Example:
        >>> y = np.array([[1.0, 1], [2, 1], [3, 0], [4, 0]])
        >>> f = fit(y, np.array([[0.0], [0], [1], [1]]), names=("treat",))
        >>> f.ok, bool(np.isfinite(f.estimate("treat")))
        (True, True)
    """
    s = start(y, X, names=names, strata=strata, ties=ties, firth=True)
    if isinstance(s, Fit):
        return s
    return fit_firth(s.P, s.ev0, names=s.common["names"], common=s.common, extra=s.extra,
                     maxiter=maxiter, tol=tol)
