"""Small-sample t tests for the fixed effects of a linear one-stage model.

**Satterthwaite** (as lmerTest): for coefficient ``j`` with variance ``C_jj`` (a function
of the variance parameters ``phi``), ``df = 2 C_jj^2 / (grad' A grad)`` with
``grad = dC_jj/dphi`` and ``A`` the inverse of the observed information of ``phi``
(minus the Hessian of the (restricted) log-likelihood).  ``phi`` is lmerTest's
``(theta, sigma)`` (relative Cholesky factor and residual sd) with one residual
variance, ``(Lambda, sigma_1..sigma_K)`` with trial-specific ones; at an interior
optimum the result does not depend on this choice.  Derivatives are central
differences of the analytic gradient and of ``C``.

**Kenward-Roger** (Kenward & Roger 1997, as pbkrtest's ``vcovAdj`` and ``Lb_ddf``;
REML fits with one residual variance): the variance components ``psi`` (variances and
covariances of the random effects, the residual variance) enter ``V`` linearly,
``V = sum_r psi_r G_r``; with ``Phi = (X'V^{-1}X)^{-1}``,
``P_r = -X'V^{-1}G_rV^{-1}X``, ``Q_rs = X'V^{-1}G_rV^{-1}G_sV^{-1}X`` and
``W = 2 I_E^{-1}`` (``I_E`` the expected REML information), the adjusted covariance is
``Phi_A = Phi + 2 Phi [sum_rs W_rs (Q_rs - P_r Phi P_s)] Phi`` and the denominator
degrees of freedom follow from ``A1``, ``A2`` of the contrast.  All blocks come from the
per-trial cross-products (powers of ``V_i^{-1}`` by Woodbury), assembled into the dense
p×p matrices of all fixed effects (p = trials × local columns + global columns).

Example:
    >>> import numpy as np, pandas as pd
    >>> from ipdmeta.onestage.design import build_design
    >>> from ipdmeta.onestage import linear
    >>> rng = np.random.default_rng(1)
    >>> df = pd.DataFrame({"trial": np.repeat(np.arange(8), 30),
    ...                    "treat": np.tile([0, 1], 120)})
    >>> b = rng.normal(0, .5, 8)[df.trial]
    >>> df["y"] = df.trial * 0.3 + df.treat * (1 + b) + rng.normal(size=240)
    >>> d = build_design(df, study="trial", formula="y ~ treat", model="linear")
    >>> cp = linear.cross_products(d)
    >>> fit = linear.fit(cp, reml=True, by_study=False)
    >>> df_s, (se_kr, df_kr) = satterthwaite(cp, fit), kenward_roger(cp, fit)
    >>> round(float(df_s[0]), 3), round(float(df_kr[0]), 3)
    (7.0, 7.0)
"""

from __future__ import annotations

import numpy as np

from ipdmeta.onestage._blocks import lower_root, sym
from ipdmeta.onestage._optim import numerical_hessian
from ipdmeta.onestage.linear import (
    CrossProducts,
    LinearFit,
    State,
    evaluate,
    gradient,
    tril_index,
)


# ----------------------------------------------------------------- Satterthwaite
def _varpar(cp: CrossProducts, fit: LinearFit) -> np.ndarray:
    """lmerTest's variance parameters: (theta, sigma), or (Lambda, sigma_i) by trial."""
    sig = np.sqrt(fit.s2)
    Lam = lower_root(fit.G)
    if fit.by_study:
        return np.r_[Lam[tril_index(cp.r)], sig]
    return np.r_[(Lam / sig[0])[tril_index(cp.r)], sig[0]]


def _unpack(cp: CrossProducts, phi: np.ndarray, by_study: bool
            ) -> tuple[np.ndarray, np.ndarray]:
    nl = cp.r * (cp.r + 1) // 2
    T = np.zeros((cp.r, cp.r))
    T[tril_index(cp.r)] = phi[:nl]
    if by_study:
        return T, phi[nl:] ** 2
    return phi[nl] * T, np.full(cp.K, phi[nl] ** 2)


def _grad_varpar(cp: CrossProducts, phi: np.ndarray, reml: bool, by_study: bool
                 ) -> np.ndarray:
    nl = cp.r * (cp.r + 1) // 2
    Lam, s2 = _unpack(cp, phi, by_study)
    st = evaluate(cp, Lam, s2)
    D, ds2 = gradient(cp, st, reml)
    dLam = (2 * D @ Lam)[tril_index(cp.r)]
    if by_study:
        return np.r_[dLam, 2 * phi[nl:] * ds2]
    sig = phi[nl]
    return np.r_[sig * dLam, dLam @ phi[:nl] + 2 * sig * ds2.sum()]


