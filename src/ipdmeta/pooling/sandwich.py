"""Cluster-robust (sandwich) variance of pooled estimates and meta-regression coefficients.

As metafor's ``robust()`` without clubSandwich (Hedges, Tipton & Johnson 2010; Sidik &
Jonkman 2006): with ``W = diag(1/(v + τ̂²))``, the bread ``B = (X'WX)⁻¹X'W`` and the
residuals ``e = y − Xβ̂``, ``V_R = Σ_c B_c e_c e_c' B_c'`` summed over clusters c (each
study its own cluster by default).  ``adjust=True`` multiplies by ``n/(n − p)`` (n
clusters, p coefficients; "CR1"), ``adjust=False`` gives "CR0".  Tests and intervals
use t with ``n − p`` degrees of freedom, and the omnibus test of the moderators is
``QM = β'V_R⁻¹β/m`` on F(m, n − p).

Example:
    >>> import numpy as np, ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> y, v = bcg["yi"].to_numpy(), bcg["vi"].to_numpy()
    >>> w = 1 / (v + 0.3132); beta = np.array([np.sum(w * y) / w.sum()])
    >>> rv = robust_variance(y, v, np.ones((13, 1)), 0.3132, beta)
    >>> round(float(rv.se[0]), 4), rv.df
    (0.1792, 12)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.inference import critical_value


@dataclass(frozen=True)
class RobustVariance:
    """Sandwich variance, t tests and intervals of the coefficients (metafor ``robust()``)."""

    terms: tuple[str, ...]
    coef: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: int
    n_clusters: int
    adjust: bool
    QM: float
    QM_df: tuple[int, int]
    QM_pvalue: float

    def to_frame(self) -> pd.DataFrame:
        """One row per coefficient: term, estimate, se, t, pvalue, ci_low, ci_high."""
        return pd.DataFrame({"term": list(self.terms), "estimate": self.coef, "se": self.se,
                             "t": self.statistic, "pvalue": self.pvalue,
                             "ci_low": self.ci_low, "ci_high": self.ci_high})

    def to_dict(self) -> dict[str, Any]:
        """Coefficient table and tests as plain Python objects."""
        return {"coef": self.to_frame().to_dict(orient="records"), "df": self.df,
                "n_clusters": self.n_clusters, "adjust": self.adjust, "QM": self.QM,
                "QM_df": list(self.QM_df), "QM_pvalue": self.QM_pvalue}

    def summary(self, digits: int = 4) -> str:
        """The coefficient table with the variance estimator and degrees of freedom."""
        kind = "CR1 (adjusted)" if self.adjust else "CR0"
        head = (f"Cluster-robust variance ({kind}), {self.n_clusters} clusters, "
                f"t with {self.df} df")
        return head + "\n" + self.to_frame().to_string(index=False, float_format=(
            lambda x: f"{x:.{digits}g}"))

    def __repr__(self) -> str:
        return (f"RobustVariance(n_clusters={self.n_clusters}, df={self.df}, "
                f"se={np.array2string(self.se, precision=4)})")


def robust_variance(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float,
                    beta: np.ndarray, cluster: Any = None, adjust: bool = True,
                    level: float = 0.95, btt: np.ndarray | None = None,
                    terms: tuple[str, ...] | None = None) -> RobustVariance:
    """Sandwich variance of ``beta`` (the WLS fit of y on X with weights 1/(v + tau2)).

    ``cluster`` gives each study's cluster (default: every study alone); ``btt``
    indexes the coefficients tested by QM (default: all but an intercept).
    """
    k, p = X.shape
    labels = np.arange(k) if cluster is None else np.asarray(cluster)
    if labels.shape != (k,):
        raise InputError(f"cluster has {labels.size} values; it needs one per study ({k})")
    if pd.isna(pd.Series(labels)).any():
        raise InputError("cluster has missing values; every study needs a cluster")
    codes, uniques = pd.factorize(pd.Series(labels), sort=False)
    n = len(uniques)
    if n <= p:
        raise InputError(f"the number of clusters ({n}) must be larger than the number of "
                         f"coefficients ({p})")
    w = 1.0 / (v + tau2)
    bread = np.linalg.solve(X.T @ (w[:, None] * X), (X * w[:, None]).T)      # p × k
    contrib = bread * (y - X @ beta)[None, :]                                # p × k
    sums = np.zeros((p, n))
    np.add.at(sums.T, codes, contrib.T)
    vcov = sums @ sums.T
    if adjust:
        vcov *= n / (n - p)
    se = np.sqrt(np.diag(vcov))
    df = n - p
    stat = beta / se
    crit = critical_value(level, df)
    if btt is None:
        is_int = np.all(X == 1.0, axis=0)
        btt = np.flatnonzero(~is_int) if (p > 1 and is_int.any()) else np.arange(p)
    sub = beta[btt]
    qm = float(sub @ np.linalg.solve(vcov[np.ix_(btt, btt)], sub)) / len(btt)
    return RobustVariance(
        terms=tuple(terms) if terms is not None else tuple(f"x{i}" for i in range(p)),
        coef=np.asarray(beta, dtype=float), vcov=vcov, se=se, statistic=stat,
        pvalue=2 * stats.t.sf(np.abs(stat), df), ci_low=beta - crit * se,
        ci_high=beta + crit * se, df=df, n_clusters=n, adjust=bool(adjust), QM=qm,
        QM_df=(len(btt), df), QM_pvalue=float(stats.f.sf(qm, len(btt), df)))
