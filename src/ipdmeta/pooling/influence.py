"""Influence diagnostics and sensitivity to tau² (metafor's ``influence``, ``baujat``).

Every study is deleted in turn and the model refitted with the same options
(Viechtbauer & Cheung 2010):

* ``rstudent``: externally standardised residual ``(y_i − x_i'b_(−i)) / sqrt(s2w_(−i) (v_i
  + tau²_(−i)) + x_i'V_(−i)x_i)``;
* ``dffits``: ``(ŷ_i − x_i'b_(−i)) / sqrt(s2w_(−i) h_i (tau²_(−i) + v_i))``;
* ``cook_d``: ``(b − b_(−i))' V⁻¹ (b − b_(−i))``; ``cov_r``: ``det V_(−i) / det V``;
* ``tau2_del``, ``QE_del``: tau² and the residual heterogeneity Q without study i;
* ``hat``: diagonal of ``X (X'WX)⁻¹ X'W``; ``weight``: ``w_i / Σw`` in percent;
* ``dfbetas``: ``(b − b_(−i)) / sqrt(s2w_(−i) diag((X'W_(−i)X)⁻¹))`` with
  ``W_(−i) = diag(1/(v + tau²_(−i)))`` on all studies;
* ``influential``: metafor's flag (|dffits| > 3 sqrt(p/(k − p)), P(χ²_p ≤ cook_d) > 0.5,
  hat > 3p/k or any |dfbetas| > 1).

``s2w`` is the Knapp-Hartung factor (1 unless ci is "hksj"/"hksj-trunc") and V the
covariance of the coefficients.  The Baujat plot (Baujat et al. 2002) puts each
study's contribution to Q, ``(y_i − x_i'b)²/(v_i + tau²)``, against its influence on the
fit, ``(x_i'b − x_i'b_(−i))² / x_i'V_(−i)x_i``.

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", method="REML")
    >>> round(float(influence(m).table.loc[0, "rstudent"]), 4)
    -0.2181
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import ConvergenceError, InputError
from ipdmeta.pooling.inference import critical_value
from ipdmeta.pooling.options import PoolSpec, regression_spec
from ipdmeta.pooling.projection import Projection
from ipdmeta.pooling.regression import RegFit, fit_regression


@dataclass(frozen=True)
class ModelParts:
    """What the diagnostics need from a fitted model: data, design, options, fit."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    terms: list[str]
    labels: list
    spec: PoolSpec
    fit: RegFit
    messages: tuple[str, ...] = ()


def model_parts(result: Any) -> ModelParts:
    """Estimates, variances, design and fit of a ``MetaResult`` or ``MetaRegResult`` (which
    carries its design ``X`` and fit)."""
    if getattr(result, "X", None) is not None:
        return ModelParts(result.estimates, result.variances, result.X, result.terms,
                          result.studies["study"].tolist(), result.spec, result.fit)
    spec, notes = result.spec, []
    if spec.method == "GENQ":
        raise InputError("diagnostics are not available for method='GENQ' (user weights); "
                         "refit with another method")
    if spec.ci == "pl":
        notes.append("ci='pl' has no deletion analogue; the diagnostics use ci='z'")
        spec = replace(spec, ci="z")
    spec = regression_spec(spec.method, spec.ci, spec.level)
    y, v = np.asarray(result.estimates), np.asarray(result.variances)
    X = np.ones((len(y), 1))
    return ModelParts(y, v, X, ["Intercept"], result.studies["study"].tolist(), spec,
                      fit_regression(y, v, X, spec), tuple(notes))


