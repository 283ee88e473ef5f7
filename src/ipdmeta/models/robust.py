"""Cluster-robust (sandwich) standard errors for the stage-1 fitters.

For a fit with model covariance ``V`` (the inverse information, the *bread*) and
per-participant score contributions ``s_i`` (derivatives of the log-likelihood,
so that ``sum s_i = 0`` at the estimate), the cluster-robust covariance is

    V_CR = c V (sum_g u_g u_g') V,      u_g = sum_{i in cluster g} s_i,

with ``G`` clusters (each participant its own cluster without ``cluster=``: the
heteroskedasticity-robust "sandwich", Stata's ``vce(robust)``).  The factor ``c``
(``adjust=``):

* ``"stata"`` (default): ``G / (G - 1)``, times ``(n - 1) / (n - k)`` for the linear
  model - Stata's ``vce(cluster x)`` / ``vce(robust)`` (``regress``, ``logit``,
  ``poisson``, ``glm``, ``nbreg``, ``ologit``, ``streg``, ``stcox``: the CR1 rule);
  R ``sandwich::vcovCL(type = "HC1")`` for ``lm``, ``vcovCL(type = "HC0")`` (with its
  default ``cadjust = TRUE``) for the other models;
* ``"hc1"``: ``G / (G - 1) (n - 1) / (n - k)`` for every family (``vcovCL(type = "HC1")``);
* ``"none"``: 1 (CR0) - R's ``coxph(..., cluster = x)`` and ``robust = TRUE``, which have
  no small-sample factor.

``k`` is the number of coefficients.  The scores by family (at the estimate):
linear ``x (y - x'b) / sigma^2``; logistic and Poisson ``x (y - mu)``; log- and
identity-binomial ``x (y - p) dmu/deta / (p (1 - p))``; negative binomial
``x theta (y - mu) / (theta + mu)`` (``theta`` held fixed, as ``vcovCL(glm.nb)``);
Weibull and exponential (PH form) the derivatives in ``(b, log p)``; Cox the
score residuals of Lin & Wei (1989) with Efron's or Breslow's ties, as
``residuals(coxph, "score")`` (their cluster sums ``D'D`` give ``coxph``'s robust
variance); ordinal models the derivatives in the slopes and cut-points (as
``sandwich::estfun`` of ``ordinal::clm``).

Example:
    >>> import numpy as np
    >>> from ipdmeta.models import logistic
    >>> y = np.array([0, 1, 0, 1, 1, 0, 1, 1.0])
    >>> X = np.column_stack([np.ones(8), [0, 0, 0, 0, 1, 1, 1, 1.0]])
    >>> f = logistic.fit(y, X, names=("Intercept", "treat"))
    >>> r = robust_fit("logistic", y, X, f, cluster=[1, 1, 2, 2, 3, 3, 4, 4])
    >>> r.extra["vce"], r.extra["clusters"], round(r.se("treat"), 6)
    ('cluster', 4, 1.088662)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit

from ipdmeta.errors import ConvergenceError, InputError
from ipdmeta.models import cox, ordinal
from ipdmeta.models.base import Fit
from ipdmeta.models.binomial_links import _moments

ADJUSTMENTS = ("stata", "hc1", "none")
FAMILIES = ("linear", "logistic", "poisson", "rr", "rd", "negbin", "weibull", "exponential",
            "cox", "ordinal")


def glm_scores(model: str, y: np.ndarray, X: np.ndarray, fit: Fit,
               offset: np.ndarray | None = None) -> np.ndarray:
    """Per-participant score contributions ``(n, k)`` of a GLM-type fit."""
    eta = X @ fit.coef[:X.shape[1]] + (0.0 if offset is None else offset)
    if model == "linear":
        u = (y - eta) / fit.extra["sigma"] ** 2
    elif model == "logistic":
        u = y - expit(eta)
    elif model == "poisson":
        u = y - np.exp(eta)
    elif model in ("rr", "rd"):
        m = _moments("log" if model == "rr" else "identity", eta, y)
        if m is None:
            raise InputError("the fit's fitted risks are outside (0, 1): refit the model")
        u = m[1]
    else:   # negbin
        mu, th = np.exp(eta), fit.extra["theta"]
        u = y - mu if np.isinf(th) else th * (y - mu) / (th + mu)
    return X * u[:, None]


def survival_scores(y: np.ndarray, X: np.ndarray, fit: Fit) -> np.ndarray:
    """Scores of a Weibull / exponential PH fit: ``(b, log p)`` (``b`` only for p = 1)."""
    time, d = y[:, 0], y[:, 1]
    k = X.shape[1]
    weibull = len(fit.coef) == k + 1
    pp = float(np.exp(fit.coef[k])) if weibull else 1.0
    s = pp * np.log(time)
    lam = np.exp(X @ fit.coef[:k] + s)
    out = X * (d - lam)[:, None]
    return np.column_stack([out, d * (1 + s) - lam * s]) if weibull else out


def cox_scores(y: np.ndarray, X: np.ndarray, fit: Fit, *, strata: Any = None,
               ties: str = "efron") -> np.ndarray:
    """Lin-Wei score residuals ``(n, p)`` of a Cox fit, in the rows' original order.

    For participant ``k``: ``sum over event times t_g, Efron terms l of
    (x_k - xbar_gl) (1{k died at t_g} / d_g - w_kl / S0_gl)`` where ``w_kl`` is ``k``'s
    weight in the ``l``-th Efron risk set (``(1 - l / d_g) exp(x_k'b)`` for the deaths
    at ``t_g``, ``exp(x_k'b)`` otherwise).
    """
    time, event, X, _ = cox.survival_inputs(y, X, fit.names)
    P = cox.prepare(time, event, X, cox.stratum_codes(strata, time.size), ties)
    ev = cox.evaluate(P, fit.coef * P.scale)
    if ev is None:
        raise ConvergenceError("the Cox likelihood cannot be evaluated at the estimate, so "
                               "there are no score residuals for a robust variance")
    S1 = ev.S[1:, P.dgrp]
    if ev.D is not None:
        S1 = S1 - P.f * ev.D[1:, P.dgrp]
    inv = 1.0 / ev.s0
    xbar = S1 * inv                                   # (p, E) mean of each Efron term
    A, FA = np.add.reduceat(np.stack([inv, P.f * inv]), P.dstart, axis=1)
    B = np.add.reduceat(xbar * inv, P.dstart, axis=1)
    FB = np.add.reduceat(xbar * (P.f * inv), P.dstart, axis=1)
    M = np.add.reduceat(xbar, P.dstart, axis=1) / P.nd
    XT, w = P.XT, ev.w
    r = -w * (XT * cox.cum_groups(P, A) - cox.cum_groups(P, B))
    dr, dg = P.drow, P.dgrp
    r[:, dr] += XT[:, dr] - M[:, dg] + w[dr] * (XT[:, dr] * FA[dg] - FB[:, dg])
    out = np.empty((time.size, X.shape[1]))
    out[P.order] = (r * P.scale[:, None]).T
    return out


def _codes(cluster: Any, n: int) -> np.ndarray:
    """Integer cluster codes (each participant its own cluster when None)."""
    if cluster is None:
        return np.arange(n)
    c = pd.Series(np.asarray(cluster).reshape(-1) if not isinstance(cluster, pd.Series)
                  else cluster.to_numpy())
    if c.size != n:
        raise InputError(f"cluster has {c.size} values but the study has {n} rows")
    if c.isna().any():
        raise InputError("the cluster column has missing values: give every participant a "
                         "cluster or drop those rows")
    return pd.factorize(c)[0]


def sandwich(bread: np.ndarray, scores: np.ndarray, cluster: Any = None, *, adjust: str = "stata",
             linear: bool = False) -> tuple[np.ndarray, int]:
    """The (cluster-)robust covariance and the number of clusters.

    Example:
        >>> s = np.array([[1.0], [-1.0], [2.0], [-2.0]])
        >>> V, G = sandwich(np.eye(1), s, [0, 0, 1, 1], adjust="none")
        >>> V.tolist(), G
        ([[0.0]], 2)
    """
    if adjust not in ADJUSTMENTS:
        raise InputError(f"adjust={adjust!r} is not known; use one of {', '.join(ADJUSTMENTS)}")
    n, k = scores.shape
    codes = _codes(cluster, n)
    G = int(codes.max()) + 1 if n else 0
    if G < 2:
        raise InputError("cluster-robust standard errors need at least 2 clusters in the "
                         "study")
    U = np.zeros((G, k))
    np.add.at(U, codes, scores)
    c = 1.0
    if adjust != "none":
        c = G / (G - 1)
        if adjust == "hc1" or linear:
            c *= (n - 1) / (n - k)
    V = c * (bread @ (U.T @ U) @ bread)
    return (V + V.T) / 2, G


def robust_fit(model: str, y: np.ndarray, X: np.ndarray, fit: Fit, *, cluster: Any = None,
               adjust: str = "stata",
               offset: np.ndarray | None = None, strata: Any = None, ties: str = "efron") -> Fit:
    """``fit`` with its covariance replaced by the (cluster-)robust one.

    ``extra`` gains ``vce`` ("cluster" or "robust"), ``clusters`` (G), ``adjust`` and
    ``cov_model`` (the model-based covariance).  A failed fit is returned as is.

    Example:
        >>> import numpy as np
        >>> from ipdmeta.models import linear
        >>> X = np.column_stack([np.ones(6), [0, 0, 0, 1, 1, 1.0]])
        >>> y = np.array([1.0, 2, 4, 3, 5, 9])
        >>> r = robust_fit("linear", y, X, linear.fit(y, X, names=("Intercept", "t")))
        >>> r.extra["vce"], round(r.se("t"), 6)   # HC1, as Stata's regress, vce(robust)
        ('robust', 1.972027)
    """
    if model not in FAMILIES:
        raise InputError(f"robust standard errors are not available for model={model!r}; "
                         f"they are for {', '.join(FAMILIES)}")
    if not fit.ok:
        return fit
    y = np.asarray(y, dtype=float)
    X = np.asarray(X, dtype=float)
    if model == "cox":
        S = cox_scores(y, X, fit, strata=strata, ties=ties)
    elif model == "ordinal":
        S = ordinal.scores(y, X, fit)
    elif model in ("weibull", "exponential"):
        if fit.extra.get("scale") != "ph":
            raise InputError("robust standard errors are computed on the PH form: fit with "
                             "scale='ph', then convert")
        S = survival_scores(y, X, fit)
    else:
        S = glm_scores(model, y, X, fit, None if offset is None else np.asarray(offset, float))
    k = S.shape[1]
    V, G = sandwich(fit.cov[:k, :k], S, cluster, adjust=adjust, linear=model == "linear")
    cov = fit.cov.copy()
    cov[:k, :k] = V
    cov[k:, :] = np.nan
    cov[:, k:] = np.nan
    vce = "robust" if cluster is None else "cluster"
    return replace(fit, cov=cov, extra={**fit.extra, "vce": vce, "clusters": G,
                                        "adjust": adjust, "cov_model": fit.cov})

