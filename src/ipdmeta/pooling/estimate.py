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

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import ConvergenceError
from ipdmeta.pooling.alternative import AlternativeFit, fit_alternative
from ipdmeta.pooling.corrections import kenward_roger
from ipdmeta.pooling.heterogeneity import (
    CochranQ,
    cochran_q,
    i2_h2,
    i2_h2_interval,
    i2_h2_q,
    tau2_ci_likelihood,
    tau2_ci_qprofile,
)
from ipdmeta.pooling.inference import (
    Inference,
    hksj_scale,
    prediction_interval,
    two_sided_p,
    wald_bounds,
    wald_inference,
)
from ipdmeta.pooling.input import StudyTable
from ipdmeta.pooling.options import PoolSpec
from ipdmeta.pooling.profile_corrections import profile_inference
from ipdmeta.pooling.tau2_extra import estimator_for

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

    def summary(self) -> str:
        """The estimate, its interval and test, and the heterogeneity, in one line."""
        stat = "z" if self.df is None else f"t({self.df:g})"
        tau = f", tau² {self.tau2:.4g}" if self.model == "random" else ""
        return (f"{self.model} effect ({self.method}, {self.ci_method}): {self.estimate:.4g} "
                f"[{self.ci_low:.4g}, {self.ci_high:.4g}], {stat} = {self.z_or_t:.3g}, "
                f"p = {self.pvalue:.3g}; k = {self.k}, I² {self.I2:.1f}%{tau}")

    def __repr__(self) -> str:
        return f"Pooled({self.summary()})"


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

    def summary(self) -> str:
        """One line per subgroup and the test of difference."""
        lines = [f"  {self.by} = {g}: {p.summary()}" for g, p in self.pooled.items()]
        return "\n".join([f"Subgroups by {self.by}", *lines,
                          f"  Test of subgroup differences: Q = {self.Q_between:.3f} on "
                          f"{self.Q_between_df} df, p = {self.Q_between_pvalue:.4g}"])

    def __repr__(self) -> str:
        return (f"SubgroupResult(by={self.by!r}, groups={list(self.pooled)!r}, "
                f"Q_between={self.Q_between:.4g}, p={self.Q_between_pvalue:.4g})")

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


def _profile(y: np.ndarray, v: np.ndarray, se: float, level: float, ci: str) -> Inference:
    """Profile-likelihood interval (plain, Bartlett or Skovgaard) as an ``Inference``.

    The statistic is the signed root of the (corrected) likelihood ratio, or
    Skovgaard's r*; ``se`` is that of the chosen method, reported alongside.
    """
    correction = "pl" if ci == "pl" else ci.split("-")[1]
    res = profile_inference(y, v, level, correction)
    stat = (res.statistic if correction == "skovgaard"
            else float(np.sign(res.estimate) * np.sqrt(res.statistic)))
    return Inference(se, res.ci_low, res.ci_high, stat, res.pvalue, None)


def _kenward_roger(y: np.ndarray, v: np.ndarray, mu: float, tau2: float, level: float,
                   observed: bool) -> Inference:
    se, df = kenward_roger(v, tau2, y, observed)
    lo, hi = wald_bounds(mu, se, level, df)
    return Inference(se, lo, hi, mu / se, two_sided_p(mu / se, df), df)


def _heterogeneity(het: CochranQ, v: np.ndarray, tau2: float, tau2_ci: tuple[float, float],
                   spec: PoolSpec, common: bool) -> tuple[float, tuple, float, tuple]:
    """I², its interval, H², its interval: from tau² (metafor) or from Q (``I2="q"``, metan)."""
    if spec.I2 == "q":
        i2, h2, i2_ci, h2_ci = i2_h2_q(het, v, spec.level, common)
        return i2, i2_ci, h2, h2_ci
    i2, h2 = i2_h2(tau2, het, common)
    i2_ci, h2_ci = _nan_pair(), _nan_pair()
    if not common and het.df >= 1:
        i2_ci, h2_ci = i2_h2_interval(tau2_ci, het)
    return i2, i2_ci, h2, h2_ci


def _pooled_alternative(y: np.ndarray, v: np.ndarray, spec: PoolSpec, alt: AlternativeFit
                        ) -> Pooled:
    """``Pooled`` from an alternative model's fit (see :mod:`ipdmeta.pooling.alternative`)."""
    k = len(y)
    het = cochran_q(y, v, np.ones((k, 1)))
    robust = spec.method in ("t", "mixture") and spec.ci != "hc"
    i2, i2_ci, h2, h2_ci = _heterogeneity(het, v, alt.tau2, alt.tau2_ci, spec,
                                          common=alt.model == "common" or robust)
    messages = list(alt.messages)
    pi_low = pi_high = NAN
    if robust:
        messages.append(f"no prediction interval for the {spec.method} random-effects model "
                        "(its random effects are not normal)")
    elif alt.model == "random":
        pi_low, pi_high, note = prediction_interval(alt.estimate, alt.se, alt.tau2, k,
                                                    spec.prediction_level, spec.pi, alt.ci_method)
        if note:
            messages.append(note)
    return Pooled(
        model=alt.model, method=alt.method, ci_method=alt.ci_method, level=spec.level, k=k,
        estimate=alt.estimate, se=alt.se, ci_low=alt.ci_low, ci_high=alt.ci_high,
        z_or_t=alt.statistic, pvalue=alt.pvalue, df=alt.df, tau2=alt.tau2,
        tau2_ci=alt.tau2_ci, tau=float(np.sqrt(alt.tau2)),
        tau_ci=(float(np.sqrt(alt.tau2_ci[0])), float(np.sqrt(alt.tau2_ci[1]))), I2=i2,
        I2_ci=i2_ci, H2=h2,
        H2_ci=h2_ci, Q=het.Q, Q_df=het.df, Q_pvalue=het.pvalue, pi_low=pi_low,
        pi_high=pi_high, pi_method=spec.pi, messages=tuple(messages))


