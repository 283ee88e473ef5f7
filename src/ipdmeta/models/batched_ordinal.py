"""Proportional-odds models of many studies at once (batched stage 1).

:func:`fit_ordinal` fits :mod:`ipdmeta.models.ordinal` in every study of a
study-sorted array with the batched Newton loop of :mod:`ipdmeta.models.batched_mle`:
the studies are grouped by their number of observed outcome categories ``K`` (the
number of cut-points, ``K - 1``, fixes the number of parameters), and each group runs
the per-study loop's iterations -- the same starting values (slopes 0, cut-points at
the logits of the cumulative proportions), column scaling, exact Hessian, step
halving that keeps the cut-points increasing, and convergence rule -- for all its
studies at once.  Each study's categories are its own sorted distinct outcome values,
as in the per-study fit.  As there, a study is ``ok`` only when its result is certain
to be the per-study fitter's; the others (one category, too few rows, aliased
columns, separation, non-convergence, a decision near a threshold) are left to it.

Example:
    >>> rng = np.random.default_rng(4)
    >>> x = rng.integers(0, 2, 300).astype(float)[:, None]
    >>> y = np.digitize(0.8 * x[:, 0] + rng.logistic(size=300), [-0.5, 0.5, 1.5]) * 1.0
    >>> res = fit_ordinal(y, x, np.array([0, 150]))
    >>> from ipdmeta.models import ordinal
    >>> one = ordinal.fit(y[150:], x[150:], names=("treat",))
    >>> bool(res.ok.all()), bool(np.isclose(res.coef[1, 0], one.coef[0], rtol=1e-10))
    (True, True)
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, log_expit

from ipdmeta.models.batched import BatchFit, full_rank
from ipdmeta.models.batched_mle import (
    BlockLikelihood,
    Blocks,
    Evaluation,
    conclude,
    newton,
    positive_definite,
    screened_input,
    study_scales,
    xtv,
    xwx,
)
from ipdmeta.models.padded import gather


class Ordinal(BlockLikelihood):
    """The cumulative-logit likelihood in ``(b, zeta)`` of studies with ``K`` categories
    (:mod:`ipdmeta.models.ordinal`); ``code`` is each row's category, 0..K-1."""

    def __init__(self, data: Blocks, p: int, K: int):
        super().__init__(data, p + K - 1)
        self.p, self.K = p, K

    def evaluate(self, units: np.ndarray, beta: np.ndarray) -> Evaluation:
        out = Evaluation.empty(units.size, self.q)
        p, K = self.p, self.K
        cuts = np.arange(K - 1)
        for at, mask, a in self.data.each(units):
            X, code = a["X"], a["code"].astype(np.intp)
            par = beta[at]
            zeta = par[:, p:]
            ordered = np.all(np.diff(zeta, axis=1) > 0, axis=1)
            eta = np.matmul(X, par[:, :p, None])[..., 0]
            up = (code[..., None] == cuts) & mask[..., None]           # (m, n, K - 1)
            low = (code[..., None] - 1 == cuts) & mask[..., None]
            has_up, has_low = up.any(axis=2), low.any(axis=2)
            a_ = np.where(has_up, np.einsum("mnj,mj->mn", up, zeta) - eta, np.inf)
            b_ = np.where(has_low, np.einsum("mnj,mj->mn", low, zeta) - eta, -np.inf)
            logP = np.where(mask, log_expit(a_) + log_expit(-b_) + np.log(-np.expm1(b_ - a_)),
                            0.0)
            finite = np.all(np.isfinite(logP), axis=1)
            P = np.exp(logP)
            Fa, Fb = expit(a_), expit(b_)
            fa, fb = Fa * (1 - Fa), Fb * (1 - Fb)
            ua, ub = fa / P * mask, -fb / P * mask
            haa = (fa * (1 - 2 * Fa) / P - ua * ua) * mask
            hbb = (-fb * (1 - 2 * Fb) / P - ub * ub) * mask
            hab = -ua * ub
            upf, lowf = up.astype(float), low.astype(float)
            H = np.empty((at.size, self.q, self.q))                   # the negative Hessian
            H[:, :p, :p] = -xwx(X, haa + 2 * hab + hbb)
            H[:, :p, p:] = np.matmul(X.transpose(0, 2, 1), upf * (haa + hab)[..., None]
                                     + lowf * (hab + hbb)[..., None])
            H[:, p:, :p] = H[:, :p, p:].transpose(0, 2, 1)
            cross = np.matmul(upf.transpose(0, 2, 1), lowf * hab[..., None])
            H[:, p:, p:] = -(np.matmul(upf.transpose(0, 2, 1), upf * haa[..., None])
                             + np.matmul(lowf.transpose(0, 2, 1), lowf * hbb[..., None])
                             + cross + cross.transpose(0, 2, 1))
            score = np.column_stack([-xtv(X, ua + ub),
                                     np.einsum("mnj,mn->mj", upf, ua)
                                     + np.einsum("mnj,mn->mj", lowf, ub)])
            defined = ordered & finite & positive_definite(H)
            out.put(at, obj=logP.sum(axis=1), score=score, step=H, info=H, defined=defined)
        return out


