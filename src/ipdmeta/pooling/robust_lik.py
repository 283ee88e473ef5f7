"""Log-likelihoods of the robust random-effects models, with analytic derivatives.

Three models for study estimates ``y_i`` with known sampling variances ``v_i`` and
study effects ``θ_i = x_i'β + u_i`` (Beath 2014, 2016; R package metaplus):

* ``normal``: ``u_i ~ N(0, τ²)``.
* ``t``: ``u_i = τ·T_i`` with ``T_i`` Student t on ``ν`` degrees of freedom
  (``vinv = 1/ν ≥ 0``; ``vinv = 0`` is the normal model).  The study likelihood
  is the convolution ``f_i = ∫ φ(y_i − x_i'β − u; v_i) τ⁻¹ t_ν(u/τ) du``.
* ``mixture``: ``u_i ~ (1 − π) N(0, τ²) + π N(0, τ²_out)`` (outlier component).

The t convolution is evaluated through the scale-mixture form of the t
distribution, ``u | λ ~ N(0, τ²/λ)`` with ``λ ~ Gamma(ν/2, rate ν/2)``, so that
``f_i = E_λ[φ(r_i; v_i + τ²/λ)]``.  The integral over ``z = log λ = σx`` with
``σ = (2·vinv)^{1/2}`` is done by the trapezoidal rule on ``x`` over a range where
the integrand exceeds ``e^{-34}`` of its maximum (found from analytic bounds) with a
step that resolves it; for analytic integrands with exponentially decaying tails
the trapezoidal rule converges geometrically, so the relative error is far below
1e-12 (checked against ``scipy.integrate.quad`` of the convolution in the tests).
As ``σ → 0`` the rule turns smoothly into Gauss-Hermite-like nodes of the normal
model, so ``vinv = 0`` is an interior point of the parametrisation.

Parameters are unconstrained: ``τ² = t²``, ``vinv = σ²/2``, ``τ²_out = t_out²`` and
``π = expit(η)``.  Every function works on a batch of B parameter vectors (and B data
sets: bootstrap draws) at once and returns the log-likelihood, its gradient and its
Hessian, shapes (B,), (B, P) and (B, P, P), with ``P = p + 1`` (normal), ``p + 2``
(t) or ``p + 3`` (mixture): first β, then ``t``, then ``σ`` or ``t_out, η``.

Example:
    >>> import numpy as np
    >>> y, v, X = np.array([[0.1, 0.5, 0.3]]), np.array([[0.01, 0.02, 0.03]]), np.ones((3, 1))
    >>> ll, grad, hess = t_loglik(np.array([[0.3, 0.2, 0.0]]), y, v, X)
    >>> bool(np.isclose(ll[0], normal_loglik(np.array([[0.3, 0.2]]), y, v, X)[0][0]))
    True
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import special

LOG_2PI = float(np.log(2 * np.pi))
TAIL = 34.0          # the integrand is cut where it is below e^-TAIL of its maximum
MAX_NODES = 6000
_STIRLING_FROM = 50.0


def _aggregate(logg: np.ndarray, d: np.ndarray, d2: np.ndarray, X: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum over nodes and studies: log-likelihood, gradient and Hessian.

    ``logg`` (B, k, n) is the log-integrand per node (log-weights included), ``d``
    (B, k, n, S) and ``d2`` (B, k, n, S, S) its derivatives along S scalar
    directions of which the first is the linear predictor (expanded by the rows of
    ``X``, k × p); the others are parameters of their own.
    """
    top = logg.max(axis=2, keepdims=True)
    w = np.exp(logg - top)
    tot = w.sum(axis=2)
    ll = np.sum(np.log(tot) + top[..., 0], axis=1)
    pi = (w / tot[..., None])[:, :, None, :]                       # (B, k, 1, n)
    S = d.shape[-1]
    m1 = (pi @ d)[:, :, 0, :]                                      # (B, k, S)
    pd = np.swapaxes(d, 2, 3) * pi                                 # (B, k, S, n)
    e2 = (pi @ d2.reshape((*d2.shape[:3], S * S)))[:, :, 0, :].reshape((*m1.shape, S))
    m2 = e2 + pd @ d - m1[..., :, None] * m1[..., None, :]
    p = X.shape[1]
    B = logg.shape[0]
    grad = np.empty((B, p + S - 1))
    grad[:, :p] = m1[..., 0] @ X
    grad[:, p:] = m1[..., 1:].sum(axis=1)
    hess = np.empty((B, p + S - 1, p + S - 1))
    hess[:, :p, :p] = np.einsum("bk,ki,kj->bij", m2[..., 0, 0], X, X)
    cross = np.einsum("bks,ki->bis", m2[..., 0, 1:], X)
    hess[:, :p, p:] = cross
    hess[:, p:, :p] = np.swapaxes(cross, 1, 2)
    hess[:, p:, p:] = m2[..., 1:, 1:].sum(axis=1)
    return ll, grad, hess


