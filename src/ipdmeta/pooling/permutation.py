"""Permutation tests for meta-regression (Higgins & Thompson 2004; metafor's ``permutest``).

The model is refitted to many permuted data sets at once: the tau² estimators,
weighted least squares and the Wald/t statistics are evaluated on arrays of shape
``(B, k, p)`` (B permutations, k studies, p coefficients), so no Python loop runs
over permutations.  Fisher scoring (REML, ML, EB) and the Paule-Mandel root search
iterate on all permutations together until each one has converged to the same
threshold (1e-12 in tau²) as the single fit in :mod:`ipdmeta.pooling.tau2`.

* Models with moderators: the rows of the design matrix X are permuted relative to
  the estimates; exact enumeration visits every *distinct* arrangement of the rows
  (k!/Π n_j! of them when rows repeat), as ``permutest(exact=TRUE)``.
* Intercept-only models: the signs of the estimates are flipped (2^k arrangements).

p-values are metafor's: the share of arrangements (the observed one included) whose
statistic is at least the observed one less ``sqrt(machine eps)``.  The
multiplicity-adjusted p-values are Westfall & Young's (1993) single-step max-|t|:
coefficient j is compared with the largest |t| over the tested coefficients (the
moderators, those in the omnibus test) in each arrangement.

Example:
    >>> import numpy as np
    >>> rows = multiset_permutations(np.array([0, 0, 1]))
    >>> rows.tolist()
    [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import cast

import numpy as np
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.tau2 import MAXITER, THRESHOLD
from ipdmeta.progress import progress_bar

logger = logging.getLogger(__name__)

COMPTOL = float(np.sqrt(np.finfo(float).eps))  # metafor's comptol
EXACT_LIMIT = 1_000_000
#: the statistics of at most this many arrangements are kept in the result
STORE_LIMIT = 1_000_000
CHUNK_ELEMENTS = 4_000_000
BATCH_METHODS = ("common", "DL", "HE", "HS", "SJ", "PM", "PMM", "REML", "ML", "EB")


@dataclass(frozen=True, eq=False)
class PermutationResult:
    """Permutation p-values of a meta-regression.

    ``pvalues`` are per coefficient and unadjusted (as metafor's ``permutest``),
    ``pvalues_adjusted`` are the Westfall-Young max-|t| adjusted p-values of the
    tested coefficients (NaN for the others), ``QM_pvalue`` is for the omnibus test.
    ``statistics`` (B × p) and ``QM`` (B) are the values in each arrangement (with
    random arrangements the observed one is first; only the first 1,000,000 are kept:
    the p-values are counted chunk by chunk, so memory stays bounded whatever the
    number of arrangements); ``failed`` counts refits that did not converge (NaN
    rows, left out of the p-values, as metafor).  With ``joint`` (indices of a subset
    of coefficients), ``joint_pvalue`` is the permutation p-value of their joint Wald
    test and ``joint_QM`` its value in each (kept) arrangement.
    """

    pvalues: np.ndarray
    pvalues_adjusted: np.ndarray
    QM_pvalue: float
    permutations: int
    exact: bool
    kind: str
    failed: int
    statistics: np.ndarray
    QM: np.ndarray
    joint: tuple[int, ...] | None = None
    joint_pvalue: float = float("nan")
    joint_QM: np.ndarray | None = None

    def summary(self) -> str:
        """The p-values in words."""
        p = ", ".join(f"{v:.4g}" for v in self.pvalues)
        return (f"Permutation test ({'exact, ' if self.exact else ''}{self.permutations} "
                f"{self.kind}): QM p = {self.QM_pvalue:.4g}; per coefficient p = {p}"
                + (f"; {self.failed} refits did not converge" if self.failed else ""))

    def __repr__(self) -> str:
        return (f"PermutationResult(permutations={self.permutations}, exact={self.exact}, "
                f"QM_pvalue={self.QM_pvalue:.4g})")


# ---------------------------------------------------------------- batched WLS
def batch_wls(w: np.ndarray, X: np.ndarray, y: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched weighted least squares: X'W, (X'WX)^-1, coefficients and residuals."""
    Xw = X * w[..., None]
    XtW = np.swapaxes(Xw, -1, -2)
    inv = np.linalg.inv(XtW @ X)
    beta = (inv @ (XtW @ y[..., None]))[..., 0]
    resid = y - (X @ beta[..., None])[..., 0]
    return XtW, inv, beta, resid


def _trace(m: np.ndarray) -> np.ndarray:
    return np.einsum("...ii->...", m)


def _q(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Generalised Q ``y'Py`` for each problem."""
    _, _, _, r = batch_wls(w, X, y)
    return np.sum(w * r * r, axis=-1)


def _scoring_step(method: str, w: np.ndarray, X: np.ndarray, y: np.ndarray, k: int,
                  p: int) -> np.ndarray:
    """The Fisher-scoring step of tau² for REML, ML or EB (as metafor's rma.uni)."""
    XtW, inv, _, r = batch_wls(w, X, y)
    wr = w * r
    if method == "EB":
        return (np.sum(wr * r, axis=-1) * k / (k - p) - k) / np.sum(w, axis=-1)
    if method == "ML":
        return (np.sum(wr * wr, axis=-1) - np.sum(w, axis=-1)) / np.sum(w * w, axis=-1)
    c2 = inv @ (XtW @ np.swapaxes(XtW, -1, -2))
    c3 = inv @ (XtW @ (np.swapaxes(XtW, -1, -2) * w[..., None]))
    tr_p = np.sum(w, axis=-1) - _trace(c2)
    tr_pp = (np.sum(w * w, axis=-1) - 2 * _trace(c3)
             + np.einsum("...ij,...ji->...", c2, c2))
    return (np.sum(wr * wr, axis=-1) - tr_p) / tr_pp


def _take(X: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Problems ``idx`` of a design that is batched (B, k, p) or shared (k, p)."""
    return X[idx] if X.ndim == 3 else X


def _hedges(y: np.ndarray, v: np.ndarray, X: np.ndarray, k: int, p: int, B: int) -> np.ndarray:
    XtW, inv, _, r = batch_wls(np.ones((B, k)), X, y)
    tr_pv = np.sum(v, axis=-1) - _trace(inv @ (XtW @ (np.swapaxes(XtW, -1, -2) * v[..., None])))
    return np.maximum(0.0, (np.sum(r * r, axis=-1) - tr_pv) / (k - p))


def _loglik(t: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray, reml: bool) -> np.ndarray:
    w = 1.0 / (v + t[:, None])
    _, inv, _, r = batch_wls(w, X, y)
    ll = -0.5 * np.sum(np.log(v + t[:, None]), axis=-1) - 0.5 * np.sum(w * r * r, axis=-1)
    if reml:
        ll = ll + 0.5 * np.linalg.slogdet(inv)[1]
    return ll


def _fisher(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray, k: int, p: int, B: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """Fisher scoring on all problems; each stops when its change is below THRESHOLD."""
    tau2 = _hedges(y, v, X, k, p, B)
    active = np.arange(B)
    converged = np.zeros(B, dtype=bool)
    for _ in range(MAXITER):
        if active.size == 0:
            break
        t = tau2[active]
        ya, va, Xa = y[active], v[active], _take(X, active)
        adj = _scoring_step(method, 1.0 / (va + t[:, None]), Xa, ya, k, p)
        adj = np.where(np.isfinite(adj), adj, 0.0)
        neg = t + adj < 0
        while neg.any():
            adj = np.where(neg, adj / 2, adj)
            neg = t + adj < 0
        new = t + adj
        tau2[active] = new
        done = np.abs(new - t) < THRESHOLD
        converged[active[done]] = True
        active = active[~done]
    tau2 = np.maximum(0.0, tau2)
    if method in ("REML", "ML"):
        check = np.flatnonzero(converged & (tau2 > THRESHOLD))
        if check.size:
            reml = method == "REML"
            yc, vc, Xc = y[check], v[check], _take(X, check)
            drop = (_loglik(np.zeros(check.size), yc, vc, Xc, reml)
                    - _loglik(tau2[check], yc, vc, Xc, reml))
            tau2[check[drop > 1e-12]] = 0.0
    return tau2, converged


def _q_root(target: float, y: np.ndarray, v: np.ndarray, X: np.ndarray, k: int, B: int
            ) -> tuple[np.ndarray, np.ndarray]:
    """tau² ≥ 0 with Q(tau²) = target: Newton steps kept inside a bisection bracket."""
    tau2 = np.zeros(B)
    lo, hi = np.zeros(B), np.full(B, np.inf)
    q0 = _q(1.0 / v, X, y)
    active = np.flatnonzero(q0 > target)
    converged = np.ones(B, dtype=bool)
    converged[active] = False
    for _ in range(MAXITER):
        if active.size == 0:
            break
        t = tau2[active]
        ya, va, Xa = y[active], v[active], _take(X, active)
        w = 1.0 / (va + t[:, None])
        _, _, _, r = batch_wls(w, Xa, ya)
        f = np.sum(w * r * r, axis=-1) - target
        slope = np.sum((w * r) ** 2, axis=-1)
        lo[active] = np.where(f > 0, t, lo[active])
        hi[active] = np.where(f <= 0, t, hi[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            new = t + f / slope
        la, ha = lo[active], hi[active]
        outside = ~np.isfinite(new) | (new <= la) | (new >= ha)
        new = np.where(outside, np.where(np.isinf(ha), 2 * la + 1.0, (la + ha) / 2), new)
        tau2[active] = new
        done = np.abs(new - t) <= 1e-14 * np.maximum(1.0, t)
        converged[active[done]] = True
        active = active[~done]
    return tau2, converged


def batch_tau2(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray]:
    """tau² of B problems: ``y``, ``v`` are (B, k); ``X`` is (B, k, p) or shared (k, p).

    Returns the estimates and a mask of the problems whose iteration converged.
    """
    B, k = y.shape
    p = X.shape[-1]
    ones = np.ones(B, dtype=bool)
    if method == "common":
        return np.zeros(B), ones
    if method in ("REML", "ML", "EB"):
        return _fisher(method, y, v, X, k, p, B)
    if method in ("PM", "PMM"):
        target = float(k - p if method == "PM" else stats.chi2.ppf(0.5, k - p))
        return _q_root(target, y, v, X, k, B)
    if method == "HE":
        return _hedges(y, v, X, k, p, B), ones
    if method == "SJ":
        t0 = np.var(y, axis=-1)
        return np.maximum(0.0, t0 * _q(1.0 / (v + t0[:, None]), X, y) / (k - p)), ones
    w = 1.0 / v
    if method == "HS":
        return np.maximum(0.0, (_q(w, X, y) - k) / np.sum(w, axis=-1)), ones
    if method == "DL":
        XtW, inv, _, r = batch_wls(w, X, y)
        tr_p = np.sum(w, axis=-1) - _trace(inv @ (XtW @ np.swapaxes(XtW, -1, -2)))
        return np.maximum(0.0, (np.sum(w * r * r, axis=-1) - (k - p)) / tr_p), ones
    raise InputError(f"method={method!r} has no permutation test; use one of "
                     f"{', '.join(BATCH_METHODS)}")


def batch_refit(method: str, ci: str, y: np.ndarray, v: np.ndarray, X: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients (B × p), their covariances (B × p × p) and a mask of converged refits.

    ``y``, ``v`` are (B, k), ``X`` is (B, k, p) or shared (k, p); ``ci`` is "z", "t",
    "hksj" or "hksj-trunc" (the Knapp-Hartung factor scales the covariance).
    """
    B, k = y.shape
    p = X.shape[-1]
    tau2, ok = batch_tau2(method, y, v, X)
    w = 1.0 / (v + tau2[:, None])
    _, inv, beta, r = batch_wls(w, X, y)
    scale = np.ones(B)
    if ci in ("hksj", "hksj-trunc"):
        rss = np.sum(w * r * r, axis=-1)
        scale = np.where(rss <= np.finfo(float).eps, 0.0, rss / (k - p))
        if ci == "hksj-trunc":
            scale = np.maximum(1.0, scale)
    return beta, inv * scale[:, None, None], ok & np.isfinite(tau2)


def batch_wald(beta: np.ndarray, vb: np.ndarray, ok: np.ndarray, btt: np.ndarray, ci: str
               ) -> np.ndarray:
    """Wald statistic of ``beta[:, btt] = 0`` for each refit (F-scaled for t-type tests)."""
    bb = beta[:, btt]
    sub = vb[:, btt[:, None], btt[None, :]]
    qm = np.full(len(beta), np.inf)
    good = np.all(np.isfinite(sub), axis=(1, 2)) & (np.abs(np.linalg.det(sub)) > 0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if good.any():
            qm[good] = np.einsum("bi,bi->b", bb[good],
                                 np.linalg.solve(sub[good], bb[good][..., None])[..., 0])
    if ci != "z":
        qm = qm / len(btt)
    return np.where(ok, qm, np.nan)


def batch_statistics(method: str, ci: str, y: np.ndarray, v: np.ndarray, X: np.ndarray,
                     btt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficient z/t statistics (B × p) and QM (B) of B refits (NaN where one failed).

    ``y``, ``v`` are (B, k), ``X`` is (B, k, p) or shared (k, p); QM tests the
    coefficients ``btt`` (divided by ``len(btt)`` for the t-type tests).
    """
    beta, vb, ok = batch_refit(method, ci, y, v, X)
    return _z(beta, vb, ok), batch_wald(beta, vb, ok, btt, ci)


def _z(beta: np.ndarray, vb: np.ndarray, ok: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = beta / np.sqrt(np.diagonal(vb, axis1=-2, axis2=-1))
    return np.where(ok[:, None], z, np.nan)


# ---------------------------------------------------------------- arrangements
def multiset_permutations(labels: np.ndarray) -> np.ndarray:
    """Every distinct ordering of ``labels`` (integers), one per row, in lexicographic order."""
    labels = np.asarray(labels, dtype=np.intp)
    counts = np.bincount(labels)
    seqs = np.zeros((1, 0), dtype=np.intp)
    left = counts[None, :].copy()
    for _ in range(labels.size):
        parts, rests = [], []
        for c in np.flatnonzero(counts):
            take = left[:, c] > 0
            parts.append(np.column_stack([seqs[take], np.full(take.sum(), c)]))
            rest = left[take].copy()
            rest[:, c] -= 1
            rests.append(rest)
        order = np.lexsort(np.concatenate(parts).T[::-1])
        seqs, left = np.concatenate(parts)[order], np.concatenate(rests)[order]
    return seqs


def count_arrangements(X: np.ndarray, intercept_only: bool) -> int:
    """Number of distinct arrangements: 2^k sign flips or k!/Π n_j! row orders."""
    k = X.shape[0]
    if intercept_only:
        return 2**k
    _, counts = np.unique(X, axis=0, return_counts=True)
    total = math.factorial(k)
    for c in counts:
        total //= math.factorial(int(c))
    return total


def _sign_flips(k: int) -> np.ndarray:
    """All 2^k sign patterns (the observed one, all +1, first)."""
    codes = np.arange(2**k, dtype=np.int64)
    return np.where((codes[:, None] >> np.arange(k)) & 1, -1.0, 1.0)


def _row_orders(X: np.ndarray) -> np.ndarray:
    """Row indices of X for each distinct arrangement of its rows."""
    _, labels = np.unique(X, axis=0, return_inverse=True)
    labels = labels.ravel()
    arrangements = multiset_permutations(labels)
    # map each arrangement of row classes to row indices (rows of a class in order)
    members = np.argsort(labels, kind="stable")
    slots = np.argsort(arrangements, axis=1, kind="stable")
    rows = np.empty_like(arrangements)
    np.put_along_axis(rows, slots, np.broadcast_to(members, arrangements.shape), axis=1)
    return rows


# ---------------------------------------------------------------- the test
def permutation_test(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, method: str, ci: str,
                     btt: np.ndarray, observed_statistics: np.ndarray, observed_QM: float,
                     permutations: int, seed: int | np.random.Generator | None = None,
                     exact: bool | None = None, joint: np.ndarray | None = None,
                     observed_joint: float | None = None,
                     progress: bool | None = None) -> PermutationResult:
    """Permutation p-values of a fitted meta-regression.

    Args:
        y, v, X: estimates, sampling variances and the k × p design of the fit.
        method, ci: the tau² estimator and the test ("z", "t", "hksj", "hksj-trunc").
        btt: indices of the coefficients in the omnibus test (the moderators).
        observed_statistics, observed_QM: the statistics of the fit to the data.
        permutations: number of arrangements (the observed one included) to draw.
        seed: seed or ``numpy.random.Generator`` for the random arrangements.
        exact: None (exact when there are no more distinct arrangements than
            ``permutations``), True (always enumerate) or False (always sample).
        joint, observed_joint: indices of a subset of coefficients and their observed
            joint Wald statistic, for a joint permutation test of the subset (as
            metafor's ``permutest`` of a model fitted with ``btt=``).
        progress: a progress bar over the arrangements (:mod:`ipdmeta.progress`;
            default: on a terminal, for runs longer than half a second).

    Example:
        >>> import numpy as np
        >>> y = np.array([0.1, 0.5, 0.3, 0.8]); v = np.array([0.01, 0.02, 0.03, 0.02])
        >>> X = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 4.0]])
        >>> z, qm = batch_statistics("common", "z", y[None], v[None], X, np.array([1]))
        >>> res = permutation_test(y, v, X, method="common", ci="z", btt=np.array([1]),
        ...                        observed_statistics=z[0], observed_QM=qm[0],
        ...                        permutations=100)
        >>> res.exact, res.permutations, round(float(res.pvalues[1]), 4)
        (True, 24, 0.1667)
    """
    k, p = X.shape
    intercept_only = p == 1 and bool(np.ptp(X) == 0)
    if isinstance(permutations, bool) or int(permutations) != permutations \
            or permutations < 2:
        raise InputError(f"permutations={permutations!r} must be a whole number of at least 2")
    n_exact = count_arrangements(X, intercept_only)
    use_exact = n_exact <= permutations if exact is None else bool(exact)
    if use_exact and n_exact > EXACT_LIMIT:
        raise InputError(f"exact=True needs {n_exact:,} refits (more than {EXACT_LIMIT:,}); "
                         "use exact=False with permutations= a number of random draws")
    rng = None if use_exact else np.random.default_rng(seed)
    n = n_exact if use_exact else int(permutations)
    logger.debug("permutation test: %d %s arrangements of %d studies (%s, %s)", n,
                 "exact" if use_exact else "random", k, method, ci)
    chunk = max(64, CHUNK_ELEMENTS // max(1, k * p))
    exact_rows = None
    if use_exact:
        exact_rows = _sign_flips(k) if intercept_only else _row_orders(X)
    if joint is not None and observed_joint is None:
        raise InputError("joint= needs observed_joint=, the joint Wald statistic of the fit")
    tally = _Tally(np.asarray(observed_statistics, dtype=float), float(observed_QM), btt,
                   min(n, STORE_LIMIT), joint=joint, joint_obs=observed_joint)
    vb = np.broadcast_to(v, (min(chunk, n), k))
    with progress_bar(progress, n, desc="permutations", unit="permutation") as bar:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            if exact_rows is not None:
                part = exact_rows[start:start + m]
            else:   # random draws, chunk by chunk (the same stream as one draw of all)
                part = _random_arrangements(X, k, m, cast(np.random.Generator, rng),
                                            intercept_only, first=start == 0)
            if intercept_only:
                yb, Xb = part * y, X
            else:
                yb, Xb = np.broadcast_to(y, (m, k)), X[part]
            beta, cov, ok = batch_refit(method, ci, yb, vb[:m], Xb)
            tally.add(_z(beta, cov, ok), batch_wald(beta, cov, ok, btt, ci),
                      None if joint is None else batch_wald(beta, cov, ok, joint, ci))
            bar.update(m)
    return tally.result(exact=use_exact, kind="sign flips" if intercept_only else "row orders")


def _random_arrangements(X: np.ndarray, k: int, m: int, rng: np.random.Generator,
                         intercept_only: bool, first: bool) -> np.ndarray:
    """``m`` random arrangements; the first chunk starts with the observed one."""
    draws = m - 1 if first else m
    if intercept_only:
        part = rng.choice([-1.0, 1.0], size=(draws, k))
        return np.vstack([np.ones((1, k)), part]) if first else part
    part = rng.permuted(np.tile(np.arange(k), (draws, 1)), axis=1)
    return np.vstack([np.arange(k)[None, :], part]) if first else part


class _Tally:
    """The counts behind the permutation p-values, added chunk by chunk (so memory stays
    bounded whatever the number of arrangements), and the first ``keep`` statistics."""

    def __init__(self, z_obs: np.ndarray, qm_obs: float, btt: np.ndarray, keep: int, *,
                 joint: np.ndarray | None = None, joint_obs: float | None = None) -> None:
        self.zo, self.qm_obs, self.btt = np.abs(z_obs), qm_obs, btt
        # joint_obs is given whenever joint is (permute() checks); nan is never reached
        self.joint = joint
        self.joint_obs = float("nan") if joint_obs is None else joint_obs
        self.ge = np.zeros(z_obs.size)
        self.ge_adj = np.zeros(btt.size)
        self.ge_qm = self.ge_joint = 0
        self.ok = self.failed = 0
        self.z_kept: list[np.ndarray] = []
        self.qm_kept: list[np.ndarray] = []
        self.joint_kept: list[np.ndarray] = []
        self.room = keep

    def add(self, z: np.ndarray, qm: np.ndarray, qm_joint: np.ndarray | None = None) -> None:
        if self.room > 0:
            self.z_kept.append(z[: self.room])
            self.qm_kept.append(qm[: self.room])
            if qm_joint is not None:
                self.joint_kept.append(qm_joint[: self.room])
            self.room -= min(self.room, qm.size)
        ok = ~np.isnan(qm)
        if qm_joint is not None:
            self.ge_joint += int(np.sum(qm_joint[ok] >= self.joint_obs - COMPTOL))
        za = np.abs(z[ok])
        self.ge += np.sum(za >= self.zo - COMPTOL, axis=0)
        max_t = np.max(za[:, self.btt], axis=1)
        self.ge_adj += np.sum(max_t[:, None] >= self.zo[self.btt] - COMPTOL, axis=0)
        self.ge_qm += int(np.sum(qm[ok] >= self.qm_obs - COMPTOL))
        self.ok += int(ok.sum())
        self.failed += int((~ok).sum())

    def result(self, *, exact: bool, kind: str) -> PermutationResult:
        with np.errstate(invalid="ignore", divide="ignore"):
            pvalues = np.minimum(1.0, self.ge / self.ok)
            adjusted = np.full(self.zo.size, np.nan)
            adjusted[self.btt] = self.ge_adj / self.ok
            qm_p = float(self.ge_qm / self.ok) if self.ok else float("nan")
        if self.joint is None:
            joint, joint_p, joint_qm = None, float("nan"), None
        else:
            joint = tuple(int(j) for j in self.joint)
            joint_p = float(self.ge_joint / self.ok) if self.ok else float("nan")
            joint_qm = np.concatenate(self.joint_kept)
        return PermutationResult(pvalues=pvalues, pvalues_adjusted=adjusted, QM_pvalue=qm_p,
                                 permutations=self.ok, exact=exact, kind=kind,
                                 failed=self.failed, statistics=np.concatenate(self.z_kept),
                                 QM=np.concatenate(self.qm_kept), joint=joint,
                                 joint_pvalue=joint_p, joint_QM=joint_qm)
