"""Meta-regression: study estimates regressed on study-level covariates.

``metareg()`` fits the mixed-effects model ``y_i = x_i'β + u_i + e_i`` with
``u_i ~ N(0, tau²)`` (residual heterogeneity) and ``e_i ~ N(0, v_i)``, or the
common-effect (fixed) model without ``u_i``, as metafor's ``rma.uni(mods=)``:
tau² from the estimators of :mod:`ipdmeta.pooling.tau2` on the design matrix,
β by weighted least squares with weights ``1/(v_i + tau²)``, Wald z, t or
Knapp-Hartung t tests on k − p df, the omnibus test QM of the moderators, the test
of residual heterogeneity QE, residual I² and H², and the pseudo-R² of the
heterogeneity accounted for.  Formulas and references: ``docs/methods/metareg.md``.

Example:
    >>> import ipdmeta as ipd
    >>> from ipdmeta.pooling.metareg import metareg
    >>> bcg = ipd.datasets.load_bcg()
    >>> mr = metareg(bcg, "~ ablat", estimate="yi", variance="vi", study="trial")
    >>> round(float(mr.coef.loc[1, "estimate"]), 4), round(mr.R2, 2)
    (-0.0291, 75.63)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError
from ipdmeta.pooling.analyses import ModelAnalyses
from ipdmeta.pooling.heterogeneity import tau2_ci_qprofile
from ipdmeta.pooling.inference import critical_value
from ipdmeta.pooling.influence import InfluenceResult, influence
from ipdmeta.pooling.input import read_study_table
from ipdmeta.pooling.options import PoolSpec, regression_spec
from ipdmeta.pooling.permutation import PermutationResult, permutation_test
from ipdmeta.pooling.regression import (
    NAN,
    RegFit,
    design_matrix,
    fit_regression,
    fit_robust_regression,
    pseudo_r2,
)
from ipdmeta.pooling.robust import RobustFit
from ipdmeta.pooling.robust_lik import mixture_precision, t_precision
from ipdmeta.pooling.sandwich import RobustVariance, robust_variance
from ipdmeta.pooling.summary_data import effect_size_table
from ipdmeta.pooling.wald import resolve_terms

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True, eq=False)
class MetaRegResult(ModelAnalyses):
    """The result of ``ipd.metareg()``.

    ``coef`` has one row per coefficient (term, estimate, se, ci_low, ci_high,
    z_or_t, pvalue, and pvalue_perm / pvalue_perm_adj after a permutation test);
    tau², I² (residual) and H² describe the residual heterogeneity; R² (percent) the
    heterogeneity accounted for; QM tests the moderators (chi² for ci="z", else F on
    ``QM_df``), QE the residual heterogeneity.
    """

    coef: pd.DataFrame
    tau2_ci: tuple[float, float]
    R2: float
    k: int
    fit: RegFit
    spec: PoolSpec
    formula: str
    X: np.ndarray
    estimates: np.ndarray
    variances: np.ndarray
    studies: pd.DataFrame
    data: pd.DataFrame
    model_spec: Any = None
    permutation: PermutationResult | None = None
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["study", "status", "reason"]))
    measure: str | None = None
    messages: tuple[str, ...] = ()
    robust_model: RobustFit | None = None

    # the fit's heterogeneity and tests, under the names metafor and Stata use
    tau2 = property(lambda self: self.fit.tau2, doc="Residual tau².")
    I2 = property(lambda self: self.fit.I2, doc="Residual I² (percent).")
    H2 = property(lambda self: self.fit.H2, doc="Residual H².")
    QM = property(lambda self: self.fit.QM, doc="Omnibus test of the moderators.")
    QM_df = property(lambda self: self.fit.QM_df, doc="Its df: (m, None) or (m, k − p).")
    QM_pvalue = property(lambda self: self.fit.QM_pvalue, doc="Its p-value.")
    QE = property(lambda self: self.fit.QE, doc="Test of residual heterogeneity.")
    QE_df = property(lambda self: self.fit.QE_df, doc="Its df (k − p).")
    QE_pvalue = property(lambda self: self.fit.QE_pvalue, doc="Its p-value.")

    @property
    def terms(self) -> list[str]:
        """Names of the coefficients (formulaic's column names)."""
        return self.coef["term"].tolist()

    @property
    def vcov(self) -> pd.DataFrame:
        """Covariance of the coefficients (Knapp-Hartung-scaled when ci is hksj)."""
        return pd.DataFrame(self.fit.vcov, index=self.terms, columns=self.terms)

    @property
    def df(self) -> int | None:
        """Degrees of freedom of the t tests (None for z)."""
        return self.fit.df

    def predict(self, newdata: pd.DataFrame | dict | None = None, level: float | None = None
                ) -> pd.DataFrame:
        """Predicted effect at moderator values, as metafor's ``predict.rma``.

        ``newdata`` holds the moderator columns (None: the fitted values of the
        studies).  Returns pred, se, ci_low, ci_high and the prediction interval
        pi_low, pi_high ``pred ± crit·sqrt(se² + tau²)`` (NaN for the common-effect
        model); crit is normal for ci="z", else t on k − p df.
        """
        if newdata is None:
            Xn = self.X
        else:
            frame = pd.DataFrame(newdata)
            try:
                Xn = np.asarray(self.model_spec.get_model_matrix(frame), dtype=float)
            except Exception as err:
                raise InputError(f"cannot build the moderators for newdata: {err}") from err
            if Xn.shape[0] != len(frame):
                raise InputError("newdata has missing moderator values; fill them in")
        return self._predict_matrix(Xn, level)

    def _predict_matrix(self, Xn: np.ndarray, level: float | None = None) -> pd.DataFrame:
        lev = self.spec.level if level is None else regression_spec(level=level).level
        pred = Xn @ self.fit.beta
        se = np.sqrt(np.einsum("ij,jk,ik->i", Xn, self.fit.vcov, Xn))
        crit = critical_value(lev, self.fit.df)
        out = pd.DataFrame({"pred": pred, "se": se, "ci_low": pred - crit * se,
                            "ci_high": pred + crit * se})
        half = crit * np.sqrt(se**2 + self.tau2)
        common = self.spec.is_common
        out["pi_low"] = np.nan if common else pred - half
        out["pi_high"] = np.nan if common else pred + half
        return out

    def bubble_data(self, moderator: str, n: int = 100, level: float | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Points and fitted line for a bubble plot of ``moderator``.

        The points are the studies (x: moderator, y: estimate, weight in percent in the
        model and ``weight_within`` from the within-study variances alone);
        the line is the prediction over the moderator's range with the other design
        columns at their means (as metafor's ``regplot``), with its CI.
        """
        if moderator not in self.terms:
            raise InputError(f"moderator {moderator!r} is not a column of the model; use one of "
                             f"{', '.join(t for t in self.terms if t != 'Intercept')}")
        j = self.terms.index(moderator)
        x = self.X[:, j]
        grid = np.linspace(float(x.min()), float(x.max()), n)
        Xg = np.tile(self.X.mean(axis=0), (n, 1))
        Xg[:, j] = grid
        line = self._predict_matrix(Xg, level)
        line.insert(0, moderator, grid)
        within = 1.0 / self.variances
        points = pd.DataFrame({"study": self.studies["study"], moderator: x,
                               "estimate": self.estimates, "se": np.sqrt(self.variances),
                               "weight": self.studies["weight"],
                               "weight_within": 100 * within / within.sum()})
        return points, line

    def bubble(self, moderator: str, **options: Any) -> Figure:
        """Bubble plot of the estimates against ``moderator``; see ``plots.bubble``."""
        from ipdmeta.plots.bubble import bubble_plot
        return bubble_plot(self, moderator, **options)

    def influence(self) -> InfluenceResult:
        """Case-deletion diagnostics (metafor's ``influence()``)."""
        return influence(self)

    def outlier_probabilities(self) -> pd.DataFrame:
        """Each study's posterior probability of the outlier component (method="mixture")."""
        if self.robust_model is None or self.robust_model.model != "mixture":
            raise InputError("outlier probabilities come from the normal-mixture model: "
                             "metareg(..., method='mixture')")
        return pd.DataFrame({"study": self.studies["study"],
                             "outlier_probability": self.robust_model.outlier_prob})

    def robust(self, cluster: Any = None, adjust: bool = True) -> RobustVariance:
        """Cluster-robust (sandwich) variance of the coefficients, as metafor ``robust()``.

        ``cluster`` is a column of the input table or one value per study (default:
        each study its own cluster); ``adjust`` applies n/(n − p) ("CR1").  Tests use
        t on (clusters − p) df; QM is the F test of the moderators.
        """
        if self.robust_model is not None:
            raise InputError(f"robust() applies to inverse-variance meta-regression, not "
                             f"method={self.spec.method!r}")
        if isinstance(cluster, str):
            if cluster not in self.data.columns:
                raise InputError(f"cluster column {cluster!r} is not in the table (columns: "
                                 f"{', '.join(map(str, self.data.columns))})")
            cluster = self.data[cluster].to_numpy()
        return robust_variance(self.estimates, self.variances, self.X, self.fit.tau2,
                               self.fit.beta, cluster=cluster, adjust=adjust,
                               level=self.spec.level, btt=self.fit.btt,
                               terms=tuple(self.terms))

    def to_frame(self) -> pd.DataFrame:
        """The coefficient table."""
        return self.coef.copy()

    def to_dict(self) -> dict[str, Any]:
        """Coefficients, heterogeneity and tests as plain Python objects."""
        keys = ("tau2", "tau2_ci", "I2", "H2", "R2", "QM", "QM_df", "QM_pvalue", "QE", "QE_df",
                "QE_pvalue", "k", "formula", "measure")
        out = {key: getattr(self, key) for key in keys}
        out.update(method=self.spec.method, ci=self.spec.ci, level=self.spec.level,
                   coef=self.coef.to_dict(orient="records"), messages=list(self.messages))
        if self.permutation is not None:
            out["QM_pvalue_perm"] = self.permutation.QM_pvalue
            out["permutations"] = self.permutation.permutations
        return out

    def summary(self, eform: bool = False, digits: int = 4) -> str:
        """A printed table in the spirit of Stata's metareg and metafor's print."""
        from ipdmeta.report.tables import regression_summary
        return regression_summary(self, eform=eform, digits=digits)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (f"MetaRegResult({self.formula!r}, k={self.k}, {self.spec.method}/"
                f"{self.spec.ci}: QM={self.QM:.4g} (p={self.QM_pvalue:.4g}), "
                f"tau²={self.tau2:.4g}, R²={self.R2:.1f}%)")


def _coef_frame(names: list[str], fit: RegFit, perm: PermutationResult | None) -> pd.DataFrame:
    frame = pd.DataFrame({"term": names, "estimate": fit.beta, "se": fit.se,
                          "ci_low": fit.ci_low, "ci_high": fit.ci_high,
                          "z_or_t": fit.statistic, "pvalue": fit.pvalue})
    if perm is not None:
        frame["pvalue_perm"] = perm.pvalues
        frame["pvalue_perm_adj"] = perm.pvalues_adjusted
    return frame


def metareg(data: Any, formula: str, *, estimate: str | None = None, se: str | None = None,
            variance: str | None = None, study: str | None = None, method: str = "REML",
            ci: str = "hksj", level: float = 0.95, permutations: int = 0,
            seed: int | np.random.Generator | None = None, exact: bool | None = None,
            joint: Any = None, intercept: bool = True, measure: str | None = None,
            events: Any = None, n: Any = None, nonevents: Any = None, means: Any = None,
            sds: Any = None, time: Any = None, cor: Any = None,
            correction: float | None = None, to: str = "only0",
            drop_double_zero: bool | None = None, correction_type: str = "constant",
            progress: bool | None = None
            ) -> MetaRegResult:
    """Meta-regression of study estimates on study-level covariates.

    Args:
        data: one row per study: a DataFrame or stage 1's ``AggregateData`` (only
            ``status == "ok"`` rows are used).
        formula: the moderators in formulaic syntax, e.g. ``"~ C(intervention) + year"``
            (categorical ``C()``, continuous, interactions ``a:b``/``a*b``); a left-hand
            side names the estimate column.  Studies with a missing moderator are
            left out (and listed in ``messages``).
        estimate, se, variance, study: column names (found automatically when named
            like ``estimate``/``yi``, ``se``/``sei`` or ``vi``, ``study``).
        method: "REML" (default), "ML", "DL", "PM", "PMM", "EB", "HE", "SJ", "HS",
            "HM" (Hartung-Makambi), "DK2S"/"SJ2S" (two-step, e.g. "SJ2S-REML") or
            "common" (aliases "FE", "EE", "IV": no residual heterogeneity).
        ci: "hksj" (Knapp-Hartung, default as Stata's metareg; metafor test="knha"),
            "hksj-trunc" (factor truncated at 1; metafor test="adhoc"), "hksj-zovert"
            (truncated at (z/t)², metan truncate(zovert)), "z" or "t"; t-type tests use
            k − p df and QM becomes an F test.  Sandwich variance: ``mr.robust()``.
        level: confidence level.
        permutations: number of arrangements for a permutation test (0: none); exact
            enumeration when there are no more distinct arrangements (see
            :mod:`ipdmeta.pooling.permutation`).
        seed, exact: random seed or ``numpy.random.Generator``; force (True) or forbid
            (False) exact enumeration.
        joint: terms (names, positions or a pattern such as "C(region)") whose joint
            Wald test also gets a permutation p-value (``permutation.joint_pvalue``;
            metafor's ``permutest`` of a model fitted with ``btt=``); needs
            ``permutations``.
        intercept: include an intercept (default True).
        measure: effect measure for display; with summary data, the measure to compute
            (``ipdmeta.effects.MEASURES``).
        events, n, nonevents, means, sds, time, cor: summary-data columns, as
            :func:`ipdmeta.effects.effect_sizes`: the effect sizes are computed first and
            regressed on the moderators.
        correction, to, drop_double_zero, correction_type: the continuity correction of
            the summary data (as :func:`ipdmeta.effects.effect_sizes`).
        progress: a progress bar over the permutations (:mod:`ipdmeta.progress`;
            default: on a terminal, for runs longer than half a second).

    Returns:
        MetaRegResult.

    Example:
        >>> import ipdmeta as ipd
        >>> from ipdmeta.pooling.metareg import metareg
        >>> bcg = ipd.datasets.load_bcg()
        >>> mr = metareg(bcg, "~ ablat + C(alloc)", estimate="yi", variance="vi",
        ...              study="trial", method="DL", ci="z")
        >>> mr.terms
        ['Intercept', 'ablat', 'C(alloc)[T.random]', 'C(alloc)[T.systematic]']
    """
    spec = regression_spec(method, ci, level)
    summary = {k: v for k, v in {"events": events, "n": n, "nonevents": nonevents,
                                 "means": means, "sds": sds, "time": time,
                                 "cor": cor}.items() if v is not None}
    notes: tuple[str, ...] = ()
    if summary:
        if measure is None:
            raise InputError("give measure= with summary data, e.g. measure='OR' or 'SMD'")
        if estimate is not None or se is not None or variance is not None:
            raise InputError("give either summary-data columns (events=, means= ...) or "
                             "estimate= with se=/variance=, not both")
        data, es = effect_size_table(data, measure, summary, correction=correction, to=to,
                                     drop_double_zero=drop_double_zero,
                                     correction_type=correction_type, study=study,
                                     level=spec.level)
        estimate, variance, measure, notes = "estimate", "variance", es.measure, es.notes
    if "~" in formula and formula.split("~", 1)[0].strip() and estimate is None:
        estimate = formula.split("~", 1)[0].strip()
    table = read_study_table(data, estimate=estimate, se=se, variance=variance, study=study)
    X, names, model_spec, kept = design_matrix(table.data, formula, intercept)
    messages = [*notes, *table.messages]
    if len(kept) < len(table.y):
        dropped = [table.labels[i] for i in sorted(set(range(len(table.y))) - set(kept))]
        messages.append(f"{len(dropped)} stud{'y' if len(dropped) == 1 else 'ies'} left out "
                        f"(missing moderator values): {', '.join(map(str, dropped))}")
    y, v = table.y[kept], table.v[kept]
    labels = [table.labels[i] for i in kept]
    robust = None
    if spec.method in ("t", "mixture"):
        if permutations:
            raise InputError(f"permutations= is not available with method={spec.method!r}")
        fit, robust = fit_robust_regression(y, v, X, spec, names)
    else:
        fit = fit_regression(y, v, X, spec)
    messages.extend(fit.messages)
    perm = None
    if joint is not None and not permutations:
        raise InputError("joint= is a permutation test of a subset of moderators: give "
                         "permutations= too (use mr.wald_test() for the Wald test)")
    if permutations:
        joint_idx = None if joint is None else resolve_terms(joint, names)
        perm = permutation_test(
            y, v, X, method=spec.method, ci=spec.ci, btt=fit.btt,
            observed_statistics=fit.statistic, observed_QM=fit.QM,
            permutations=permutations, seed=seed, exact=exact, joint=joint_idx,
            observed_joint=(None if joint_idx is None
                            else fit_regression(y, v, X, spec, btt=joint_idx).QM),
            progress=progress)
        if perm.failed:
            messages.append(f"permutation test: {perm.failed} refits did not converge and "
                            "were left out")
    w = 1.0 / (v + fit.tau2)
    if robust is not None:
        w = (t_precision if robust.model == "t" else mixture_precision)(
            robust.theta[None, :], y[None, :], v[None, :], X)[0]
    studies = pd.DataFrame({"study": labels, "estimate": y, "se": np.sqrt(v),
                            "weight": 100 * w / np.sum(w), "fitted": X @ fit.beta,
                            "residual": y - X @ fit.beta})
    plain = robust is None and not spec.is_common
    tau2_ci = tau2_ci_qprofile(y, v, X, spec.level) if plain else (NAN, NAN)
    return MetaRegResult(
        coef=_coef_frame(names, fit, perm), tau2_ci=tau2_ci,
        R2=NAN if robust is not None else pseudo_r2(y, v, X, spec, fit), k=len(y), fit=fit,
        spec=spec, formula=formula, X=X, robust_model=robust,
        estimates=y, variances=v,
        studies=studies, data=table.data.iloc[kept].reset_index(drop=True),
        model_spec=model_spec, permutation=perm, excluded=table.excluded,
        measure=measure or table.measure, messages=tuple(messages))
