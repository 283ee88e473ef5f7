"""Log- and identity-binomial, negative binomial, exponential and Weibull models of many
studies at once.

The batched stage-1 path for the likelihood families of :mod:`ipdmeta.models._mle`
(as :mod:`ipdmeta.models.batched` is for the canonical GLMs): the studies' rows are
stacked in one study-sorted array and every study runs the Newton loop of
:func:`ipdmeta.models._newton.newton` -- the same starting values, column scaling,
step matrix, step halving and convergence rule -- but all studies move together: per
iteration one pass over zero-padded study blocks (:mod:`ipdmeta.models.padded`) gives
every study's log-likelihood, score and information as batched matrix products, and
one batched solve gives the steps.  Studies that halve their step are re-evaluated
alone.

* ``rr``, ``rd``: :mod:`ipdmeta.models.binomial_links` (observed-information steps,
  expected-information covariance);
* ``negbin``: from the Poisson fit (:func:`ipdmeta.models.batched.fit_glm`), Newton in
  ``(b, log theta)`` (:mod:`ipdmeta.models.negbin`); a study without overdispersion
  (the Poisson limit) is left to the per-study fitter, which says so in its reason;
* ``exponential``: the Poisson fit of the events with offset ``log t``
  (:func:`ipdmeta.models.batched.fit_glm`);
* ``weibull``: from the exponential fit, Newton in ``(b, log p)``
  (:mod:`ipdmeta.models.parametric_survival`); ``scale="aft"`` converts as
  :func:`~ipdmeta.models.parametric_survival.to_aft`.

As in :mod:`ipdmeta.models.batched`, a study is ``ok`` only when its result is
certain to be the per-study fitter's (to rounding): a study whose decisions come
near a threshold (step acceptance, convergence, the edge of the parameter space, a
runaway estimate), that does not converge, or whose information is not positive
definite is left to the per-study fitter, which also writes the failure reasons.

Example:
    >>> rng = np.random.default_rng(3)
    >>> X = np.column_stack([np.ones(400), rng.integers(0, 2, 400)])
    >>> y = (rng.random(400) < 0.2 + 0.1 * X[:, 1]).astype(float)
    >>> res = fit_batched("rr", y, X, np.array([0, 200]))
    >>> from ipdmeta.models import binomial_links
    >>> one = binomial_links.fit_rr(y[200:], X[200:], names=("Intercept", "treat"))
    >>> bool(res.ok.all()), bool(np.allclose(res.coef[1], one.coef, rtol=1e-10))
    (True, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import digamma, polygamma

from ipdmeta.models.batched import BatchFit, fit_glm, full_rank, runaway_screen
from ipdmeta.models.binomial_links import BOUNDARY_TOL
from ipdmeta.models.negbin import LOG_THETA_MAX, loglik_terms
from ipdmeta.models.padded import (
    Padded,
    batched_inv,
    batched_solve,
    counts_of,
    gather,
    segment_all,
)
from ipdmeta.models.poisson import _ETA_MAX

#: the families with a batched fitter here
MLE_MODELS = ("rr", "rd", "negbin", "exponential", "weibull")
#: a study that halves its step more often than this in one iteration (near the edge of
#: the parameter space, most often a boundary fit) is left to the per-study loop
MAXHALF = 8
#: thresholds of the per-study loop are applied with this relative margin: a study whose
#: decision falls within it is left to the per-study fitter
NEAR = 0.01


@dataclass
class Evaluation:
    """The likelihood of ``m`` studies at their coefficients: objective ``(m,)``, score
    ``(m, q)``, the matrix the step solves ``(m, q, q)``, the matrix whose inverse is the
    covariance ``(m, q, q)``, ``defined`` (inside the parameter space, information
    positive definite) and ``edge`` (a fitted value near the edge of the space)."""

    obj: np.ndarray
    score: np.ndarray
    step: np.ndarray
    info: np.ndarray
    defined: np.ndarray
    edge: np.ndarray

    @classmethod
    def empty(cls, m: int, q: int) -> Evaluation:
        """``m`` studies, none evaluated."""
        return cls(np.full(m, np.nan), np.full((m, q), np.nan), np.full((m, q, q), np.nan),
                   np.full((m, q, q), np.nan), np.zeros(m, bool), np.zeros(m, bool))

    def put(self, at: np.ndarray, **values: np.ndarray) -> None:
        """Store the values of the studies at positions ``at``."""
        for name, v in values.items():
            getattr(self, name)[at] = v

    def take(self, at: np.ndarray) -> Evaluation:
        """The studies at positions ``at``."""
        return Evaluation(self.obj[at], self.score[at], self.step[at], self.info[at],
                          self.defined[at], self.edge[at])


class Likelihood(Protocol):
    """A family's log-likelihood over the padded blocks of ``k`` studies."""

    q: int

    def evaluate(self, units: np.ndarray, beta: np.ndarray) -> Evaluation:
        """The likelihood of the studies ``units`` at coefficients ``beta`` ``(m, q)``."""


