"""Cox models of many studies at once (batched stage 1).

:func:`fit_cox` fits the Cox model of :func:`ipdmeta.models.cox.fit` in ``k``
studies stacked in one study-sorted array.  Rows are sorted once by (study,
stratum, time, deaths first); each (study, stratum) *unit* is a row of a
zero-padded block (:mod:`ipdmeta.models.padded`), so the risk-set sums are
reverse cumulative sums along the block's second axis that restart at every
unit (no cancellation between studies), Efron's terms are read off them per
death, and the per-study information ``X' diag(c) X - sum_i m_i m_i'`` is two
batched matrix products.  No Python loop runs over studies, participants or
event times.

The iteration is the per-study one, study by study: the same starting values
(zero), the same centring and scaling (per study), full Newton steps, and
convergence when the partial log-likelihood changes by at most ``tol`` times
its size.  A study is returned ``ok`` only when it certainly ends where the
per-study fit ends; otherwise (too few rows, no events, an aliased term,
a step that would be halved, a change of the log-likelihood close to the
threshold, a diverging or runaway estimate, no convergence) it is ``ok=False``
and must be fitted by :func:`ipdmeta.models.cox.fit`.

Example:
    >>> rng = np.random.default_rng(2)
    >>> X = rng.normal(size=(300, 2))
    >>> t = np.ceil(rng.exponential(np.exp(-0.5 * X[:, 0])) * 4)
    >>> y = np.column_stack([t, rng.random(300) < 0.8])
    >>> res = fit_cox(y, X, np.array([0, 100, 180]))
    >>> from ipdmeta.models import cox
    >>> one = cox.fit(y[100:180], X[100:180], names=("a", "b"))
    >>> bool(res.ok.all()), bool(np.allclose(res.coef[1], one.coef, rtol=1e-10))
    (True, True)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ipdmeta.models.batched import MARGIN, BatchFit, full_rank
from ipdmeta.models.cox import (
    DIVERGING_STEP,
    RUNAWAY_EST,
    RUNAWAY_SE,
    _strata_codes,
    screen,
    valid_rows,
)
from ipdmeta.models.padded import (
    Bucket,
    Padded,
    batched_inv,
    batched_solve,
    counts_of,
    gather,
    min_corr_eig,
    segment_all,
    segment_ptp,
)

MAXITER = 100
TOL = 1e-10
#: the information at zero is screened for aliasing on the correlation scale
#: (the per-study check flags ``1 - R^2 <= 1e-8``)
INFO_EIG = 1e-6
INFO_DIAG = 1e-8


@dataclass(frozen=True)
class _Block:
    """One bucket of units with the indices of its deaths and tied-time groups."""

    bucket: Bucket
    X: np.ndarray          # (kb, nb, p) centred, scaled covariates (0 in the padding)
    xd: np.ndarray         # (kb, p) sum of X over the deaths of each unit
    dflat: np.ndarray      # (E,) flat (kb * nb) position of each death
    du: np.ndarray         # (E,) unit (0..kb-1) of each death
    gs: np.ndarray         # (E,) where the risk set of its time starts (reversed sums, flat)
    after: np.ndarray      # (E,) the same, first row after the deaths at its time
    f: np.ndarray          # (E,) Efron's fraction l / d (zeros for Breslow)
    dstart: np.ndarray     # (G,) first death of each tied-time group (into the deaths)
    dgrp: np.ndarray       # (E,) group of each death
    gflat: np.ndarray      # (G,) flat (kb * nb) first row of each group
    work: dict = field(default_factory=dict)   # buffers reused between evaluations

    def buffer(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A zeroed work array (allocated once: no page faults on every evaluation)."""
        buf = self.work.get(name)
        if buf is None:
            buf = self.work[name] = np.zeros(shape)
        else:
            buf.fill(0.0)
        return buf


def _block(b: Bucket, time: np.ndarray, event: np.ndarray, Xs: np.ndarray, efron: bool
           ) -> _Block:
    T = b.pad(time, fill=np.inf)
    E = b.pad(event)
    X = b.pad(Xs)
    kb, nb = T.shape
    new = np.ones((kb, nb), bool)
    new[:, 1:] = T[:, 1:] != T[:, :-1]
    first = np.maximum.accumulate(np.where(new, np.arange(nb)[None, :], 0), axis=1)
    dflat = np.flatnonzero(E.ravel() > 0)
    du = dflat // nb
    g = first.ravel()[dflat]
    key = du * (nb + 1) + g
    newd = np.ones(key.size, bool)
    newd[1:] = key[1:] != key[:-1]
    dstart = np.flatnonzero(newd)
    dgrp = np.cumsum(newd) - 1
    nd = np.diff(np.append(dstart, key.size))
    f = (np.arange(key.size) - dstart[dgrp]) / nd[dgrp] if efron else np.zeros(key.size)
    xd = np.einsum("knp,kn->kp", X, E)
    rev = du * (nb + 1) + nb - g     # row j of a unit is column nb - j of its reversed sums
    return _Block(b, X, xd, dflat, du, rev, rev - nd[dgrp], f, dstart, dgrp,
                  du[dstart] * nb + g[dstart])


