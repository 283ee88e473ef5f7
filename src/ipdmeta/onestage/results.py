"""The result of a one-stage IPD meta-analysis (:func:`ipdmeta.onestage`).

Estimates are on the analysis scale (mean difference, log odds ratio, log rate ratio,
log hazard ratio); ``eform=True`` in :meth:`OneStageResult.summary` exponentiates for
display only.  A fit that runs into a problem but can still report something is a
result with a ``status`` and a plain ``reason``:

* ``"ok"``;
* ``"boundary"``: the random-effect variance of the treatment is estimated at zero (the
  model reduces to a common treatment effect);
* ``"singular"``: the random-effects covariance is singular (a correlation of ±1 or a
  zero variance of the random intercepts) or the information matrix is not invertible;
* ``"not_converged"``: the optimiser stopped before convergence (estimates shown, but
  not to be trusted).

Example:
    >>> import numpy as np, pandas as pd
    >>> r = OneStageResult(model="linear", formula="y ~ treat", study_var="trial",
    ...     random="treat", poolvar="treat", intercepts="stratified", method="REML",
    ...     estimation="REML", coef=pd.DataFrame({"term": ["treat"], "estimate": [1.5],
    ...     "se": [0.4], "df": [9.0], "statistic": [3.75], "ci_low": [0.6], "ci_high": [2.4],
    ...     "pvalue": [0.005]}), tau2=0.2, tau2_ci=(0.0, 1.1), loglik=-100.0, n_params=4,
    ...     n=200, k=10)
    >>> r  # doctest: +NORMALIZE_WHITESPACE
    OneStageResult(linear, stratified intercepts, REML: treat = 1.5 (se 0.4), tau2 = 0.2,
    k = 10, n = 200)
    >>> round(r.aic, 1), r.estimate
    (208.0, 1.5)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ipdmeta.onestage.compare import Comparison

MEASURES = {"linear": "MD", "logistic": "OR", "poisson": "IRR", "cox": "HR"}
FAMILY = {"linear": "Linear mixed model", "logistic": "Logistic mixed model",
          "poisson": "Poisson mixed model", "cox": "Cox model with random effects"}
STATUS = {"ok": "", "boundary": "tau² on the boundary (0)", "singular": "singular fit",
          "not_converged": "not converged"}


@dataclass(frozen=True)
class Convergence:
    """How the optimiser ended.

    ``max_gradient`` is the largest absolute score at the estimates (log-likelihood
    units per unit of the parameter); ``hessian_ok`` says whether minus the Hessian was
    positive definite there (a proper maximum).
    """

    converged: bool = True
    iterations: int = 0
    max_gradient: float = float("nan")
    hessian_ok: bool = True
    message: str = ""


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(columns=columns)


@dataclass(frozen=True, eq=False)
class OneStageResult:
    """A fitted one-stage model (see the module docstring).

    Attributes:
        coef: the common fixed effects: term, estimate, se, df (inf for Wald z),
            statistic, ci_low, ci_high, pvalue.
        tau2, tau2_ci: variance of the random treatment effect and its profile-likelihood
            interval (``nan`` when not computed).
        random_effects: variances, standard deviations (and the correlation) of the random
            effects.
        sigma2: residual variance of a linear model (``sigma2_study`` by trial when they
            are trial-specific).
        blups: per trial and random effect: the predicted random effect (BLUP / conditional
            mode), its conditional standard error, and ``effect`` = fixed + random.
        study_coef: the trial-specific fixed effects (stratified intercepts and, with
            ``covariates_by_study=True``, covariate effects) with standard errors.
        dropped: trials left out, with status and reason.
    """

    model: str
    formula: str
    study_var: str
    random: str
    poolvar: str
    intercepts: str
    method: str
    estimation: str
    coef: pd.DataFrame
    tau2: float
    tau2_ci: tuple[float, float]
    loglik: float
    n_params: int
    n: int
    k: int
    random_effects: pd.DataFrame = field(default_factory=lambda: _empty(
        ["term", "variance", "sd"]))
    sigma2: float | None = None
    sigma2_study: pd.DataFrame | None = None
    blups: pd.DataFrame = field(default_factory=lambda: _empty(
        ["study", "term", "blup", "se", "effect", "ci_low", "ci_high"]))
    study_coef: pd.DataFrame = field(default_factory=lambda: _empty(
        ["study", "term", "estimate", "se"]))
    events: int | None = None
    n_dropped_rows: int = 0
    dropped: pd.DataFrame = field(default_factory=lambda: _empty(
        ["study", "n", "status", "reason"]))
    status: str = "ok"
    reason: str = ""
    notes: tuple[str, ...] = ()
    convergence: Convergence = field(default_factory=Convergence)
    df_method: str = "z"
    level: float = 0.95
    ties: str | None = None
    nagq: int | None = None
    extra: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ numbers
    @property
    def measure(self) -> str:
        """Effect measure of the treatment coefficient (MD, OR, IRR, HR)."""
        return MEASURES[self.model]

    @property
    def aic(self) -> float:
        """Akaike's criterion ``-2 loglik + 2 (number of parameters)``."""
        return -2 * self.loglik + 2 * self.n_params

    @property
    def bic(self) -> float:
        """Schwarz's criterion with the number of participants."""
        return -2 * self.loglik + np.log(self.n) * self.n_params

    def _row(self, term: str | None = None) -> pd.Series:
        term = self.poolvar if term is None else term
        rows = self.coef[self.coef["term"] == term]
        if rows.empty:
            raise KeyError(f"{term!r} is not a coefficient; the terms are "
                           f"{', '.join(self.coef['term'])}")
        return rows.iloc[0]

    @property
    def estimate(self) -> float:
        """The estimate of the pooled term (the treatment, or the interaction)."""
        return float(self._row()["estimate"])

    @property
    def se(self) -> float:
        """Standard error of the pooled term."""
        return float(self._row()["se"])

    @property
    def ci(self) -> tuple[float, float]:
        """Confidence interval of the pooled term."""
        r = self._row()
        return float(r["ci_low"]), float(r["ci_high"])

    @property
    def ok(self) -> bool:
        """True when the fit converged to a proper maximum inside the parameter space."""
        return self.status == "ok"

    # ------------------------------------------------------------------ output
    def to_frame(self) -> pd.DataFrame:
        """The fixed-effect table (``coef``)."""
        return self.coef.copy()

    def to_dict(self) -> dict[str, Any]:
        """Scalars and tables as plain Python objects (tables as lists of records)."""
        out: dict[str, Any] = {}
        for k, v in self.__dict__.items():
            if isinstance(v, pd.DataFrame):
                out[k] = v.to_dict(orient="records")
            elif isinstance(v, Convergence):
                out[k] = asdict(v)
            else:
                out[k] = v
        out.update(measure=self.measure, aic=self.aic, bic=self.bic)
        return out

    def compare(self, two_stage: Any, level: float | None = None) -> Comparison:
        """Side-by-side comparison with a two-stage result (``ipd.ipdmeta(...)`` or
        ``ipd.pool(...)``): a table, per-trial estimates, and ``.plot()``."""
        from ipdmeta.onestage.compare import compare
        return compare(self, two_stage, level=level)

    def __repr__(self) -> str:
        head = f"{self.model}, {self.intercepts} intercepts, {self.method}"
        status = f", status {self.status}" if self.status != "ok" else ""
        try:
            est = f"{self.poolvar} = {self.estimate:.4g} (se {self.se:.4g})"
        except KeyError:
            est = "no estimate"
        return (f"OneStageResult({head}: {est}, tau2 = {self.tau2:.4g}, k = {self.k}, "
                f"n = {self.n}{status})")

    def summary(self, eform: bool | None = None, digits: int = 4) -> str:
        """A printed summary: model, data, fixed effects, random effects, fit statistics,
        convergence and notes.  ``eform`` exponentiates estimates and intervals (default:
        for ratio measures)."""
        eform = self.model != "linear" if eform is None else eform
        pct = round(self.level * 100)
        layout = ("baseline hazard stratified by trial" if self.model == "cox"
                  else f"{self.intercepts} trial intercepts")
        random = ", ".join(self.random_effects["term"].astype(str))
        lines = [f"One-stage IPD meta-analysis: {FAMILY[self.model]}",
                 f"  {self.formula}; trials: {self.study_var}; {layout}; random by trial: "
                 f"{random}",
                 f"  estimation: {self.estimation}",
                 f"  {self.k} trials, {self.n} participants"
                 + (f", {self.events} events" if self.events is not None else "")
                 + (f" ({self.n_dropped_rows} rows dropped for missing values)"
                    if self.n_dropped_rows else ""), ""]
        label = ("exp(b)" if eform else "Estimate")
        dfcol = self.df_method != "z"
        se_label = "SE (log)" if eform else "Std.Err."
        head = (f"{'Term':<22}{label:>11}{se_label:>11}" + (f"{'df':>9}" if dfcol else "")
                + f"{'t' if dfcol else 'z':>9}{'p':>9}{f'[{pct}% CI':>12}{']':>10}")
        lines += [head, "-" * len(head)]
        for r in self.coef.to_dict("records"):
            est, lo, hi = r["estimate"], r["ci_low"], r["ci_high"]
            if eform:
                est, lo, hi = np.exp(est), np.exp(lo), np.exp(hi)
            p = "<0.001" if r["pvalue"] < 0.001 else f"{r['pvalue']:.3f}"
            lines.append(f"{str(r['term'])[:21]:<22}{est:>11.{digits}f}{r['se']:>11.{digits}f}"
                         + (f"{r['df']:>9.2f}" if dfcol else "")
                         + f"{r['statistic']:>9.3f}{p:>9}{lo:>12.{digits}f}"
                         f"{hi:>10.{digits}f}")
        lines += ["-" * len(head)]
        if dfcol:
            lines.append(f"  t tests with {self.df_method.replace('-', ' ').title()} degrees "
                         "of freedom" + ("; Kenward-Roger adjusted standard errors"
                                         if self.df_method == "kenward-roger" else ""))
        lines += ["", "Random effects (by trial):"]
        for re_row in self.random_effects.itertuples():
            lines.append(f"  {re_row.term!s:<28} variance {re_row.variance:.{digits}g}"
                         f"   sd {re_row.sd:.{digits}g}")
        lo, hi = self.tau2_ci
        if np.isfinite(lo):
            lines.append(f"  tau² of '{self.random}': {self.tau2:.{digits}g}  "
                         f"[{pct}% profile-likelihood CI {lo:.{digits}g}, {hi:.{digits}g}]")
        if self.sigma2 is not None:
            lines.append(f"  residual variance: {self.sigma2:.{digits}g}")
        elif self.sigma2_study is not None:
            v = self.sigma2_study["sigma2"]
            lines.append(f"  residual variances by trial: {v.min():.{digits}g} to "
                         f"{v.max():.{digits}g}")
        kind = "restricted log-likelihood" if self.method == "REML" else "log-likelihood"
        lines += ["", f"  {kind} {self.loglik:.{digits + 2}g}, AIC {self.aic:.{digits + 2}g},"
                      f" BIC {self.bic:.{digits + 2}g} ({self.n_params} parameters)"]
        c = self.convergence
        lines.append(f"  convergence: {'yes' if c.converged else 'NO'} after {c.iterations} "
                     f"Newton iterations, max |gradient| {c.max_gradient:.1e}"
                     + ("" if c.hessian_ok else ", Hessian not negative definite"))
        if self.status != "ok":
            lines += ["", f"Status: {self.status} — {self.reason}"]
        if len(self.dropped):
            lines += ["", "Trials left out:"]
            lines += [f"  {r.study}: {r.reason}" for r in self.dropped.itertuples()]
        if self.notes:
            lines += ["", "Notes:"] + [f"  {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()
