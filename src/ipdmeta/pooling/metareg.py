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
from scipy import stats

from ipdmeta.errors import ConvergenceError, InputError, SpecificationError
from ipdmeta.pooling.heterogeneity import cochran_q, i2_h2, tau2_ci_qprofile
from ipdmeta.pooling.inference import critical_value, hksj_scale, two_sided_p
from ipdmeta.pooling.input import read_study_table
from ipdmeta.pooling.pool import PoolSpec, make_spec
from ipdmeta.pooling.projection import Projection
from ipdmeta.pooling.tau2 import ESTIMATORS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ipdmeta.pooling.influence import InfluenceResult
    from ipdmeta.pooling.permutation import PermutationResult

NAN = float("nan")
REG_METHODS = ("common", "DL", "REML", "ML", "PM", "PMM", "EB", "HE", "SJ", "HS")
REG_CIS = ("z", "t", "hksj", "hksj-trunc")


@dataclass(frozen=True, eq=False)
class RegFit:
    """The numbers of one fit of ``y`` on ``X`` (metafor's ``rma.uni`` quantities).

    ``vcov`` includes the Knapp-Hartung factor ``s2w`` for ci "hksj"/"hksj-trunc";
    ``df`` is None for z tests, else k − p; ``btt`` indexes the coefficients in the
    omnibus test QM (all but the intercept); QM is F-scaled (divided by their number)
    for t-type tests.
    """

    beta: np.ndarray
    vcov: np.ndarray
    se: np.ndarray
    statistic: np.ndarray
    pvalue: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    df: int | None
    tau2: float
    s2w: float
    btt: np.ndarray
    QM: float
    QM_df: tuple[int, int | None]
    QM_pvalue: float
    QE: float
    QE_df: int
    QE_pvalue: float
    I2: float
    H2: float
    typical_variance: float
    iterations: int = 0
    messages: tuple[str, ...] = ()


def regression_spec(method: str = "REML", ci: str = "hksj", level: float = 0.95) -> PoolSpec:
    """Validated options for a meta-regression (``ci="pl"`` and GENQ are not offered)."""
    spec = make_spec(method, ci, level)
    if spec.method not in REG_METHODS:
        raise InputError(f"method={method!r} is not available for meta-regression; use one of "
                         f"{', '.join(REG_METHODS)}")
    if spec.ci not in REG_CIS:
        raise InputError(f"ci={ci!r} is not available for meta-regression; use one of "
                         f"{', '.join(REG_CIS)}")
    return spec


def default_btt(X: np.ndarray) -> np.ndarray:
    """Coefficients tested by QM: all but an intercept column (all of them if p = 1)."""
    p = X.shape[1]
    is_int = np.all(X == 1.0, axis=0)
    if p > 1 and is_int.any():
        return np.flatnonzero(~is_int)
    return np.arange(p)


def fit_regression(y: np.ndarray, v: np.ndarray, X: np.ndarray, spec: PoolSpec, *,
                   tau2: float | None = None, btt: np.ndarray | None = None) -> RegFit:
    """Fit the meta-regression of ``y`` (variances ``v``) on the k × p design ``X``.

    ``tau2`` fixes tau² instead of estimating it.  Raises ``ConvergenceError`` when
    the tau² estimator does not converge and ``InputError`` when k ≤ p.

    Example:
        >>> import numpy as np
        >>> X = np.column_stack([np.ones(4), [1.0, 2.0, 3.0, 4.0]])
        >>> f = fit_regression(np.array([0.1, 0.5, 0.3, 0.8]),
        ...                    np.array([0.01, 0.02, 0.03, 0.02]), X, regression_spec("DL", "z"))
        >>> round(float(f.beta[1]), 4), f.QE_df
        (0.1992, 2)
    """
    k, p = X.shape
    if k <= p:
        raise InputError(f"{k} studies cannot estimate {p} coefficients and tau²; a "
                         "meta-regression needs more studies than coefficients")
    messages: list[str] = []
    iterations = 0
    if tau2 is not None:
        t = float(tau2)
    elif spec.is_common:
        t = 0.0
    else:
        est = ESTIMATORS[spec.method](y, v, X)
        if not est.converged:
            raise ConvergenceError(est.message or f"{spec.method} did not converge")
        t, iterations = est.tau2, est.iterations
        if est.message:
            messages.append(est.message)
    proj = Projection(1.0 / (v + t), X)
    beta = proj.coef(y)
    s2w = 1.0
    if spec.ci.startswith("hksj"):
        s2w = hksj_scale(y, v, t, X)
        if spec.ci == "hksj-trunc":
            s2w = max(1.0, s2w)
        elif s2w == 0.0:
            messages.append("Knapp-Hartung: the model fits exactly, so the intervals have zero "
                            "width; ci='hksj-trunc' avoids this")
    vcov = s2w * proj.cov
    df = None if spec.ci == "z" else k - p
    se = np.sqrt(np.diag(vcov))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    crit = critical_value(spec.level, df)
    btt = default_btt(X) if btt is None else np.asarray(btt)
    QM, QM_df, QM_p = _omnibus(beta, vcov, btt, df)
    het = cochran_q(y, v, X)
    i2, h2 = i2_h2(t, het, spec.is_common and tau2 is None)
    return RegFit(beta=beta, vcov=vcov, se=se, statistic=stat,
                  pvalue=np.array([two_sided_p(s, df) for s in stat]),
                  ci_low=beta - crit * se, ci_high=beta + crit * se, df=df, tau2=t, s2w=s2w,
                  btt=btt, QM=QM, QM_df=QM_df, QM_pvalue=QM_p, QE=het.Q, QE_df=het.df,
                  QE_pvalue=het.pvalue, I2=i2, H2=h2, typical_variance=het.typical_variance,
                  iterations=iterations, messages=tuple(messages))


