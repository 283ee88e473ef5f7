"""Between-study variance (tau²) estimators, one function each, all with one signature.

Every estimator is ``estimator(y, v, X, *, weights=None) -> Tau2Estimate`` where
``y`` are the study estimates, ``v`` their sampling variances and ``X`` the
``k × p`` design matrix (a column of ones for plain pooling; moderators for
meta-regression).  Definitions follow metafor's ``rma.uni`` (Viechtbauer 2010) and
the references in ``docs/methods/tau2.md``; iterative estimators converge to
1e-12 in tau² and say when they do not.  Fisher scoring (ML, REML, EB) that cycles
around the maximum instead of converging (one study far more precise than the
others, large k) hands over to a bracketed root search of the score, so the
default converges wherever a maximum exists.

Example:
    >>> import numpy as np
    >>> y = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62])
    >>> v = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.01, 0.22])
    >>> round(dersimonian_laird(y, v, np.ones((7, 1))).tau2, 4)
    0.2066
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from ipdmeta.pooling.projection import Projection

THRESHOLD = 1e-12
MAXITER = 1000
#: plain Fisher-scoring iterations before the bracketed search takes over
FISHER_ITER = 100
#: the type of the ``weights=`` of every estimator (only GENQ uses them)
Weights = np.ndarray | None


@dataclass(frozen=True)
class Tau2Estimate:
    """An estimate of tau² and how it was reached."""

    tau2: float
    converged: bool = True
    iterations: int = 0
    message: str | None = None


def q_generalised(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Generalised Q statistic ``y'P(tau²)y`` with weights ``1/(v + tau²)``."""
    return Projection(1.0 / (v + tau2), X).quad(y)


