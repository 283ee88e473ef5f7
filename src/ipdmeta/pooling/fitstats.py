"""Likelihood-based fit statistics and likelihood-ratio tests of stage-2 models.

Definitions are metafor's (``rma.uni``'s ``fit.stats``, ``fitstats``, ``logLik``,
``anova.rma``; Viechtbauer 2010), for a pooled result (intercept only) or a
meta-regression with k studies, p coefficients, weights ``w_i = 1/(v_i + tau²)`` and
the weighted residual sum of squares ``RSS = Σ w_i (y_i − x_i'b)²``:

* ML: ``ll = −k/2 log 2π − ½ Σ log(v_i + tau²) − ½ RSS``; deviance
  ``−2 (ll − Σ log φ(0; v_i))`` (relative to the saturated model; 0 when k ≤ p).
* REML: ``ll = −(k − p)/2 log 2π + ½ log|X'X| − ½ Σ log(v_i + tau²) − ½ log|X'WX| − ½ RSS``;
  deviance ``−2 ll``.
* ``AIC = −2 ll + 2q``; ``BIC = −2 ll + q log n``; ``AICc = −2 ll + 2q·m/(m − q − 1)`` with
  ``m = max(n, q + 2)``, ``q = p + 1`` (p for the common-effect model) and n = k under ML,
  k − p under REML.

The statistics are evaluated at the model's own tau² whatever its estimator (as
metafor); ``reml=None`` picks REML for REML fits and ML otherwise.  :func:`lrt`
compares two nested fits to the same studies: ``LRT = dev_reduced − dev_full`` on the
difference in parameter counts (REML deviances when the full model is REML).

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", method="REML")
    >>> s = fit_statistics(m)
    >>> round(s.loglik, 4), round(s.aic, 4), s.reml
    (-12.2024, 28.4047, True)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.influence import ModelParts, model_parts
from ipdmeta.pooling.tau2 import log_likelihood


@dataclass(frozen=True)
class FitStatistics:
    """Log-likelihood, deviance, AIC, BIC and AICc of one fit (ML or REML)."""

    loglik: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    reml: bool
    parameters: int
    k: int

    def to_dict(self) -> dict[str, Any]:
        """The statistics as a dictionary."""
        return asdict(self)

    def summary(self) -> str:
        """One line per statistic, as metafor's ``fitstats``."""
        kind = "REML" if self.reml else "ML"
        rows = [("logLik", self.loglik), ("deviance", self.deviance), ("AIC", self.aic),
                ("BIC", self.bic), ("AICc", self.aicc)]
        return "\n".join([f"Fit statistics ({kind}; k = {self.k}, {self.parameters} "
                          "parameters)"] + [f"  {name:<9}{value:12.4f}" for name, value in rows])

    def __repr__(self) -> str:
        kind = "REML" if self.reml else "ML"
        return (f"FitStatistics({kind}: logLik={self.loglik:.4f}, AIC={self.aic:.4f}, "
                f"BIC={self.bic:.4f})")


def parameter_count(parts: ModelParts) -> int:
    """Coefficients plus tau² (not for the common-effect model), as metafor's ``parms``."""
    return parts.X.shape[1] + (0 if parts.spec.is_common else 1)


def _statistics(parts: ModelParts, reml: bool) -> FitStatistics:
    y, v, X, tau2 = parts.y, parts.v, parts.X, parts.fit.tau2
    k, p = X.shape
    q = parameter_count(parts)
    ll = log_likelihood(tau2, y, v, X, reml=reml)
    if reml:
        n, dev = k - p, -2 * ll
    else:
        n = k
        saturated = float(np.sum(-0.5 * np.log(2 * np.pi * v)))
        dev = -2 * (ll - saturated) if k > p else 0.0
    m = max(n, q + 2)
    with np.errstate(divide="ignore"):
        bic = -2 * ll + q * np.log(n)
    return FitStatistics(loglik=ll, deviance=float(dev), aic=-2 * ll + 2 * q, bic=float(bic),
                         aicc=-2 * ll + 2 * q * m / (m - q - 1), reml=reml, parameters=q, k=k)


