"""Selection models for publication bias (metafor's ``selmodel``).

A study with estimate ``y_i`` (variance ``v_i``) and one-sided p-value ``p_i`` (test of
``y_i = 0``, "greater" by default) is published with a probability proportional to
``w(p_i; δ)``; the likelihood of the published studies is that of the random-effects
model reweighted by the selection function (Hedges 1992; Vevea & Hedges 1995;
Citkowicz & Vevea 2017):

``ll = Σ [log w(p_i) + log φ(y_i; x_i'β, v_i + tau²) − log A_i]``,
``A_i = ∫ w(p(y)) φ(y; x_i'β, v_i + tau²) dy``.

Selection functions (``type``), with δ bounds and the value of "no selection":

* ``"stepfun"`` (step function; the three-parameter selection model, 3PSM, for
  ``steps=[0.025]``): ``w = δ_j`` for p in the j-th interval of ``steps`` (δ_1 = 1),
  δ in [0, 100], no selection δ = 1.
* ``"beta"`` (Citkowicz & Vevea 2017): ``w = p^(δ1−1) (1 − p)^(δ2−1)`` with p clamped
  to [1e-5, 1 − 1e-5], δ in [1e-5, 100], no selection δ = (1, 1).
* ``"halfnorm"``, ``"negexp"``, ``"logistic"``, ``"power"`` (Preston et al. 2004):
  ``exp(−δp²)``, ``exp(−δp)``, ``2e^{−δp}/(1 + e^{−δp})``, ``(1 − p)^δ`` (p clamped to
  [1e-5, 1 − 1e-5] for "power"), each divided by its value at ``steps`` (default 0)
  and 1 for p ≤ steps; δ in [0, 100], no selection δ = 0.

Estimation is by maximum likelihood (see :mod:`.selection_likelihood`); the model
without selection is refitted by ML first.  Standard errors come from the inverse
Hessian of −ll on the natural scale; β and δ get Wald z tests and intervals (δ
intervals clipped to the bounds; z tests of δ against no selection), tau² a Wald
interval truncated at 0.  ``LRT`` compares the selection model with the ML
random-effects model (df = number of estimated δ); ``LRT_tau2`` tests tau² = 0
within the selection model.  Fixed δ values (``delta=``) give the sensitivity
analyses of Vevea & Woods (2005).

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", method="ML")
    >>> sm = selection_model(m, "stepfun", steps=[0.025], alternative="less")
    >>> round(float(sm.delta["estimate"].iloc[1]), 3)
    0.636
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.influence import model_parts
from ipdmeta.pooling.options import regression_spec
from ipdmeta.pooling.regression import default_btt, fit_regression
from ipdmeta.pooling.selection_likelihood import (
    ALTERNATIVES,
    SELECTION_TYPES,
    Likelihood,
    maximise,
    numerical_hessian,
    weight,
)
from ipdmeta.pooling.tau2 import log_likelihood

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True, eq=False)
class SelectionModelResult:
    """A fitted selection model.

    ``coef``: term, estimate, se, z, pvalue, ci_low, ci_high (z-based, as metafor);
    ``delta``: the selection parameters (estimate, se, z against no selection, pvalue,
    interval clipped to the bounds, fixed flag); ``intervals``: for the step
    function, the number of studies per p-value interval; ``LRT`` with ``LRT_df`` and
    ``LRT_pvalue`` tests the selection parameters against the ML random-effects model,
    ``LRT_tau2`` tests tau² = 0; ``loglik``, ``aic``, ``bic``, ``aicc`` are the ML fit
    statistics; ``pvalues`` the studies' p-values used for selection.
    """

    type: str
    alternative: str
    steps: tuple[float, ...]
    coef: pd.DataFrame
    tau2: float
    se_tau2: float
    tau2_ci: tuple[float, float]
    delta: pd.DataFrame
    LRT: float
    LRT_df: int
    LRT_pvalue: float
    LRT_tau2: float
    LRT_tau2_pvalue: float
    loglik: float
    loglik_no_selection: float
    parameters: int
    aic: float
    bic: float
    aicc: float
    QM: float
    QM_pvalue: float
    k: int
    level: float
    pvalues: np.ndarray
    intervals: pd.DataFrame | None
    messages: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The coefficients followed by tau² and the δ rows, in one table."""
        rows = self.coef.assign(parameter="beta")
        tau = pd.DataFrame({"term": ["tau2"], "estimate": [self.tau2], "se": [self.se_tau2],
                            "ci_low": [self.tau2_ci[0]], "ci_high": [self.tau2_ci[1]],
                            "parameter": ["tau2"]})
        deltas = self.delta.rename(columns={"name": "term"}).assign(parameter="delta")
        return pd.concat([rows, tau, deltas], ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain Python objects."""
        out = {key: getattr(self, key) for key in (
            "type", "alternative", "steps", "tau2", "se_tau2", "tau2_ci", "LRT", "LRT_df",
            "LRT_pvalue", "LRT_tau2", "LRT_tau2_pvalue", "loglik", "loglik_no_selection",
            "parameters", "aic", "bic", "aicc", "QM", "QM_pvalue", "k", "level")}
        out.update(coef=self.coef.to_dict(orient="records"),
                   delta=self.delta.to_dict(orient="records"),
                   pvalues=self.pvalues.tolist(), messages=list(self.messages))
        return out

    def summary(self, digits: int = 4) -> str:
        """Coefficients, heterogeneity, selection parameters and the tests, as metafor."""
        d = digits
        lines = [f"Selection model ({self.type}, {self.alternative} p-values"
                 + (f", steps {', '.join(f'{s:g}' for s in self.steps)}" if self.type ==
                    "stepfun" else "") + f"); k = {self.k}",
                 f"  log-likelihood {self.loglik:.{d}f} (no selection "
                 f"{self.loglik_no_selection:.{d}f}); AIC {self.aic:.{d}f}", "", "Coefficients:"]
        for r in self.coef.itertuples():
            lines.append(f"  {r.term:<20}{r.estimate:10.{d}f} (se {r.se:.{d}f}) z = {r.z:.3f} "
                         f"p = {r.pvalue:.4g} [{r.ci_low:.{d}f}, {r.ci_high:.{d}f}]")
        lines.append(f"  tau² = {self.tau2:.{d}f} (se {self.se_tau2:.{d}f}) "
                     f"[{self.tau2_ci[0]:.{d}f}, {self.tau2_ci[1]:.{d}f}]")
        if np.isfinite(self.LRT_tau2):
            lines.append(f"  Test of tau² = 0: LRT = {self.LRT_tau2:.4f}, "
                         f"p = {self.LRT_tau2_pvalue:.4g}")
        lines += ["", "Selection parameters:"]
        for r in self.delta.itertuples():
            extra = "  (fixed)" if r.fixed else (f" (se {r.se:.{d}f}) [{r.ci_low:.{d}f}, "
                                                 f"{r.ci_high:.{d}f}]")
            lines.append(f"  {r.name:<20}{r.estimate:10.{d}f}{extra}")
        if self.intervals is not None:
            counts = ", ".join(f"{r.interval}: {r.k}" for r in self.intervals.itertuples())
            lines.append(f"  studies per interval: {counts}")
        lines += ["", f"Test for selection: LRT = {self.LRT:.4f} on {self.LRT_df} df, "
                      f"p = {self.LRT_pvalue:.4g}"]
        return "\n".join(lines + [f"Note: {m}" for m in self.messages])

    def __repr__(self) -> str:
        return (f"SelectionModelResult({self.type}: estimate={self.coef['estimate'].iloc[0]:.4f},"
                f" LRT={self.LRT:.3f}, p={self.LRT_pvalue:.4g})")

    def weight_function(self, p: Any = None) -> pd.DataFrame:
        """The estimated selection function w(p) at ``p`` (default 0..1 on a fine grid)."""
        grid = np.linspace(0, 1, 1001) if p is None else np.asarray(p, dtype=float)
        delta = self.delta["estimate"].to_numpy()
        if self.type == "stepfun":
            steps = np.array(self.steps)
            w = delta[np.minimum(np.searchsorted(steps, grid, side="left"), len(steps) - 1)]
        else:
            pmin = 1e-5 if self.type in ("beta", "power") else 0.0
            step = self.steps[0] if len(self.steps) > 1 else 0.0
            w = weight(self.type, np.clip(grid, pmin, 1 - pmin), delta, step)
        return pd.DataFrame({"p": grid, "weight": w})

    def plot(self, **options: Any) -> Figure:
        """The estimated selection function; see ``plots.selection.selection_plot``."""
        from ipdmeta.plots.selection import selection_plot
        return selection_plot(self, **options)


def _check_steps(kind: str, steps: Any) -> np.ndarray:
    if kind == "stepfun":
        if steps is None:
            raise InputError("type='stepfun' needs steps= (e.g. steps=[0.025] for the 3PSM)")
    elif kind == "beta":
        if steps is not None:
            raise InputError("type='beta' takes no steps=")
        return np.array([1.0])
    elif steps is None:
        return np.array([0.0, 1.0])
    values = np.unique(np.asarray(steps, dtype=float))
    if values.size == 0 or np.any((values < 0) | (values > 1)):
        raise InputError(f"steps={steps!r} must be p-values between 0 and 1")
    if values[-1] != 1:
        values = np.append(values, 1.0)
    if kind != "stepfun" and len(values) != 2:
        raise InputError(f"type={kind!r} takes a single value in steps=")
    return values


def _interval_table(p: np.ndarray, steps: np.ndarray) -> pd.DataFrame:
    """Number of studies with their p-value in each interval of ``steps``."""
    left = np.concatenate([[0.0], steps[:-1]])
    labels = [f"{a:g} < p ≤ {b:g}" for a, b in zip(left, steps, strict=True)]
    group = np.searchsorted(steps, p, side="left")
    return pd.DataFrame({"interval": labels, "k": np.bincount(group, minlength=len(steps))})


def _delta_names(kind: str, n: int) -> list[str]:
    return ["delta"] if n == 1 else [f"delta{j + 1}" for j in range(n)]


def selection_model(result: Any, type: str = "stepfun", steps: Any = None,
                    alternative: str = "greater", delta: Any = None) -> SelectionModelResult:
    """Fit a selection model to a pooled result or meta-regression (metafor's ``selmodel``).

    Args:
        result: ``MetaResult`` or ``MetaRegResult`` (refitted by ML without selection;
            a common-effect model keeps tau² = 0).
        type: "stepfun", "beta", "halfnorm", "negexp", "logistic" or "power".
        steps: p-value cut-points of the step function (1 is added), or the single
            threshold below which a continuous function is flat (default 0).
        alternative: the direction of the studies' tests that drives selection:
            "greater" (default, as metafor), "less" or "two.sided".
        delta: fixed δ values (None entries are estimated), for sensitivity analyses;
            the first δ of the step function is always 1.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
        >>> sm = selection_model(m, "halfnorm", alternative="less")
        >>> sm.LRT_df, sm.delta["name"].tolist()
        (1, ['delta'])
    """
    kind = str(type).lower()
    if kind not in SELECTION_TYPES:
        raise InputError(f"type={type!r}: use one of {', '.join(SELECTION_TYPES)}")
    if alternative not in ALTERNATIVES:
        raise InputError(f"alternative={alternative!r}: use one of {', '.join(ALTERNATIVES)}")
    grid = _check_steps(kind, steps)
    parts = model_parts(result)
    y, v, X = parts.y, parts.v, parts.X
    k, p = X.shape
    common = parts.spec.is_common
    ml_spec = regression_spec("common" if common else "ML", "z", parts.spec.level)
    ml = fit_regression(y, v, X, ml_spec)
    loglik0 = log_likelihood(ml.tau2, y, v, X, reml=False)
    lik = Likelihood(kind, y, v, X, alternative, grid)
    n_delta = lik.family.n_delta
    fixed = np.full(n_delta, np.nan)
    if delta is not None:
        given = np.atleast_1d(np.asarray([np.nan if d is None else d for d in
                                          np.atleast_1d(delta)], dtype=float))
        if given.size == 1 and n_delta > 1:
            given = np.full(n_delta, given[0])
        if given.size != n_delta:
            raise InputError(f"delta= has {given.size} values; type={kind!r} with these "
                             f"steps has {n_delta}")
        lo, hi = np.array(lik.family.lower), np.array(lik.family.upper)
        bad = ~np.isnan(given) & ((given < lo) | (given > hi))
        if bad.any():
            raise InputError(f"delta= values must lie in [{lo[0]:g}, {hi[0]:g}]")
        fixed = given
    table = None
    if kind == "stepfun" or steps is not None:  # as metafor, also for a flat threshold
        table = _interval_table(lik.p, grid)
        if kind == "stepfun":
            fixed[0] = 1.0
        empty = table[(table["k"] == 0).to_numpy()
                      & (np.isnan(fixed) if kind == "stepfun" else True)]
        if len(empty):
            raise InputError(f"no study has a p-value in {', '.join(empty['interval'])}; "
                             "choose other steps=")
    free = np.isnan(fixed)
    n_par = p + (0 if common else 1) + int(free.sum())
    if k < n_par:
        raise InputError(f"{k} studies are too few to fit this selection model "
                         f"({n_par} parameters)")
    tau2_fixed = 0.0 if common else None
    fit = maximise(lik, ml.beta, ml.tau2, fixed, tau2_fixed)
    messages: list[str] = []
    lo, hi = np.array(lik.family.lower), np.array(lik.family.upper)
    at_bound = free & ((fit.delta <= lo + np.finfo(float).eps ** 0.25)
                       | (fit.delta >= hi - 100 * np.finfo(float).eps ** 0.25))
    if at_bound.any():
        messages.append("a delta estimate is at (or near) its bound; treat the results "
                        "with caution")

    # Hessian of -ll on the natural scale over the estimated parameters
    def neg_ll(theta: np.ndarray) -> float:
        beta = theta[:p]
        j = p
        tau2 = fit.tau2
        if not common:
            tau2, j = float(theta[p]), p + 1
        d = fit.delta.copy()
        d[free] = theta[j:]
        return -lik.loglik(beta, tau2, d)

    theta_hat = np.concatenate([fit.beta, [] if common else [fit.tau2], fit.delta[free]])
    vcov = np.full((len(theta_hat), len(theta_hat)), np.nan)
    try:
        cap = np.full(len(theta_hat), np.inf)
        if not common and fit.tau2 > 0:
            cap[p] = fit.tau2 / 16  # keep tau² positive in the differences
        H = numerical_hessian(neg_ll, theta_hat, cap)
        vcov = np.linalg.inv(np.linalg.cholesky(H)).T @ np.linalg.inv(np.linalg.cholesky(H))
    except np.linalg.LinAlgError:
        messages.append("the Hessian is not positive definite: no standard errors")
    se_all = np.sqrt(np.diag(vcov))
    level = parts.spec.level
    crit = float(stats.norm.isf((1 - level) / 2))
    se_b = se_all[:p]
    z = fit.beta / se_b
    coef = pd.DataFrame({"term": parts.terms, "estimate": fit.beta, "se": se_b, "z": z,
                         "pvalue": 2 * stats.norm.sf(np.abs(z)),
                         "ci_low": fit.beta - crit * se_b, "ci_high": fit.beta + crit * se_b})
    se_tau2 = float("nan") if common else float(se_all[p])
    tau2_ci = ((0.0, 0.0) if common else
               (max(0.0, fit.tau2 - crit * se_tau2), fit.tau2 + crit * se_tau2))
    se_d = np.full(n_delta, np.nan)
    se_d[free] = se_all[p + (0 if common else 1):]
    null = np.array(lik.family.null)
    zd = (fit.delta - null) / se_d
    delta_frame = pd.DataFrame({
        "name": _delta_names(kind, n_delta), "estimate": fit.delta, "se": se_d, "z": zd,
        "pvalue": 2 * stats.norm.sf(np.abs(zd)),
        "ci_low": np.maximum(fit.delta - crit * se_d, lo),
        "ci_high": np.minimum(fit.delta + crit * se_d, hi), "fixed": ~free})
    lrt_tau2 = lrt_tau2_p = float("nan")
    if not common:
        null_fit = maximise(lik, ml.beta, ml.tau2, fixed, 0.0)
        lrt_tau2 = max(0.0, -2 * (null_fit.loglik - fit.loglik))
        lrt_tau2_p = float(stats.chi2.sf(lrt_tau2, 1))
    lrt_df = int(free.sum())
    lrt_stat = max(0.0, -2 * (loglik0 - fit.loglik))
    btt = default_btt(X)
    qm = qm_p = float("nan")
    if p > 1:
        b = fit.beta[btt]
        qm = float(b @ np.linalg.solve(vcov[np.ix_(btt, btt)], b))
        qm_p = float(stats.chi2.sf(qm, len(btt)))
    m = max(k, n_par + 2)
    return SelectionModelResult(
        type=kind, alternative=alternative, steps=tuple(float(s) for s in grid),
        coef=coef, tau2=fit.tau2, se_tau2=se_tau2, tau2_ci=tau2_ci, delta=delta_frame,
        LRT=lrt_stat, LRT_df=lrt_df,
        LRT_pvalue=float(stats.chi2.sf(lrt_stat, lrt_df)) if lrt_df else float("nan"),
        LRT_tau2=lrt_tau2, LRT_tau2_pvalue=lrt_tau2_p, loglik=fit.loglik,
        loglik_no_selection=loglik0, parameters=n_par, aic=-2 * fit.loglik + 2 * n_par,
        bic=-2 * fit.loglik + n_par * np.log(k),
        aicc=-2 * fit.loglik + 2 * n_par * m / (m - n_par - 1), QM=qm, QM_pvalue=qm_p, k=k,
        level=level, pvalues=lik.p, intervals=table,
        messages=tuple(messages))