def _omnibus(beta: np.ndarray, vcov: np.ndarray, btt: np.ndarray, df: int | None
             ) -> tuple[float, tuple[int, int | None], float]:
    """Wald test of ``beta[btt] = 0``: chi² on m df, or F on (m, df) for t-type tests."""
    m = len(btt)
    b = beta[btt]
    try:
        qm = float(b @ np.linalg.solve(vcov[np.ix_(btt, btt)], b))
    except np.linalg.LinAlgError:
        qm = float("inf")
    if df is None:
        return qm, (m, None), float(stats.chi2.sf(qm, m))
    return qm / m, (m, df), float(stats.f.sf(qm / m, m, df))


def pseudo_r2(y: np.ndarray, v: np.ndarray, X: np.ndarray, spec: PoolSpec, fit: RegFit
              ) -> float:
    """Heterogeneity accounted for, in percent (metafor's R²; NaN without an intercept).

    Random effects: ``max(0, (tau²_RE − tau²_ME)/tau²_RE)`` with tau²_RE from the
    intercept-only model (Raudenbush 2009); 0 when tau²_RE = 0.  Common effect: the
    adjusted R² of the weighted least-squares regression, as metafor.
    """
    k, p = X.shape
    if p == 1 or not np.all(X == 1.0, axis=0).any():
        return NAN
    if spec.is_common:
        if np.var(y) == 0:
            return 0.0
        w = 1.0 / v
        fitted = X @ fit.beta
        mss = float(np.sum(w * (fitted - np.sum(w * fitted) / np.sum(w)) ** 2))
        rss = float(np.sum(w * (y - fitted) ** 2))
        adj = 1 - (1 - mss / (mss + rss)) * (k - 1) / (k - p)
        return max(0.0, 100 * adj)
    est = ESTIMATORS[spec.method](y, v, np.ones((k, 1)))
    if not est.converged:
        return NAN
    if est.tau2 == 0:
        return 0.0
    return max(0.0, 100 * (est.tau2 - fit.tau2) / est.tau2)


# ---------------------------------------------------------------- design matrix
def design_matrix(frame: pd.DataFrame, formula: str, intercept: bool = True):
    """Model matrix of the right-hand side of ``formula`` (formulaic), rows with NA dropped.

    Returns the matrix as floats, the column names, the formulaic ``ModelSpec`` (for
    new data) and the positions of the rows kept.
    """
    import formulaic

    rhs = formula.split("~", 1)[1] if "~" in formula else formula
    rhs = rhs.strip() or "1"
    if not intercept:
        rhs = f"{rhs} - 1"
    try:
        mm = formulaic.model_matrix("~ " + rhs, frame.reset_index(drop=True))
    except Exception as err:  # formulaic raises several types for unknown names etc.
        raise SpecificationError(
            f"cannot build the moderators of formula {formula!r}: {err} (columns: "
            f"{', '.join(map(str, frame.columns))})") from err
    X = np.asarray(mm, dtype=float)
    names = [str(c) for c in mm.columns]
    if X.shape[1] == 0:
        raise SpecificationError(f"formula {formula!r} has no terms (and no intercept)")
    rank = np.linalg.matrix_rank(X)
    if rank < X.shape[1]:
        redundant = [names[j] for j in range(1, X.shape[1])
                     if np.linalg.matrix_rank(X[:, : j + 1]) <= np.linalg.matrix_rank(X[:, :j])]
        raise SpecificationError(f"the moderators of {formula!r} are collinear: "
                                 f"{', '.join(redundant)} add(s) nothing to the columns before "
                                 "them; drop or recode them")
    return X, names, mm.model_spec, np.asarray(mm.index, dtype=int)


