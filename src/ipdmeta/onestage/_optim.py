"""Damped Newton maximisation shared by the one-stage families, and profile intervals.

:func:`maximize` climbs a log-likelihood ``fun(x) -> (value, gradient)`` with Newton
steps on a curvature supplied by the family (a dense Hessian from
:func:`numerical_hessian`, or the block-arrow Hessian of a GLMM), Levenberg-Marquardt
damping where the Hessian is not negative definite, and step halving so that every
accepted step increases the likelihood.  It stops when a full undamped Newton step
changes no parameter by more than ``xtol`` (relative), so estimates are accurate to
about the square of the last step.

:func:`profile_interval` inverts a profile log-likelihood: the values of a parameter
where it is ``chi2_1(level)/2`` below its maximum, found by Brent's method.

Example:
    >>> import numpy as np
    >>> def f(x):
    ...     return -float((x[0] - 1) ** 2 + 3 * (x[1] + 2) ** 2), -2 * np.array(
    ...         [x[0] - 1, 3 * (x[1] + 2)])
    >>> opt = maximize(f, np.zeros(2), dense_curvature(lambda x: f(x)[1]))
    >>> np.round(opt.x, 8).tolist(), opt.converged
    ([1.0, -2.0], True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from ipdmeta.onestage._blocks import Arrow

#: sufficient increase of a step: at least this fraction of the linear prediction
ARMIJO = 1e-4

FunGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class Optimum:
    """Where :func:`maximize` stopped."""

    x: np.ndarray
    value: float
    grad: np.ndarray
    iterations: int
    converged: bool
    message: str = ""


class DenseCurvature:
    """Newton systems ``(-H + mu I) s = g`` with a dense Hessian ``H``."""

    def __init__(self, H: np.ndarray) -> None:
        self.N = -0.5 * (H + H.T)
        self.scale = max(1.0, float(np.max(np.abs(np.diag(self.N))))) if H.size else 1.0

    def restrict(self, free: np.ndarray) -> DenseCurvature:
        """The curvature of the free parameters only."""
        out = DenseCurvature(np.zeros((0, 0)))
        out.N = self.N[np.ix_(free, free)]
        out.scale = self.scale
        return out

    def solve(self, g: np.ndarray, mu: float) -> np.ndarray:
        """The damped Newton step; LinAlgError when ``-H + mu I`` is not positive definite."""
        c = np.linalg.cholesky(self.N + mu * np.eye(self.N.shape[0]))
        return np.linalg.solve(c.T, np.linalg.solve(c, g))


class ArrowCurvature:
    """Newton systems with a block-arrow matrix ``-H = [blockdiag(A_i), B; B', D]``
    (the parameters ordered trial by trial, then the global ones)."""

    def __init__(self, A: np.ndarray, B: np.ndarray, D: np.ndarray) -> None:
        self.A, self.B, self.D = A, B, D
        self.scale = max(1.0, float(np.max(np.abs(D.diagonal()))) if D.size else 1.0)

    def solve(self, g: np.ndarray, mu: float) -> np.ndarray:
        """The damped Newton step; LinAlgError when the damped matrix is not positive definite."""
        K, a = self.A.shape[:2]
        arrow = Arrow(self.A + mu * np.eye(a), self.B, self.D + mu * np.eye(self.D.shape[0]))
        xl, xw = arrow.solve(g[:K * a].reshape(K, a), g[K * a:])
        return np.r_[xl.ravel(), xw]


def numerical_hessian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                      step: float = 1e-5) -> np.ndarray:
    """Central differences of an analytic gradient, symmetrised."""
    p = x.size
    H = np.empty((p, p))
    for j in range(p):
        h = step * max(1.0, abs(x[j]))
        e = np.zeros(p)
        e[j] = h
        H[:, j] = (grad(x + e) - grad(x - e)) / (2 * h)
    return 0.5 * (H + H.T)


def dense_curvature(grad: Callable[[np.ndarray], np.ndarray]
                    ) -> Callable[[np.ndarray], DenseCurvature]:
    """A curvature factory for :func:`maximize` from an analytic gradient."""
    return lambda x: DenseCurvature(numerical_hessian(grad, x))


def maximize(fun: FunGrad, x0: np.ndarray,
             curvature: Callable[[np.ndarray], DenseCurvature | ArrowCurvature], *,
             free: np.ndarray | None = None, maxiter: int = 200, xtol: float = 1e-10,
             max_step: float = 2.0) -> Optimum:
    """Damped Newton ascent of ``fun`` from ``x0`` (parameters where ``free`` is False
    stay fixed).  ``curvature(x)`` returns a curvature whose ``solve(g, mu)`` gives the
    step for the free parameters (a dense one is restricted to them here).  ``fun``
    returns ``-inf`` where it is undefined.  A step that would change a parameter by more
    than ``max_step`` × (1 + |value|) is shortened."""
    x = np.asarray(x0, dtype=float).copy()
    free = np.ones(x.size, dtype=bool) if free is None else np.asarray(free, dtype=bool)
    f, g = fun(x)
    if not np.isfinite(f):
        return Optimum(x, f, g, 0, False, "the likelihood is not finite at the start values")
    for it in range(1, maxiter + 1):
        curv = curvature(x)
        if isinstance(curv, DenseCurvature) and not free.all():
            curv = curv.restrict(free)
        gf = g[free]
        mu, step = 0.0, None
        scale = curv.scale
        for _ in range(60):
            try:
                step = curv.solve(gf, mu)
                if np.all(np.isfinite(step)):
                    break
            except np.linalg.LinAlgError:
                pass
            mu = max(4 * mu, 1e-8 * scale)
        if step is None:
            return Optimum(x, f, g, it, False, "no Newton step could be formed")
        big = float(np.max(np.abs(step) / (1.0 + np.abs(x[free])))) if step.size else 0.0
        t, accepted = (1.0 if big <= max_step else max_step / big), False
        slack = 1e-13 * max(1.0, abs(f))
        for _ in range(50):
            xn = x.copy()
            xn[free] += t * step
            fn, gn = fun(xn)
            if np.isfinite(fn) and fn >= f + ARMIJO * t * float(gf @ step) - slack:
                accepted = True
                break
            t /= 2
        if not accepted:
            return Optimum(x, f, g, it, False, "no step increases the likelihood")
        change = np.max(np.abs(t * step) / (1.0 + np.abs(x[free]))) if step.size else 0.0
        gain = fn - f
        x, f, g = xn, fn, gn
        if mu == 0.0 and t == 1.0 and change <= xtol:
            return Optimum(x, f, g, it, True)
        if change <= 1e-15 and abs(gain) <= slack:
            return Optimum(x, f, g, it, mu == 0.0,
                           "" if mu == 0.0 else "stopped where the Hessian is singular")
    return Optimum(x, f, g, maxiter, False, f"no convergence in {maxiter} Newton iterations")


def profile_interval(profile: Callable[[float], float], estimate: float, loglik: float,
                     level: float, *, lower_bound: float = 0.0, scale: float = 1.0
                     ) -> tuple[float, float]:
    """The interval ``{t: 2 (loglik - profile(t)) <= chi2_1(level)}`` around ``estimate``.

    The lower end is ``lower_bound`` when the profile there is still inside; the upper
    end is searched by doubling from ``estimate + scale`` (``inf`` if not found).
    """
    target = loglik - stats.chi2.ppf(level, 1) / 2

    def h(t: float) -> float:
        return profile(t) - target

    if estimate <= lower_bound or h(lower_bound) >= 0:
        low = lower_bound
    else:
        low = optimize.brentq(h, lower_bound, estimate, xtol=1e-10 * max(1.0, estimate))
    hi_try = estimate + max(scale, 1e-8)
    while h(hi_try) > 0:
        hi_try = estimate + 2 * (hi_try - estimate)
        if hi_try > 1e8 * max(1.0, scale):
            return low, float("inf")
    high = optimize.brentq(h, estimate, hi_try, xtol=1e-10 * max(1.0, hi_try))
    return float(low), float(high)