def fit_statistics(result: Any, reml: bool | None = None) -> FitStatistics:
    """Fit statistics of a ``MetaResult`` or ``MetaRegResult`` (metafor's ``fitstats``).

    Args:
        result: the fitted model.
        reml: True for the restricted likelihood, False for the full likelihood, None
            (default) for REML when the model was fitted by REML and ML otherwise.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", method="DL")
        >>> round(fit_statistics(m).deviance, 4)
        37.1505
    """
    parts = model_parts(result)
    use_reml = parts.spec.method == "REML" if reml is None else bool(reml)
    return _statistics(parts, use_reml)


# ---------------------------------------------------------------- likelihood-ratio test
@dataclass(frozen=True, eq=False)
class LRTResult:
    """Likelihood-ratio test of a reduced against a full model (metafor's ``anova``).

    ``full``/``reduced`` hold the fit statistics of each (REML when the full model was
    fitted by REML, else ML); ``R2`` is the pseudo-R² (percent) of the heterogeneity
    accounted for by the full model.
    """

    statistic: float
    df: int
    pvalue: float
    full: FitStatistics
    reduced: FitStatistics
    QE_full: float
    QE_reduced: float
    tau2_full: float
    tau2_reduced: float
    R2: float
    method: str
    messages: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Two rows (full, reduced) as metafor's printed table."""
        rows = []
        for name, s, qe, t in (("full", self.full, self.QE_full, self.tau2_full),
                               ("reduced", self.reduced, self.QE_reduced, self.tau2_reduced)):
            rows.append({"model": name, "df": s.parameters, "AIC": s.aic, "BIC": s.bic,
                         "AICc": s.aicc, "logLik": s.loglik, "QE": qe, "tau2": t})
        frame = pd.DataFrame(rows)
        frame["LRT"] = [np.nan, self.statistic]
        frame["pvalue"] = [np.nan, self.pvalue]
        return frame

    def to_dict(self) -> dict[str, Any]:
        """The test and both models' statistics."""
        return {"statistic": self.statistic, "df": self.df, "pvalue": self.pvalue,
                "full": self.full.to_dict(), "reduced": self.reduced.to_dict(),
                "QE_full": self.QE_full, "QE_reduced": self.QE_reduced,
                "tau2_full": self.tau2_full, "tau2_reduced": self.tau2_reduced, "R2": self.R2,
                "method": self.method, "messages": list(self.messages)}

    def summary(self) -> str:
        """The comparison table and the test."""
        kind = "REML" if self.full.reml else "ML"
        lines = [f"Likelihood-ratio test ({kind} likelihoods)", "",
                 f"{'':9}{'df':>4}{'AIC':>11}{'BIC':>11}{'AICc':>11}{'logLik':>11}"
                 f"{'QE':>11}{'tau²':>9}"]
        for name, s, qe, t in (("Full", self.full, self.QE_full, self.tau2_full),
                               ("Reduced", self.reduced, self.QE_reduced, self.tau2_reduced)):
            lines.append(f"{name:<9}{s.parameters:>4}{s.aic:11.4f}{s.bic:11.4f}{s.aicc:11.4f}"
                         f"{s.loglik:11.4f}{qe:11.4f}{t:9.4f}")
        lines += ["", f"LRT = {self.statistic:.4f} on {self.df} df, p = {self.pvalue:.4g}"]
        if np.isfinite(self.R2):
            lines.append(f"Heterogeneity accounted for (pseudo-R²): {self.R2:.2f}%")
        lines += [f"Note: {m}" for m in self.messages]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"LRTResult(LRT={self.statistic:.4f}, df={self.df}, p={self.pvalue:.4g})"


def _same_data(a: ModelParts, b: ModelParts) -> bool:
    return (a.y.shape == b.y.shape and bool(np.array_equal(a.y, b.y))
            and bool(np.array_equal(a.v, b.v)))