def categories(y: np.ndarray, starts: np.ndarray, counts: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """Each row's category within its study (0 = the study's lowest outcome value) and
    each study's number of categories.

    Example:
        >>> code, K = categories(np.array([5.0, 2, 5, 1, 1]), np.array([0, 3]), np.array([3, 2]))
        >>> code.tolist(), K.tolist()
        ([1, 0, 1, 0, 0], [2, 1])
    """
    study = np.repeat(np.arange(starts.size), counts)
    order = np.lexsort((y, study))
    ys, ss = y[order], study[order]
    new = np.r_[True, (ys[1:] != ys[:-1]) | (ss[1:] != ss[:-1])]
    rank = np.cumsum(new) - 1
    first = rank[np.searchsorted(ss, np.arange(starts.size))]
    code = np.empty(y.size, np.intp)
    code[order] = rank - np.repeat(first, counts)
    return code, np.add.reduceat(new.astype(np.intp), starts) if y.size else np.zeros(0)


def fit_ordinal(y: np.ndarray, X: np.ndarray, starts: np.ndarray, *,
                use: np.ndarray | None = None) -> BatchFit:
    """Fit the proportional-odds model in every study at once.

    Args:
        y: numeric outcome codes (N,); X: the slopes' design (N, p), without an
            intercept (the cut-points take its place), rows sorted by study; starts:
            (k,) first row of each study; use: optional (k,) mask of the studies to try.

    Returns:
        :class:`~ipdmeta.models.batched.BatchFit` of the slopes then the cut-points
        (NaN beyond a study's own ``K - 1``); ``ok`` False for every study the
        per-study fitter must handle.
    """
    y, X, starts, counts, ok = screened_input(y, X, starts, use)
    k, p = starts.size, X.shape[1]
    ok &= counts > 1
    if k == 0 or p == 0 or not ok.any():
        return BatchFit.empty(k, max(p, 1))
    code, K = categories(y, starts, counts)
    ok &= (K >= 2) & (counts > p + K - 1)
    ok &= full_rank(X, starts, np.arange(k), k, center=True)
    out = BatchFit.empty(k, p + int(K[ok].max(initial=2)) - 1)
    for kk in np.unique(K[ok]).tolist():
        group = ok & (kk == K)
        which = np.flatnonzero(group)
        rows, st = gather(starts, counts, group)
        sub = _fit_group(X[rows], code[rows], st, counts[group], kk)
        pad = np.full((which.size, out.coef.shape[1]), np.nan)
        pad[:, :sub.coef.shape[1]] = sub.coef
        cov = np.full((which.size, *out.cov.shape[1:]), np.nan)
        cov[:, :sub.coef.shape[1], :sub.coef.shape[1]] = sub.cov
        out.place(which, BatchFit(pad, cov, sub.ok))
    return out


def _fit_group(X: np.ndarray, code: np.ndarray, starts: np.ndarray, counts: np.ndarray,
               K: int) -> BatchFit:
    """The studies with ``K`` categories."""
    k, p = starts.size, X.shape[1]
    scale, Xs = study_scales(X, starts, counts)
    cum = np.zeros((k, K))
    np.add.at(cum, (np.repeat(np.arange(k), counts), code), 1.0)
    cum = np.cumsum(cum, axis=1)[:, :-1] / counts[:, None]
    beta = np.column_stack([np.zeros((k, p)), np.log(cum / (1 - cum))])
    state = np.zeros(k, np.int8)
    final = newton(Ordinal(Blocks(starts, counts, X=Xs, code=code.astype(float)), p, K), beta,
                   state)
    return conclude(beta, final.info, state == 1, np.column_stack([scale, np.ones((k, K - 1))]),
                    X, starts)
