"""One-stage Cox model: baseline hazard stratified by trial, random treatment effect.

Trial ``i`` has its own baseline hazard and the hazard ratio ``exp(x'beta + z b_i)``,
``b_i ~ N(0, tau^2)``.  As in coxme (Therneau; "Coxme and the Laplace approximation"):

* for a given ``tau``, ``(beta, b)`` maximise the penalised partial log-likelihood
  ``PPL = sum_i log PL_i(beta, b_i) - sum_i b_i^2 / (2 tau^2)`` (Efron or Breslow ties);
* the integrated partial likelihood ``IPL(tau) = int PL(beta, b) N(b; 0, tau^2 I) db`` is
  approximated by Laplace's method about that maximum with ``beta`` held at its value:
  ``log IPL(tau) ~ PPL(beta, b) - 1/2 sum_i log(1 + tau^2 I_i)``, ``I_i`` the partial-
  likelihood information of ``b_i`` (the baseline is stratified by trial, so ``H_bb`` is
  diagonal); ``tau`` maximises it (Brent's method, boundary 0 checked);
* ``cov(beta)`` is the fixed-effect block of the inverse of minus the PPL Hessian, and the
  BLUPs' standard errors come from its random-effect diagonal.

Because each trial is its own stratum, the partial likelihood separates by trial: its
score and information are computed per trial in one pass over the sorted data (the
risk-set sums of :mod:`ipdmeta.models.cox`), and the PPL Hessian is a block arrow
(per trial: its stratified covariate effects and ``b_i``; common: ``beta``).

Example:
    >>> import numpy as np, pandas as pd
    >>> from ipdmeta.onestage.design import build_design
    >>> rng = np.random.default_rng(5)
    >>> df = pd.DataFrame({"trial": np.repeat(np.arange(6), 60), "treat": np.tile([0, 1], 180)})
    >>> hr = np.exp((-0.5 + rng.normal(0, 0.3, 6))[df.trial] * df.treat)
    >>> t = rng.exponential(1 / hr); c = rng.uniform(0.5, 2, 360)
    >>> df["time"], df["event"] = np.minimum(t, c), (t <= c).astype(int)
    >>> fit = fit_cox(build_design(df, study="trial", formula="Surv(time, event) ~ treat"))
    >>> round(float(fit.beta_w[0]), 4), round(float(fit.tau2), 4)
    (-0.5697, 0.1614)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ipdmeta.models.cox import Prep, cum_groups, prepare, rev_cumsum
from ipdmeta.onestage._blocks import Arrow, segment_gram, segment_sums, sym
from ipdmeta.onestage._optim import ArrowCurvature, Optimum, maximize
from ipdmeta.onestage.design import Design

#: largest random-effect sd (log hazard ratio) searched
TAU_MAX = 5.0


def _starts(codes: np.ndarray, K: int) -> np.ndarray:
    """First index of each stratum 0..K-1 in a sorted code vector (every stratum present)."""
    return np.searchsorted(codes, np.arange(K))


class StratifiedPL:
    """Per-trial partial log-likelihood, score and information with per-trial coefficients."""

    def __init__(self, design: Design, ties: str) -> None:
        X = np.column_stack([design.L, design.W, design.Z[:, :1]])
        self.P: Prep = prepare(design.y[:, 0], design.y[:, 1], X, design.trial, ties)
        self.K = design.K
        self.row_starts = _starts(self.P.sid, self.K)
        self.group_starts = _starts(self.P.gs, self.K)
        self.death_starts = _starts(self.P.sid[self.P.drow], self.K)
        self.delta = np.zeros(X.shape[0])
        self.delta[self.P.drow] = 1.0

    @property
    def scale(self) -> np.ndarray:
        """Column scale of the standardised covariates."""
        return self.P.scale

    def evaluate(self, coef: np.ndarray, info: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Per trial: log partial likelihood (K,), score (K, m), information (K, m, m) at the
        standardised per-trial coefficients ``coef`` (K, m)."""
        P = self.P
        XT = P.XT
        eta = np.einsum("mn,nm->n", XT, coef[P.sid])
        eta -= np.maximum.reduceat(eta, P.sstart)[P.sid]
        w = np.exp(eta)
        C = rev_cumsum(P, P.X1T * w)
        Ca = np.take(C, P.ia, axis=1)
        S = Ca - np.take(C, P.ib, axis=1) if P.row_base is not None else Ca
        S1 = S[1:]
        ll_d = segment_sums(eta[P.drow], self.death_starts)
        if P.efron:
            D = Ca - np.take(C, P.iad, axis=1)
            D1 = D[1:]
            s0 = S[0, P.dgrp] - P.f * D[0, P.dgrp]
            inv = 1.0 / s0
            inv2 = inv * inv
            a, b, al0, al1, al2 = np.add.reduceat(
                np.stack([inv, P.f * inv, inv2, P.f * inv2, P.f * P.f * inv2]), P.dstart, axis=1)
            logs = np.add.reduceat(np.log(s0), P.dstart)
            c = w * cum_groups(P, a)
            c[P.drow] -= w[P.drow] * b[P.dgrp]
        else:
            s0g = S[0]
            a = P.nd / s0g
            logs = P.nd * np.log(s0g)
            c = w * cum_groups(P, a)
        ll = ll_d - segment_sums(logs, self.group_starts)
        U = segment_sums((XT * (self.delta - c)).T, self.row_starts)
        if not info:
            return ll, U, None
        if P.efron:
            MM = (np.einsum("gm,gk->gmk", S1.T * al0[:, None], S1.T)
                  - np.einsum("gm,gk->gmk", S1.T * al1[:, None], D1.T)
                  - np.einsum("gm,gk->gmk", D1.T * al1[:, None], S1.T)
                  + np.einsum("gm,gk->gmk", D1.T * al2[:, None], D1.T))
        else:
            MM = np.einsum("gm,gk->gmk", S1.T * (a / s0g)[:, None], S1.T)
        info_ = segment_gram(XT.T, self.row_starts, c) - segment_sums(MM, self.group_starts)
        return ll, U, sym(info_)