class Blocks:
    """Study-sorted row arrays laid out in zero-padded buckets, evaluated per subset."""

    def __init__(self, starts: np.ndarray, counts: np.ndarray, **columns: np.ndarray):
        lay = Padded(starts, counts)
        self.k = starts.size
        self.parts = [(b, {name: b.pad(v) for name, v in columns.items()})
                      for b in lay.buckets]

    def each(self, units: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, dict]]:
        """Per bucket holding some of ``units``: their positions in ``units``, the row
        mask and the padded arrays of those studies."""
        pos = np.full(self.k, -1)
        pos[units] = np.arange(units.size)
        for b, arrays in self.parts:
            where = pos[b.units]
            sel = where >= 0
            if sel.all():
                yield where, b.mask, arrays
            elif sel.any():
                yield where[sel], b.mask[sel], {n: a[sel] for n, a in arrays.items()}


def positive_definite(A: np.ndarray) -> np.ndarray:
    """Per matrix of the stack ``(m, q, q)``: does its Cholesky factorisation exist (every
    pivot finite and positive, as LAPACK's ``potrf``)?  Column by column over the stack.

    Example:
        >>> positive_definite(np.array([np.eye(2), [[1.0, 2], [2, 1]]])).tolist()
        [True, False]
    """
    m, q, _ = A.shape
    ok = np.ones(m, bool)
    L = np.zeros_like(A)
    with np.errstate(invalid="ignore"):
        for j in range(q):
            d = A[:, j, j] - np.einsum("mk,mk->m", L[:, j, :j], L[:, j, :j])
            ok &= d > 0
            root = np.sqrt(np.where(d > 0, d, 1.0))
            L[:, j, j] = root
            L[:, j + 1:, j] = (A[:, j + 1:, j] - np.einsum("mik,mk->mi", L[:, j + 1:, :j],
                                                           L[:, j, :j])) / root[:, None]
    return ok


