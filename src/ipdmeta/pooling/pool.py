"""``pool()``: common-effect and random-effects pooling of study estimates.

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> frame = pd.DataFrame({"study": ["A", "B", "C"], "yi": [0.1, 0.5, 0.3],
    ...                       "vi": [0.01, 0.02, 0.03]})
    >>> m = ipd.pool(frame, estimate="yi", variance="vi", method="DL", ci="hksj")
    >>> round(m.overall.estimate, 4), m.overall.k
    (0.2844, 3)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy import stats

from ipdmeta.errors import ConvergenceError, InputError
from ipdmeta.pooling.heterogeneity import (
    cochran_q,
    i2_h2,
    i2_h2_interval,
    tau2_ci_likelihood,
    tau2_ci_qprofile,
)
from ipdmeta.pooling.inference import (
    CI_METHODS,
    PI_METHODS,
    hksj_scale,
    prediction_interval,
    profile_likelihood_inference,
    wald_inference,
)
from ipdmeta.pooling.input import StudyTable, read_study_table
from ipdmeta.pooling.results import NAN, MetaResult, Pooled, SubgroupResult
from ipdmeta.pooling.tau2 import ESTIMATORS, maximum_likelihood

COMMON_ALIASES = {"COMMON", "FE", "EE", "IV", "CE", "FIXED"}
METHODS = ("common", *ESTIMATORS)


@dataclass(frozen=True)
class PoolSpec:
    """The options of a pooling: tau² method, interval method, level, PI and tau² CI."""

    method: str = "REML"
    ci: str = "z"
    level: float = 0.95
    pi: str = "hts"
    tau2_ci: str = "qp"

    @property
    def is_common(self) -> bool:
        """True for the common-effect (fixed-effect, inverse-variance) model."""
        return self.method == "common"


def normalise_method(method: str) -> str:
    """Canonical method name ("common", "DL", "REML", ...) or a clear error."""
    name = str(method).strip().upper()
    if name in COMMON_ALIASES:
        return "common"
    if name == "RANDOM":
        return "DL"
    if name not in ESTIMATORS:
        raise InputError(f"method={method!r} is not known; use one of {', '.join(METHODS)} "
                         "(or 'FE'/'EE'/'IV' for the common-effect model)")
    return name


def normalise_level(level: float) -> float:
    """Confidence level as a fraction; 95 is read as 0.95."""
    level = float(level)
    if 1 < level < 100:
        level /= 100
    if not 0 < level < 1:
        raise InputError(f"level={level!r} must be between 0 and 1 (e.g. 0.95) or a percent")
    return level


def make_spec(method: str = "REML", ci: str = "z", level: float = 0.95, pi: str = "hts",
              tau2_ci: str = "qp") -> PoolSpec:
    """Validated ``PoolSpec`` from user arguments."""
    ci_name = str(ci).strip().lower().replace("_", "-")
    ci_name = {"knha": "hksj", "kh": "hksj", "adhoc": "hksj-trunc", "wald": "z"}.get(
        ci_name, ci_name)
    if ci_name not in CI_METHODS:
        raise InputError(f"ci={ci!r} is not known; use one of {', '.join(CI_METHODS)}")
    pi_name = str(pi).strip().lower()
    if pi_name not in PI_METHODS:
        raise InputError(f"pi={pi!r} is not known; use one of {', '.join(PI_METHODS)}")
    tau2_ci_name = str(tau2_ci).strip().lower()
    method_name = normalise_method(method)
    if tau2_ci_name not in ("qp", "pl"):
        raise InputError(f"tau2_ci={tau2_ci!r} is not known; use 'qp' or 'pl'")
    if tau2_ci_name == "pl" and method_name not in ("ML", "REML"):
        raise InputError("tau2_ci='pl' (likelihood interval) needs method='ML' or 'REML'")
    return PoolSpec(method_name, ci_name, normalise_level(level), pi_name, tau2_ci_name)


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


def common_spec(spec: PoolSpec) -> PoolSpec:
    """The common-effect companion of ``spec`` (z interval unless t was asked for)."""
    return replace(spec, method="common", ci="t" if spec.ci == "t" else "z", tau2_ci="qp")


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


def pool_table(table: StudyTable, spec: PoolSpec, measure: str | None = None) -> MetaResult:
    """Pool a validated ``StudyTable``; ``pool()`` without the input handling."""
    overall = fit_pooled(table.y, table.v, spec, table.genq_weights)
    common = overall if spec.is_common else fit_pooled(table.y, table.v, common_spec(spec))
    studies = table.study_frame(spec.level)
    studies["weight"] = study_weights(table.v, overall.tau2)
    subgroups = common_subgroups = None
    if table.by is not None:
        subgroups = subgroup_analysis(table, spec)
        common_subgroups = (subgroups if spec.is_common
                            else subgroup_analysis(table, common_spec(spec)))
    return MetaResult(overall=overall, common=common, studies=studies, spec=spec,
                      data=table.data, estimates=table.y, variances=table.v,
                      subgroups=subgroups, common_subgroups=common_subgroups,
                      excluded=table.excluded, measure=measure or table.measure,
                      messages=table.messages + overall.messages)


def pool(data: Any, *, estimate: str | None = None, se: str | None = None,
         variance: str | None = None, study: str | None = None, by: str | None = None,
         method: str = "REML", ci: str = "z", level: float = 0.95, pi: str = "hts",
         tau2_ci: str = "qp", weights: str | None = None,
         measure: str | None = None) -> MetaResult:
    """Pool study estimates: common effect or random effects, with subgroups.

    Args:
        data: a DataFrame with one row per study, or stage 1's ``AggregateData``
            (only rows with ``status == "ok"`` are pooled; the others are listed in
            ``result.excluded``).
        estimate, se, variance, study, by: column names; ``estimate`` and one of
            ``se``/``variance`` are found automatically when named like
            ``estimate``/``yi``/``_ES`` and ``se``/``sei``/``_seES`` or ``vi``.
        method: "common" (aliases "FE", "EE", "IV") or a tau² estimator: "DL",
            "REML" (default, as metafor), "ML", "PM", "PMM", "EB", "HE", "SJ", "HS",
            "GENQ" (weights from the ``weights`` column, default 1/variance).
        ci: "z" (default, as metafor), "t", "hksj", "hksj-trunc" or "pl".
        level: confidence level (0.95 or 95).
        pi: prediction interval: "hts" (t with k − 2 df, Higgins et al. 2009, as
            Stata's metan) or "metafor" (metafor's ``predict()``).
        tau2_ci: "qp" (Q-profile) or "pl" (profile likelihood; ML/REML only).
        measure: the effect measure ("HR", "OR", "RR", "MD", ...), used for display.

    Returns:
        MetaResult.

    Example:
        >>> import pandas as pd, ipdmeta as ipd
        >>> df = pd.DataFrame({"yi": [0.2, 0.4, 0.1, 0.6], "sei": [0.1, 0.2, 0.15, 0.3]})
        >>> round(ipd.pool(df, method="common").overall.estimate, 4)
        0.2277
    """
    spec = make_spec(method, ci, level, pi, tau2_ci)
    table = read_study_table(data, estimate=estimate, se=se, variance=variance, study=study,
                             by=by, weights=weights)
    return pool_table(table, spec, measure)