def fit_pooled(y: np.ndarray, v: np.ndarray, spec: PoolSpec,
               genq_weights: np.ndarray | None = None, n: np.ndarray | None = None,
               alt: AlternativeFit | None = None) -> Pooled:
    """Pool estimates ``y`` with variances ``v`` under ``spec``; the core of stage 2.

    ``n`` are the study sizes (Rukhin's B0 estimator); ``alt`` an existing fit of
    ``spec``'s alternative model to these data.
    """
    k = len(y)
    X = np.ones((k, 1))
    if spec.is_alternative and k > 1:
        return _pooled_alternative(y, v, spec, alt or fit_alternative(y, v, spec))
    messages: list[str] = []
    ci = spec.ci
    tau2, iterations, boot_ci = 0.0, 0, None
    if k == 1:
        messages.append("only one study: the pooled result is that study's estimate; "
                        "heterogeneity cannot be estimated")
    elif not spec.is_common:
        estimator = estimator_for(spec.method, n, spec.reps, spec.seed, spec.level)
        est = estimator(y, v, X, weights=genq_weights)
        if not est.converged:
            raise ConvergenceError(est.message or f"{spec.method} did not converge")
        tau2, iterations = est.tau2, est.iterations
        boot_ci = getattr(est, "ci", None)
        if est.message:
            messages.append(est.message)
    if k == 1 and ci != "z":
        messages.append(f"ci='{ci}' needs at least 2 studies; the z interval is shown")
        ci = "z"
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    se = float(np.sqrt(1.0 / np.sum(w)))
    het = cochran_q(y, v, X)

    if ci.startswith("pl"):
        inf = _profile(y, v, se, spec.level, ci)
    elif ci in ("kr", "kr-oim"):
        inf = _kenward_roger(y, v, mu, tau2, spec.level, ci == "kr-oim")
        if spec.method != "REML":
            messages.append(f"the Kenward-Roger correction is derived for REML; here it is "
                            f"applied with tau² from {spec.method}")
    else:
        scale = hksj_scale(y, v, tau2, X) if ci.startswith("hksj") else 1.0
        inf = wald_inference(mu, se, spec.level, ci, k, scale)
        if ci.startswith("hksj") and k == 2:
            messages.append("HKSJ interval from 2 studies uses t with 1 df: it is very wide "
                            "and unstable; interpret with care")
        if ci == "hksj" and scale == 0.0:
            messages.append("HKSJ: the estimates agree exactly, so the HKSJ interval has zero "
                            "width; ci='hksj-trunc' avoids this")

    tau2_ci = _nan_pair()
    if boot_ci is not None:
        tau2_ci = boot_ci
    elif not spec.is_common and k >= 2:
        if spec.tau2_ci == "pl":
            tau2_ci = tau2_ci_likelihood(tau2, y, v, X, spec.level, spec.method == "REML")
        else:
            tau2_ci = tau2_ci_qprofile(y, v, X, spec.level)
    i2, i2_ci, h2, h2_ci = _heterogeneity(het, v, tau2, tau2_ci, spec, spec.is_common)

    pi_low = pi_high = NAN
    if not spec.is_common:
        kr = kenward_roger(v, tau2) if spec.pi == "kr" else None
        pi_low, pi_high, note = prediction_interval(mu, inf.se, tau2, k, spec.prediction_level,
                                                    spec.pi, ci, kr)
        if note:
            messages.append(note)
    return Pooled(
        model="common" if spec.is_common else "random", method=spec.method, ci_method=ci,
        level=spec.level, k=k, estimate=mu, se=inf.se, ci_low=inf.ci_low, ci_high=inf.ci_high,
        z_or_t=inf.statistic, pvalue=inf.pvalue, df=inf.df, tau2=tau2, tau2_ci=tau2_ci,
        tau=float(np.sqrt(tau2)), tau_ci=(float(np.sqrt(tau2_ci[0])), float(np.sqrt(tau2_ci[1]))),
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


def subgroup_analysis(table: StudyTable, spec: PoolSpec,
                      fit: Callable[[np.ndarray, PoolSpec], Pooled] | None = None
                      ) -> SubgroupResult:
    """Pool each subgroup separately (own tau²) and test the difference between them.

    ``fit(idx, spec)`` pools the rows ``idx`` (default: :func:`fit_pooled` with the
    table's GENQ weights); user-weighted pooling passes its own.
    """
    pooled = {}
    for group, idx in table.groups().items():
        pooled[group] = (fit(idx, spec) if fit is not None else
                         fit_pooled(table.y[idx], table.v[idx], spec,
                                    None if table.genq_weights is None
                                    else table.genq_weights[idx],
                                    None if table.n is None else table.n[idx]))
    q, df, p = between_subgroups(pooled)
    return SubgroupResult(by=table.by_name or "by", pooled=pooled, Q_between=q,
                          Q_between_df=df, Q_between_pvalue=p)
