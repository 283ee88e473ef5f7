"""One-stage linear mixed model: REML and ML from per-trial cross-products.

Model for trial ``i`` (``n_i`` participants)::

    y_i = L_i a_i + W_i beta + Z_i b_i + e_i,   b_i ~ N(0, G),   e_i ~ N(0, sigma_i^2 I)

``L_i a_i`` are the stratified (trial-specific) intercepts and covariate effects,
``W_i beta`` the common effects (the treatment), ``Z_i`` the random treatment column
(and a column of ones with ``intercepts="random"``), ``G = Lambda Lambda'`` and
``sigma_i^2 = sigma^2`` for all trials unless ``residual_variance="by_study"``.

Everything is computed from the per-trial cross-products of ``[L W y]`` and ``Z``
(computed once): with ``M_i = sigma_i^2 I + Lambda' Z_i'Z_i Lambda`` (r×r) and
``K_i = Lambda M_i^{-1} Lambda'``, Woodbury's identity gives
``A' V_i^{-1} B = (A'B - A'Z_i K_i Z_i'B) / sigma_i^2`` and
``log|V_i| = (n_i - r) log sigma_i^2 + log|M_i|``; the generalised least-squares
system is a block arrow (:mod:`ipdmeta.onestage._blocks`).  No n×n matrix is formed.

The (restricted) log-likelihood is lme4's::

    ML:   -1/2 [ sum log|V_i| + r'V^{-1}r + N log 2 pi ]
    REML: -1/2 [ sum log|V_i| + log|X'V^{-1}X| + r'V^{-1}r + (N - p) log 2 pi ]

With one residual variance it is maximised over the relative factor
``T = Lambda / sigma`` with ``sigma^2`` profiled out (lme4's ``theta``); with
trial-specific residual variances over ``Lambda`` and ``log sigma_i^2`` (no closed form).
The analytic gradient is ``dl/dG = -1/2 sum_i (F_i - H_i' Phi_i H_i) + 1/2 sum_i u_i u_i'``
with ``F_i = Z_i'V_i^{-1}Z_i``, ``H_i = X_i'V_i^{-1}Z_i``, ``Phi_i`` trial i's block of
``(X'V^{-1}X)^{-1}`` (dropped for ML) and ``u_i = Z_i'V_i^{-1} r_i``; and
``dl/dsigma_i^2 = -1/2 [tr V_i^{-1} - tr(Phi_i X_i'V_i^{-2}X_i)] + 1/2 r_i'V_i^{-2}r_i``.

Example:
    >>> import numpy as np, pandas as pd
    >>> from ipdmeta.onestage.design import build_design
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"trial": np.repeat(np.arange(8), 30),
    ...                    "treat": np.tile([0, 1], 120)})
    >>> b = rng.normal(0, .5, 8)[df.trial]
    >>> df["y"] = df.trial * 0.3 + df.treat * (1 + b) + rng.normal(size=240)
    >>> cp = cross_products(build_design(df, study="trial", formula="y ~ treat", model="linear"))
    >>> fit = fit_profiled(cp, reml=True)
    >>> fit.converged, round(float(fit.beta_w[0]), 4), round(float(fit.G[0, 0]), 4)
    (True, 1.1495, 0.0278)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ipdmeta.onestage._blocks import Arrow, segment_gram, sym
from ipdmeta.onestage._optim import (
    DenseCurvature,
    FunGrad,
    Optimum,
    dense_curvature,
    maximize,
)
from ipdmeta.onestage.design import Design

LOG2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True)
class CrossProducts:
    """Per-trial cross-products of ``C = [L W y]`` and ``Z`` (computed once)."""

    CC: np.ndarray      # (K, c, c)
    CZ: np.ndarray      # (K, c, r)
    ZZ: np.ndarray      # (K, r, r)
    n: np.ndarray       # (K,) participants per trial
    a: int              # local columns
    g: int              # global columns
    local_ok: np.ndarray  # (K, a)

    @property
    def K(self) -> int:
        return int(self.n.size)

    @property
    def r(self) -> int:
        return int(self.ZZ.shape[1])

    @property
    def N(self) -> int:
        return int(self.n.sum())

    @property
    def p(self) -> int:
        """Number of estimable fixed effects."""
        return int(self.local_ok.sum()) + self.g


def cross_products(design: Design) -> CrossProducts:
    """The :class:`CrossProducts` of a linear one-stage design."""
    C = np.column_stack([design.L, design.W, design.y])
    a, g = design.L.shape[1], design.W.shape[1]
    G = segment_gram(np.column_stack([C, design.Z]), design.starts)
    c = C.shape[1]
    return CrossProducts(CC=G[:, :c, :c], CZ=G[:, :c, c:], ZZ=G[:, c:, c:],
                         n=design.counts.astype(float), a=a, g=g, local_ok=design.local_ok)


@dataclass(frozen=True, eq=False)
class State:
    """The model evaluated at one ``(Lambda, sigma_i^2)``."""

    Lam: np.ndarray
    s2: np.ndarray          # (K,)
    Kmat: np.ndarray        # (K, r, r)
    CViC: np.ndarray        # (K, c, c)
    logdetV: float
    arrow: Arrow
    beta_l: np.ndarray      # (K, a)
    beta_w: np.ndarray      # (g,)
    quad: float             # r'V^{-1} r

    def loglik(self, cp: CrossProducts, reml: bool) -> float:
        if reml:
            return -0.5 * (self.logdetV + self.arrow.logdet + self.quad
                           + (cp.N - cp.p) * LOG2PI)
        return -0.5 * (self.logdetV + self.quad + cp.N * LOG2PI)

    def beta_trial(self) -> np.ndarray:
        """Per trial, the fixed effects on its columns ``[a_i, beta]``, (K, a+g)."""
        K = self.beta_l.shape[0]
        return np.column_stack([self.beta_l, np.broadcast_to(self.beta_w, (K, self.beta_w.size))])


def evaluate(cp: CrossProducts, Lam: np.ndarray, s2: np.ndarray) -> State:
    """GLS at ``G = Lam Lam'`` and residual variances ``s2`` (K,); raises LinAlgError
    when ``X'V^{-1}X`` is not positive definite."""
    r, a, g = cp.r, cp.a, cp.g
    M = np.swapaxes(Lam, 0, 1)[None] @ cp.ZZ @ Lam[None] + s2[:, None, None] * np.eye(r)
    Minv = np.linalg.inv(M)
    Kmat = sym(Lam[None] @ Minv @ Lam.T[None])
    CZK = cp.CZ @ Kmat
    CViC = sym(cp.CC - CZK @ np.swapaxes(cp.CZ, 1, 2)) / s2[:, None, None]
    logdetV = float(np.sum((cp.n - r) * np.log(s2)) + np.sum(np.linalg.slogdet(M)[1]))
    masked = ~cp.local_ok
    A = CViC[:, :a, :a] + masked[:, :, None] * np.eye(a)[None]
    B = CViC[:, :a, a:a + g]
    arrow = Arrow(A, B, CViC[:, a:a + g, a:a + g].sum(axis=0))
    rl, rw = CViC[:, :a, -1], CViC[:, a:a + g, -1].sum(axis=0)
    bl, bw = arrow.solve(rl, rw)
    quad = float(CViC[:, -1, -1].sum() - np.sum(bl * rl) - bw @ rw)
    return State(Lam=Lam, s2=s2, Kmat=Kmat, CViC=CViC, logdetV=logdetV, arrow=arrow,
                 beta_l=bl, beta_w=bw, quad=quad)