def satterthwaite(cp: CrossProducts, fit: LinearFit) -> np.ndarray:
    """Satterthwaite denominator degrees of freedom of each global coefficient."""
    phi = _varpar(cp, fit)

    def cov(x: np.ndarray) -> np.ndarray:
        Lam, s2 = _unpack(cp, x, fit.by_study)
        return np.diag(evaluate(cp, Lam, s2).arrow.inv_WW)

    H = numerical_hessian(lambda x: _grad_varpar(cp, x, fit.reml, fit.by_study), phi)
    try:
        A = np.linalg.inv(-H)
    except np.linalg.LinAlgError:
        A = np.linalg.pinv(-H)
    J = np.empty((cp.g, phi.size))
    for j in range(phi.size):
        h = 1e-5 * max(1.0, abs(phi[j]))
        e = np.zeros(phi.size)
        e[j] = h
        J[:, j] = (cov(phi + e) - cov(phi - e)) / (2 * h)
    C = cov(phi)
    denom = np.einsum("gi,ij,gj->g", J, A, J)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2 * C**2 / denom, np.inf)


# ----------------------------------------------------------------- Kenward-Roger
def _vpow(cp: CrossProducts, Kmat: np.ndarray, s2: np.ndarray, k: int) -> np.ndarray:
    """Per trial ``M'V^{-k}M`` for ``M = [L W y Z]`` (k = 1, 2, 3) by Woodbury."""
    MM = np.block([[cp.CC, cp.CZ], [np.swapaxes(cp.CZ, 1, 2), cp.ZZ]])
    MZ = np.concatenate([cp.CZ, cp.ZZ], axis=1)
    MZK = MZ @ Kmat
    Q1 = MZK @ np.swapaxes(MZ, 1, 2)
    out = MM - k * Q1
    if k >= 2:
        Q2 = MZK @ cp.ZZ @ np.swapaxes(MZK, 1, 2)
        out = out + (k * (k - 1) // 2) * Q2
    if k == 3:
        out = out - MZK @ cp.ZZ @ Kmat @ cp.ZZ @ np.swapaxes(MZK, 1, 2)
    return sym(out) / s2[:, None, None] ** k


def _components(r: int) -> list[np.ndarray]:
    """pbkrtest's covariance components: one symmetric indicator per (co)variance."""
    out = []
    for a in range(r):
        for b in range(a, r):
            E = np.zeros((r, r))
            E[a, b] = E[b, a] = 1.0
            out.append(E)
    return out


def _dense(cp: CrossProducts, blocks: np.ndarray) -> np.ndarray:
    """Assemble per-trial (a+g)×(a+g) blocks into the p×p matrix of all fixed effects
    (estimable ones only), summing the global block over trials."""
    K, a, g = cp.K, cp.a, cp.g
    P = K * a + g
    out = np.zeros((P, P))
    for i in range(K):   # one small block per trial
        sl = slice(i * a, (i + 1) * a)
        out[sl, sl] = blocks[i, :a, :a]
        out[sl, K * a:] = blocks[i, :a, a:]
        out[K * a:, sl] = blocks[i, a:, :a]
    out[K * a:, K * a:] = blocks[:, a:, a:].sum(axis=0)
    keep = np.r_[cp.local_ok.ravel(), np.ones(g, dtype=bool)]
    return out[np.ix_(keep, keep)]


def kenward_roger(cp: CrossProducts, fit: LinearFit) -> tuple[np.ndarray, np.ndarray]:
    """Kenward-Roger standard errors and denominator df of each global coefficient."""
    st = fit.state
    p = cp.a + cp.g
    c = cp.CC.shape[1]
    V1, V2, V3 = (_vpow(cp, st.Kmat, st.s2, k) for k in (1, 2, 3))
    zi = slice(c, c + cp.r)
    H = V1[:, :p, zi]                 # X'V^{-1}Z
    F = V1[:, zi, zi]                 # Z'V^{-1}Z
    comps = _components(cp.r)
    m = len(comps) + 1                # + the residual variance
    # per-trial blocks of X'V^{-1}G_r V^{-1}X and of Q_rs, and the traces
    VGV = [H @ E @ np.swapaxes(H, 1, 2) for E in comps] + [V2[:, :p, :p]]
    ZV2X = V2[:, zi, :p]
    trV2 = float(np.sum((cp.n - 2 * np.einsum("krs,ksr->k", st.Kmat, cp.ZZ)
                         + np.einsum("kab,kbc,kcd,kda->k", st.Kmat, cp.ZZ, st.Kmat, cp.ZZ))
                        / st.s2**2))
    P = [-_dense(cp, b) for b in VGV]
    Q: dict[tuple[int, int], np.ndarray] = {}
    Kt = np.empty((m, m))
    for r_ in range(m):
        for s_ in range(r_, m):
            if r_ < m - 1 and s_ < m - 1:
                blk = H @ comps[r_] @ F @ comps[s_] @ np.swapaxes(H, 1, 2)
                Kt[r_, s_] = np.einsum("ab,kbc,cd,kda->", comps[r_], F, comps[s_], F)
            elif r_ < m - 1:
                blk = H @ comps[r_] @ ZV2X
                Kt[r_, s_] = np.einsum("ab,kba->", comps[r_], V2[:, zi, zi])
            else:
                blk = V3[:, :p, :p]
                Kt[r_, s_] = trV2
            Kt[s_, r_] = Kt[r_, s_]
            Q[r_, s_] = _dense(cp, blk)
            Q[s_, r_] = Q[r_, s_].T
    Phi = _full_inverse(cp, st)
    IE2 = np.empty((m, m))
    for r_ in range(m):
        for s_ in range(r_, m):
            IE2[r_, s_] = IE2[s_, r_] = (Kt[r_, s_] - 2 * np.sum(Phi * Q[r_, s_])
                                         + np.sum((Phi @ P[r_]) * (P[s_] @ Phi)))
    W = 2 * np.linalg.pinv(IE2)
    U = sum(W[r_, s_] * (Q[r_, s_] - P[r_] @ Phi @ P[s_]) for r_ in range(m) for s_ in range(m))
    PhiA = Phi + 2 * Phi @ U @ Phi
    ng = cp.g
    se = np.sqrt(np.diag(PhiA)[-ng:])
    df = np.array([_kr_df(Phi, P, W, Phi.shape[0] - ng + j) for j in range(ng)])
    return se, df


def _full_inverse(cp: CrossProducts, st: State) -> np.ndarray:
    """The dense ``(X'V^{-1}X)^{-1}`` over the estimable fixed effects."""
    ar = st.arrow
    K, a, g = cp.K, cp.a, cp.g
    Ainv = ar.A_inv
    U = np.concatenate([(-ar.AinvB).reshape(K * a, g), np.eye(g)])
    full = U @ ar.inv_WW @ U.T
    for i in range(K):
        sl = slice(i * a, (i + 1) * a)
        full[sl, sl] += Ainv[i]
    keep = np.r_[cp.local_ok.ravel(), np.ones(g, dtype=bool)]
    return sym(full[np.ix_(keep, keep)])


def _kr_df(Phi: np.ndarray, P: list[np.ndarray], W: np.ndarray, j: int) -> float:
    """pbkrtest's ``Lb_ddf`` for the single coefficient ``j`` (q = 1)."""
    Theta = np.zeros_like(Phi)
    Theta[j, j] = 1.0 / Phi[j, j]
    u = [Theta @ Phi @ Pr @ Phi for Pr in P]
    tr = np.array([np.trace(x) for x in u])
    A1 = float(tr @ W @ tr)
    A2 = float(sum(W[i, k] * np.sum(u[i] * u[k].T) for i in range(len(u))
                   for k in range(len(u))))
    B = (A1 + 6 * A2) / 2
    g = (2 * A1 - 5 * A2) / (3 * A2)
    c1 = g / (3 + 2 * (1 - g))
    c2 = (1 - g) / (3 + 2 * (1 - g))
    c3 = (3 - g) / (3 + 2 * (1 - g))
    V0 = 1 + c1 * B
    V0 = 0.0 if abs(V0) < 1e-10 else V0
    V1 = 1 - c2 * B
    V2 = 1 - c3 * B
    num = 1 - A2
    ratio = 1.0 if abs(num) < 1e-14 and abs(V1) < 1e-14 else num / V1
    rho = ratio**2 * V0 / V2
    return float(4 + 3 / (rho - 1))