class Problem:
    """The penalised partial likelihood of a one-stage Cox design at a given ``tau``
    (standardised scale); parameters ``[(a_i, b_i) per trial, beta]``."""

    def __init__(self, design: Design, ties: str) -> None:
        self.pl = StratifiedPL(design, ties)
        self.K, self.a, self.g = design.K, design.L.shape[1], design.W.shape[1]
        self.ok = np.column_stack([design.local_ok, np.ones(self.K, dtype=bool)])
        self.tau = 1.0
        self._cache: tuple[bytes, tuple] | None = None

    @property
    def size(self) -> int:
        return self.K * (self.a + 1) + self.g

    def coef(self, x: np.ndarray) -> np.ndarray:
        K, a1 = self.K, self.a + 1
        loc = x[:K * a1].reshape(K, a1)
        glob = np.broadcast_to(x[K * a1:], (K, self.g))
        return np.column_stack([loc[:, :self.a], glob, loc[:, self.a]])

    def _eval(self, x: np.ndarray) -> tuple:
        key = x.tobytes() + np.float64(self.tau).tobytes()
        if self._cache is None or self._cache[0] != key:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                self._cache = (key, self.pl.evaluate(self.coef(x)))
        return self._cache[1]

    def fun(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        ll, U, _ = self._eval(x)
        K, a, g = self.K, self.a, self.g
        b = x[:K * (a + 1)].reshape(K, a + 1)[:, a]
        pen = 0.5 * np.sum(b * b) / self.tau**2 if self.tau > 0 else 0.0
        total = float(ll.sum()) - pen
        if not np.isfinite(total):
            return -np.inf, np.zeros(x.size)
        gl = np.column_stack([U[:, :a], U[:, a + g] - (b / self.tau**2 if self.tau > 0 else 0)])
        gl = np.where(self.ok, gl, 0.0)
        return total, np.r_[gl.ravel(), U[:, a:a + g].sum(axis=0)]

    def blocks(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Minus the PPL Hessian as block-arrow pieces (A, B, D); a left-out coefficient
        (aliased, or b_i when tau = 0) has a unit diagonal and no coupling."""
        _, _, info = self._eval(x)
        a, g = self.a, self.g
        loc = np.r_[np.arange(a), a + g]
        A = info[:, loc][:, :, loc].copy()
        if self.tau > 0:
            A[:, a, a] += 1.0 / self.tau**2
        ok = self.ok
        A = np.where(ok[:, :, None] & ok[:, None, :], A, 0.0) + (~ok)[:, :, None] * np.eye(a + 1)
        B = np.where(ok[:, :, None], info[:, loc, a:a + g], 0.0)
        return A, B, info[:, a:a + g, a:a + g].sum(axis=0)

    def curvature(self, x: np.ndarray) -> ArrowCurvature:
        return ArrowCurvature(*self.blocks(x))

    def maximise(self, tau: float, x0: np.ndarray) -> tuple[Optimum, float]:
        """PPL maximum at ``tau`` and the Laplace log integrated partial likelihood
        (``b = 0`` when ``tau = 0``: the stratified Cox model)."""
        self.tau = tau
        self.ok[:, self.a] = tau > 0
        x0 = x0.copy()
        if tau <= 0:
            x0[:self.K * (self.a + 1)].reshape(self.K, self.a + 1)[:, self.a] = 0.0
        opt = maximize(self.fun, x0, self.curvature)
        if tau <= 0:
            return opt, opt.value
        _, _, info = self._eval(opt.x)
        Ibb = info[:, self.a + self.g, self.a + self.g]
        return opt, opt.value - 0.5 * float(np.sum(np.log1p(tau**2 * Ibb)))


@dataclass(frozen=True, eq=False)
class CoxFit:
    """A fitted one-stage Cox model (log hazard ratios)."""

    beta_w: np.ndarray
    beta_l: np.ndarray        # (K, a)
    tau2: float
    loglik: float             # Laplace log integrated partial likelihood
    loglik_ppl: float         # log partial likelihood at (beta, b) (coxme's "Fitted")
    loglik_null: float        # log partial likelihood at beta = 0, b = 0
    cov: np.ndarray           # (g, g)
    cov_local: np.ndarray     # (K, a+1, a+1): trial-specific effects and b_i
    b: np.ndarray             # (K,) BLUPs of the random treatment effect
    optimum: Optimum
    tau_converged: bool
    profile: Callable[[float], float]   # tau -> Laplace log IPL (original scale)

    @property
    def converged(self) -> bool:
        return self.optimum.converged and self.tau_converged


def fit_cox(design: Design, ties: str = "efron", x0: np.ndarray | None = None) -> CoxFit:
    """Fit the one-stage Cox model (see the module docstring)."""
    prob = Problem(design, ties)
    a, g, K = prob.a, prob.g, prob.K
    sc = prob.pl.scale
    sz = sc[a + g]
    state = {"x": np.zeros(prob.size) if x0 is None else x0}

    def laplace(tau: float) -> float:       # tau on the original (log HR) scale
        opt, value = prob.maximise(tau * sz, state["x"])
        if opt.converged:
            state["x"] = opt.x
        return value

    null, _, _ = prob.pl.evaluate(np.zeros((K, a + g + 1)), info=False)
    at0 = laplace(0.0)
    res = optimize.minimize_scalar(lambda t: -laplace(t), bounds=(0.0, TAU_MAX),
                                   method="bounded", options={"xatol": 1e-9, "maxiter": 500})
    tau = float(res.x) if -res.fun > at0 else 0.0
    opt, value = prob.maximise(tau * sz, state["x"])
    A, B, D = prob.blocks(opt.x)
    arrow = Arrow(A, B, D)
    x = opt.x
    loc = x[:K * (a + 1)].reshape(K, a + 1)
    unscale_l = np.r_[sc[:a], sz]
    ll_fit = float(prob._eval(x)[0].sum())
    return CoxFit(beta_w=x[K * (a + 1):] / sc[a:a + g],
                  beta_l=loc[:, :a] / sc[:a], tau2=tau**2, loglik=value,
                  loglik_ppl=ll_fit, loglik_null=float(null.sum()),
                  cov=arrow.inv_WW / np.outer(sc[a:a + g], sc[a:a + g]),
                  cov_local=arrow.inv_LL / np.multiply.outer(unscale_l, unscale_l)[None],
                  b=loc[:, a] / sz if tau > 0 else np.zeros(K), optimum=opt,
                  tau_converged=bool(res.success), profile=laplace)
