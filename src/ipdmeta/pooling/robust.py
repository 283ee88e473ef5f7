"""Robust random-effects meta-analysis: t-distributed and normal-mixture random effects.

``fit_robust(y, v, X, model)`` fits, by maximum likelihood, the random-effects model
with normal (``"normal"``), Student-t (``"t"``, degrees of freedom estimated) or
two-component normal-mixture (``"mixture"``, an outlier component with its own
variance and mixing proportion) random effects, as R's metaplus (Beath 2014, 2016).
Intervals and p-values for the coefficients come from the profile likelihood
(Hardy & Thompson 1996), as in metaplus: the set of values whose likelihood-ratio
statistic against the maximum is below the χ²₁ quantile, and the likelihood-ratio
test of zero.  For the mixture, ``outlier_prob`` holds each study's posterior
probability of belonging to the outlier component.  The likelihoods and their
numerical evaluation are described in :mod:`ipdmeta.pooling.robust_lik`; formulas
and references in ``docs/methods/pooling.md``.

Example (the BCG trials with the log risk ratio of trial 7 set to 3, an outlier):
    >>> import numpy as np, ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> y = bcg["yi"].to_numpy().copy(); y[6] = 3.0
    >>> fit = fit_robust(y, bcg["vi"].to_numpy(), model="mixture")
    >>> round(float(fit.coef[0]), 3), round(fit.p_outlier, 3), int(np.argmax(fit.outlier_prob))
    (-0.635, 0.121, 6)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.robust_fit import (
    N_EXTRA,
    batched_loglik,
    fit_model,
    profile,
)
from ipdmeta.pooling.robust_lik import mixture_posterior

ROBUST_MODELS = ("normal", "t", "mixture")
MODEL_ALIASES = {"t": "t", "t-dist": "t", "tdist": "t", "student": "t", "mixture": "mixture",
                 "mix": "mixture", "normal": "normal"}


def normalise_model(model: str) -> str:
    """Canonical robust model name or a clear error."""
    name = MODEL_ALIASES.get(str(model).strip().lower())
    if name is None:
        raise InputError(f"robust model {model!r} is not known; use 't', 'mixture' or 'normal'")
    return name


@dataclass(frozen=True)
class RobustFit:
    """A fitted robust random-effects model (metaplus).

    ``coef`` are the mean (or regression coefficients, named by ``terms``) with
    profile-likelihood intervals and likelihood-ratio p-values; ``se`` is from the
    observed information (for reference only; the interval is the profile one).
    ``tau2`` is the between-study variance of the normal and mixture models and the
    squared scale of the t distribution; ``vinv`` = 1/ν for the t model;
    ``tau2_out`` and ``p_outlier`` describe the outlier component of the mixture.
    """

    model: str
    terms: tuple[str, ...]
    coef: np.ndarray
    se: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    pvalue: np.ndarray
    level: float
    tau2: float
    loglik: float
    k: int
    vinv: float | None = None
    tau2_out: float | None = None
    p_outlier: float | None = None
    outlier_prob: np.ndarray | None = None
    converged: bool = True
    theta: np.ndarray = field(default_factory=lambda: np.empty(0), repr=False)
    vcov: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), repr=False)
    messages: tuple[str, ...] = ()

    @property
    def n_params(self) -> int:
        """Number of estimated parameters (coefficients and variance parameters)."""
        return len(self.coef) + N_EXTRA[self.model]

    @property
    def aic(self) -> float:
        """Akaike's information criterion, ``-2 logLik + 2 n_params`` (as metaplus)."""
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``-2 logLik + log(k) n_params`` (as metaplus)."""
        return -2 * self.loglik + np.log(self.k) * self.n_params

    @property
    def df(self) -> float | None:
        """Degrees of freedom ν = 1/vinv of the t random effect (inf when vinv = 0)."""
        if self.vinv is None:
            return None
        return float("inf") if self.vinv == 0 else 1.0 / self.vinv

    def to_frame(self) -> pd.DataFrame:
        """One row per coefficient: term, estimate, se, ci_low, ci_high, pvalue."""
        return pd.DataFrame({"term": list(self.terms), "estimate": self.coef, "se": self.se,
                             "ci_low": self.ci_low, "ci_high": self.ci_high,
                             "pvalue": self.pvalue})

    def to_dict(self) -> dict[str, Any]:
        """All fields as plain Python objects."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, np.ndarray):
                out[key] = value.tolist()
        out.update(aic=self.aic, bic=self.bic, n_params=self.n_params)
        return out

    def summary(self, digits: int = 4) -> str:
        """A metaplus-style table of estimates, variance parameters and fit statistics."""
        pct = f"{100 * self.level:g}%"
        lines = [f"Robust random-effects model: {self.model} (k = {self.k})",
                 f"{'':>14}{'Est.':>11}{pct + ' ci.lb':>12}{pct + ' ci.ub':>12}{'pvalue':>10}"]
        for i, term in enumerate(self.terms):
            lines.append(f"{term:>14}{self.coef[i]:>11.{digits}f}{self.ci_low[i]:>12.{digits}f}"
                         f"{self.ci_high[i]:>12.{digits}f}{self.pvalue[i]:>10.3g}")
        lines.append(f"{'tau2':>14}{self.tau2:>11.{digits}g}")
        if self.vinv is not None:
            lines.append(f"{'vinv':>14}{self.vinv:>11.{digits}g}")
        if self.tau2_out is not None:
            lines.append(f"{'tau2out':>14}{self.tau2_out:>11.{digits}g}")
            lines.append(f"{'Outlier prob.':>14}{self.p_outlier:>11.{digits}g}")
        lines.append(f"logLik {self.loglik:.6f}   AIC {self.aic:.5f}   BIC {self.bic:.5f}")
        lines.extend(f"Note: {m}" for m in self.messages)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"RobustFit(model={self.model!r}, k={self.k}, estimate={self.coef[0]:.4g}, "
                f"ci=({self.ci_low[0]:.4g}, {self.ci_high[0]:.4g}), loglik={self.loglik:.4f})")


