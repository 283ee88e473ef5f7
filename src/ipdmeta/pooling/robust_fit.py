"""Maximum-likelihood fitting of the robust random-effects models, batched.

``maximise`` is a damped Newton (Levenberg-Marquardt on the eigenvalues of the
negative Hessian) that runs on a batch of problems at once: B parameter vectors
with their own data rows (bootstrap draws, or several starting values for one data
set).  ``fit_model`` fits one model to B data sets from several starting values each
and keeps the best; ``profile`` maximises with one coefficient held fixed.

Example:
    >>> import numpy as np
    >>> y, v = np.array([[0.1, 0.5, 0.3, 0.9]]), np.array([[0.01, 0.02, 0.03, 0.02]])
    >>> theta, ll, ok = fit_model("normal", y, v, np.ones((4, 1)))
    >>> round(float(theta[0, 0]), 4), bool(ok[0])
    (0.4432, True)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ipdmeta.pooling.robust_lik import mixture_loglik, normal_loglik, t_loglik

LIKELIHOODS: dict[str, Callable] = {"normal": normal_loglik, "t": t_loglik,
                                    "mixture": mixture_loglik}
N_EXTRA = {"normal": 1, "t": 2, "mixture": 3}
CHUNK_CELLS = 2_000_000       # B × k × nodes per likelihood call (memory bound)


def batched_loglik(model: str, theta: np.ndarray, y: np.ndarray, v: np.ndarray,
                   X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The model's log-likelihood, gradient and Hessian, in chunks that fit in memory."""
    fun = LIKELIHOODS[model]
    per_row = y.shape[1] * (700 if model == "t" else 2)
    step = max(1, CHUNK_CELLS // per_row)
    if theta.shape[0] <= step:
        return fun(theta, y, v, X)
    parts = [fun(theta[i:i + step], y[i:i + step], v[i:i + step], X)
             for i in range(0, theta.shape[0], step)]
    ll, grad, hess = (np.concatenate([p[j] for p in parts]) for j in range(3))
    return ll, grad, hess


def maximise(model: str, theta0: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray,
             fixed: np.ndarray | None = None, max_iter: int = 300
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximise the log-likelihood of each row of ``theta0`` (with data rows y, v).

    ``fixed`` is a boolean mask of coordinates held at their starting values.
    Returns the maxima, their log-likelihoods and whether each converged: the
    Newton decrement fell below 1e-20, or an accepted step changed neither the
    parameters (1e-10) nor the log-likelihood (1e-13, relative).  For the t model
    a scale ``t`` that has shrunk below 1e-7·√median(v) is set to exactly 0 when
    that does not lower the likelihood: with heavy tails (ν < 1) the likelihood has
    a cusp at τ = 0 that Newton steps approach only slowly (or step across); a step
    that would take a small ``t`` across 0 is tried at 0 instead.
    """
    theta = np.array(theta0, dtype=float)
    B, P = theta.shape
    p = X.shape[1]
    free = np.ones(P, bool) if fixed is None else ~np.asarray(fixed, bool)
    snap = model == "t" and free[p]
    tiny = 1e-7 * float(np.sqrt(np.median(v)))
    ll, g, H = batched_loglik(model, theta, y, v, X)
    lam = np.zeros(B)
    active = np.isfinite(ll)
    converged = np.zeros(B, bool)
    for _ in range(max_iter):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        A = -H[idx][:, free][:, :, free]
        gf = g[idx][:, free]
        w, Q = np.linalg.eigh(A)
        scale = 1.0 + np.abs(w).max(axis=1, keepdims=True)
        wd = np.maximum(np.abs(w), 1e-10 * scale) + lam[idx, None] * scale
        step = np.einsum("bij,bj,bkj,bk->bi", Q, 1.0 / wd, Q, gf)
        dec = np.einsum("bi,bi->b", gf, step)
        norm = np.abs(step).max(axis=1)
        step *= np.minimum(1.0, 5.0 / np.maximum(norm, 1e-300))[:, None]
        done = (dec < 1e-20) & (lam[idx] == 0)
        converged[idx[done]] = True
        active[idx[done]] = False
        idx, step = idx[~done], step[~done]
        if idx.size == 0:
            break
        trial = theta[idx].copy()
        trial[:, free] += step
        if snap:
            cross = (trial[:, p] * theta[idx, p] <= 0) & (np.abs(theta[idx, p]) < 1e4 * tiny)
            trial[:, p] = np.where(cross | (np.abs(trial[:, p]) < tiny), 0.0, trial[:, p])
        ll_t, g_t, H_t = batched_loglik(model, trial, y[idx], v[idx], X)
        better = np.isfinite(ll_t) & (ll_t >= ll[idx] - 1e-13 * np.abs(ll[idx]))
        up = idx[better]
        still = ((np.abs(step[better]).max(axis=1) < 1e-10 * (1 + np.abs(theta[up]).max(axis=1)))
                 & (np.abs(ll_t[better] - ll[up]) <= 1e-13 * (1 + np.abs(ll[up]))))
        theta[up], ll[up], g[up], H[up] = trial[better], ll_t[better], g_t[better], H_t[better]
        lam[up] = np.where(lam[up] < 1e-8, 0.0, lam[up] / 10)
        converged[up[still]] = True
        active[up[still]] = False
        down = idx[~better]
        lam[down] = np.maximum(10 * lam[down], 1e-6)
        stalled = down[lam[down] > 1e10]
        gsmall = np.abs(g[stalled][:, free]).max(axis=1) < 1e-6 * (1 + np.abs(ll[stalled]))
        converged[stalled] = gsmall
        active[stalled] = False
    return theta, ll, converged


def normal_ml(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ML fit of the normal model to each row of y (B × k): rows (β, τ), log-likelihoods."""
    w = 1.0 / v
    beta = np.linalg.solve(np.einsum("bk,ki,kj->bij", w, X, X),
                           np.einsum("bk,ki,bk->bi", w, X, y)[..., None])[..., 0]
    resid = y - beta @ X.T
    tau2 = np.maximum(0.0, np.mean(resid**2 - v, axis=1)) + 1e-4 * np.var(y, axis=1) + 1e-8
    start = np.column_stack([beta, np.sqrt(tau2)])
    theta, ll, _ = maximise("normal", start, y, v, X)
    return canonical("normal", theta, X.shape[1]), ll


def starts(model: str, y: np.ndarray, v: np.ndarray, X: np.ndarray, base: np.ndarray,
           exhaustive: bool) -> np.ndarray:
    """Starting values (B, S, P) from the normal fit ``base`` (B × (p + 1)).

    t: ν⁻¹ = σ²/2 over a range of tail weights, with τ from the normal fit and a
    tenth of it.  Mixture: as metaplus (τ² halved, τ²_out = max(0.1, 1.5τ²), π = 0.05)
    and the most extreme study alone in the outlier component; with ``exhaustive``
    also each of the 30 most extreme studies alone, and the m most extreme together
    (m = 2 … k/2, at most 16), extremes by standardised residual of the normal fit.
    """
    B, p1 = base.shape
    p = p1 - 1
    beta, tau = base[:, :p], np.abs(base[:, p])
    out = []
    if model == "normal":
        return base[:, None, :]
    if model == "t":
        sigmas = (0.05, 0.3, 0.8, 1.5, 2.2) if exhaustive else (0.05, 1.0)
        taus = (1.0, 0.1) if exhaustive else (1.0,)
        for s in sigmas:
            for f in taus:
                out.append(np.column_stack([beta, np.maximum(tau * f, 1e-3), np.full(B, s)]))
        return np.stack(out, axis=1)
    tau2 = tau**2
    out.append(np.column_stack([beta, np.sqrt(0.5 * tau2) + 1e-4,
                                np.sqrt(np.maximum(0.1, 1.5 * tau2)),
                                np.full(B, np.log(0.05 / 0.95))]))
    k = y.shape[1]
    rows = np.arange(B)
    resid = y - beta @ X.T
    z = np.abs(resid) / np.sqrt(v + tau2[:, None])
    order = np.argsort(-z, axis=1)
    excess = resid**2 - v
    for j in range(min(k, 30) if exhaustive else 1):      # one study in the outlier component
        i = order[:, j]
        t_out = np.sqrt(np.maximum(excess[rows, i], 0.05 * tau2 + 1e-3))
        out.append(np.column_stack([beta, np.sqrt(0.5 * tau2) + 1e-4, t_out,
                                    np.full(B, np.log(1.0 / (k - 1)))]))
    if exhaustive:
        for m in range(2, min((k + 1) // 2, 16) + 1):     # the m most extreme studies
            top = order[:, :m]
            rest = order[:, m:]
            t_out = np.sqrt(np.maximum(np.take_along_axis(excess, top, 1).mean(axis=1),
                                       tau2 + 1e-3))
            t_in = np.sqrt(np.maximum(np.take_along_axis(excess, rest, 1).mean(axis=1), 0.0)
                           ) + 1e-4
            out.append(np.column_stack([beta, t_in, t_out, np.full(B, np.log(m / (k - m)))]))
    return np.stack(out, axis=1)


def canonical(model: str, theta: np.ndarray, p: int) -> np.ndarray:
    """Sign-free parameters; mixture labelled so that the outlier variance is the larger."""
    theta = theta.copy()
    theta[:, p:p + 2] = np.abs(theta[:, p:p + 2])
    if model == "mixture":
        swap = theta[:, p] > theta[:, p + 1]
        theta[swap, p], theta[swap, p + 1] = theta[swap, p + 1], theta[swap, p].copy()
        theta[swap, p + 2] = -theta[swap, p + 2]
    return theta


def fit_model(model: str, y: np.ndarray, v: np.ndarray, X: np.ndarray,
              exhaustive: bool = True, base: np.ndarray | None = None,
              fixed: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``model`` to every row of ``y`` (B × k) from several starts; the best of each.

    ``base`` (optional) are normal-model fits to start from; ``fixed`` holds
    coordinates at the values in ``base``-derived starts (used for profiles).
    Returns parameters (B × P, canonical), log-likelihoods and convergence flags.
    """
    B = y.shape[0]
    p = X.shape[1]
    if base is None:
        base = normal_ml(y, v, X)[0]
    st = starts(model, y, v, X, base, exhaustive)
    S = st.shape[1]
    flat = st.reshape(B * S, -1)
    rep = np.repeat(np.arange(B), S)
    theta, ll, ok = maximise(model, flat, y[rep], v[rep], X, fixed=fixed)
    ll = np.where(np.isfinite(ll), ll, -np.inf).reshape(B, S)
    best = np.argmax(ll, axis=1)
    pick = np.arange(B) * S + best
    return canonical(model, theta[pick], p), ll[np.arange(B), best], ok[pick]


def profile(model: str, j: int, value: float, theta_hat: np.ndarray, y: np.ndarray,
            v: np.ndarray, X: np.ndarray, restarts: bool = False) -> tuple[float, np.ndarray]:
    """Profile log-likelihood with coefficient ``j`` fixed at ``value``.

    Starts from ``theta_hat`` (P,) with coordinate j replaced, and from the same
    point with variance parameters moved off zero (where the likelihood is flat in
    them by symmetry, so Newton steps would not leave); with ``restarts`` also from
    the model's full set of starting values.
    """
    P = theta_hat.size
    p = X.shape[1]
    fixed = np.zeros(P, bool)
    fixed[j] = True
    bumped = theta_hat.copy()
    floor = 0.1 * float(np.sqrt(np.median(v)))
    last = P if model != "mixture" else P - 1
    bumped[p:last] = np.maximum(np.abs(bumped[p:last]), floor)
    if model == "t":
        bumped[p + 1] = max(abs(bumped[p + 1]), 0.5)
    start = np.vstack([theta_hat, bumped])
    if restarts:
        base = np.concatenate([theta_hat[:p], [max(abs(theta_hat[p]), floor)]])[None, :]
        base[0, j] = value
        base, _, _ = maximise("normal", base, y[:1], v[:1], X, fixed=fixed[:p + 1])
        start = np.vstack([start, starts(model, y, v, X, base, exhaustive=True)[0]])
    start[:, j] = value
    rows = np.zeros(start.shape[0], int)
    theta, ll, _ = maximise(model, start, y[rows], v[rows], X, fixed=fixed)
    best = int(np.argmax(np.where(np.isfinite(ll), ll, -np.inf)))
    return float(ll[best]), theta[best]