def xwx(X: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``X' diag(w) X`` of every padded study."""
    return np.matmul(X.transpose(0, 2, 1), X * w[..., None])


def xtv(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``X' v`` of every padded study."""
    return np.matmul(X.transpose(0, 2, 1), v[..., None])[..., 0]


class BlockLikelihood:
    """A likelihood of ``q`` parameters over the padded studies of ``data``."""

    def __init__(self, data: Blocks, q: int):
        self.data, self.q = data, q


class BinomialLink(BlockLikelihood):
    """The log- or identity-binomial likelihood (:mod:`ipdmeta.models.binomial_links`)."""

    def __init__(self, link: str, data: Blocks, q: int):
        super().__init__(data, q)
        self.link = link

    def evaluate(self, units: np.ndarray, beta: np.ndarray) -> Evaluation:
        out = Evaluation.empty(units.size, self.q)
        for at, mask, a in self.data.each(units):
            X, y = a["X"], a["y"]
            eta = np.matmul(X, beta[at][:, :, None])[..., 0]
            if self.link == "log":
                inside = np.all((eta < 0) | ~mask, axis=1)
                p = np.exp(np.where(mask, eta, -1.0))
                q = -np.expm1(np.where(mask, eta, -1.0))
                ll = np.where(mask, y * eta + np.where(y == 0, np.log(q), 0.0), 0.0)
                u, w_exp, w_obs = (y - p) / q, p / q, (1 - y) * p / (q * q)
                edge = p > 1 - (1 + NEAR) * BOUNDARY_TOL
            else:
                inside = np.all(((eta > 0) & (eta < 1)) | ~mask, axis=1)
                p = np.where(mask, eta, 0.5)
                q = 1 - p
                ll = np.where(mask, np.where(y == 1, np.log(p), np.log(q)), 0.0)
                u, w_exp = (y - p) / (p * q), 1 / (p * q)
                w_obs = y / (p * p) + (1 - y) / (q * q)
                edge = (p > 1 - (1 + NEAR) * BOUNDARY_TOL) | (p < (1 + NEAR) * BOUNDARY_TOL)
            obj = ll.sum(axis=1)
            info, obs = xwx(X, w_exp * mask), xwx(X, w_obs * mask)
            score = xtv(X, u * mask)
            defined = inside & np.isfinite(obj) & positive_definite(info)
            step = np.where(positive_definite(obs)[:, None, None], obs, info)
            out.put(at, obj=obj, score=score, step=step, info=info, defined=defined,
                    edge=np.any(edge & mask, axis=1))
        return out


class WeibullPH(BlockLikelihood):
    """The Weibull proportional-hazards likelihood in ``(b, log p)``
    (:mod:`ipdmeta.models.parametric_survival`)."""

    def evaluate(self, units: np.ndarray, beta: np.ndarray) -> Evaluation:
        out = Evaluation.empty(units.size, self.q)
        k = self.q - 1
        for at, mask, a in self.data.each(units):
            X, logt, d = a["X"], a["logt"], a["d"]
            par = beta[at]
            eta = np.matmul(X, par[:, :k, None])[..., 0]
            lp = par[:, k][:, None]
            s = np.exp(lp) * logt
            z = eta + s
            over = np.any(mask & (z > _ETA_MAX), axis=1)
            lam = np.exp(np.where(mask & (z <= _ETA_MAX), z, -np.inf))
            obj = np.sum(np.where(mask, d * (eta + lp + s - logt) - lam, 0.0), axis=1)
            H = np.empty((at.size, k + 1, k + 1))
            H[:, :k, :k] = xwx(X, lam)
            H[:, :k, k] = H[:, k, :k] = xtv(X, lam * s)
            H[:, k, k] = -np.sum(d * s - lam * s * (1 + s), axis=1)
            score = np.column_stack([xtv(X, d - lam), np.sum(d * (1 + s) - lam * s, axis=1)])
            defined = ~over & np.isfinite(obj) & positive_definite(H)
            out.put(at, obj=obj, score=score, step=H, info=H, defined=defined)
        return out


class NegBin(BlockLikelihood):
    """The NB2 likelihood in ``(b, log theta)`` (:mod:`ipdmeta.models.negbin`); ``info`` is
    the expected information of ``b`` and the observed one of ``log theta`` (the blocks of
    ``glm.nb``'s variance)."""

    def evaluate(self, units: np.ndarray, beta: np.ndarray) -> Evaluation:
        out = Evaluation.empty(units.size, self.q)
        p = self.q - 1
        for at, mask, a in self.data.each(units):
            X, y, off = a["X"], a["y"], a["off"]
            par = beta[at]
            t = par[:, p]
            eta = np.matmul(X, par[:, :p, None])[..., 0] + off
            over = np.any(mask & (eta > _ETA_MAX), axis=1) | (np.abs(t) > 2 * LOG_THETA_MAX)
            th = np.exp(np.minimum(t, 2 * LOG_THETA_MAX))[:, None]
            mu = np.exp(np.where(mask & (eta <= _ETA_MAX), eta, -np.inf))
            tm = th + mu
            obj = np.sum(np.where(mask, loglik_terms(y, mu, th), 0.0), axis=1)
            d_th = np.sum(np.where(mask, digamma(y + th) - digamma(th) + np.log(th) + 1
                                   - np.log(tm) - (y + th) / tm, 0.0), axis=1)
            h_th = np.sum(np.where(mask, polygamma(1, y + th) - polygamma(1, th) + 1 / th
                                   - 2 / tm + (y + th) / (tm * tm), 0.0), axis=1)
            th = th[:, 0]
            w_exp = np.where(mask, mu * th[:, None] / tm, 0.0)
            H = np.empty((at.size, p + 1, p + 1))      # the negative Hessian
            H[:, :p, :p] = xwx(X, np.where(mask, th[:, None] * mu * (y + th[:, None])
                                              / (tm * tm), 0.0))
            H[:, :p, p] = H[:, p, :p] = -xtv(X, np.where(mask, th[:, None] * (y - mu) * mu
                                                          / (tm * tm), 0.0))
            H[:, p, p] = -(th * th * h_th + th * d_th)
            info = np.zeros_like(H)
            info[:, :p, :p] = xwx(X, w_exp)
            info[:, p, p] = -th * th * h_th
            block = info.copy()
            block[:, p, p] = np.maximum(H[:, p, p], 1e-8 * mask.sum(axis=1))
            score = np.column_stack([xtv(X, np.where(mask, th[:, None] * (y - mu) / tm, 0.0)),
                                     th * d_th])
            defined = (~over & np.isfinite(obj) & positive_definite(info[:, :p, :p]))
            step = np.where(positive_definite(H)[:, None, None], H, block)
            out.put(at, obj=obj, score=score, step=step, info=info, defined=defined)
        return out


def newton(lik: Likelihood, beta: np.ndarray, state: np.ndarray, *, maxiter: int = 100,
           tol: float = 1e-10, maxhalf: int = 30) -> Evaluation:
    """:func:`ipdmeta.models._newton.newton` for every study with ``state == 0`` at once.

    ``beta`` ``(k, q)`` (scaled) is updated in place; ``state`` is set to 1 (converged)
    or -1 (leave to the per-study loop: not converged, diverging, stuck, or a decision
    within ``NEAR`` of its threshold).  Returns the evaluation at the final coefficients.
    """
    with np.errstate(all="ignore"):   # outside the parameter space: not ``defined``
        return _newton(lik, beta, state, maxiter, tol, maxhalf)


def _newton(lik: Likelihood, beta: np.ndarray, state: np.ndarray, maxiter: int, tol: float,
            maxhalf: int) -> Evaluation:
    k, q = beta.shape
    live = np.flatnonzero(state == 0)
    cur = Evaluation.empty(k, q)
    cur.put(live, **vars(lik.evaluate(live, beta[live])))
    state[live[~cur.defined[live]]] = -1
    flat = np.zeros(k, np.intp)
    prev = np.full(k, np.inf)
    for _ in range(maxiter):
        act = np.flatnonzero(state == 0)
        if act.size == 0:
            break
        delta, good = batched_solve(cur.step[act], cur.score[act])
        state[act[~good]] = -1
        act, delta = act[good], delta[good]
        obj = cur.obj[act]
        floor = obj - 1e-12 * (np.abs(obj) + 1.0)
        t = np.ones(act.size)
        new = Evaluation.empty(act.size, q)
        done = np.zeros(act.size, bool)
        for _ in range(min(maxhalf, MAXHALF)):
            pend = np.flatnonzero(~done)
            if pend.size == 0:
                break
            ev = lik.evaluate(act[pend], beta[act[pend]] + t[pend, None] * delta[pend])
            gap = ev.obj - floor[pend]
            slack = 1e-12 * (np.abs(obj[pend]) + 1.0)
            amb = ev.defined & (np.abs(gap) <= NEAR * slack)
            acc = ev.defined & (gap >= 0) & ~amb
            state[act[pend[amb]]] = -1
            new.put(pend[acc], **vars(ev.take(np.flatnonzero(acc))))
            done[pend[acc | amb]] = True
            t[pend[~(acc | amb)]] /= 2
        state[act[~done]] = -1           # still halving: the per-study loop decides
        ok = np.flatnonzero(done & (state[act] == 0))
        act, delta, t, new = act[ok], delta[ok], t[ok], new.take(ok)
        old = cur.obj[act]
        change = np.abs(new.obj - old) / (np.abs(new.obj) + 0.1)
        d = np.max(np.abs(t[:, None] * delta) / (1.0 + np.abs(beta[act])), axis=1, initial=0.0)
        floor_hit = (d < 1e-7) & (d >= prev[act])
        conv = (change < tol) & ((d < tol) | floor_hit)

        def near(a: np.ndarray, b: np.ndarray | float) -> np.ndarray:
            return np.abs(a - b) <= NEAR * np.abs(b)

        amb = (near(change, tol) | near(d, tol) | near(d, 1e-7) | near(d, 1e-3)
               | ((d < 1e-7) & near(d, prev[act])))
        beta[act] += t[:, None] * delta
        cur.put(act, **vars(new))
        flat[act] = np.where((change < tol) & (d > 1e-3), flat[act] + 1, 0)
        prev[act] = d
        state[act[amb | (flat[act] >= 3)]] = -1
        state[act[conv & ~amb]] = 1
    state[state == 0] = -1
    return cur


def study_scales(X: np.ndarray, starts: np.ndarray, counts: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Per study, each column's largest absolute value (1 for an all-zero column: the
    per-study fitters' :func:`~ipdmeta.models._newton.column_scale`), and ``X`` divided
    by its study's scales."""
    scale = np.maximum.reduceat(np.abs(X), starts, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return scale, X / np.repeat(scale, counts, axis=0)


def conclude(beta: np.ndarray, info: np.ndarray, ok: np.ndarray, scale: np.ndarray,
             X: np.ndarray, starts: np.ndarray) -> BatchFit:
    """The fit from the scaled estimates ``beta`` and information ``info`` of the studies
    ``ok`` (``scale``: the divisor of each parameter), with ``ok`` cleared where the
    covariance is not usable or an estimate could be runaway
    (:func:`ipdmeta.models._mle.conclude`'s checks)."""
    cov = batched_inv(np.where(ok[:, None, None], info, np.eye(info.shape[-1])))
    fit = BatchFit(beta / scale, cov / (scale[:, :, None] * scale[:, None, :]), ok)
    p = X.shape[1]
    with np.errstate(invalid="ignore"):
        se = fit.se()
        ok &= np.all(np.isfinite(fit.cov), axis=(1, 2)) & np.all(np.isfinite(se) & (se > 0),
                                                                  axis=1)
    ok &= ~runaway_screen(fit.coef[:, :p], se[:, :p], X, starts)
    return fit


def screened_input(y: np.ndarray, X: np.ndarray, starts: np.ndarray, use: np.ndarray | None
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``y``, ``X``, ``starts`` as arrays, each study's row count, and the studies to try:
    those of ``use`` with a finite outcome and design."""
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    starts = np.asarray(starts, dtype=np.intp)
    counts = counts_of(starts, X.shape[0])
    ok = np.ones(starts.size, bool) if use is None else np.asarray(use, bool).copy()
    if starts.size:
        finite = np.all(np.isfinite(y.reshape(y.shape[0], -1)), axis=1)
        ok &= segment_all(finite & np.all(np.isfinite(X), axis=1), starts)
    return y, X, starts, counts, ok


def _binomial(link: str, y: np.ndarray, X: np.ndarray, starts: np.ndarray,
              counts: np.ndarray) -> BatchFit:
    k, p = starts.size, X.shape[1]
    scale, Xs = study_scales(X, starts, counts)
    # start (binomial_links._start): the intercept at the overall risk, the rest 0
    m = np.add.reduceat(y, starts) / counts
    first = Xs[starts]
    const = (np.maximum.reduceat(Xs, starts, axis=0) == np.minimum.reduceat(Xs, starts, axis=0)
             ) & (first != 0)
    ones = np.flatnonzero(np.all(X == 1.0, axis=0))
    state = np.where(const.any(axis=1) & full_rank(X, starts, np.arange(k), k, center=True,
                                                   skip=ones.tolist()), 0, -1).astype(np.int8)
    if ones.size != 1:   # the aliasing screen needs the intercept
        state[:] = -1
    j = np.argmax(const, axis=1)
    beta = np.zeros((k, p))
    eta0 = np.log(m) if link == "log" else m
    beta[np.arange(k), j] = np.where(state == 0, eta0 / first[np.arange(k), j], 0.0)
    lik = BinomialLink(link, Blocks(starts, counts, X=Xs, y=y), p)
    final = newton(lik, beta, state)
    return conclude(beta, final.info, (state == 1) & ~final.edge, scale, X, starts)


def _weibull(y: np.ndarray, X: np.ndarray, starts: np.ndarray, counts: np.ndarray,
             aft: bool) -> BatchFit:
    k, p = starts.size, X.shape[1]
    logt, d = np.log(y[:, 0]), y[:, 1]
    expo = fit_glm("poisson", d, X, starts, offset=logt)
    scale, Xs = study_scales(X, starts, counts)
    beta = np.column_stack([np.where(expo.ok[:, None], expo.coef, 0.0) * scale, np.zeros(k)])
    state = np.where(expo.ok, 0, -1).astype(np.int8)
    final = newton(WeibullPH(Blocks(starts, counts, X=Xs, logt=logt, d=d), p + 1), beta, state)
    fit = conclude(beta, final.info, state == 1, np.column_stack([scale, np.ones(k)]), X,
                   starts)
    return to_aft(fit) if aft else fit


def _negbin(y: np.ndarray, X: np.ndarray, off: np.ndarray, starts: np.ndarray,
            counts: np.ndarray) -> BatchFit:
    k, p = starts.size, X.shape[1]
    pois = fit_glm("poisson", y, X, starts, offset=off)
    with np.errstate(all="ignore"):
        mu = np.exp(np.einsum("np,np->n", X, np.repeat(pois.coef, counts, axis=0)) + off)
        excess = np.add.reduceat((y - mu) ** 2 - y, starts)
        size = np.add.reduceat((y - mu) ** 2 + y, starts)
        # no overdispersion (the Poisson limit, with its reason): the per-study fitter
        state = np.where(pois.ok & (excess > NEAR * size), 0, -1).astype(np.int8)
        alpha0 = excess / np.add.reduceat(mu * mu, starts)
    scale, Xs = study_scales(X, starts, counts)
    live = state == 0
    beta = np.column_stack([np.where(live[:, None], pois.coef * scale, 0.0),
                            np.where(live, -np.log(np.where(live, alpha0, 1.0)), 0.0)])
    final = newton(NegBin(Blocks(starts, counts, X=Xs, y=y, off=off), p + 1), beta, state)
    fit = conclude(beta, final.info, (state == 1) & (beta[:, p] < (1 - NEAR) * LOG_THETA_MAX),
                   np.column_stack([scale, np.ones(k)]), X, starts)
    return BatchFit(fit.coef[:, :p], fit.cov[:, :p, :p], fit.ok)


def to_aft(fit: BatchFit) -> BatchFit:
    """The accelerated-failure-time form of batched Weibull PH fits (the delta method of
    :func:`ipdmeta.models.parametric_survival.to_aft`)."""
    k1 = fit.coef.shape[1]
    b, inv_p = fit.coef[:, :-1], np.exp(-fit.coef[:, -1])
    J = np.zeros((fit.coef.shape[0], k1, k1))
    J[:, :-1, :-1] = -inv_p[:, None, None] * np.eye(k1 - 1)
    J[:, :-1, -1] = b * inv_p[:, None]
    J[:, -1, -1] = -1.0
    coef = np.column_stack([-b * inv_p[:, None], -fit.coef[:, -1]])
    return BatchFit(coef, J @ fit.cov @ J.transpose(0, 2, 1), fit.ok)


def fit_batched(model: str, y: np.ndarray, X: np.ndarray, starts: np.ndarray, *,
                scale: str = "ph", offset: np.ndarray | None = None,
                use: np.ndarray | None = None) -> BatchFit:
    """Fit ``model`` (one of :data:`MLE_MODELS`) in every study at once.

    Args:
        y: the outcome (0/1 for rr and rd; ``(time, event)`` rows for the survival
            models); X: design (N, p), rows sorted by study, with an intercept column;
            starts: (k,) first row of each study; scale: "ph" or "aft" (survival);
            offset: (N,) the negative binomial offset (log exposure); use: optional
            (k,) mask of the studies to try.

    Returns:
        :class:`~ipdmeta.models.batched.BatchFit` of every coefficient (the survival
        models' ``log_p`` / ``log_scale`` last); ``ok`` False for every study the
        per-study fitter must handle.
    """
    y, X, starts, counts, ok = screened_input(y, X, starts, use)
    k, p = starts.size, X.shape[1]
    q = p + (model == "weibull")
    out = BatchFit.empty(k, q)
    ok &= counts > p
    if k == 0 or not ok.any():
        return out
    off = np.zeros(X.shape[0]) if offset is None else np.asarray(offset, dtype=float)
    ok &= segment_all(np.isfinite(off), starts)
    if model in ("exponential", "weibull"):
        ok &= segment_all((y[:, 0] > 0) & ((y[:, 1] == 0) | (y[:, 1] == 1)), starts)
    elif model == "negbin":
        ok &= segment_all(y >= 0, starts) & (np.add.reduceat(y, starts) > 0)
    else:
        ok &= segment_all((y == 0) | (y == 1), starts)
        events = np.add.reduceat(y, starts)
        ok &= (events > 0) & (events < counts)
    which = np.flatnonzero(ok)
    if which.size == 0:
        return out
    rows, st = gather(starts, counts, ok)
    y, X, off, counts = y[rows], X[rows], off[rows], counts[ok]
    if model == "negbin":
        sub = _negbin(y, X, off, st, counts)
    elif model == "exponential":
        sub = fit_glm("poisson", y[:, 1], X, st, offset=np.log(y[:, 0]))
        if scale == "aft":
            sub = BatchFit(-sub.coef, sub.cov, sub.ok)
    elif model == "weibull":
        sub = _weibull(y, X, st, counts, scale == "aft")
    else:
        sub = _binomial("log" if model == "rr" else "identity", y, X, st, counts)
    out.place(which, sub)
    return out