def solve_q_equation(target: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """The tau² ≥ 0 at which the generalised Q equals ``target`` (0 if Q(0) is below it).

    Q(tau²) decreases monotonically, so the root is unique; it is found by Brent's
    method to machine precision.
    """
    def f(t: float) -> float:
        return q_generalised(t, y, v, X) - target

    if f(0.0) <= 0:
        return 0.0
    upper = max(100.0, 10 * float(np.var(y)))
    while f(upper) > 0:
        upper *= 10
        if upper > 1e12:
            return float("inf")
    return float(optimize.brentq(f, 0.0, upper, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                                 maxiter=500))


def _k_p(X: np.ndarray) -> tuple[int, int]:
    return X.shape[0], X.shape[1]


def dersimonian_laird(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None
                      ) -> Tau2Estimate:
    """DerSimonian & Laird (1986) method-of-moments estimator, truncated at 0."""
    k, p = _k_p(X)
    proj = Projection(1.0 / v, X)
    return Tau2Estimate(max(0.0, (proj.quad(y) - (k - p)) / proj.trace))


def hedges(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None) -> Tau2Estimate:
    """Hedges (1983) / Cochran ANOVA estimator from unweighted residuals, truncated at 0."""
    k, p = _k_p(X)
    proj = Projection(np.ones(k), X)
    return Tau2Estimate(max(0.0, (proj.quad(y) - proj.trace_times(v)) / (k - p)))


def hunter_schmidt(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None
                   ) -> Tau2Estimate:
    """Hunter & Schmidt (2004) estimator ``(Q - k) / sum(w)``, truncated at 0."""
    k, _ = _k_p(X)
    w = 1.0 / v
    return Tau2Estimate(max(0.0, (Projection(w, X).quad(y) - k) / float(np.sum(w))))


def sidik_jonkman(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None
                  ) -> Tau2Estimate:
    """Sidik & Jonkman (2005) estimator, started from the variance of the estimates."""
    k, p = _k_p(X)
    tau2_0 = float(np.var(y))  # var(y) (k-1)/k
    return Tau2Estimate(max(0.0, tau2_0 * q_generalised(tau2_0, y, v, X) / (k - p)))


def generalised_q(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None
                  ) -> Tau2Estimate:
    """DerSimonian & Kacker (2007) generalised method of moments with weights ``weights``.

    The weights default to ``1/v`` (which gives DerSimonian-Laird).
    """
    a = 1.0 / v if weights is None else np.asarray(weights, dtype=float)
    proj = Projection(a, X)
    return Tau2Estimate(max(0.0, (proj.quad(y) - proj.trace_times(v)) / proj.trace))


def paule_mandel(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None
                 ) -> Tau2Estimate:
    """Paule & Mandel (1982): generalised Q equal to its expectation ``k - p``."""
    k, p = _k_p(X)
    return _q_root(k - p, y, v, X, "PM")


def paule_mandel_median(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None
                        ) -> Tau2Estimate:
    """Median-unbiased Paule-Mandel (Viechtbauer 2021): Q equal to the chi² median."""
    k, p = _k_p(X)
    return _q_root(float(stats.chi2.ppf(0.5, k - p)), y, v, X, "PMM")


def _q_root(target: float, y: np.ndarray, v: np.ndarray, X: np.ndarray, name: str
            ) -> Tau2Estimate:
    tau2 = solve_q_equation(target, y, v, X)
    if not np.isfinite(tau2):
        return Tau2Estimate(float("nan"), converged=False,
                            message=f"{name}: no tau² below 1e12 solves the Q equation")
    return Tau2Estimate(tau2)


def _log_lik(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray, reml: bool) -> float:
    """Log-likelihood (ML) or restricted log-likelihood (REML) of the random-effects model."""
    k, p = _k_p(X)
    proj = Projection(1.0 / (v + tau2), X)
    ll = -0.5 * np.sum(np.log(v + tau2)) - 0.5 * proj.quad(y)
    if reml:
        xtx = np.linalg.slogdet(X.T @ X)[1]
        return float(ll - 0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * xtx - 0.5 * proj.logdet_xtwx)
    return float(ll - 0.5 * k * np.log(2 * np.pi))


def log_likelihood(tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray,
                   reml: bool = True) -> float:
    """Restricted (``reml=True``) or full log-likelihood at ``tau2``, as metafor's logLik."""
    return _log_lik(tau2, y, v, X, reml)


def _fisher_scoring(y: np.ndarray, v: np.ndarray, X: np.ndarray,
                    step: Callable[[Projection], float], name: str,
                    ll_check: bool | None, score: Callable[[Projection], float] | None = None
                    ) -> Tau2Estimate:
    """metafor's Fisher scoring for ML/REML/EB, started at the (truncated) Hedges estimate.

    When the plain steps have not converged after ``FISHER_ITER`` iterations (they
    can overshoot and cycle around the maximum when one study is far more precise
    than the others, or settle only to within rounding noise), the root of the
    score -- ``score(projection)``, whose sign is that of the derivative of the
    (restricted) log-likelihood; for EB the Q equation -- is bracketed and found
    by Brent's method (the role of metafor's ``stepadj``).  Only when no bracket
    exists (up to 1e12 times the variance of the estimates) is the estimate
    ``converged=False``, and pooling raises a
    :class:`~ipdmeta.errors.ConvergenceError`.
    """
    tau2 = hedges(y, v, X).tau2
    iterations = 0
    for iterations in range(1, FISHER_ITER + 1):  # noqa: B007 (the count is reported)
        adj = step(Projection(1.0 / (v + tau2), X))
        if not np.isfinite(adj):
            adj = 0.0
        while tau2 + adj < 0:
            adj /= 2
        old, tau2 = tau2, tau2 + adj
        if abs(tau2 - old) < THRESHOLD:
            break
    else:
        found = _bracketed_root(y, v, X, score or step, tau2)
        if found is None:
            return Tau2Estimate(tau2, converged=False, iterations=FISHER_ITER,
                                message=f"{name}: no maximum of the likelihood was found "
                                        "(Fisher scoring did not converge and the score has no "
                                        "root in a bracket up to 1e12 var(y)); try method='PM' "
                                        "or 'DL'")
        tau2, extra = found
        iterations += extra
    tau2 = max(0.0, tau2)
    if ll_check is not None and tau2 > THRESHOLD and (
            _log_lik(0.0, y, v, X, ll_check) - _log_lik(tau2, y, v, X, ll_check) > 1e-12):
        return Tau2Estimate(0.0, iterations=iterations,
                            message=f"{name}: the likelihood is higher at tau² = 0 than at the "
                                    "Fisher-scoring solution (a local maximum); tau² set to 0")
    return Tau2Estimate(tau2, iterations=iterations)


def _bracketed_root(y: np.ndarray, v: np.ndarray, X: np.ndarray,
                    score: Callable[[Projection], float], start: float
                    ) -> tuple[float, int] | None:
    """The tau² >= 0 where ``score`` changes from positive to negative (0 when it is not
    positive at 0), by Brent's method in a bracket grown from ``start``; None when the
    score is not finite or stays positive up to 1e12 times the variance of the
    estimates.  Returns the root and the evaluations used."""
    def f(t: float) -> float:
        return float(score(Projection(1.0 / (v + t), X)))

    at_zero = f(0.0)
    if not np.isfinite(at_zero):
        return None
    if at_zero <= 0:
        return 0.0, 1
    upper = max(2.0 * abs(start), float(np.var(y)), 1e-8)
    evaluations = 2
    while (value := f(upper)) > 0 or not np.isfinite(value):
        upper *= 2
        evaluations += 1
        if upper > 1e12 * max(1.0, float(np.var(y))):
            return None
    root, info = optimize.brentq(f, 0.0, upper, xtol=1e-15, rtol=4 * np.finfo(float).eps,
                                 maxiter=500, full_output=True)
    return float(root), evaluations + info.function_calls


def restricted_ml(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None
                  ) -> Tau2Estimate:
    """Restricted maximum likelihood (Raudenbush 2009), Fisher scoring as metafor."""
    def step(proj: Projection) -> float:
        return (proj.quad2(y) - proj.trace) / proj.trace_sq

    def score(proj: Projection) -> float:   # twice the derivative of the REML log-likelihood
        return proj.quad2(y) - proj.trace
    return _fisher_scoring(y, v, X, step, "REML", ll_check=True, score=score)


def maximum_likelihood(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None
                       ) -> Tau2Estimate:
    """Maximum likelihood (Hardy & Thompson 1996), Fisher scoring as metafor."""
    def step(proj: Projection) -> float:
        return (proj.quad2(y) - np.sum(proj.w)) / np.sum(proj.w**2)

    def score(proj: Projection) -> float:   # twice the derivative of the log-likelihood
        return proj.quad2(y) - float(np.sum(proj.w))
    return _fisher_scoring(y, v, X, step, "ML", ll_check=False, score=score)


def empirical_bayes(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: Weights = None
                    ) -> Tau2Estimate:
    """Empirical Bayes (Morris 1983; Berkey et al. 1995); the same root as Paule-Mandel."""
    k, p = _k_p(X)

    def step(proj: Projection) -> float:
        return (proj.quad(y) * k / (k - p) - k) / np.sum(proj.w)

    def score(proj: Projection) -> float:   # the EB (Paule-Mandel) estimating equation
        return proj.quad(y) - (k - p)
    return _fisher_scoring(y, v, X, step, "EB", ll_check=None, score=score)


ESTIMATORS: dict[str, Callable[..., Tau2Estimate]] = {
    "DL": dersimonian_laird,
    "HE": hedges,
    "HS": hunter_schmidt,
    "SJ": sidik_jonkman,
    "GENQ": generalised_q,
    "PM": paule_mandel,
    "PMM": paule_mandel_median,
    "REML": restricted_ml,
    "ML": maximum_likelihood,
    "EB": empirical_bayes,
}