def _normal_parts(r: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, ...]:
    """log φ(r; V) and its derivatives: ∂/∂r̃ = r/V (r̃ the linear predictor), ∂/∂V, ∂²/∂V²."""
    iv = 1.0 / V
    q = r * r * iv
    logphi = -0.5 * (LOG_2PI + np.log(V)) - 0.5 * q
    return logphi, r * iv, 0.5 * iv * (q - 1), iv * iv * (0.5 - q)


def _residuals(theta: np.ndarray, y: np.ndarray, X: np.ndarray) -> np.ndarray:
    return y - theta[:, : X.shape[1]] @ X.T


def normal_loglik(theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normal random-effects log-likelihood; ``theta`` = (β, t) with τ² = t²."""
    p = X.shape[1]
    r = _residuals(theta, y, X)
    t = theta[:, p][:, None]
    V = v + t * t
    logphi, u, a1, a2 = _normal_parts(r, V)
    dV = 2 * t
    d = np.stack([u, a1 * dV], axis=-1)[:, :, None, :]
    d2 = np.empty((*r.shape, 1, 2, 2))
    d2[..., 0, 0, 0] = -1 / V
    d2[..., 0, 0, 1] = d2[..., 0, 1, 0] = -u / V * dV
    d2[..., 0, 1, 1] = a2 * dV * dV + 2 * a1
    return _aggregate(logphi[..., None], d, d2, X)


def mixture_loglik(theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two-component normal mixture; ``theta`` = (β, t, t_out, η), π = expit(η)."""
    p = X.shape[1]
    r = _residuals(theta, y, X)
    eta = theta[:, p + 2][:, None]
    pi = special.expit(eta)
    logw = (-np.logaddexp(0.0, eta), -np.logaddexp(0.0, -eta))   # log(1 - π), log π
    dlogw = (-pi, 1 - pi)
    shape = (*r.shape, 2)
    logg = np.empty(shape)
    d = np.zeros((*shape, 4))
    d2 = np.zeros((*shape, 4, 4))
    for j in (0, 1):
        t = theta[:, p + j][:, None]
        V = v + t * t
        logphi, u, a1, a2 = _normal_parts(r, V)
        dV = 2 * t
        logg[..., j] = logphi + logw[j]
        d[..., j, 0] = u
        d[..., j, 1 + j] = a1 * dV
        d[..., j, 3] = dlogw[j]
        d2[..., j, 0, 0] = -1 / V
        d2[..., j, 0, 1 + j] = d2[..., j, 1 + j, 0] = -u / V * dV
        d2[..., j, 1 + j, 1 + j] = a2 * dV * dV + 2 * a1
        d2[..., j, 3, 3] = -pi * (1 - pi)
    return _aggregate(logg, d, d2, X)


def mixture_posterior(theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray
                      ) -> np.ndarray:
    """Posterior probability that each study belongs to the outlier component, (B, k)."""
    p = X.shape[1]
    r = _residuals(theta, y, X)
    eta = theta[:, p + 2][:, None]
    l0 = _normal_parts(r, v + theta[:, p][:, None] ** 2)[0] - np.logaddexp(0.0, eta)
    l1 = _normal_parts(r, v + theta[:, p + 1][:, None] ** 2)[0] - np.logaddexp(0.0, -eta)
    return special.expit(l1 - l0)


# ---------------------------------------------------------------- t random effects
def _h_series(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """h(u) = (1 + u − eᵘ)/u² and its first two derivatives, by the power series (|u| < 0.5)."""
    h = np.zeros_like(u)
    h1 = np.zeros_like(u)
    h2 = np.zeros_like(u)
    fact = 2.0
    for n in range(0, 22):
        fact *= n + 2 if n else 1.0        # (n + 2)!
        h -= u**n / fact
        if n >= 1:
            h1 -= n * u ** (n - 1) / fact
        if n >= 2:
            h2 -= n * (n - 1) * u ** (n - 2) / fact
    return h, h1, h2


def _h(u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """h(u) = (1 + u − eᵘ)/u², h', h'': the log-weight of the scale mixture is x²·h(σx)."""
    small = np.abs(u) < 0.5
    h, h1, h2 = (np.empty_like(u) for _ in range(3))
    if small.any():
        h[small], h1[small], h2[small] = _h_series(u[small])
    big = ~small
    if big.any():
        ub = u[big]
        em = np.exp(np.minimum(ub, 700.0))
        c = 1 + ub - em
        h[big] = c / ub**2
        h1[big] = (1 - em) / ub**2 - 2 * c / ub**3
        h2[big] = -em / ub**2 - 4 * (1 - em) / ub**3 + 6 * c / ub**4
    return h, h1, h2


def _log_norm_const(sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """K(σ) = log(σ a^a e^{-a} / Γ(a)) with a = σ⁻², and dK/dσ, d²K/dσ².

    K → −½log 2π as σ → 0 (Stirling); the series is used for a ≥ 50 where the
    closed forms cancel.
    """
    s = np.maximum(sigma, 1e-100)
    a = 1.0 / s**2
    big = a >= _STIRLING_FROM
    s2 = np.where(big, sigma, 0.0) ** 2
    k_ser = -0.5 * LOG_2PI - s2 / 12 + s2**3 / 360 - s2**5 / 1260
    dk_ser = np.where(big, sigma, 0.0) * (-1 / 6 + s2**2 / 60 - s2**4 / 126)
    d2k_ser = -1 / 6 + s2**2 / 12 - s2**4 / 14
    ab = np.where(big, 1.0, a)
    k_ex = -0.5 * np.log(ab) + ab * np.log(ab) - ab - special.gammaln(ab)
    dk_da = -0.5 / ab + np.log(ab) - special.digamma(ab)
    d2k_da = 0.5 / ab**2 + 1 / ab - special.polygamma(1, ab)
    sb = np.where(big, 1.0, s)
    dk_ex = dk_da * (-2 / sb**3)
    d2k_ex = d2k_da * 4 / sb**6 + dk_da * 6 / sb**4
    return (np.where(big, k_ser, k_ex), np.where(big, dk_ser, dk_ex),
            np.where(big, d2k_ser, d2k_ex))


def _log_weight(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """x²h(σx) = σ⁻²(1 + σx − e^{σx}) without the series (for the range search only)."""
    u = s * x
    small = np.abs(u) < 1e-4
    big = -(np.expm1(np.minimum(u, 700.0)) - u) / s**2
    return np.where(small, -x * x * (0.5 + u / 6), big)


def _bisect(fun: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray,
            iterations: int = 45) -> np.ndarray:
    """Vectorised bisection for a root of an increasing ``fun`` on [lo, hi]."""
    for _ in range(iterations):
        mid = 0.5 * (lo + hi)
        up = fun(mid) > 0
        hi = np.where(up, mid, hi)
        lo = np.where(up, lo, mid)
    return 0.5 * (lo + hi)


def t_grid(sigma: np.ndarray, t2: np.ndarray, r: np.ndarray, v: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Trapezoid nodes on x (B, n) and steps (B,) covering every study's integrand.

    Bounds (see the module docstring): for x ≤ 0 the log-integrand relative to x = 0
    is at most ``x²h(σx) + min(σx/2 + M1, M2)`` and for x ≥ 0 at most
    ``x²h(σx) + M2`` with ``M1 = ½log((v+τ²)/τ²) + r²/(2(v+τ²))`` and
    ``M2 = ½log((v+τ²)/v) + r²/(2(v+τ²))``.
    """
    vt = v + t2[:, None]
    q = 0.5 * r * r / vt
    m2 = (0.5 * np.log(vt / v) + q).max(axis=1) + TAIL
    m1 = np.where(t2[:, None] > 0, 0.5 * np.log(vt / np.maximum(t2[:, None], 1e-300)) + q,
                  np.inf).max(axis=1) + TAIL
    s = np.maximum(sigma, 1e-12)

    def weight(x: np.ndarray) -> np.ndarray:
        return _log_weight(x, s)

    def left(x: np.ndarray) -> np.ndarray:
        return weight(x) + np.minimum(s * x / 2 + m1, m2)

    reach = np.sqrt(m2 / np.exp(-1.0))
    lo = np.where(s * reach <= 1, -reach, -s * m2 - 1 / s)
    x_lo = _bisect(left, lo, np.zeros_like(s))
    x_lo = np.maximum(x_lo, -650.0 / s)
    x_hi = _bisect(lambda x: -(weight(x) + m2), np.zeros_like(s), np.sqrt(2 * m2))
    curv = (r * r / v).max(axis=1) / 8
    step = np.minimum.reduce([0.2 / s, np.full_like(s, 0.6), 1.0 / (s * np.sqrt(curv + 1e-300))])
    n = int(min(MAX_NODES, max(8, np.ceil(np.max((x_hi - x_lo) / step)) + 1)))
    frac = np.linspace(0.0, 1.0, n)
    x = x_lo[:, None] + (x_hi - x_lo)[:, None] * frac
    return x, (x_hi - x_lo) / (n - 1)


def _t_nodes(theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> dict:
    """Quadrature nodes of the t convolution: residuals, nodes x, e^{-σx}, V and log-integrand."""
    p = X.shape[1]
    r = _residuals(theta, y, X)
    t = theta[:, p]
    sigma = np.abs(theta[:, p + 1])
    x, step = t_grid(sigma, t * t, r, v)
    e = np.exp(-sigma[:, None] * x)                       # (B, n)
    h, h1, h2 = _h(sigma[:, None] * x)
    k0, k1, k2 = _log_norm_const(sigma)
    tt = t[:, None, None]
    V = v[:, :, None] + tt * tt * e[:, None, :]
    rr = r[:, :, None]
    logphi, u, _, _ = _normal_parts(rr, V)
    logg = logphi + (x * x * h + k0[:, None] + np.log(step)[:, None])[:, None, :]
    return {"x": x, "e": e, "h1": h1, "h2": h2, "k1": k1, "k2": k2, "tt": tt, "V": V,
            "rr": rr, "u": u, "logg": logg}


def t_precision(theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Posterior mean precision ``E[1/(v_i + τ²/λ_i) | y_i]`` of each study, (B, k).

    At the maximum likelihood estimate the mean is the weighted mean of the estimates
    with these weights (the score equation), so they are the studies' weights in the t
    model: outlying studies, whose λ_i is small a posteriori, get less.
    """
    nodes = _t_nodes(theta, y, v, X)
    logg = nodes["logg"]
    w = np.exp(logg - logg.max(axis=2, keepdims=True))
    return np.sum(w / nodes["V"], axis=2) / w.sum(axis=2)


def mixture_precision(theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray
                      ) -> np.ndarray:
    """Posterior mean precision ``(1 − p_i)/(v_i + τ²) + p_i/(v_i + τ²_out)``, (B, k)."""
    p = X.shape[1]
    post = mixture_posterior(theta, y, v, X)
    return (1 - post) / (v + theta[:, p][:, None] ** 2) + post / (v + theta[:, p + 1][:, None] ** 2)


def t_loglik(theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """t random-effects log-likelihood; ``theta`` = (β, t, σ): τ² = t², vinv = σ²/2.

    ``y`` and ``v`` are (B, k) (one row per data set), ``X`` is k × p.  The
    likelihood is even in ``t`` and ``σ``.
    """
    p = X.shape[1]
    sign = np.where(theta[:, p + 1] < 0, -1.0, 1.0)
    nd = _t_nodes(theta, y, v, X)
    x, V, rr, u, tt, logg = nd["x"], nd["V"], nd["rr"], nd["u"], nd["tt"], nd["logg"]
    h1, h2, k1, k2 = nd["h1"], nd["h2"], nd["k1"], nd["k2"]
    xb = x[:, None, :]
    eb = nd["e"][:, None, :]
    # derivatives through V = v + t²e^{-σx}, written with the bounded ratios
    # t²e/V ≤ 1 and t·e/V (e/V itself is capped: it only enters where the heavy-tailed
    # integrand has an infinite curvature in t at t = 0)
    ev = np.minimum(eb / V, 1e150)
    te = tt * ev
    t2e = tt * tt * eb / V
    q = rr * u
    wx = (x**3 * h1 + k1[:, None])[:, None, :]
    d = np.empty((*V.shape, 3))
    d[..., 0] = u
    d[..., 1] = (q - 1) * te
    d[..., 2] = -0.5 * (q - 1) * xb * t2e + wx
    d2 = np.empty((*V.shape, 3, 3))
    d2[..., 0, 0] = -1 / V
    d2[..., 0, 1] = d2[..., 1, 0] = -2 * u * te
    d2[..., 0, 2] = d2[..., 2, 0] = u * xb * t2e
    d2[..., 1, 1] = 4 * (0.5 - q) * te * te + (q - 1) * ev
    d2[..., 1, 2] = d2[..., 2, 1] = -2 * (0.5 - q) * xb * te * t2e - (q - 1) * xb * te
    d2[..., 2, 2] = ((0.5 - q) * (xb * t2e) ** 2 + 0.5 * (q - 1) * xb * xb * t2e
                     + (x**4 * h2 + k2[:, None])[:, None, :])
    ll, grad, hess = _aggregate(logg, d, d2, X)
    grad[:, p + 1] *= sign
    hess[:, p + 1, :p + 1] *= sign[:, None]
    hess[:, :p + 1, p + 1] *= sign[:, None]
    return ll, grad, hess
