"""Linear, logistic and Poisson models of many studies at once (batched stage 1).

:func:`fit_glm` fits the same model in ``k`` studies whose rows are stacked in
one study-sorted array (``starts`` = first row of each study).  Every study
runs the Newton-Raphson (IRLS) iteration of :func:`ipdmeta.models._newton.glm_fit`
from the same starting values, on the same per-study column scaling and with
the same convergence rule (relative step below ``tol``), but all studies move
together: per iteration one pass over the rows, the per-study ``X'WX`` and
``X'(y - mu)`` as batched matrix products over zero-padded study blocks
(:mod:`ipdmeta.models.padded`) and one batched solve of the ``p x p`` systems.
Linear models are the same Newton iteration with unit weights (the first step
is the least-squares solution, the next ones iterative refinement), so their
estimates keep QR accuracy.

The batched fit is only a fast path.  A study is returned ``ok`` only when its
result is certain to be the one the per-study fitter gives (to rounding); every
study that is, or is close to being, special is ``ok=False`` and must be fitted
by the family's own ``fit()`` (which also writes the failure reason): too few
rows, no or all events, invalid outcomes, an aliased column (screened
conservatively with the smallest eigenvalue of the scaled cross-products),
non-convergence in ``MAXITER`` iterations, separation, runaway or perfect fits,
and a step size near the convergence threshold.

Example:
    >>> rng = np.random.default_rng(1)
    >>> X = np.column_stack([np.ones(200), rng.integers(0, 2, 200)])
    >>> y = rng.binomial(1, 0.3 + 0.3 * X[:, 1]).astype(float)
    >>> res = fit_glm("logistic", y, X, np.array([0, 100]))
    >>> from ipdmeta.models import logistic
    >>> one = logistic.fit(y[100:], X[100:], names=("Intercept", "treat"))
    >>> bool(res.ok.all()), bool(np.allclose(res.coef[1], one.coef, rtol=1e-12))
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from ipdmeta.models._newton import (
    RUNAWAY_EST,
    RUNAWAY_SE,
    Family,
    start_values,
)
from ipdmeta.models.linear import PERFECT_FIT_TOL
from ipdmeta.models.logistic import LOGISTIC
from ipdmeta.models.padded import (
    Padded,
    batched_inv,
    batched_solve,
    counts_of,
    gather,
    min_corr_eig,
    segment_all,
    segment_ptp,
)
from ipdmeta.models.poisson import _ETA_MAX, POISSON

MAXITER = 50
TOL = 1e-10
#: columns whose scaled cross-product matrix has a smallest eigenvalue below this
#: are left to the per-study fitter (its aliasing tolerance is 1e-7 on the residual
#: norm, i.e. 1e-14 here: a margin of six orders of magnitude)
ALIAS_EIG = 1e-8
#: thresholds of the per-study fitters are applied with this margin (a study near
#: one is left to the per-study fitter)
MARGIN = 0.99
#: a residual standard deviation below this (relative to the outcome) goes to the
#: per-study fitter, which decides on ``perfect_fit`` with ``PERFECT_FIT_TOL``
PERFECT_FIT_SCREEN = max(1e-6, 1e4 * PERFECT_FIT_TOL)


@dataclass(frozen=True)
class BatchFit:
    """Coefficients ``(k, p)`` and covariances ``(k, p, p)`` of ``k`` studies; ``ok[i]``
    False means study ``i`` was not fitted (NaN) and must be fitted on its own."""

    coef: np.ndarray
    cov: np.ndarray
    ok: np.ndarray

    @classmethod
    def empty(cls, k: int, p: int) -> BatchFit:
        """``k`` studies, none fitted."""
        return cls(np.full((k, p), np.nan), np.full((k, p, p), np.nan), np.zeros(k, bool))

    def se(self) -> np.ndarray:
        """Standard errors ``(k, p)``."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.einsum("kii->ki", self.cov))

    def place(self, which: np.ndarray, sub: BatchFit) -> None:
        """Copy the fits of ``sub`` (the studies ``which``) into this result."""
        good = sub.ok
        self.coef[which[good]] = sub.coef[good]
        self.cov[which[good]] = sub.cov[good]
        self.ok[which[good]] = True


class GaussianFamily:
    """Least squares as a Newton iteration: residuals ``y - eta``, unit weights."""

    name = "linear"
    label = "linear"
    outcome_rule = "a number"

    def valid_outcome(self, y: np.ndarray) -> np.ndarray:
        """Any (finite) number."""
        return np.ones(y.shape, bool)

    def events_status(self, events: np.ndarray, n: np.ndarray) -> np.ndarray:
        """No events screen: every study is estimable."""
        return np.full(np.shape(events), "")

    def start_eta(self, y: np.ndarray, offset: np.ndarray, starts: np.ndarray,
                  counts: np.ndarray) -> np.ndarray:
        """Start at zero (the first Newton step is the least-squares solution)."""
        return np.zeros(starts.size)

    def moments(self, eta: np.ndarray, y: np.ndarray
                ) -> tuple[float, np.ndarray, np.ndarray]:
        """``(0, y - eta, 1)`` (the log-likelihood is not needed)."""
        return 0.0, y - eta, np.ones_like(eta)