# ---------------------------------------------------------------- result
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
    tau2: float
    tau2_ci: tuple[float, float]
    I2: float
    H2: float
    R2: float
    QM: float
    QM_df: tuple[int, int | None]
    QM_pvalue: float
    QE: float
    QE_df: int
    QE_pvalue: float
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
        from ipdmeta.pooling.influence import influence
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
        from ipdmeta.pooling.permutation import permutation_test
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
        coef=_coef_frame(names, fit, perm), tau2=fit.tau2, tau2_ci=tau2_ci, I2=fit.I2,
        H2=fit.H2, R2=pseudo_r2(y, v, X, spec, fit), QM=fit.QM, QM_df=fit.QM_df,
        QM_pvalue=fit.QM_pvalue, QE=fit.QE, QE_df=fit.QE_df, QE_pvalue=fit.QE_pvalue,
        k=len(y), fit=fit, spec=spec, formula=formula, X=X, estimates=y, variances=v,
        studies=studies, data=table.data.iloc[kept].reset_index(drop=True),
        model_spec=model_spec, permutation=perm, excluded=table.excluded,
        measure=measure or table.measure, messages=tuple(messages))


CI_WORDS = {"z": "Wald z", "t": "t on {df} df", "hksj": "Knapp-Hartung t on {df} df",
            "hksj-trunc": "Knapp-Hartung t (truncated) on {df} df"}


def regression_summary(result: MetaRegResult, eform: bool = False, digits: int = 4) -> str:
    """The printed table of a ``MetaRegResult`` (coefficients, heterogeneity, tests)."""
    from ipdmeta.tables import TextTable, fmt, fmt_p

    def pv(p: float) -> str:
        text = fmt_p(p)
        return f"p {text}" if text.startswith("<") else f"p = {text}"

    spec, fit = result.spec, result.fit
    model = ("common effect" if spec.is_common
             else f"mixed effects, tau² by {spec.method}")
    tests = CI_WORDS[spec.ci].format(df=fit.df)
    pct = round(100 * spec.level)
    stat = "z" if fit.df is None else "t"
    cols = ["exp(b)" if eform else "Coef.", "Std. err.", stat, f"P>|{stat}|", f"[{pct}% Conf.",
            "Interval]"]
    perm = result.permutation
    if perm is not None:
        cols += ["perm. p", "adj. p"]
    table = TextTable("Term", cols, label_width=max(14, *(len(t) + 1 for t in result.terms)),
                      width=11)
    for r in result.coef.itertuples():
        cells = [fmt(r.estimate, digits, eform), "." if eform else fmt(r.se, digits),
                 f"{r.z_or_t:.2f}", fmt_p(r.pvalue), fmt(r.ci_low, digits, eform),
                 fmt(r.ci_high, digits, eform)]
        if perm is not None:
            cells += [fmt_p(r.pvalue_perm), fmt_p(r.pvalue_perm_adj)]
        table.add(r.term, cells)
    table.add_rule()
    m, df2 = result.QM_df
    qm = f"chi²({m}) = {result.QM:.2f}" if df2 is None else f"F({m}, {df2}) = {result.QM:.2f}"
    lines = [f"Meta-regression ({model}; {tests})   k = {result.k}",
             f"Formula: {result.formula}", "", str(table), ""]
    if not spec.is_common:
        lo, hi = result.tau2_ci
        lines.append(f"  Residual heterogeneity: tau² = {result.tau2:.{digits}f} "
                     f"[{lo:.{digits}f}, {hi:.{digits}f}]; I² = {result.I2:.2f}%; "
                     f"H² = {result.H2:.2f}")
    else:
        lines.append(f"  Residual heterogeneity: I² = {result.I2:.2f}%; H² = {result.H2:.2f}")
    if np.isfinite(result.R2):
        lines.append(f"  Heterogeneity accounted for: R² = {result.R2:.2f}%")
    lines.append(f"  Test of residual heterogeneity: QE = {result.QE:.3f} on {result.QE_df} "
                 f"df, {pv(result.QE_pvalue)}")
    moderators = ", ".join(result.terms[j] for j in fit.btt)
    lines.append(f"  Test of moderators ({moderators}): {qm}, {pv(result.QM_pvalue)}")
    if perm is not None:
        lines.append(f"  Permutation test ({'exact, ' if perm.exact else ''}{perm.permutations}"
                     f" {perm.kind}): QM {pv(perm.QM_pvalue)}; adj. p = Westfall-Young "
                     "max-|t| over the moderators")
    if result.messages:
        lines += ["", "Notes:"] + [f"  - {msg}" for msg in result.messages]
    return "\n".join(lines)
