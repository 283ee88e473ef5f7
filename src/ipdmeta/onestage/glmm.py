"""One-stage logistic and Poisson mixed models by maximum likelihood.

The marginal likelihood (Laplace, or adaptive Gauss-Hermite quadrature for a single
random effect: :mod:`ipdmeta.onestage._glmm_lik`) is maximised jointly over the fixed
effects and the random-effects factor ``Lambda`` (``G = Lambda Lambda'``), as lme4's
``glmer`` with ``nAGQ >= 1`` does.  The parameters are ordered
``[a_1 .. a_K (trial-specific), beta (common), vech(Lambda)]``; the trial-specific
ones enter only their trial's likelihood, so the Hessian is a block arrow
(:class:`~ipdmeta.onestage._blocks.Arrow`), built from ``2 (a + g + r(r+1)/2)``
evaluations of the exact per-trial gradient (central differences, all trials at
once).  Newton's method then costs O(trials) per iteration, whatever the number of
stratified intercepts.  Standard errors are the fixed-effect block of the inverse
of minus that Hessian in ``(beta, Lambda)`` — lme4's ``vcov(use.hessian = TRUE)``.

The likelihood is even in each column of ``Lambda`` (``u -> -u``), so ``Lambda`` is
searched unconstrained and reported with a non-negative diagonal; a variance on the
boundary (zero) is a stationary point that Newton's method reaches from inside.

Example:
    >>> import numpy as np, pandas as pd
    >>> from ipdmeta.onestage.design import build_design
    >>> rng = np.random.default_rng(2)
    >>> df = pd.DataFrame({"trial": np.repeat(np.arange(10), 80), "treat": np.tile([0, 1], 400)})
    >>> b = rng.normal(0, 0.4, 10)
    >>> p = 1 / (1 + np.exp(-(-0.5 + 0.1 * df.trial + (-0.6 + b[df.trial]) * df.treat)))
    >>> df["y"] = (rng.random(800) < p).astype(int)
    >>> d = build_design(df, study="trial", formula="y ~ treat", model="logistic")
    >>> fit = fit_glmm(d, nagq=7)
    >>> fit.converged, round(float(fit.beta_w[0]), 4), round(float(fit.G[0, 0]), 4)
    (True, -0.4148, 0.084)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ipdmeta.errors import ConvergenceError
from ipdmeta.onestage._blocks import Arrow, segment_sums, sym
from ipdmeta.onestage._glmm_lik import Likelihood
from ipdmeta.onestage._optim import ArrowCurvature, Optimum, maximize
from ipdmeta.onestage.design import Design

#: start values of the random-effect scale tried before the joint maximisation
START_GRID = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
#: relative steps of the central (standard errors) and forward (Newton steps) differences
STEP = 1e-5
FORWARD_STEP = 1e-7


class Problem:
    """A GLMM of a one-stage design: parameter packing, likelihood, gradient, Hessian."""

    def __init__(self, design: Design, nagq: int) -> None:
        self.design = design
        self.K, self.a = design.K, design.L.shape[1]
        self.g, self.r = design.W.shape[1], design.Z.shape[1]
        self.nl = self.r * (self.r + 1) // 2
        self.X = np.column_stack([design.L, design.W])
        self.lik = Likelihood(design.model, design.y, self.X, design.Z, design.offset,
                              design.starts, nagq)
        self.tril = np.tril_indices(self.r)
        self.ok = design.local_ok.ravel()
        # difference steps are relative to the size of the column a parameter multiplies
        col = np.max(np.abs(self.X), axis=0) if len(self.X) else np.ones(self.X.shape[1])
        zs = float(np.max(np.abs(design.Z))) or 1.0
        self.col_scale = np.where(col > 0, col, 1.0)
        self.global_scale = np.r_[self.col_scale[self.a:], np.full(self.nl, zs)]

    @property
    def size(self) -> int:
        return self.K * self.a + self.g + self.nl

    def unpack(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        bl = x[:self.K * self.a].reshape(self.K, self.a)
        bw = x[self.K * self.a:self.K * self.a + self.g]
        Lam = np.zeros((self.r, self.r))
        Lam[self.tril] = x[self.K * self.a + self.g:]
        return bl, bw, Lam

    def eta0(self, x: np.ndarray) -> np.ndarray:
        bl, bw, _ = self.unpack(x)
        d = self.design
        eta = self.lik.offset + d.W @ bw
        if self.a:
            eta += np.einsum("na,na->n", d.L, bl[self.lik.trial])
        return eta

    def per_trial(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-trial log-likelihood (K,), local gradient (K, a), global gradient (K, g+nl)."""
        _, _, Lam = self.unpack(x)
        ev = self.lik.evaluate(self.eta0(x), Lam)
        gx = segment_sums(self.X * ev.omega[:, None], self.design.starts)
        gl = np.where(self.design.local_ok, gx[:, :self.a], 0.0)
        gw = np.column_stack([gx[:, self.a:], ev.dLam[:, self.tril[0], self.tril[1]]])
        return ev.loglik, gl, gw

    def fun(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ll, gl, gw = self.per_trial(x)
        total = float(ll.sum())
        if not np.isfinite(total):
            return -np.inf, np.zeros(x.size)
        return total, np.r_[gl.ravel(), gw.sum(axis=0)]

    def hessian(self, x: np.ndarray, central: bool = True
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Block-arrow Hessian ``(A (K,a,a), B (K,a,m), D (m,m))``, m = g + nl, by
        differences of the per-trial gradient (all trials' locals moved at once): central
        (``2 (a + m)`` gradients, for standard errors) or forward (``a + m + 1``, for the
        Newton steps)."""
        K, a, m = self.K, self.a, self.g + self.nl
        A = np.zeros((K, a, a))
        B1 = np.zeros((K, a, m))
        B2 = np.zeros((K, a, m))
        D = np.zeros((m, m))
        bl, _, _ = self.unpack(x)
        base = None if central else self.per_trial(x)[1:]

        def diff(xp: np.ndarray, xm: np.ndarray,
                 h: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
            _, glp, gwp = self.per_trial(xp)
            glm, gwm = base if base is not None else self.per_trial(xm)[1:]
            scale = h if base is not None else 2 * h
            return (glp - glm) / scale, (gwp - gwm) / scale

        step = STEP if central else FORWARD_STEP
        for c in range(a):
            h = step * np.maximum(1.0, np.abs(bl[:, c])) / self.col_scale[c]
            e = np.zeros((K, a))
            e[:, c] = h
            xp, xm = x.copy(), x.copy()
            xp[:K * a] += e.ravel()
            xm[:K * a] -= e.ravel()
            dl, dw = diff(xp, xm, h[:, None])
            A[:, :, c] = dl
            B1[:, c, :] = dw
        for j in range(m):
            k = K * a + j
            h = step * max(1.0, abs(x[k])) / self.global_scale[j]
            xp, xm = x.copy(), x.copy()
            xp[k] += h
            xm[k] -= h
            dl, dw = diff(xp, xm, h)
            B2[:, :, j] = dl
            D[:, j] = dw.sum(axis=0)
        A = sym(A) - (~self.design.local_ok)[:, :, None] * np.eye(a)[None]
        return A, 0.5 * (B1 + B2), sym(D)

    def curvature(self, free: np.ndarray) -> Callable[[np.ndarray], ArrowCurvature]:
        keep = free[self.K * self.a:]

        def make(x: np.ndarray) -> ArrowCurvature:
            A, B, D = self.hessian(x, central=False)
            return ArrowCurvature(-A, -B[:, :, keep], -D[np.ix_(keep, keep)])
        return make

    def start(self) -> np.ndarray:
        """Trial intercepts from the trial's event rate, everything else 0."""
        d = self.design
        x = np.zeros(self.size)
        if self.a and d.intercepts == "stratified":
            ybar = segment_sums(d.y, d.starts)
            if d.model == "logistic":
                pbar = np.clip(ybar / d.counts, 0.02, 0.98)
                alpha = np.log(pbar / (1 - pbar))
            else:
                expo = segment_sums(np.exp(self.lik.offset), d.starts)
                alpha = np.log(np.maximum(ybar, 0.5) / expo)
            bl = np.zeros((self.K, self.a))
            bl[:, 0] = alpha
            x[:self.K * self.a] = bl.ravel()
        return x


@dataclass(frozen=True, eq=False)
class GlmmFit:
    """A fitted one-stage GLMM (estimates on the link scale)."""

    x: np.ndarray
    beta_l: np.ndarray         # (K, a)
    beta_w: np.ndarray         # (g,)
    Lam: np.ndarray            # (r, r), non-negative diagonal
    loglik: float
    cov: np.ndarray            # (g + nl, g + nl): inverse of minus the Hessian in (beta, Lambda)
    cov_local: np.ndarray      # (K, a, a) local diagonal blocks of the inverse
    u: np.ndarray              # (K, r) conditional modes
    H: np.ndarray              # (K, r, r) curvature at the modes
    optimum: Optimum
    hessian_ok: bool
    nagq: int
    problem: Problem
    hessian: tuple[np.ndarray, np.ndarray, np.ndarray]   # (A, B, D) at the estimates

    @property
    def G(self) -> np.ndarray:
        return sym(self.Lam @ self.Lam.T)

    @property
    def converged(self) -> bool:
        return self.optimum.converged


def _free(prob: Problem, fixed_lambda: bool | tuple[int, ...]) -> np.ndarray:
    free = np.ones(prob.size, dtype=bool)
    base = prob.K * prob.a + prob.g
    if fixed_lambda is True:
        free[base:] = False
    elif fixed_lambda:
        free[[base + j for j in fixed_lambda]] = False
    return free


def maximise(prob: Problem, x0: np.ndarray, free: np.ndarray, maxiter: int = 200) -> Optimum:
    """Newton's method over the free parameters (block-arrow curvature)."""
    return maximize(prob.fun, x0, prob.curvature(free), free=free, maxiter=maxiter)


def fit_glmm(design: Design, nagq: int, maxiter: int = 200) -> GlmmFit:
    """Fit a logistic or Poisson one-stage model (see the module docstring)."""
    prob = Problem(design, nagq)
    base = prob.K * prob.a + prob.g
    x = prob.start()
    first = maximise(prob, x, _free(prob, True), maxiter)
    x = first.x
    best: np.ndarray | None = None
    best_ll = -np.inf
    for s in START_GRID:
        xs = x.copy()
        xs[base:] = (s * np.eye(prob.r))[prob.tril]
        ll, _ = prob.fun(xs)
        if ll > best_ll:
            best, best_ll = xs, ll
    if best is None:
        raise ConvergenceError("the likelihood is not finite at any start value of the "
                               "random-effect scale; check the outcome and covariates of "
                               "the trials (separation, no events)")
    opt = maximise(prob, best, _free(prob, False), maxiter)
    return finish(prob, opt)


def finish(prob: Problem, opt: Optimum) -> GlmmFit:
    """Canonical ``Lambda`` and the covariance from the Hessian at the optimum."""
    x = opt.x.copy()
    base = prob.K * prob.a + prob.g
    bl, bw, Lam = prob.unpack(x)
    signs = np.where(np.diag(Lam) < 0, -1.0, 1.0)
    Lam = Lam * signs[None, :]
    x[base:] = Lam[prob.tril]
    ll, _ = prob.fun(x)
    A, B, D = prob.hessian(x)
    try:
        arrow = Arrow(-A, -B, -D)
        cov, cov_local, hess_ok = arrow.inv_WW, arrow.inv_LL, True
    except np.linalg.LinAlgError:
        m = D.shape[0]
        cov, cov_local, hess_ok = np.full((m, m), np.nan), np.full(A.shape, np.nan), False
    ev = prob.lik.evaluate(prob.eta0(x), Lam)
    return GlmmFit(x=x, beta_l=bl, beta_w=bw, Lam=Lam, loglik=ll, cov=cov,
                   cov_local=cov_local, u=ev.u, H=ev.H, optimum=opt, hessian_ok=hess_ok,
                   nagq=prob.lik.nagq, problem=prob, hessian=(A, B, D))


def profile_loglik(prob: Problem, fit: GlmmFit, tau: float,
                   solved: dict[float, np.ndarray] | None = None) -> float:
    """The log-likelihood maximised over everything else with the random treatment sd
    (the first diagonal entry of ``Lambda``) fixed at ``tau``.

    Newton steps with the Hessian at the estimates (the chord method: one gradient per
    step; the profile points lie near the estimates), started from the nearest profile
    point already ``solved`` (a dict it adds to), to 1e-6 in the parameters (1e-10 in the
    log-likelihood); full Newton if that stalls."""
    base = prob.K * prob.a + prob.g
    solved = {} if solved is None else solved
    near = min(solved, key=lambda s: abs(s - tau), default=None)
    x = (fit.x if near is None or abs(near - tau) > abs(fit.Lam[0, 0] - tau)
         else solved[near]).copy()
    x[base] = tau
    fixed: tuple[int, ...] = (0,)
    if tau == 0 and prob.r == 2:   # the covariance tau * lambda_21 vanishes: fold it in
        x[base + 2] = np.hypot(x[base + 1], x[base + 2])
        x[base + 1] = 0.0
        fixed = (0, 1)
    free = _free(prob, fixed)
    keep = free[base - prob.g:]
    A, B, D = fit.hessian
    chord = ArrowCurvature(-A, -B[:, :, keep], -D[np.ix_(keep, keep)])
    opt = maximize(prob.fun, x, lambda _: chord, free=free, maxiter=60, xtol=1e-6)
    if not opt.converged:
        opt = maximise(prob, opt.x, free)
    solved[tau] = opt.x
    return opt.value


def blups(fit: GlmmFit) -> tuple[np.ndarray, np.ndarray]:
    """Conditional modes ``b_i = Lambda u_i`` and their approximate conditional covariance
    ``Lambda H_i^{-1} Lambda'`` (lme4's ``ranef(condVar = TRUE)``)."""
    b = fit.u @ fit.Lam.T
    V = fit.Lam[None] @ np.linalg.inv(fit.H) @ fit.Lam.T[None]
    return b, V
