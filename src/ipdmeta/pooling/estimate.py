"""One pooled estimate: :class:`Pooled` and :func:`fit_pooled`, the core of stage 2.

:func:`fit_pooled` takes estimates ``y``, variances ``v`` and a
:class:`~ipdmeta.pooling.options.PoolSpec` and returns the pooled estimate with its
interval and test, tau² (and its interval), I², H², Q and the prediction interval;
:func:`subgroup_analysis` does so per subgroup and tests the difference.

Example:
    >>> import numpy as np
    >>> from ipdmeta.pooling.options import make_spec
    >>> p = fit_pooled(np.array([0.1, 0.5, 0.3]), np.array([0.01, 0.02, 0.03]),
    ...                make_spec("DL", "hksj"))
    >>> round(p.estimate, 4), p.k, p.model
    (0.2844, 3, 'random')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import ConvergenceError
from ipdmeta.pooling.heterogeneity import (
    cochran_q,
    i2_h2,
    i2_h2_interval,
    tau2_ci_likelihood,
    tau2_ci_qprofile,
)
from ipdmeta.pooling.inference import (
    hksj_scale,
    prediction_interval,
    profile_likelihood_inference,
    wald_inference,
)
from ipdmeta.pooling.input import StudyTable
from ipdmeta.pooling.options import PoolSpec
from ipdmeta.pooling.tau2 import ESTIMATORS, maximum_likelihood

NAN = float("nan")


@dataclass(frozen=True)
class Pooled:
    """One pooled estimate with its interval, test, heterogeneity and prediction interval.

    ``model`` is "common" or "random"; ``method`` the tau² estimator; ``ci_method``
    the interval method.  I² is in percent, as in metafor and Stata.
    """

    model: str
    method: str
    ci_method: str
    level: float
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z_or_t: float
    pvalue: float
    df: float | None
    tau2: float
    tau2_ci: tuple[float, float]
    tau: float
    tau_ci: tuple[float, float]
    I2: float
    I2_ci: tuple[float, float]
    H2: float
    H2_ci: tuple[float, float]
    Q: float
    Q_df: int
    Q_pvalue: float
    pi_low: float
    pi_high: float
    pi_method: str
    iterations: int = 0
    messages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dictionary (tuples kept)."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Pooled result per subgroup and the test of difference between subgroups.

    The test compares the subgroup estimates with Cochran's Q on their standard
    errors (``Q_between`` on G − 1 df), as metan and RevMan do.
    """

    by: str
    pooled: dict[Any, Pooled]
    Q_between: float
    Q_between_df: int
    Q_between_pvalue: float

    @property
    def table(self) -> pd.DataFrame:
        """One row per subgroup: group, k, estimate, se, CI, p, tau², I², Q."""
        rows = [{"group": g, "k": p.k, "estimate": p.estimate, "se": p.se,
                 "ci_low": p.ci_low, "ci_high": p.ci_high, "pvalue": p.pvalue,
                 "tau2": p.tau2, "I2": p.I2, "Q": p.Q, "Q_df": p.Q_df,
                 "Q_pvalue": p.Q_pvalue, "pi_low": p.pi_low, "pi_high": p.pi_high}
                for g, p in self.pooled.items()]
        return pd.DataFrame(rows)


def _nan_pair() -> tuple[float, float]:
    return (NAN, NAN)