def _check(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> None:
    k, p = X.shape
    if y.shape != (k,) or v.shape != (k,):
        raise InputError("y, v and the rows of X must have the same length")
    if np.any(~np.isfinite(y)) or np.any(~(v > 0)):
        raise InputError("every study needs a finite estimate and a positive variance")
    if k < p + 2:
        raise InputError(f"a robust random-effects model needs at least {p + 2} studies "
                         f"(got k = {k})")


def observed_cov(model: str, theta: np.ndarray, y: np.ndarray, v: np.ndarray, X: np.ndarray
                 ) -> np.ndarray:
    """Covariance of the coefficients from the observed information at the MLE (p × p).

    Variance parameters at the boundary (τ = 0, ν⁻¹ = 0, degenerate mixture) are
    held fixed, as metaplus does.
    """
    p = X.shape[1]
    _, _, H = batched_loglik(model, theta[None, :], y[None, :], v[None, :], X)
    info = -H[0]
    keep = np.ones(theta.size, bool)
    keep[p:] = np.abs(theta[p:]) > 1e-6
    if model == "mixture":
        keep[p + 2] = keep[p + 1] and abs(theta[p + 1] - theta[p]) > 1e-6
    cov = np.linalg.pinv(info[np.ix_(keep, keep)])
    return cov[:p, :p]


class _Profile:
    """Profile log-likelihood of one coefficient, warm-started from the last point."""

    def __init__(self, model: str, j: int, theta: np.ndarray, y: np.ndarray, v: np.ndarray,
                 X: np.ndarray) -> None:
        self.model, self.j, self.theta_hat = model, j, theta
        self.args = (y[None, :], v[None, :], X)
        self.last = theta.copy()

    def __call__(self, value: float, restarts: bool = False) -> float:
        ll, th = profile(self.model, self.j, value, self.last, *self.args, restarts=restarts)
        self.last = th
        return ll


def profile_interval(prof: _Profile, estimate: float, ll_max: float, se: float, level: float
                     ) -> tuple[float, float]:
    """Values where ``2(ll_max − ll_profile) = χ²₁(level)`` on either side of the estimate."""
    crit = float(stats.chi2.ppf(level, 1)) / 2

    def drop(b: float) -> float:
        return ll_max - prof(b) - crit

    step = max(2 * se, 1e-3 * (1 + abs(estimate)))
    bounds = []
    for direction in (-1.0, 1.0):
        prof.last = prof.theta_hat.copy()
        near, far = estimate, estimate + direction * step
        for _ in range(60):
            if drop(far) > 0:
                break
            near, far = far, estimate + 2 * (far - estimate)
        else:
            bounds.append(direction * float("inf"))
            continue
        lo, hi = sorted((near, far))
        bounds.append(float(optimize.brentq(drop, lo, hi, xtol=1e-11, rtol=1e-13)))
    return bounds[0], bounds[1]


def fit_robust(y: Any, v: Any, X: np.ndarray | None = None, model: str = "t",
               level: float = 0.95, terms: tuple[str, ...] | None = None,
               intervals: bool = True) -> RobustFit:
    """Fit a robust random-effects model by maximum likelihood (as R's metaplus).

    Args:
        y, v: study estimates and sampling variances.
        X: k × p design (default: a column of ones, the overall mean).
        model: "t" (t-distributed random effects), "mixture" (normal mixture with
            an outlier component) or "normal".
        level: level of the profile-likelihood intervals.
        terms: coefficient names (default "mu" or "x0", "x1", ...).
        intervals: compute profile intervals and likelihood-ratio p-values.

    Returns:
        RobustFit.
    """
    model = normalise_model(model)
    y = np.asarray(y, dtype=float)
    v = np.asarray(v, dtype=float)
    X = np.ones((y.size, 1)) if X is None else np.asarray(X, dtype=float)
    _check(y, v, X)
    k, p = X.shape
    if terms is None:
        terms = ("mu",) if p == 1 else tuple(f"x{i}" for i in range(p))
    theta, ll, ok = fit_model(model, y[None, :], v[None, :], X)
    theta, ll_max = theta[0], float(ll[0])
    messages: list[str] = []
    if not ok[0]:
        messages.append("the likelihood maximisation did not fully converge; check the fit")
    cov = observed_cov(model, theta, y, v, X)
    se = np.sqrt(np.maximum(np.diag(cov), 0.0))
    nan = np.full(p, np.nan)
    lo, hi, pv = nan.copy(), nan.copy(), nan.copy()
    if intervals:
        for j in range(p):
            prof = _Profile(model, j, theta, y, v, X)
            lo[j], hi[j] = profile_interval(prof, theta[j], ll_max, se[j], level)
            ll0 = prof(0.0, restarts=True)
            lr = max(0.0, 2 * (ll_max - ll0))
            pv[j] = float(stats.chi2.sf(lr, 1))
    tau2 = float(theta[p] ** 2)
    extra: dict[str, Any] = {}
    if model == "t":
        vinv = float(theta[p + 1] ** 2 / 2)
        if vinv < 1e-12:
            vinv = 0.0
        if tau2 < 1e-12:
            vinv = 0.0
            messages.append("tau² is 0: the t model reduces to the common-effect model and "
                            "its degrees of freedom are not identified (vinv set to 0)")
        extra["vinv"] = vinv
    elif model == "mixture":
        extra["tau2_out"] = float(theta[p + 1] ** 2)
        extra["p_outlier"] = float(1 / (1 + np.exp(-theta[p + 2])))
        extra["outlier_prob"] = mixture_posterior(theta[None, :], y[None, :], v[None, :], X)[0]
        if abs(extra["tau2_out"] - tau2) < 1e-8 * (1 + tau2):
            messages.append("the two mixture components have the same variance: no outlier "
                            "component is identified (the fit equals the normal model)")
    return RobustFit(model=model, terms=tuple(terms), coef=theta[:p].copy(), se=se, ci_low=lo,
                     ci_high=hi, pvalue=pv, level=level, tau2=tau2, loglik=ll_max, k=k,
                     converged=bool(ok[0]), theta=theta, vcov=cov, messages=tuple(messages),
                     **extra)