def gradient(cp: CrossProducts, st: State, reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """``(dl/dG, dl/dsigma_i^2)``: the symmetric (r, r) matrix with ``dl = tr(dG' D)``
    and the (K,) derivatives in the residual variances."""
    a, g = cp.a, cp.g
    p = a + g
    s2 = st.s2[:, None, None]
    CZK = cp.CZ @ st.Kmat
    CViZ = (cp.CZ - CZK @ cp.ZZ) / s2
    F = sym(cp.ZZ - cp.ZZ @ st.Kmat @ cp.ZZ) / s2
    bt = st.beta_trial()
    H = CViZ[:, :p, :]
    u = CViZ[:, -1, :] - np.einsum("kp,kpr->kr", bt, H)
    D = -0.5 * F.sum(axis=0) + 0.5 * np.einsum("kr,ks->rs", u, u)
    CV2C = sym(cp.CC - 2 * CZK @ np.swapaxes(cp.CZ, 1, 2)
               + CZK @ cp.ZZ @ np.swapaxes(CZK, 1, 2)) / s2**2
    rv = np.column_stack([-bt, np.ones(bt.shape[0])])
    rV2r = np.einsum("kc,kcd,kd->k", rv, CV2C, rv)
    trVi = (cp.n - np.einsum("krs,ksr->k", st.Kmat, cp.ZZ)) / st.s2
    ds2 = -0.5 * trVi + 0.5 * rV2r
    if reml:
        Phi = st.arrow.inv_trial()
        D += 0.5 * np.einsum("kpr,kpq,kqs->rs", H, Phi, H)
        ds2 += 0.5 * np.einsum("kpq,kqp->k", Phi, CV2C[:, :p, :p])
    return sym(D), ds2


# ----------------------------------------------------------------- parameterisations
def tril_index(r: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the lower-triangular entries, row by row."""
    return np.tril_indices(r)


def to_lower(v: np.ndarray, r: int) -> np.ndarray:
    """The lower-triangular matrix with entries ``v`` (row by row)."""
    T = np.zeros((r, r))
    T[tril_index(r)] = v
    return T


def canonical(Lam: np.ndarray) -> np.ndarray:
    """``Lam`` with non-negative diagonal (the likelihood depends on ``Lam Lam'`` only)."""
    return Lam * np.where(np.diag(Lam) < 0, -1.0, 1.0)[None, :]


def profiled_loglik(cp: CrossProducts, theta: np.ndarray, reml: bool
                    ) -> tuple[float, float, State]:
    """lme4's profiled (restricted) log-likelihood at the relative factor ``theta``:
    the value, ``sigma^2`` at its maximum and the state with ``sigma^2 = 1``."""
    T = to_lower(theta, cp.r)
    st = evaluate(cp, T, np.ones(cp.K))
    denom = cp.N - cp.p if reml else cp.N
    s2 = st.quad / denom
    dev = st.logdetV + denom * (1 + np.log(2 * np.pi * s2))
    if reml:
        dev += st.arrow.logdet
    return -0.5 * float(dev), float(s2), st


def profiled_fun(cp: CrossProducts, reml: bool) -> FunGrad:
    def fun(theta: np.ndarray) -> tuple[float, np.ndarray]:
        try:
            ll, s2, _ = profiled_loglik(cp, theta, reml)
            T = to_lower(theta, cp.r)
            sig = np.sqrt(s2)
            st = evaluate(cp, sig * T, np.full(cp.K, s2))
        except np.linalg.LinAlgError:
            return -np.inf, np.zeros(theta.size)
        D, _ = gradient(cp, st, reml)
        dLam = 2 * D @ (sig * T)
        return ll, sig * dLam[tril_index(cp.r)]
    return fun


def absolute_fun(cp: CrossProducts, reml: bool, by_study: bool) -> FunGrad:
    """log-likelihood in ``(vech Lambda, log sigma^2)`` (one or K residual variances)."""
    nl = cp.r * (cp.r + 1) // 2

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        Lam = to_lower(x[:nl], cp.r)
        s2 = np.exp(x[nl:]) if by_study else np.full(cp.K, np.exp(x[nl]))
        try:
            st = evaluate(cp, Lam, s2)
        except np.linalg.LinAlgError:
            return -np.inf, np.zeros(x.size)
        D, ds2 = gradient(cp, st, reml)
        dLam = (2 * D @ Lam)[tril_index(cp.r)]
        dlog = s2 * ds2 if by_study else np.array([float(s2[0] * ds2.sum())])
        return st.loglik(cp, reml), np.r_[dLam, dlog]
    return fun


@dataclass(frozen=True, eq=False)
class LinearFit:
    """A fitted linear one-stage model (estimates on the analysis scale)."""

    state: State
    G: np.ndarray               # (r, r) random-effects covariance
    s2: np.ndarray              # (K,) residual variances
    loglik: float
    reml: bool
    by_study: bool
    theta: np.ndarray           # optimiser parameters
    optimum: Optimum

    @property
    def beta_w(self) -> np.ndarray:
        return self.state.beta_w

    @property
    def converged(self) -> bool:
        return self.optimum.converged


def fit_profiled(cp: CrossProducts, reml: bool) -> LinearFit:
    """Maximise the profiled (restricted) likelihood over the relative factor, from lme4's
    start (the identity)."""
    fun = profiled_fun(cp, reml)
    opt = maximize(fun, np.eye(cp.r)[tril_index(cp.r)], dense_curvature(lambda x: fun(x)[1]))
    T = canonical(to_lower(opt.x, cp.r))
    ll, s2, _ = profiled_loglik(cp, T[tril_index(cp.r)], reml)
    Lam = np.sqrt(s2) * T
    st = evaluate(cp, Lam, np.full(cp.K, s2))
    return LinearFit(state=st, G=sym(Lam @ Lam.T), s2=np.full(cp.K, s2), loglik=ll,
                     reml=reml, by_study=False, theta=T[tril_index(cp.r)], optimum=opt)


def fit_absolute(cp: CrossProducts, reml: bool, by_study: bool, x0: np.ndarray,
                 free: np.ndarray | None = None, hessian: np.ndarray | None = None
                 ) -> LinearFit:
    """Maximise over ``(vech Lambda, log sigma^2)``; ``free`` fixes some (profiles).
    ``hessian``: use this Hessian for every Newton step (the chord method; for profile
    points near the estimates), with full Newton if that stalls."""
    fun = absolute_fun(cp, reml, by_study)
    opt = None
    if hessian is not None:
        fixed = DenseCurvature(hessian)
        opt = maximize(fun, x0, lambda _: fixed, free=free, maxiter=100, xtol=1e-8)
    if opt is None or not opt.converged:
        opt = maximize(fun, x0 if opt is None else opt.x, dense_curvature(
            lambda x: fun(x)[1]), free=free)
    nl = cp.r * (cp.r + 1) // 2
    Lam = canonical(to_lower(opt.x[:nl], cp.r))
    s2 = np.exp(opt.x[nl:]) if by_study else np.full(cp.K, np.exp(opt.x[nl]))
    st = evaluate(cp, Lam, s2)
    return LinearFit(state=st, G=sym(Lam @ Lam.T), s2=s2, loglik=st.loglik(cp, reml),
                     reml=reml, by_study=by_study,
                     theta=np.r_[Lam[tril_index(cp.r)], opt.x[nl:]], optimum=opt)


def fit(cp: CrossProducts, reml: bool, by_study: bool) -> LinearFit:
    """The (restricted) maximum-likelihood fit: profiled over the relative factor with one
    residual variance; over ``Lambda`` and the log residual variances otherwise (started
    from the common-variance fit)."""
    common = fit_profiled(cp, reml)
    if not by_study:
        return common
    s2 = common.s2[0]
    Lam = np.sqrt(s2) * to_lower(common.theta, cp.r)
    Lam = Lam + np.diag(np.where(np.diag(Lam) == 0, 0.1 * np.sqrt(s2), 0.0))
    x0 = np.r_[Lam[tril_index(cp.r)], np.full(cp.K, np.log(s2))]
    return fit_absolute(cp, reml, True, x0)


def blups(cp: CrossProducts, fit: LinearFit) -> tuple[np.ndarray, np.ndarray]:
    """Conditional modes ``b_i = G Z_i'V_i^{-1} r_i`` and their conditional covariance
    ``sigma_i^2 K_i`` (lme4's ``ranef(condVar = TRUE)``), (K, r) and (K, r, r)."""
    st = fit.state
    p = cp.a + cp.g
    CViZ = (cp.CZ - cp.CZ @ st.Kmat @ cp.ZZ) / st.s2[:, None, None]
    u = CViZ[:, -1, :] - np.einsum("kp,kpr->kr", st.beta_trial(), CViZ[:, :p, :])
    return u @ fit.G, st.s2[:, None, None] * st.Kmat
