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
from ipdmeta.pooling.heterogeneity import tau2_ci_qprofile
from ipdmeta.pooling.inference import critical_value
from ipdmeta.pooling.influence import InfluenceResult, influence
from ipdmeta.pooling.input import read_study_table
from ipdmeta.pooling.options import PoolSpec, regression_spec
from ipdmeta.pooling.permutation import PermutationResult, permutation_test
from ipdmeta.pooling.regression import NAN, RegFit, design_matrix, fit_regression, pseudo_r2

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True, eq=False)
class MetaRegResult:
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

        The points are the studies (x: moderator, y: estimate, weight in percent);
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
        points = pd.DataFrame({"study": self.studies["study"], moderator: x,
                               "estimate": self.estimates, "se": np.sqrt(self.variances),
                               "weight": self.studies["weight"]})
        return points, line

    def bubble(self, moderator: str, **options: Any) -> Figure:
        """Bubble plot of the estimates against ``moderator``; see ``plots.bubble``."""
        from ipdmeta.plots.bubble import bubble_plot
        return bubble_plot(self, moderator, **options)

    def influence(self) -> InfluenceResult:
        """Case-deletion diagnostics (metafor's ``influence()``)."""
        return influence(self)

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
            intercept: bool = True, measure: str | None = None) -> MetaRegResult:
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
        method: "REML" (default), "ML", "DL", "PM", "PMM", "EB", "HE", "SJ", "HS" or
            "common" (aliases "FE", "EE", "IV": no residual heterogeneity).
        ci: "hksj" (Knapp-Hartung, default as Stata's metareg; metafor test="knha"),
            "hksj-trunc" (factor truncated at 1; metafor test="adhoc"), "z" or "t";
            t-type tests use k − p df and QM becomes an F test.
        level: confidence level.
        permutations: number of arrangements for a permutation test (0: none); exact
            enumeration when there are no more distinct arrangements (see
            :mod:`ipdmeta.pooling.permutation`).
        seed, exact: random seed or ``numpy.random.Generator``; force (True) or forbid
            (False) exact enumeration.
        intercept: include an intercept (default True).
        measure: effect measure for display.

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
    if "~" in formula and formula.split("~", 1)[0].strip() and estimate is None:
        estimate = formula.split("~", 1)[0].strip()
    table = read_study_table(data, estimate=estimate, se=se, variance=variance, study=study)
    X, names, model_spec, kept = design_matrix(table.data, formula, intercept)
    messages = list(table.messages)
    if len(kept) < len(table.y):
        dropped = [table.labels[i] for i in sorted(set(range(len(table.y))) - set(kept))]
        messages.append(f"{len(dropped)} stud{'y' if len(dropped) == 1 else 'ies'} left out "
                        f"(missing moderator values): {', '.join(map(str, dropped))}")
    y, v = table.y[kept], table.v[kept]
    labels = [table.labels[i] for i in kept]
    fit = fit_regression(y, v, X, spec)
    messages.extend(fit.messages)
    perm = None
    if permutations:
        perm = permutation_test(y, v, X, method=spec.method, ci=spec.ci, btt=fit.btt,
                                observed_statistics=fit.statistic, observed_QM=fit.QM,
                                permutations=int(permutations), seed=seed, exact=exact)
        if perm.failed:
            messages.append(f"permutation test: {perm.failed} refits did not converge and "
                            "were left out")
    w = 1.0 / (v + fit.tau2)
    studies = pd.DataFrame({"study": labels, "estimate": y, "se": np.sqrt(v),
                            "weight": 100 * w / np.sum(w), "fitted": X @ fit.beta,
                            "residual": y - X @ fit.beta})
    tau2_ci = ((NAN, NAN) if spec.is_common else tau2_ci_qprofile(y, v, X, spec.level))
    return MetaRegResult(
        coef=_coef_frame(names, fit, perm), tau2_ci=tau2_ci,
        R2=pseudo_r2(y, v, X, spec, fit), k=len(y), fit=fit, spec=spec, formula=formula, X=X,
        estimates=y, variances=v,
        studies=studies, data=table.data.iloc[kept].reset_index(drop=True),
        model_spec=model_spec, permutation=perm, excluded=table.excluded,
        measure=measure or table.measure, messages=tuple(messages))