def _evaluate(B: _Block, beta: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Partial log-likelihood, score, information and validity of each unit at ``beta``
    (kb, p) (each unit's study coefficients), as :func:`ipdmeta.models.cox.evaluate`."""
    X, mask = B.X, B.bucket.mask
    kb, nb, p = X.shape
    with np.errstate(all="ignore"):
        eta = np.where(mask, np.matmul(X, beta[:, :, None])[..., 0], -np.inf)
        eta -= eta.max(axis=1, keepdims=True)
        w = np.exp(eta)
        Z = B.buffer("Z", (kb, nb + 1, p + 1))
        Z[:, :nb, 0] = w
        np.multiply(X, w[..., None], out=Z[:, :nb, 1:])
        R = B.work.setdefault("R", np.empty_like(Z))
        np.cumsum(Z[:, ::-1], axis=1, out=R)    # sums from each row to the end, reversed
        R = R.reshape(-1, p + 1)
        S = np.take(R, B.gs, axis=0)
        num = S - B.f[:, None] * (S - np.take(R, B.after, axis=0))
        s0 = num[:, 0]
        inv = 1.0 / s0
        ll = np.bincount(B.du, weights=eta.ravel()[B.dflat] - np.log(s0), minlength=kb)
        M = B.buffer("M", (kb * nb, p))
        M[B.dflat] = num[:, 1:] * inv[:, None]
        M = M.reshape(kb, nb, p)
        A = B.buffer("A", (kb * nb,))
        A[B.gflat] = np.add.reduceat(inv, B.dstart)
        c = w * np.cumsum(A.reshape(kb, nb), axis=1)
        cf = c.reshape(-1)
        cf[B.dflat] -= w.reshape(-1)[B.dflat] * np.add.reduceat(B.f * inv, B.dstart)[B.dgrp]
        U = B.xd - M.sum(axis=1)
        info = (np.matmul(X.transpose(0, 2, 1), X * c[..., None])
                - np.matmul(M.transpose(0, 2, 1), M))
    bad = np.bincount(B.du, weights=(~(s0 > 0)).astype(float), minlength=kb) > 0
    valid = ~bad & np.isfinite(ll) & np.all(np.isfinite(info), axis=(1, 2))
    return ll, U, info, valid


class _Batch:
    """The sorted rows, their units and blocks; evaluates every active study at once."""

    def __init__(self, time: np.ndarray, event: np.ndarray, Xs: np.ndarray,
                 ustart: np.ndarray, ustudy: np.ndarray, k: int, efron: bool) -> None:
        self.time, self.event, self.Xs, self.efron = time, event, Xs, efron
        self.ustudy, self.k, self.p = ustudy, k, Xs.shape[1]
        lay = Padded(ustart, counts_of(ustart, time.size))
        self.blocks = [_block(b, time, event, Xs, efron) for b in lay.buckets]

    def evaluate(self, beta: np.ndarray, state: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Log-likelihood, score, information and validity of the studies with
        ``state == 0`` at ``beta`` (k, p) (others: NaN / invalid)."""
        k, p = self.k, self.p
        ll, U, info = np.zeros(k), np.zeros((k, p)), np.zeros((k, p, p))
        valid = np.ones(k, bool)
        for i, B in enumerate(self.blocks):
            owner = self.ustudy[B.bucket.units]
            keep = state[owner] == 0
            if not keep.any():
                continue
            if keep.mean() < 0.5:    # rebuild the block without finished studies
                B = self.blocks[i] = _block(B.bucket.take(keep), self.time, self.event,
                                            self.Xs, self.efron)
                owner = owner[keep]
            lu, Uu, Iu, vu = _evaluate(B, beta[owner])
            np.add.at(ll, owner, lu)
            np.add.at(U, owner, Uu)
            np.add.at(info, owner, Iu)
            valid[owner[~vu]] = False
        return ll, U, info, valid


def fit_cox(y, X, starts, *, strata=None, ties: str = "efron", use=None,
            maxiter: int = MAXITER, tol: float = TOL) -> BatchFit:
    """Fit a Cox model in every study at once.

    Args:
        y: (N, 2) time and event (0/1); X: (N, p) covariates (no intercept), rows
            sorted by study; starts: (k,) first row of each (non-empty) study.
        strata: optional (N,) stratum codes (a baseline hazard per stratum within
            each study); ties: "efron" or "breslow"; use: (k,) studies to try.

    Returns:
        :class:`~ipdmeta.models.batched.BatchFit` (log hazard ratios and the inverse
        observed information); ``ok`` False for every study that
        :func:`ipdmeta.models.cox.fit` must handle.
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    starts = np.asarray(starts, dtype=np.intp)
    n, p = X.shape
    k = starts.size
    counts = counts_of(starts, n)
    time, event = y[:, 0], y[:, 1]
    codes = np.zeros(n, np.intp) if strata is None else _strata_codes(strata, n)
    ok = np.ones(k, bool) if use is None else np.asarray(use, bool).copy()
    if k:   # the per-study fitter's screens
        ok &= segment_all(valid_rows(time, event, X), starts)
        ok &= screen(counts, np.add.reduceat(event, starts), p) == ""
    out = BatchFit.empty(k, p)
    if not ok.any() or ties not in ("efron", "breslow"):
        return out
    which = np.flatnonzero(ok)
    if which.size < k:
        rows, starts = gather(starts, counts, ok)
        time, event, X, codes, counts = time[rows], event[rows], X[rows], codes[rows], \
            counts[ok]
    out.place(which, _fit(time, event, X, codes, starts, counts, ties == "efron", maxiter,
                          tol))
    return out


def _fit(time: np.ndarray, event: np.ndarray, X: np.ndarray, codes: np.ndarray,
         starts: np.ndarray, counts: np.ndarray, efron: bool, maxiter: int, tol: float
         ) -> BatchFit:
    """:func:`fit_cox` on studies that passed the input screens."""
    k, p = starts.size, X.shape[1]
    study = np.repeat(np.arange(k), counts)
    order = np.lexsort((1 - event, time, codes, study))
    time, event, X, codes = time[order], event[order], X[order], codes[order]
    newu = np.ones(time.size, bool)
    newu[1:] = (study[1:] != study[:-1]) | (codes[1:] != codes[:-1])
    ustart = np.flatnonzero(newu)
    ustudy = study[ustart]
    units = np.bincount(ustudy, minlength=k)
    state = np.where((counts > p + units + 1)
                     & full_rank(X, ustart, ustudy, k, center=True), 0, -1).astype(np.int8)
    mean = np.add.reduceat(X, starts, axis=0) / counts[:, None]
    Xs = X - np.repeat(mean, counts, axis=0)
    scale = np.sqrt(np.add.reduceat(Xs * Xs, starts, axis=0) / counts[:, None])
    scale = np.where(scale > 1e-12 * np.maximum(np.abs(mean), 1e-300), scale, 1.0)
    Xs /= np.repeat(scale, counts, axis=0)
    batch = _Batch(time, event, Xs, ustart, ustudy, k, efron)
    beta = np.zeros((k, p))
    ll, U, info, valid = batch.evaluate(beta, state)
    diag = np.einsum("kii->ki", info)
    state[(state == 0) & ~(valid & np.all(diag > INFO_DIAG * diag.max(axis=1, initial=0)[:, None],
                                          axis=1) & (min_corr_eig(info) > INFO_EIG))] = -1
    for _ in range(maxiter):
        act = np.flatnonzero(state == 0)
        if act.size == 0:
            break
        step, solved = batched_solve(info[act], U[act])
        state[act[~solved]] = -1
        trial = beta.copy()
        trial[act[solved]] += step[solved]
        nll, nU, ninfo, nvalid = batch.evaluate(trial, state)
        act = act[solved]
        with np.errstate(invalid="ignore", over="ignore"):   # NaN for invalid studies
            slack = 1e-13 * np.maximum(1.0, np.abs(ll[act]))
            change = np.abs(nll[act] - ll[act])
            thr = tol * np.maximum(1.0, np.abs(nll[act]))
            # a step the per-study loop would halve, or a change too close to call: refit
            bad = (~nvalid[act] | ~(nll[act] >= ll[act] - slack)
                   | (np.abs(change - thr) <= 0.01 * thr))
        state[act[bad]] = -1
        go = act[~bad]
        beta[go], ll[go], U[go], info[go] = trial[go], nll[go], nU[go], ninfo[go]
        state[go[change[~bad] <= thr[~bad]]] = 1
    state[state == 0] = -1
    return _finish(beta, U, info, state == 1, scale, X, starts)


def _finish(beta: np.ndarray, U: np.ndarray, info: np.ndarray, ok: np.ndarray,
            scale: np.ndarray, X: np.ndarray, starts: np.ndarray) -> BatchFit:
    """Back-transform; leave diverging, runaway or non-invertible fits to :func:`cox.fit`
    (the screens of :func:`ipdmeta.models.cox.finish`, with a margin)."""
    p = beta.shape[1]
    info = np.where(ok[:, None, None], info, np.eye(p))
    step, solved = batched_solve(info, np.where(ok[:, None], U, 0.0))
    ok &= solved & (np.max(np.abs(step), axis=1, initial=0.0) < 0.1 * DIVERGING_STEP)
    cov = batched_inv(info) / (scale[:, :, None] * scale[:, None, :])
    coef = beta / scale
    fit = BatchFit(coef, cov, ok)
    se = fit.se()
    ok &= np.all(np.isfinite(cov), axis=(1, 2)) & np.all(np.isfinite(se) & (se > 0), axis=1)
    rng = segment_ptp(X, starts)
    with np.errstate(invalid="ignore"):
        ok &= ~np.any((np.abs(coef) * rng > MARGIN * RUNAWAY_EST)
                      & ~(se * rng <= MARGIN * RUNAWAY_SE), axis=1)
    return fit