def _residual_variance(parts: ModelParts) -> float:
    """Dispersion of the weighted least-squares fit with weights 1/v (lm's sigma²)."""
    k, p = parts.X.shape
    w = 1.0 / parts.v
    Xw = parts.X * w[:, None]
    b = np.linalg.solve(parts.X.T @ Xw, Xw.T @ parts.y)
    return float(np.sum(w * (parts.y - parts.X @ b) ** 2) / (k - p))


def _pseudo_r2(full: ModelParts, reduced: ModelParts) -> float:
    if full.spec.is_common:
        s2f, s2r = _residual_variance(full), _residual_variance(reduced)
        return 100 * max(0.0, (s2r - s2f) / s2r)
    if reduced.fit.tau2 == 0:
        return 0.0
    return 100 * max(0.0, (reduced.fit.tau2 - full.fit.tau2) / reduced.fit.tau2)


def lrt(model1: Any, model2: Any) -> LRTResult:
    """Likelihood-ratio test of two nested fits to the same studies (``anova.rma``).

    The model with more parameters is the full one, whatever the order given.  Both
    must be fitted to the same estimates and variances; a common-effect full model
    cannot be compared with a random-effects reduced one, and ML cannot be mixed with
    REML.  REML fits with different moderators are refused: the restricted likelihood
    is the likelihood of error contrasts that depend on the design matrix, so two such
    likelihoods describe different data and their ratio is not a test (metafor warns
    and offers ``refit=TRUE``); refit both models with ``method="ML"``.  Fits with
    other tau² estimators are compared on their ML likelihoods with a note.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> full = ipd.metareg(bcg, "~ ablat", estimate="yi", variance="vi", method="ML")
        >>> null = ipd.pool(bcg, estimate="yi", variance="vi", method="ML")
        >>> round(lrt(null, full).statistic, 4)
        9.9588
    """
    a, b = model_parts(model1), model_parts(model2)
    qa, qb = parameter_count(a), parameter_count(b)
    if qa == qb:
        raise InputError("the two models have the same number of parameters, so a "
                         "likelihood-ratio test is not meaningful; compare their AIC instead")
    full, reduced = (a, b) if qa > qb else (b, a)
    if not _same_data(full, reduced):
        raise InputError("the models were fitted to different studies (estimates or variances "
                         "differ); a likelihood-ratio test needs the same data in both")
    mf, mr = full.spec.method, reduced.spec.method
    if full.spec.is_common and not reduced.spec.is_common:
        raise InputError("the full model is a common-effect model and the reduced one a "
                         "random-effects model; they are not nested")
    if {mf, mr} == {"ML", "REML"}:
        raise InputError(f"the full model uses {mf} and the reduced model {mr}; fit both with "
                         "the same likelihood (method='ML' for models with different "
                         "moderators)")
    messages = []
    likelihood_methods = ("common", "ML", "REML")
    if mf not in likelihood_methods or mr not in likelihood_methods:
        messages.append("likelihood-ratio tests should be based on ML or REML fits; the "
                        "ML likelihoods at the fitted tau² are compared")
    reml = mf == "REML"
    same_x = full.X.shape == reduced.X.shape and bool(np.array_equal(full.X, reduced.X))
    if reml and not same_x:
        raise InputError("REML likelihoods of models with different moderators cannot be "
                         "compared (the restricted likelihood depends on the design matrix); "
                         "refit both models with method='ML'")
    sf, sr = _statistics(full, reml), _statistics(reduced, reml)
    statistic = max(0.0, sr.deviance - sf.deviance)
    df = sf.parameters - sr.parameters
    return LRTResult(statistic=statistic, df=df, pvalue=float(stats.chi2.sf(statistic, df)),
                     full=sf, reduced=sr, QE_full=full.fit.QE, QE_reduced=reduced.fit.QE,
                     tau2_full=full.fit.tau2, tau2_reduced=reduced.fit.tau2,
                     R2=_pseudo_r2(full, reduced), method=mf, messages=tuple(messages))
