"""Marginal log-likelihood of a one-stage logistic or Poisson GLMM, and its gradient.

Trial ``i`` has random effects ``b_i = Lambda u_i``, ``u_i ~ N(0, I_r)``; the linear
predictor of participant ``j`` is ``eta_j = o_j + x_j' beta + z_j' Lambda u_i`` (``o`` an
offset).  With ``g_i(u) = sum_j log f(y_j | eta_j(u)) - u'u/2``:

* the conditional mode ``u_i`` maximises ``g_i`` (Newton, vectorised over trials);
* Laplace: ``l_i = g_i(u_i) - 1/2 log|H_i|``, ``H_i = I + Lambda' (sum_j v_j z_j z_j') Lambda``
  (the negative Hessian of ``g_i`` at the mode, exact for the canonical links);
* adaptive Gauss-Hermite with ``Q`` nodes (one random effect): with ``s_i = H_i^{-1/2}``
  and the standard-normal rule ``(z_k, w_k)``,
  ``l_i = log s_i + log sum_k w_k exp(g_i(u_i + s_i z_k) + z_k^2/2)`` (``Q = 1`` is Laplace)
  — lme4's ``glmer(nAGQ = Q)`` and Stata's ``intmethod(mvaghermite)``.

The gradient in ``beta`` and ``Lambda`` is exact: it differentiates through the mode and
the curvature by the implicit function theorem (``du/dgamma = H^{-1} d g'/dgamma``), so it
is the derivative of the approximation that is maximised, as lme4's is.  It is
returned per trial (the local coefficients of trial ``i`` enter ``l_i`` only), which
lets the caller build the block-arrow Hessian from a few gradient evaluations.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(3)
    >>> starts = np.array([0, 40, 80]); x = rng.integers(0, 2, 120).astype(float)
    >>> y = (rng.random(120) < 0.4).astype(float)
    >>> lik = Likelihood("logistic", y, x[:, None], x[:, None], None, starts, nagq=3)
    >>> ev = lik.evaluate(np.zeros(120), np.array([[0.5]]))
    >>> ev.loglik.shape, bool(np.all(np.isfinite(ev.loglik)))
    ((3,), True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

from ipdmeta.onestage._blocks import segment_sums


def _cumulant(family: str, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """``b(eta)``, mean, variance and d variance / d eta of the canonical family (one
    exponential per row)."""
    if family == "logistic":
        e = np.exp(-np.abs(eta))
        inv = 1.0 / (1.0 + e)
        mu = np.where(eta >= 0, inv, e * inv)
        v = e * inv * inv
        return np.maximum(eta, 0.0) + np.log1p(e), mu, v, v * (1 - 2 * mu)
    mu = np.exp(eta)
    return mu, mu, mu, mu


@dataclass(frozen=True)
class ModeState:
    """The conditional modes and the row quantities there."""

    u: np.ndarray           # (K, r)
    eta: np.ndarray         # (n,)
    b: np.ndarray
    mu: np.ndarray
    v: np.ndarray
    dv: np.ndarray
    gval: np.ndarray        # (K,) g_i at the mode
    converged: bool


@dataclass(frozen=True, eq=False)
class Evaluation:
    """The approximation at one ``(eta_fixed, Lambda)``."""

    loglik: np.ndarray      # (K,) per trial
    u: np.ndarray           # (K, r) conditional modes
    H: np.ndarray           # (K, r, r) curvature at the mode
    omega: np.ndarray       # (n,) d l / d eta_fixed per row
    dLam: np.ndarray        # (K, r, r) d l_i / d Lambda per trial
    converged: bool


class Likelihood:
    """The marginal likelihood of a logistic (0/1) or Poisson outcome with random
    effects ``Z`` by trial (rows sorted by trial, ``starts`` the first rows)."""

    def __init__(self, family: str, y: np.ndarray, X: np.ndarray, Z: np.ndarray,
                 offset: np.ndarray | None, starts: np.ndarray, nagq: int = 1) -> None:
        self.family, self.y, self.X, self.Z = family, y, X, Z
        self.offset = np.zeros(y.size) if offset is None else offset
        self.starts = starts
        self.counts = np.diff(np.append(starts, y.size))
        self.trial = np.repeat(np.arange(starts.size), self.counts)
        self.nagq = int(nagq)
        if self.nagq > 1 and Z.shape[1] != 1:
            raise ValueError("adaptive quadrature needs a single random effect")
        z, w = np.polynomial.hermite_e.hermegauss(self.nagq)
        self.nodes, self.logw = z, np.log(w / np.sqrt(2 * np.pi))
        self.const = (segment_sums(-gammaln(y + 1), starts) if family == "poisson"
                      else np.zeros(starts.size))
        self.u = np.zeros((starts.size, Z.shape[1]))   # warm start of the modes

    # ------------------------------------------------------------- conditional modes
    def modes(self, eta0: np.ndarray, Lam: np.ndarray, tol: float = 1e-11,
              maxiter: int = 100) -> ModeState:
        """Conditional modes of every trial by Newton's method (from the last modes); a
        trial whose ``g_i`` would decrease has its step halved.  One pass over the rows
        per iteration."""
        ZL = self.Z @ Lam
        r = Lam.shape[0]
        u = self.u.copy()
        # the last accepted modes, their g_i and the step from them (none before the first)
        g_old: np.ndarray | None = None
        u_old = step = u
        t = np.ones(u.shape[0])
        for _ in range(maxiter + 30):
            eta = eta0 + (ZL[:, 0] * u[self.trial, 0] if r == 1
                          else np.einsum("nr,nr->n", ZL, u[self.trial]))
            b, mu, v, dv = _cumulant(self.family, eta)
            gval = segment_sums(self.y * eta - b, self.starts) - 0.5 * np.sum(u * u, axis=1)
            if g_old is not None:
                bad = ~(gval >= g_old - 1e-12 * np.abs(g_old))
                if bad.any() and np.max(t[bad]) > 1e-9:
                    t = np.where(bad, t / 2, t)
                    u = np.where(bad[:, None], u_old + t[:, None] * step, u)
                    continue
            resid = self.y - mu
            if r == 1:
                grad = segment_sums(ZL[:, 0] * resid, self.starts)[:, None] - u
                new: np.ndarray = grad / (1.0 + segment_sums(ZL[:, 0] ** 2 * v,
                                                             self.starts))[:, None]
            else:
                grad = segment_sums(ZL * resid[:, None], self.starts) - u
                Hm = segment_sums((ZL[:, :, None] * ZL[:, None, :]) * v[:, None, None],
                                  self.starts) + np.eye(r)
                new = np.linalg.solve(Hm, grad[..., None])[..., 0]
            if np.max(np.abs(new)) < tol:
                self.u = u
                return ModeState(u, eta, b, mu, v, dv, gval, True)
            u_old, g_old, step = u, gval, new
            t = np.ones(u.shape[0])
            u = u + step
        self.u = u
        return ModeState(u, eta, b, mu, v, dv, gval, False)

    # ------------------------------------------------------------- likelihood and gradient
    def evaluate(self, eta0: np.ndarray, Lam: np.ndarray) -> Evaluation:
        """Per-trial log-likelihood and its gradient pieces at ``eta0 = offset + X beta``."""
        m = self.modes(eta0, Lam)
        if self.nagq > 1:
            return self._agq(eta0, Lam, m)
        return self._laplace(Lam, m)

    def _laplace(self, Lam: np.ndarray, m: ModeState) -> Evaluation:
        ZL = self.Z @ Lam
        r = Lam.shape[0]
        u, mu, v, dv, ok = m.u, m.mu, m.v, m.dv, m.converged
        A = segment_sums((self.Z[:, :, None] * self.Z[:, None, :]) * v[:, None, None],
                         self.starts)                               # sum v z z'
        H = Lam.T[None] @ A @ Lam[None] + np.eye(r)
        Hinv = np.linalg.inv(H)
        ll = m.gval - 0.5 * np.linalg.slogdet(H)[1] + self.const
        q = np.einsum("nr,nrs,ns->n", ZL, Hinv[self.trial], ZL)     # z' Lam H^-1 Lam' z
        c = -0.5 * segment_sums(ZL * (dv * q)[:, None], self.starts)  # (K, r)
        Hc = np.einsum("krs,ks->kr", Hinv, c)
        s = np.einsum("nr,nr->n", ZL, Hc[self.trial])
        resid = self.y - mu
        omega = resid - 0.5 * dv * q - v * s
        S1 = segment_sums(self.Z * resid[:, None], self.starts)      # sum z (y - mu)
        dLam = (segment_sums(self.Z * omega[:, None], self.starts)[:, :, None] * u[:, None, :]
                - A @ Lam[None] @ Hinv + S1[:, :, None] * Hc[:, None, :])
        return Evaluation(ll, u, H, omega, dLam, ok)

    def _agq(self, eta0: np.ndarray, Lam: np.ndarray, m: ModeState) -> Evaluation:
        lam = float(Lam[0, 0])
        z = self.Z[:, 0]
        tr = self.trial
        u, mu, v, dv, ok = m.u, m.mu, m.v, m.dv, m.converged
        T2 = segment_sums(z * z * v, self.starts)
        T3 = segment_sums(z**3 * dv, self.starts)
        h = 1 + lam * lam * T2
        sd = 1 / np.sqrt(h)
        t = u[:, :1] + sd[:, None] * self.nodes[None, :]               # (K, Q) nodes
        etak = eta0[:, None] + lam * z[:, None] * t[tr]
        bk, muk, _, _ = _cumulant(self.family, etak)
        gk = segment_sums(self.y[:, None] * etak - bk, self.starts) - 0.5 * t * t
        E = self.logw[None, :] + gk + 0.5 * self.nodes[None, :] ** 2
        lse = logsumexp(E, axis=1)
        pi = np.exp(E - lse[:, None])
        ll = np.log(sd) + lse + self.const
        residk = self.y[:, None] - muk
        S1k = segment_sums(z[:, None] * residk, self.starts)           # (K, Q)
        gprime = lam * S1k - t
        rho1 = np.sum(pi * gprime, axis=1)
        rho2 = np.sum(pi * gprime * self.nodes[None, :], axis=1)
        f = 0.5 * (1 + sd * rho2) / h
        e = np.sum(pi[tr] * residk, axis=1)
        zv = z * v
        omega = (e - f[tr] * (lam**2 * z * z * dv - lam**4 * T3[tr] * zv / h[tr])
                 - rho1[tr] * lam * zv / h[tr])
        uu = u[:, 0]
        S1 = segment_sums(z * (self.y - mu), self.starts)
        du = (S1 - lam * uu * T2) / h
        dh = 2 * lam * T2 + lam**2 * uu * T3 + lam**3 * T3 * du
        dlam = -f * dh + np.sum(pi * t * S1k, axis=1) + rho1 * du
        return Evaluation(ll, u, h[:, None, None], omega, dlam[:, None, None], ok)