GAUSSIAN = GaussianFamily()
FAMILIES: dict[str, Family] = {"linear": GAUSSIAN, "logistic": LOGISTIC,  # type: ignore
                               "poisson": POISSON}


# ----------------------------------------------------------------------------- screens
def _outcome_ok(family: Family, y: np.ndarray, starts: np.ndarray, counts: np.ndarray
                ) -> np.ndarray:
    """Studies whose outcome is valid and has events (the family's own screens)."""
    return (segment_all(family.valid_outcome(y), starts)
            & (family.events_status(np.add.reduceat(y, starts), counts) == ""))


def full_rank(X: np.ndarray, starts: np.ndarray, owner: np.ndarray, k: int, *,
              center: bool, skip: Sequence[int] = ()) -> np.ndarray:
    """Per study: are the columns of ``X`` (but ``skip``) clearly not aliased?

    ``starts`` are the units (studies, or study x stratum) of the rows and
    ``owner`` the study of each unit.  With ``center=True`` the columns are first
    centred within units: aliasing with the intercept or with the strata's
    baseline hazards is then included.  Relative to the uncentred column
    lengths, as :func:`ipdmeta.models._newton.aliased_columns`.
    """
    cols = [j for j in range(X.shape[1]) if j not in set(skip)]
    if not cols:
        return np.ones(k, bool)
    Xo = X[:, cols]
    counts = counts_of(starts, X.shape[0])
    norms = np.zeros((k, len(cols)))
    np.add.at(norms, owner, np.add.reduceat(Xo * Xo, starts, axis=0))
    if center:
        Xo = Xo - np.repeat(np.add.reduceat(Xo, starts, axis=0) / counts[:, None], counts,
                            axis=0)
    G = np.zeros((k, len(cols), len(cols)))
    for b in Padded(starts, counts).buckets:
        Xb = b.pad(Xo)
        np.add.at(G, owner[b.units], np.matmul(Xb.transpose(0, 2, 1), Xb))
    return min_corr_eig(G, norms) > ALIAS_EIG


def runaway_screen(coef: np.ndarray, se: np.ndarray, X: np.ndarray, starts: np.ndarray
                   ) -> np.ndarray:
    """Studies where :func:`ipdmeta.models._newton.runaway_terms` could flag a term."""
    rng = segment_ptp(X, starts)
    rng = np.where(rng > 0, rng, np.maximum.reduceat(np.abs(X), starts, axis=0))
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(se) | ((np.abs(coef) * rng > MARGIN * RUNAWAY_EST)
                                  & (se * rng > MARGIN * RUNAWAY_SE))
    return np.any(bad, axis=1)


