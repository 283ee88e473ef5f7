"""The likelihood of selection models and its maximisation (see :mod:`.selection`).

``Likelihood`` evaluates ``Σ [log w(p_i) + log φ(y_i; x_i'β, v_i + tau²) − log A_i]`` for
the step function (A_i in closed form, as metafor) and for the continuous selection
functions, whose A_i are computed by Gauss-Legendre quadrature (16 nodes per panel)
on panels in ``z = y/√v`` — graded towards the points where w is not smooth — plus
exact normal tail probabilities where w is constant; the quadrature error is about
1e-13.  ``maximise`` fits (β, tau², δ) by BFGS with central-difference gradients on
β (columns standardised), log tau² and the logit of δ within its bounds, as metafor's
``selmodel`` parameterises them; ``numerical_hessian`` gives the Hessian on the
natural scale.

Example:
    >>> import numpy as np
    >>> lik = Likelihood("halfnorm", np.array([0.3, 0.1, 0.5]), np.array([0.01, 0.04, 0.09]),
    ...                  np.ones((3, 1)), "greater", np.array([1.0]))
    >>> a = lik.normalisers(np.zeros(3), 0.0, np.array([0.0]))
    >>> np.allclose(a, 1.0)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats

from ipdmeta.errors import ConvergenceError

SELECTION_TYPES = ("stepfun", "beta", "halfnorm", "negexp", "logistic", "power")
ONE_PARAMETER = ("halfnorm", "negexp", "logistic", "power")
ALTERNATIVES = ("greater", "less", "two.sided")
GL_X, GL_W = np.polynomial.legendre.leggauss(16)
Z_MAX = 8.5  # beyond, p is 0 or 1 to double precision for every selection function


@dataclass(frozen=True)
class Family:
    """A selection function: bounds, value of no selection and p-value clamp."""

    n_delta: int
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    null: tuple[float, ...]
    pmin: float


def _family(kind: str, n_steps: int) -> Family:
    if kind == "stepfun":
        return Family(n_steps, (0.0,) * n_steps, (100.0,) * n_steps, (1.0,) * n_steps, 0.0)
    if kind == "beta":
        return Family(2, (1e-5, 1e-5), (100.0, 100.0), (1.0, 1.0), 1e-5)
    return Family(1, (0.0,), (100.0,), (0.0,), 1e-5 if kind == "power" else 0.0)


def one_sided_p(y: np.ndarray, v: np.ndarray, alternative: str) -> np.ndarray:
    """p-values of the studies' z tests of y = 0 (as metafor's selection models)."""
    z = y / np.sqrt(v)
    if alternative == "two.sided":
        return 2 * stats.norm.sf(np.abs(z))
    return stats.norm.cdf(z) if alternative == "less" else stats.norm.sf(z)


def weight(kind: str, p: np.ndarray, delta: np.ndarray, step: float = 0.0) -> np.ndarray:
    """Selection weight w(p; δ) of the continuous families (not the step function)."""
    if kind == "beta":
        return p ** (delta[0] - 1) * (1 - p) ** (delta[1] - 1)
    d = delta[0]
    funcs = {"halfnorm": lambda q: np.exp(-d * q**2), "negexp": lambda q: np.exp(-d * q),
             "logistic": lambda q: 2 * np.exp(-d * q) / (1 + np.exp(-d * q)),
             "power": lambda q: (1 - q) ** d}
    f = funcs[kind]
    return np.where(p <= step, 1.0, f(p) / f(np.float64(step)))


# ---------------------------------------------------------------- normalising constants
def _z_of_p(p: float, alternative: str) -> float:
    """z at which the p-value equals p (|z| for two-sided tests)."""
    if alternative == "two.sided":
        return float(stats.norm.isf(p / 2))
    return float(stats.norm.isf(p) if alternative == "greater" else stats.norm.ppf(p))


def quadrature_grid(alternative: str, pmin: float, step: float) -> tuple[np.ndarray, ...]:
    """Nodes and weights in z where w varies, and the z limits beyond which w is constant.

    Returns (nodes, weights, z_low, z_high, inner) where ``inner`` is the half-width of
    the central interval of a two-sided test on which p is clamped (0 otherwise).
    """
    if alternative == "two.sided":
        top = min(Z_MAX, _z_of_p(pmin, alternative)) if pmin > 0 else Z_MAX
        inner = _z_of_p(1 - pmin, alternative) if pmin > 0 else 0.0
        # with clamped p-values w can be nearly singular next to the clamped centre
        # (beta, power): panels graded geometrically from there; otherwise w has just a
        # kink at z = 0, a panel edge
        graded = inner * 2.0 ** np.arange(0, 60) if inner > 0 else np.zeros(1)
        graded = graded[graded < 0.25]
        right = np.unique(np.concatenate([graded, np.arange(0.25, top, 0.25), [top]]))
        if step > 0:
            right = np.unique(np.concatenate([right, [_z_of_p(step, alternative)]]))
        edges = np.concatenate([-right[::-1], right])
        a, b = edges[:-1], edges[1:]
        keep = ~((a < 0) & (b > 0))  # the central interval where p is clamped
        a, b = a[keep], b[keep]
        lo, hi = -top, top
    else:
        if pmin > 0:
            a, b = sorted((_z_of_p(pmin, alternative), _z_of_p(1 - pmin, alternative)))
            lo, hi = max(a, -Z_MAX), min(b, Z_MAX)
        else:
            lo, hi = -Z_MAX, Z_MAX
        edges = np.unique(np.concatenate([[lo], np.arange(math.ceil(lo * 4) / 4, hi, 0.25),
                                          [hi]]))
        if step > 0:
            zs = _z_of_p(step, alternative)
            if lo < zs < hi:
                edges = np.unique(np.concatenate([edges, [zs]]))
        a, b = edges[:-1], edges[1:]
        inner = 0.0
    half = (b - a) / 2
    nodes = ((a + b) / 2)[:, None] + half[:, None] * GL_X[None, :]
    weights = half[:, None] * GL_W[None, :]
    return nodes.ravel(), weights.ravel(), lo, hi, inner


def _p_of_z(z: np.ndarray, alternative: str, pmin: float) -> np.ndarray:
    p = (2 * stats.norm.sf(np.abs(z)) if alternative == "two.sided"
         else stats.norm.sf(z) if alternative == "greater" else stats.norm.cdf(z))
    return np.clip(p, pmin, 1 - pmin)


class Likelihood:
    """The log-likelihood of a selection model for fixed data; vectorised over studies."""

    def __init__(self, kind: str, y: np.ndarray, v: np.ndarray, X: np.ndarray,
                 alternative: str, steps: np.ndarray) -> None:
        self.kind, self.y, self.v, self.X, self.alt = kind, y, v, X, alternative
        self.steps = steps
        self.family = _family(kind, len(steps))
        pmin = self.family.pmin
        self.p = np.clip(one_sided_p(y, v, alternative), pmin, 1 - pmin)
        if kind == "stepfun":
            self.group = np.searchsorted(steps, self.p, side="left")
            # z cut-points of the intervals (|z| for two-sided), one column per step
            self.cuts = np.array([_z_of_p(s, alternative) for s in steps[:-1]])
        else:
            self.step = float(steps[0]) if len(steps) > 1 else 0.0
            self.nodes, self.qweights, self.zlo, self.zhi, self.inner = quadrature_grid(
                alternative, pmin, self.step)
            self.wnode_p = _p_of_z(self.nodes, alternative, pmin)

    def normalisers(self, mu: np.ndarray, tau2: float, delta: np.ndarray) -> np.ndarray:
        """A_i for every study."""
        s = np.sqrt(self.v + tau2)
        sv = np.sqrt(self.v)
        if self.kind == "stepfun":
            return self._step_normalisers(mu, s, sv, delta)
        w_nodes = weight(self.kind, self.wnode_p, delta, self.step)
        u = (sv[:, None] * self.nodes[None, :] - mu[:, None]) / s[:, None]
        dens = np.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)
        middle = (dens * (w_nodes * self.qweights)[None, :]).sum(axis=1) * sv / s
        pmin = self.family.pmin

        def w_at(z: float) -> float:
            return float(weight(self.kind, _p_of_z(np.array([z]), self.alt, pmin), delta,
                                self.step)[0])

        upper = special.ndtr((mu - self.zhi * sv) / s) * w_at(self.zhi + 1.0)
        lower = special.ndtr((self.zlo * sv - mu) / s) * w_at(self.zlo - 1.0)
        total = middle + upper + lower
        if self.inner > 0:
            centre = (special.ndtr((self.inner * sv - mu) / s)
                      - special.ndtr((-self.inner * sv - mu) / s))
            total = total + centre * w_at(0.0)
        return total

    def _step_normalisers(self, mu, s, sv, delta) -> np.ndarray:
        """Probability of each p-value interval times its δ (metafor's closed form)."""
        cuts = self.cuts[None, :] * sv[:, None]
        if self.alt == "two.sided":
            # P(|y| ≥ c) for the cut-points c (decreasing in the step)
            tail = (stats.norm.sf((cuts - mu[:, None]) / s[:, None])
                    + stats.norm.cdf((-cuts - mu[:, None]) / s[:, None]))
        elif self.alt == "greater":
            tail = stats.norm.sf((cuts - mu[:, None]) / s[:, None])
        else:
            tail = stats.norm.cdf((cuts - mu[:, None]) / s[:, None])
        cum = np.column_stack([tail, np.ones(len(mu))])  # P(p ≤ steps_j)
        probs = np.diff(np.column_stack([np.zeros(len(mu)), cum]), axis=1)
        return probs @ delta

    def loglik(self, beta: np.ndarray, tau2: float, delta: np.ndarray) -> float:
        """The log-likelihood at (β, tau², δ)."""
        if tau2 < 10 * np.finfo(float).eps:
            tau2 = 0.0
        mu = self.X @ beta
        A = self.normalisers(mu, tau2, delta)
        s2 = self.v + tau2
        dens = -0.5 * (np.log(2 * np.pi * s2) + (self.y - mu) ** 2 / s2)
        with np.errstate(divide="ignore", invalid="ignore"):   # a weight of 0: -inf
            if self.kind == "stepfun":
                logw = np.log(delta[self.group])
            else:
                logw = np.log(weight(self.kind, self.p, delta, self.step))
            return float(np.sum(logw + dens - np.log(A)))


# ---------------------------------------------------------------- optimisation helpers
def _second_differences(f, x: np.ndarray, h0: np.ndarray, levels: int) -> np.ndarray:
    """Central second differences with steps h0, h0/2, ... Richardson-extrapolated."""
    n = len(x)
    H = np.empty((n, n))
    fx = f(x)
    for i in range(n):
        for j in range(i, n):
            estimates = []
            for level in range(levels):
                ei, ej = np.zeros(n), np.zeros(n)
                ei[i], ej[j] = h0[i] / 2**level, h0[j] / 2**level
                if i == j:
                    d = (f(x + ei) - 2 * fx + f(x - ei)) / ei[i] ** 2
                else:
                    d = (f(x + ei + ej) - f(x + ei - ej) - f(x - ei + ej) + f(x - ei - ej)) / (
                        4 * ei[i] * ej[j])
                estimates.append(d)
            for m in range(1, levels):  # the error is a series in h², h⁴, ...
                factor = 4.0**m
                estimates = [(factor * estimates[r + 1] - estimates[r]) / (factor - 1)
                             for r in range(len(estimates) - 1)]
            H[i, j] = H[j, i] = estimates[0]
    return H


def numerical_hessian(f, x: np.ndarray, cap: np.ndarray | None = None) -> np.ndarray:
    """Hessian of a smooth function near its minimum, accurate to about 1e-9 relative.

    A first pass with steps of 1e-3 of each parameter gives the curvature; the second
    uses steps of a tenth of the implied standard deviation ``1/sqrt(H_ii)`` (at most
    ``cap``), halved three times and Richardson-extrapolated, which keeps both the
    rounding error of the differences and the truncation error small.
    """
    rough = _second_differences(f, x, 1e-3 * np.maximum(np.abs(x), 1e-2), 2)
    diag = np.diag(rough)
    scale = np.where(diag > 0, 1 / np.sqrt(np.abs(diag)), 1e-3 * np.maximum(np.abs(x), 1e-2))
    h0 = 0.1 * scale
    if cap is not None:
        h0 = np.minimum(h0, cap)
    return _second_differences(f, x, h0, 4)


def _gradient(f, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.empty(len(x))
    for i in range(len(x)):
        e = np.zeros(len(x))
        e[i] = h * max(1.0, abs(x[i]))
        g[i] = (f(x + e) - f(x - e)) / (2 * e[i])
    return g


def _to_unit(x: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return lo + (hi - lo) * special.expit(x)


def _from_unit(d: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.log((d - lo) / (hi - d))


@dataclass(frozen=True)
class SelectionFit:
    """The maximum of the likelihood: coefficients, tau², δ and the log-likelihood."""

    beta: np.ndarray
    tau2: float
    delta: np.ndarray
    loglik: float


def maximise(lik: Likelihood, beta0: np.ndarray, tau2_0: float, delta_fixed: np.ndarray,
              tau2_fixed: float | None) -> SelectionFit:
    """ML fit over β (standardised internally), log tau² and the logit of the free δ."""
    fam = lik.family
    lo, hi = np.array(fam.lower), np.array(fam.upper)
    free = np.isnan(delta_fixed)
    p = len(beta0)
    scale = np.where(np.all(lik.X == 1.0, axis=0), 1.0, np.std(lik.X, axis=0))
    scale[scale == 0] = 1.0
    start_delta = np.where(free, 1.0, delta_fixed)  # metafor's delta.init
    theta0 = [beta0 * scale]
    if tau2_fixed is None:
        theta0.append([math.log(tau2_0 + 0.001)])
    theta0.append(_from_unit(start_delta[free], lo[free], hi[free]))
    theta0 = np.concatenate(theta0)

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        beta = theta[:p] / scale
        j = p
        if tau2_fixed is None:
            tau2 = math.exp(min(theta[j], 700.0))
            j += 1
        else:
            tau2 = tau2_fixed
        delta = delta_fixed.copy()
        delta[free] = _to_unit(theta[j:], lo[free], hi[free])
        return beta, tau2, delta

    def objective(theta: np.ndarray) -> float:
        value = -lik.loglik(*unpack(theta))
        return value if np.isfinite(value) else 1e300

    res = optimize.minimize(objective, theta0, jac=lambda t: _gradient(objective, t),
                            method="BFGS", options={"gtol": 1e-9, "maxiter": 5000})
    theta, current = res.x, res.fun
    for _ in range(20):  # Newton steps to the zero of the gradient (BFGS stops near it)
        try:
            step = np.linalg.solve(numerical_hessian(objective, theta),
                                   _gradient(objective, theta, 1e-5))
        except np.linalg.LinAlgError:
            break
        new = objective(theta - step)
        if not np.all(np.isfinite(step)) or new > current + 1e-12:
            break
        theta, current = theta - step, new
        if np.max(np.abs(step)) < 1e-10:
            break
    if not np.isfinite(current) or current >= 1e299:
        raise ConvergenceError("the selection model could not be fitted (the likelihood is "
                               "not finite at the start values); try another type or steps")
    beta, tau2, delta = unpack(theta)
    if tau2 < 10 * np.finfo(float).eps:
        tau2 = 0.0
    return SelectionFit(beta, tau2, delta, lik.loglik(beta, tau2, delta))