def fit_pooled(y: np.ndarray, v: np.ndarray, spec: PoolSpec,
               genq_weights: np.ndarray | None = None) -> Pooled:
    """Pool estimates ``y`` with variances ``v`` under ``spec``; the core of stage 2."""
    k = len(y)
    X = np.ones((k, 1))
    messages: list[str] = []
    ci = spec.ci
    tau2, iterations = 0.0, 0
    if k == 1:
        messages.append("only one study: the pooled result is that study's estimate; "
                        "heterogeneity cannot be estimated")
    elif not spec.is_common:
        est = ESTIMATORS[spec.method](y, v, X, weights=genq_weights)
        if not est.converged:
            raise ConvergenceError(est.message or f"{spec.method} did not converge")
        tau2, iterations = est.tau2, est.iterations
        if est.message:
            messages.append(est.message)
    if k == 1 and ci != "z":
        messages.append(f"ci='{ci}' needs at least 2 studies; the z interval is shown")
        ci = "z"
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    se = float(np.sqrt(1.0 / np.sum(w)))
    het = cochran_q(y, v, X)
    i2, h2 = i2_h2(tau2, het, spec.is_common)

    if ci == "pl":
        mu_ml = mu
        if spec.method != "ML":
            t_ml = maximum_likelihood(y, v, X).tau2
            w_ml = 1.0 / (v + t_ml)
            mu_ml = float(np.sum(w_ml * y) / np.sum(w_ml))
        inf = profile_likelihood_inference(y, v, mu_ml, se, spec.level)
    else:
        scale = hksj_scale(y, v, tau2, X) if ci.startswith("hksj") else 1.0
        inf = wald_inference(mu, se, spec.level, ci, k, scale)
        if ci.startswith("hksj") and k == 2:
            messages.append("HKSJ interval from 2 studies uses t with 1 df: it is very wide "
                            "and unstable; interpret with care")
        if ci == "hksj" and scale == 0.0:
            messages.append("HKSJ: the estimates agree exactly, so the HKSJ interval has zero "
                            "width; ci='hksj-trunc' avoids this")

    tau2_ci, i2_ci, h2_ci = _nan_pair(), _nan_pair(), _nan_pair()
    if not spec.is_common and k >= 2:
        if spec.tau2_ci == "pl":
            tau2_ci = tau2_ci_likelihood(tau2, y, v, X, spec.level, spec.method == "REML")
        else:
            tau2_ci = tau2_ci_qprofile(y, v, X, spec.level)
        i2_ci, h2_ci = i2_h2_interval(tau2_ci, het)

    pi_low = pi_high = NAN
    if not spec.is_common:
        pi_low, pi_high, note = prediction_interval(mu, inf.se, tau2, k, spec.level, spec.pi, ci)
        if note:
            messages.append(note)
    return Pooled(
        model="common" if spec.is_common else "random", method=spec.method, ci_method=ci,
        level=spec.level, k=k, estimate=mu, se=inf.se, ci_low=inf.ci_low, ci_high=inf.ci_high,
        z_or_t=inf.statistic, pvalue=inf.pvalue, df=inf.df, tau2=tau2, tau2_ci=tau2_ci,
        tau=float(np.sqrt(tau2)), tau_ci=tuple(float(np.sqrt(t)) for t in tau2_ci),
        I2=i2, I2_ci=i2_ci, H2=h2, H2_ci=h2_ci, Q=het.Q, Q_df=het.df, Q_pvalue=het.pvalue,
        pi_low=pi_low, pi_high=pi_high, pi_method=spec.pi, iterations=iterations,
        messages=tuple(messages))


def study_weights(v: np.ndarray, tau2: float) -> np.ndarray:
    """Inverse-variance weights in percent."""
    w = 1.0 / (v + tau2)
    return 100 * w / np.sum(w)


def between_subgroups(pooled: dict[Any, Pooled]) -> tuple[float, int, float]:
    """Q test of difference between subgroup estimates (inverse-variance on their se)."""
    est = np.array([p.estimate for p in pooled.values()])
    se = np.array([p.se for p in pooled.values()])
    df = len(est) - 1
    if df < 1:
        return NAN, 0, NAN
    w = 1.0 / se**2
    q = float(np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2))
    return q, df, float(stats.chi2.sf(q, df))


def subgroup_analysis(table: StudyTable, spec: PoolSpec) -> SubgroupResult:
    """Pool each subgroup separately (own tau²) and test the difference between them."""
    pooled = {}
    for group, idx in table.groups().items():
        pooled[group] = fit_pooled(table.y[idx], table.v[idx], spec,
                                   None if table.genq_weights is None
                                   else table.genq_weights[idx])
    q, df, p = between_subgroups(pooled)
    return SubgroupResult(by=table.by_name or "by", pooled=pooled, Q_between=q,
                          Q_between_df=df, Q_between_pvalue=p)