# ----------------------------------------------------------------------------- Newton
def newton(family: Family, lay: Padded, Xs: np.ndarray, y: np.ndarray, off: np.ndarray,
           beta: np.ndarray, state: np.ndarray, *, maxiter: int = MAXITER, tol: float = TOL
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton-Raphson for every study of the layout at once.

    ``state`` (k,) is 0 for the studies to fit (others are skipped) and is set to 1
    (converged) or -1 (leave to the per-study fitter).  Converged: the previous step
    was below ``tol`` (relative, as the per-study loop); the information ``X'WX`` and
    the residual sum of squares are those at the returned coefficients.
    """
    k, p = beta.shape
    info = np.full((k, p, p), np.nan)
    rss = np.full(k, np.nan)
    info_i, U, R2 = np.zeros((k, p, p)), np.zeros((k, p)), np.zeros(k)
    small = np.zeros(k, bool)
    prev = np.full(k, np.inf)
    parts: list[list[Any]] = [[b, b.pad(Xs), b.pad(y), b.pad(off)] for b in lay.buckets]
    for _ in range(maxiter + 1):
        for part in parts:
            b, Xb, yb, ob = part
            keep = state[b.units] == 0
            if not keep.any():
                continue
            if keep.mean() < 0.5:   # drop finished studies from the bucket
                b = b.take(keep)
                w_ = b.width
                part[:] = b, Xb[keep][:, :w_], yb[keep][:, :w_], ob[keep][:, :w_]
                _, Xb, yb, ob = part
            u = b.units
            eta = np.matmul(Xb, beta[u][:, :, None])[..., 0] + ob
            over = (eta > _ETA_MAX) & b.mask
            if over.any():
                state[u[over.any(axis=1)]] = -1
                eta[over] = 0.0
            # canonical families are defined wherever eta is finite (overflow is cut above)
            _, r, w = cast(tuple[float, np.ndarray, np.ndarray],
                           family.moments(eta.ravel(), yb.ravel()))
            r = r.reshape(eta.shape) * b.mask
            w = w.reshape(eta.shape) * b.mask
            XbT = Xb.transpose(0, 2, 1)
            info_i[u] = np.matmul(XbT, Xb * w[..., None])
            U[u] = np.matmul(XbT, r[..., None])[..., 0]
            R2[u] = np.einsum("kn,kn->k", r, r)
        act = state == 0
        fin = act & small
        info[fin], rss[fin], state[fin] = info_i[fin], R2[fin], 1
        idx = np.flatnonzero(act & ~small)
        if idx.size == 0:
            break
        delta, good = batched_solve(info_i[idx], U[idx])
        with np.errstate(invalid="ignore"):
            d = np.max(np.abs(delta) / (1.0 + np.abs(beta[idx])), axis=1, initial=0.0)
        # near the threshold, or at the per-study loop's numerical floor: ambiguous
        amb = (np.abs(d - tol) <= 0.01 * tol) | ((d < 1e-7) & (d >= prev[idx]) & (d >= tol))
        bad = ~good | amb
        state[idx[bad]] = -1
        go = idx[~bad]
        beta[go] += delta[~bad]
        small[go] = d[~bad] < tol
        prev[go] = d[~bad]
    state[state == 0] = -1
    return beta, info, rss


# ----------------------------------------------------------------------------- fitting
def fit_glm(model: str, y: np.ndarray, X: np.ndarray, starts: np.ndarray, *,
            offset: np.ndarray | None = None, use: np.ndarray | None = None,
            maxiter: int = MAXITER, tol: float = TOL) -> BatchFit:
    """Fit ``model`` ("linear", "logistic" or "poisson") in every study at once.

    Args:
        y: outcome (N,); X: design (N, p), rows sorted by study, the intercept a
            column of ones; starts: (k,) first row of each study (ascending, each
            study non-empty).
        offset: optional (N,) offset (Poisson); use: optional (k,) mask of the
            studies to try (the others are returned not ok).

    Returns:
        :class:`BatchFit`; ``ok`` False for every study the per-study fitter must
        handle (see the module docstring).
    """
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    starts = np.asarray(starts, dtype=np.intp)
    n, p = X.shape
    k = starts.size
    counts = counts_of(starts, n)
    off = np.zeros(n) if offset is None else np.asarray(offset, dtype=float)
    ok = np.ones(k, bool) if use is None else np.asarray(use, bool).copy()
    ok &= counts > p
    finite = np.isfinite(y) & np.isfinite(off) & np.all(np.isfinite(X), axis=1)
    if k:
        ok &= segment_all(finite, starts) & _outcome_ok(FAMILIES[model], y, starts, counts)
        if model != "linear":   # one term separates: no estimate (the per-study reason)
            ok &= ~FAMILIES[model].separated_by_one_term(X, y, starts)
    out = BatchFit.empty(k, p)
    ones = np.flatnonzero(np.all(X == 1.0, axis=0))
    if not ok.any() or ones.size > 1:
        return out
    which = np.flatnonzero(ok)
    if which.size < k:
        rows, starts = gather(starts, counts, ok)
        y, X, off, counts = y[rows], X[rows], off[rows], counts[ok]
    out.place(which, _fit(model, y, X, off, starts, counts, ones, maxiter, tol))
    return out


def _fit(model: str, y: np.ndarray, X: np.ndarray, off: np.ndarray, starts: np.ndarray,
         counts: np.ndarray, ones: np.ndarray, maxiter: int, tol: float) -> BatchFit:
    """:func:`fit_glm` on studies that passed the outcome screens."""
    k, p = starts.size, X.shape[1]
    state = np.where(full_rank(X, starts, np.arange(k), k, center=ones.size == 1,
                               skip=ones.tolist()), 0, -1).astype(np.int8)
    scale = np.maximum.reduceat(np.abs(X), starts, axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    Xs = X / np.repeat(scale, counts, axis=0)
    beta = start_values(FAMILIES[model], Xs, y, off, starts, counts)
    beta, info, rss = newton(FAMILIES[model], Padded(starts, counts), Xs, y, off, beta,
                             state, maxiter=maxiter, tol=tol)
    del Xs
    ok = state == 1
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = batched_inv(np.where(ok[:, None, None], info, np.eye(p))) / (
            scale[:, :, None] * scale[:, None, :])
        if model == "linear":
            sigma2 = rss / (counts - p)
            mean = np.add.reduceat(y, starts) / counts
            spread = np.maximum(np.maximum.reduceat(y, starts) - mean,
                                mean - np.minimum.reduceat(y, starts))
            size = np.maximum(np.maximum(spread, np.maximum.reduceat(np.abs(y), starts)),
                              1e-300)
            ok &= np.sqrt(sigma2) > PERFECT_FIT_SCREEN * size
            cov *= sigma2[:, None, None]
    coef = beta / scale
    fit = BatchFit(coef, cov, ok)
    se = fit.se()
    ok &= np.all(np.isfinite(se) & (se > 0), axis=1)
    if model != "linear":
        ok &= ~runaway_screen(coef, se, X, starts)
    return fit
