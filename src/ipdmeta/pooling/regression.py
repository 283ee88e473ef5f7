"""The numbers of one meta-regression fit: :class:`RegFit` and :func:`fit_regression`.

Weighted least squares of the estimates ``y`` (variances ``v``) on a k × p design
``X`` with tau² from any estimator of :mod:`ipdmeta.pooling.tau2`, the
Knapp-Hartung scaling, the omnibus test QM, the residual heterogeneity QE, I², H²
and R² as metafor's ``rma.uni``; :func:`design_matrix` builds ``X`` from a formula.

Example:
    >>> import numpy as np
    >>> from ipdmeta.pooling.options import regression_spec
    >>> X = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 4.0]])
    >>> f = fit_regression(np.array([0.1, 0.5, 0.3, 0.8]),
    ...                    np.array([0.01, 0.02, 0.03, 0.02]), X, regression_spec("DL", "z"))
    >>> round(float(f.beta[1]), 4), f.QE_df
    (0.1992, 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import ConvergenceError, InputError, SpecificationError
from ipdmeta.pooling.heterogeneity import cochran_q, i2_h2
from ipdmeta.pooling.inference import critical_value, hksj_scale, two_sided_p
from ipdmeta.pooling.options import PoolSpec
from ipdmeta.pooling.projection import Projection
from ipdmeta.pooling.tau2 import ESTIMATORS

NAN = float("nan")


@dataclass(frozen=True, eq=False)
class RegFit:
    """The numbers of one fit of ``y`` on ``X`` (metafor's ``rma.uni`` quantities).

    ``vcov`` includes the Knapp-Hartung factor ``s2w`` for ci "hksj"/"hksj-trunc";
    ``df`` is None for z tests, else k − p; ``btt`` indexes the coefficients in the
    omnibus test QM (all but the intercept); QM is F-scaled (divided by their number)
    for t-type tests.
    """

    beta: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: int | None
    tau2: float
    s2w: float
    btt: np.ndarray
    QM: float
    QM_df: tuple[int, int | None]
    QM_pvalue: float
    QE: float
    QE_df: int
    QE_pvalue: float
    I2: float
    H2: float
    typical_variance: float
    iterations: int = 0
    messages: tuple[str, ...] = ()


def default_btt(X: np.ndarray) -> np.ndarray:
    """Coefficients tested by QM: all but an intercept column (all of them if p = 1)."""
    p = X.shape[1]
    is_int = np.all(X == 1.0, axis=0)
    if p > 1 and is_int.any():
        return np.flatnonzero(~is_int)
    return np.arange(p)


def fit_regression(y: np.ndarray, v: np.ndarray, X: np.ndarray, spec: PoolSpec, *,
                   tau2: float | None = None, btt: np.ndarray | None = None) -> RegFit:
    """Fit the meta-regression of ``y`` (variances ``v``) on the k × p design ``X``.

    ``tau2`` fixes tau² instead of estimating it.  Raises ``ConvergenceError`` when
    the tau² estimator does not converge and ``InputError`` when k ≤ p.
    """
    k, p = X.shape
    if k <= p:
        raise InputError(f"{k} studies cannot estimate {p} coefficients and tau²; a "
                         "meta-regression needs more studies than coefficients")
    messages: list[str] = []
    iterations = 0
    if tau2 is not None:
        t = float(tau2)
    elif spec.is_common:
        t = 0.0
    else:
        est = ESTIMATORS[spec.method](y, v, X)
        if not est.converged:
            raise ConvergenceError(est.message or f"{spec.method} did not converge")
        t, iterations = est.tau2, est.iterations
        if est.message:
            messages.append(est.message)
    proj = Projection(1.0 / (v + t), X)
    beta = proj.coef(y)
    s2w = 1.0
    if spec.ci.startswith("hksj"):
        s2w = hksj_scale(y, v, t, X)
        if spec.ci == "hksj-trunc":
            s2w = max(1.0, s2w)
        elif s2w == 0.0:
            messages.append("Knapp-Hartung: the model fits exactly, so the intervals have zero "
                            "width; ci='hksj-trunc' avoids this")
    vcov = s2w * proj.cov
    df = None if spec.ci == "z" else k - p
    se = np.sqrt(np.diag(vcov))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    crit = critical_value(spec.level, df)
    btt = default_btt(X) if btt is None else np.asarray(btt)
    QM, QM_df, QM_p = _omnibus(beta, vcov, btt, df)
    het = cochran_q(y, v, X)
    i2, h2 = i2_h2(t, het, spec.is_common and tau2 is None)
    return RegFit(beta=beta, vcov=vcov, se=se, statistic=stat,
                  pvalue=np.array([two_sided_p(s, df) for s in stat]),
                  ci_low=beta - crit * se, ci_high=beta + crit * se, df=df, tau2=t, s2w=s2w,
                  btt=btt, QM=QM, QM_df=QM_df, QM_pvalue=QM_p, QE=het.Q, QE_df=het.df,
                  QE_pvalue=het.pvalue, I2=i2, H2=h2, typical_variance=het.typical_variance,
                  iterations=iterations, messages=tuple(messages))


def _omnibus(beta: np.ndarray, vcov: np.ndarray, btt: np.ndarray, df: int | None
             ) -> tuple[float, tuple[int, int | None], float]:
    """Wald test of ``beta[btt] = 0``: chi² on m df, or F on (m, df) for t-type tests."""
    m = len(btt)
    b = beta[btt]
    try:
        qm = float(b @ np.linalg.solve(vcov[np.ix_(btt, btt)], b))
    except np.linalg.LinAlgError:
        qm = float("inf")
    if df is None:
        return qm, (m, None), float(stats.chi2.sf(qm, m))
    return qm / m, (m, df), float(stats.f.sf(qm / m, m, df))


def pseudo_r2(y: np.ndarray, v: np.ndarray, X: np.ndarray, spec: PoolSpec, fit: RegFit
              ) -> float:
    """Heterogeneity accounted for, in percent (metafor's R²; NaN without an intercept).

    Random effects: ``max(0, (tau²_RE − tau²_ME)/tau²_RE)`` with tau²_RE from the
    intercept-only model (Raudenbush 2009); 0 when tau²_RE = 0.  Common effect: the
    adjusted R² of the weighted least-squares regression, as metafor.
    """
    k, p = X.shape
    if p == 1 or not np.all(X == 1.0, axis=0).any():
        return NAN
    if spec.is_common:
        if np.var(y) == 0:
            return 0.0
        w = 1.0 / v
        fitted = X @ fit.beta
        mss = float(np.sum(w * (fitted - np.sum(w * fitted) / np.sum(w)) ** 2))
        rss = float(np.sum(w * (y - fitted) ** 2))
        adj = 1 - (1 - mss / (mss + rss)) * (k - 1) / (k - p)
        return max(0.0, 100 * adj)
    est = ESTIMATORS[spec.method](y, v, np.ones((k, 1)))
    if not est.converged:
        return NAN
    if est.tau2 == 0:
        return 0.0
    return max(0.0, 100 * (est.tau2 - fit.tau2) / est.tau2)


def design_matrix(frame: pd.DataFrame, formula: str, intercept: bool = True):
    """Model matrix of the right-hand side of ``formula`` (formulaic), rows with NA dropped.

    Returns the matrix as floats, the column names, the formulaic ``ModelSpec`` (for
    new data) and the positions of the rows kept.
    """
    import formulaic

    rhs = formula.split("~", 1)[1] if "~" in formula else formula
    rhs = rhs.strip() or "1"
    if not intercept:
        rhs = f"{rhs} - 1"
    try:
        mm = formulaic.model_matrix("~ " + rhs, frame.reset_index(drop=True))
    except Exception as err:  # formulaic raises several types for unknown names etc.
        raise SpecificationError(
            f"cannot build the moderators of formula {formula!r}: {err} (columns: "
            f"{', '.join(map(str, frame.columns))})") from err
    X = np.asarray(mm, dtype=float)
    names = [str(c) for c in mm.columns]
    if X.shape[1] == 0:
        raise SpecificationError(f"formula {formula!r} has no terms (and no intercept)")
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        redundant = [names[j] for j in range(1, X.shape[1])
                     if np.linalg.matrix_rank(X[:, : j + 1]) <= np.linalg.matrix_rank(X[:, :j])]
        raise SpecificationError(f"the moderators of {formula!r} are collinear: "
                                 f"{', '.join(redundant)} add(s) nothing to the columns before "
                                 "them; drop or recode them")
    return X, names, mm.model_spec, np.asarray(mm.index, dtype=int)