@dataclass(frozen=True, eq=False)
class InfluenceResult:
    """Case-deletion diagnostics: ``table`` (one row per study), ``dfbetas``, ``baujat``."""

    table: pd.DataFrame
    dfbetas: pd.DataFrame
    baujat: pd.DataFrame
    messages: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The diagnostics table with the dfbetas columns appended (``dfbetas_<term>``)."""
        extra = self.dfbetas.drop(columns="study").add_prefix("dfbetas_")
        return pd.concat([self.table, extra], axis=1)


def _deleted_fit(parts: ModelParts, i: int) -> RegFit | None:
    """The fit without study ``i`` (None when it cannot be made, as metafor's NA row)."""
    keep = np.arange(len(parts.y)) != i
    Xd = parts.X[keep]
    if np.linalg.matrix_rank(Xd) < Xd.shape[1]:
        return None
    try:
        return fit_regression(parts.y[keep], parts.v[keep], Xd, parts.spec)
    except (ConvergenceError, InputError, np.linalg.LinAlgError):
        return None


def influence(result: Any) -> InfluenceResult:
    """Leave-one-out influence diagnostics of a ``MetaResult`` or ``MetaRegResult``.

    Returns an ``InfluenceResult`` with the columns of metafor's ``influence()`` (see
    the module docstring); rows whose refit fails are NaN and named in ``messages``.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", method="DL")
        >>> influence(m).table.columns.tolist()[:4]
        ['study', 'rstudent', 'dffits', 'cook_d']
    """
    parts = model_parts(result)
    y, v, X, fit = parts.y, parts.v, parts.X, parts.fit
    k, p = X.shape
    if k < 2:
        raise InputError("influence diagnostics need at least 2 studies")
    w = 1.0 / (v + fit.tau2)
    proj = Projection(w, X)
    hat = np.einsum("ij,jk,ik->i", X, proj.cov, X) * w
    hat[hat > 1 - 10 * np.finfo(float).eps] = 1.0
    fitted = X @ fit.beta
    vb_inv = np.linalg.inv(fit.vcov)
    det_vb = np.linalg.det(fit.vcov)
    cols = {name: np.full(k, np.nan) for name in
            ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "baujat_y")}
    dfbs = np.full((k, p), np.nan)
    failed = []
    for i in range(k):
        d = _deleted_fit(parts, i)
        if d is None:
            failed.append(parts.labels[i])
            continue
        xi = X[i]
        delpred = float(xi @ d.beta)
        vdel = float(xi @ d.vcov @ xi)
        resid = y[i] - delpred
        if abs(resid) < 100 * np.finfo(float).eps:
            resid = 0.0
        cols["rstudent"][i] = resid / np.sqrt(v[i] * d.s2w + vdel + d.tau2 * d.s2w)
        cols["dffits"][i] = (fitted[i] - delpred) / np.sqrt(d.s2w * hat[i] * (d.tau2 + v[i]))
        diff = fit.beta - d.beta
        cols["cook_d"][i] = float(diff @ vb_inv @ diff)
        cols["cov_r"][i] = np.linalg.det(d.vcov) / det_vb
        cols["tau2_del"][i], cols["QE_del"][i] = d.tau2, d.QE
        cols["baujat_y"][i] = (delpred - fitted[i]) ** 2 / vdel
        vb_del = Projection(1.0 / (v + d.tau2), X).cov
        dfbs[i] = diff / np.sqrt(d.s2w * np.diag(vb_del))
    with np.errstate(invalid="ignore"):
        flag = ((np.abs(cols["dffits"]) > 3 * np.sqrt(p / (k - p)))
                | (stats.chi2.cdf(cols["cook_d"], df=p) > 0.5) | (hat > 3 * p / k)
                | np.any(np.abs(dfbs) > 1, axis=1))
    table = pd.DataFrame({"study": parts.labels, **{c: cols[c] for c in (
        "rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del")},
        "hat": hat, "weight": 100 * w / np.sum(w), "influential": flag})
    dfbetas = pd.DataFrame(dfbs, columns=parts.terms)
    dfbetas.insert(0, "study", parts.labels)
    baujat = pd.DataFrame({"study": parts.labels, "x": (y - fitted) ** 2 / (v + fit.tau2),
                           "y": cols["baujat_y"]})
    messages = list(parts.messages)
    if failed:
        messages.append(f"refit without {', '.join(map(str, failed))} failed; NaN in those rows")
    return InfluenceResult(table, dfbetas, baujat, tuple(messages))


def baujat(result: Any) -> pd.DataFrame:
    """Baujat plot coordinates: study, x (contribution to Q), y (influence on the fit)."""
    return influence(result).baujat


def typical_variance(result: Any) -> float:
    """Higgins-Thompson typical within-study variance ``(k − p)/tr(P)``, W = diag(1/v)."""
    return model_parts(result).fit.typical_variance


def tau2_sensitivity(result: Any, tau2: Any = None, I2: Any = None) -> pd.DataFrame:
    """The result refitted at fixed tau² values, or at the tau² that gives fixed I² values.

    As Stata's ``metan, sa()``: I² (percent) is turned into
    ``tau² = I²/(100 − I²) · s²`` with the typical within-study variance s²
    (:func:`typical_variance`), so the I² reported equals the one asked for.  Rows:
    tau2, I2, H2, the coefficient(s) with se, interval, z/t and p-value (with the
    options of ``result``) and, for a pooled result, the prediction interval
    ``b ± crit·sqrt(se² + tau²)`` as metafor's ``predict``.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
        >>> sa = tau2_sensitivity(m, I2=[0, 50, 90])
        >>> sa["I2"].round(6).tolist()
        [0.0, 50.0, 90.0]
    """
    parts = model_parts(result)
    values = [] if tau2 is None else [float(t) for t in np.atleast_1d(tau2)]
    s2 = parts.fit.typical_variance
    for i2 in ([] if I2 is None else np.atleast_1d(I2)):
        if not 0 <= float(i2) < 100:
            raise InputError(f"I2={i2!r} must be a percentage in [0, 100)")
        values.append(float(i2) / (100 - float(i2)) * s2)
    if not values:
        raise InputError("give tau2= or I2= values")
    if min(values) < 0:
        raise InputError("tau² values must be non-negative")
    spec = parts.spec if not parts.spec.is_common else replace(parts.spec, method="REML")
    rows = []
    for t in values:
        f = fit_regression(parts.y, parts.v, parts.X, spec, tau2=t)
        for j, term in enumerate(parts.terms):
            row = {"tau2": t, "I2": f.I2, "H2": f.H2, "term": term,
                   "estimate": f.beta[j], "se": f.se[j], "ci_low": f.ci_low[j],
                   "ci_high": f.ci_high[j], "z_or_t": f.statistic[j], "pvalue": f.pvalue[j]}
            if len(parts.terms) == 1:
                half = critical_value(spec.level, f.df) * np.sqrt(f.se[j] ** 2 + t)
                row.update(pi_low=f.beta[j] - half, pi_high=f.beta[j] + half)
            rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.drop(columns="term") if len(parts.terms) == 1 else frame
