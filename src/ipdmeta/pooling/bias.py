"""Small-study effects: Egger's regression test, Begg's rank test, trim-and-fill, funnel data.

Definitions follow metafor's ``regtest``, ``ranktest`` and ``trimfill`` (references
in ``docs/methods/metareg.md``):

* :func:`egger_test` regresses the estimates on their standard errors (or
  variances, sample sizes): ``model="rma"`` (metafor's default) fits the
  meta-regression with the options of the result (tau² method and test);
  ``model="lm"`` is the classic Egger et al. (1997) weighted least squares with a
  multiplicative dispersion (t on k − p df).  The intercept is the "limit estimate"
  (the effect at se = 0).
* :func:`rank_test`: Begg & Mazumdar (1994), Kendall's tau between standardised
  deviates ``(y_i − b)/sqrt(v_i − 1/Σw)`` and the variances; exact p-value without
  ties (as R's ``cor.test``), normal approximation with tie correction otherwise.
* :func:`trimfill`: Duval & Tweedie (2000) with the L0, R0 or Q0 estimator of the
  number of missing studies; the side is taken from the sign of Egger's slope
  (missing on the right when it is negative), as metafor.

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
    >>> tf = trimfill(m)
    >>> tf.k0, tf.side
    (1, 'right')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.influence import model_parts
from ipdmeta.pooling.input import StudyTable
from ipdmeta.pooling.options import PoolSpec, regression_spec
from ipdmeta.pooling.regression import RegFit, fit_regression

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ipdmeta.pooling.results import MetaResult

PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")


@dataclass(frozen=True, eq=False)
class EggerResult:
    """Regression test for funnel-plot asymmetry.

    ``statistic``/``pvalue``/``df`` test the predictor's coefficient (df None: z
    test); ``estimate`` with ``ci_low``/``ci_high`` is the limit estimate (intercept,
    intercept-only models and predictors sei, vi, ninv, sqrtninv only; else NaN).
    """

    model: str
    predictor: str
    statistic: float
    pvalue: float
    df: int | None
    estimate: float
    ci_low: float
    ci_high: float
    fit: RegFit
    terms: list[str]

    def to_dict(self) -> dict[str, Any]:
        """The test and the limit estimate (without the regression fit)."""
        return {k: getattr(self, k) for k in ("model", "predictor", "statistic", "pvalue",
                                              "df", "estimate", "ci_low", "ci_high")}

    def summary(self) -> str:
        """The test in words, as metafor's ``regtest`` prints it."""
        stat = "z" if self.df is None else f"t ({self.df} df)"
        what = ("Egger's regression test" if self.model == "lm" else
                "Regression test (meta-regression model)")
        lines = [f"{what} for funnel-plot asymmetry, predictor: {self.predictor}",
                 f"  test of the predictor: {stat} = {self.statistic:.4f}, "
                 f"p = {self.pvalue:.4g}"]
        if np.isfinite(self.estimate):
            lines.append(f"  limit estimate (as se -> 0): {self.estimate:.4f} "
                         f"[{self.ci_low:.4f}, {self.ci_high:.4f}]")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"EggerResult(model={self.model!r}, predictor={self.predictor!r}, "
                f"statistic={self.statistic:.4g}, pvalue={self.pvalue:.4g})")


def _sample_sizes(result: Any, n: str | None) -> np.ndarray:
    data = result.data
    column = n or next((c for c in ("n", "ni", "_NN") if c in data.columns), None)
    if column is None or column not in data.columns:
        raise InputError("this predictor needs sample sizes: give n= the column that holds them "
                         f"(columns: {', '.join(map(str, data.columns))})")
    return pd.to_numeric(data[column], errors="coerce").to_numpy(dtype=float)


def egger_test(result: Any, model: str = "rma", predictor: str = "sei",
               n: str | None = None) -> EggerResult:
    """Egger's regression test of a ``MetaResult`` (or ``MetaRegResult``: the predictor
    is added to its moderators), as metafor's ``regtest``.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
        >>> round(egger_test(m).statistic, 4), round(egger_test(m, model="lm").pvalue, 4)
        (-0.8033, 0.1887)
    """
    if model not in ("rma", "lm"):
        raise InputError(f"model={model!r}: use 'rma' (meta-regression) or 'lm' (classic Egger)")
    if predictor not in PREDICTORS:
        raise InputError(f"predictor={predictor!r}: use one of {', '.join(PREDICTORS)}")
    parts = model_parts(result)
    y, v, X = parts.y, parts.v, parts.X
    if predictor in ("sei", "vi"):
        extra = np.sqrt(v) if predictor == "sei" else v
    else:
        ni = _sample_sizes(result, n)
        extra = {"ni": ni, "ninv": 1 / ni, "sqrtni": np.sqrt(ni), "sqrtninv": 1 / np.sqrt(ni)}[
            predictor]
    Xe = np.column_stack([X, extra])
    if np.linalg.matrix_rank(Xe) < Xe.shape[1]:
        raise InputError("the design is no longer of full rank with the predictor added "
                         "(e.g. all studies have the same standard error)")
    spec = parts.spec if model == "rma" else regression_spec("common", "hksj", parts.spec.level)
    fit = fit_regression(y, v, Xe, spec, btt=np.array([Xe.shape[1] - 1]))
    j = Xe.shape[1] - 1
    limit = X.shape[1] == 1 and predictor in ("sei", "vi", "ninv", "sqrtninv")
    nan = float("nan")
    return EggerResult(model=model, predictor=predictor, statistic=float(fit.statistic[j]),
                       pvalue=float(fit.pvalue[j]), df=fit.df,
                       estimate=float(fit.beta[0]) if limit else nan,
                       ci_low=float(fit.ci_low[0]) if limit else nan,
                       ci_high=float(fit.ci_high[0]) if limit else nan,
                       fit=fit, terms=[*parts.terms, predictor])


@dataclass(frozen=True)
class RankTestResult:
    """Begg's rank correlation test: Kendall's tau (tau-b), p-value, exact or not."""

    tau: float
    pvalue: float
    exact: bool
    k: int

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dictionary."""
        return {"tau": self.tau, "pvalue": self.pvalue, "exact": self.exact, "k": self.k}

    def summary(self) -> str:
        """The test in words, as metafor's ``ranktest`` prints it."""
        return (f"Begg's rank correlation test for funnel-plot asymmetry ({self.k} studies): "
                f"Kendall's tau = {self.tau:.4f}, p = {self.pvalue:.4g}"
                f"{' (exact)' if self.exact else ''}")

    def __repr__(self) -> str:
        return f"RankTestResult(tau={self.tau:.4g}, pvalue={self.pvalue:.4g}, k={self.k})"


def kendall_cdf(q: int, n: int) -> float:
    """P(T ≤ q) for the number of inversions T of a random permutation of n items."""
    dist = np.array([1.0])
    for m in range(2, n + 1):
        dist = np.convolve(dist, np.full(m, 1.0 / m))
    return float(np.sum(dist[: int(q) + 1])) if q >= 0 else 0.0


def rank_test(result: Any, exact: bool = True) -> RankTestResult:
    """Begg & Mazumdar's rank correlation test (metafor's ``ranktest``).

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
        >>> r = rank_test(m)
        >>> round(r.tau, 4), round(r.pvalue, 4), r.exact
        (0.0256, 0.9524, True)
    """
    y, v = np.asarray(result.estimates, float), np.asarray(result.variances, float)
    usable = np.isfinite(y) & np.isfinite(v)  # MH/Peto: tables without an effect size
    y, v = y[usable], v[usable]
    n = len(y)
    if n < 3:
        raise InputError("the rank test needs at least 3 studies")
    w = 1.0 / v
    theta = np.sum(w * y) / np.sum(w)
    ystar = (y - theta) / np.sqrt(v - 1.0 / np.sum(w))
    tau = float(stats.kendalltau(ystar, v).statistic)
    ties = min(len(np.unique(ystar)), len(np.unique(v))) < n
    if exact and not ties:
        q = round((tau + 1) * n * (n - 1) / 4)
        half = n * (n - 1) / 4
        p = 1 - kendall_cdf(q - 1, n) if q > half else kendall_cdf(q, n)
        return RankTestResult(tau, min(2 * p, 1.0), True, n)
    xt = np.unique(ystar, return_counts=True)[1]
    yt = np.unique(v, return_counts=True)[1]
    xt, yt = xt[xt > 1].astype(float), yt[yt > 1].astype(float)
    t0 = n * (n - 1) / 2
    s = tau * np.sqrt((t0 - np.sum(xt * (xt - 1)) / 2) * (t0 - np.sum(yt * (yt - 1)) / 2))
    var_s = ((n * (n - 1) * (2 * n + 5) - np.sum(xt * (xt - 1) * (2 * xt + 5))
              - np.sum(yt * (yt - 1) * (2 * yt + 5))) / 18
             + np.sum(xt * (xt - 1)) * np.sum(yt * (yt - 1)) / (2 * n * (n - 1))
             + np.sum(xt * (xt - 1) * (xt - 2)) * np.sum(yt * (yt - 1) * (yt - 2))
             / (9 * n * (n - 1) * (n - 2)))
    return RankTestResult(tau, float(2 * stats.norm.sf(abs(s / np.sqrt(var_s)))), False, n)


# ---------------------------------------------------------------- trim and fill
@dataclass(frozen=True, eq=False)
class TrimFillResult:
    """Trim-and-fill: estimated number of missing studies and the analysis with them.

    ``k0`` (and its standard error ``se_k0``) missing studies on ``side``; ``p_k0``
    is the R0 test of k0 = 0 (NaN for L0/Q0); ``filled`` lists all studies with a
    ``filled`` flag; ``result`` is the ``MetaResult`` with the filled studies (the
    options of ``original``).
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float
    iterations: int
    filled: pd.DataFrame
    result: MetaResult
    original: MetaResult

    def to_dict(self) -> dict[str, Any]:
        """k0 and its test, the studies (filled ones flagged) and the filled analysis."""
        return {"k0": self.k0, "se_k0": self.se_k0, "side": self.side,
                "estimator": self.estimator, "p_k0": self.p_k0,
                "iterations": self.iterations, "filled": self.filled.to_dict(orient="records"),
                "result": self.result.to_dict()}

    def summary(self, eform: bool | None = None, digits: int = 3) -> str:
        """The number of filled studies, then the analysis with them."""
        head = (f"Trim-and-fill ({self.estimator}, {self.iterations} iterations): "
                f"{self.k0} {'study' if self.k0 == 1 else 'studies'} missing on the "
                f"{self.side} side (se {self.se_k0:.3f}"
                + (f", p(k0 = 0) = {self.p_k0:.4g}" if np.isfinite(self.p_k0) else "") + ")")
        if self.k0 == 0:
            return head + "; the analysis is unchanged."
        return head + "\n\n" + self.result.summary(eform=eform, digits=digits)

    def __repr__(self) -> str:
        o = self.result.overall
        return (f"TrimFillResult(k0={self.k0}, side={self.side!r}, "
                f"estimate={o.estimate:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}], "
                f"k={o.k})")

    def funnel_data(self, **options: Any) -> FunnelData:
        """What the funnel plot draws, the filled studies flagged (:func:`funnel_data`)."""
        return funnel_data(self, **options)

    def funnel(self, **options: Any) -> Figure:
        """Funnel plot with the filled studies as open circles; see ``plots.funnel``."""
        from ipdmeta.plots.funnel import funnel_plot
        return funnel_plot(self, **options)


def _mean(y: np.ndarray, v: np.ndarray, spec: PoolSpec) -> float:
    if len(y) == 1:
        return float(y[0])
    return float(fit_regression(y, v, np.ones((len(y), 1)), spec).beta[0])


def _k0(yc: np.ndarray, estimator: str) -> tuple[float, float]:
    """Missing-study estimate and its se from centred, sorted estimates (metafor)."""
    k = len(yc)
    signed = np.sign(yc) * stats.rankdata(np.abs(yc), method="ordinal")
    if estimator == "R0":
        neg = -signed[signed < 0]
        k0 = float(k - (neg.max() if neg.size else 0) - 1)
        return k0, float(np.sqrt(2 * max(0.0, k0) + 2))
    sr = float(np.sum(signed[signed > 0]))
    if estimator == "L0":
        k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
    else:
        k0 = k - 0.5 - np.sqrt(2 * k**2 - 4 * sr + 0.25)
    var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0
              - 18 * k * k0**2 - 18 * k * k0 + 6 * k**2 * k0) / 24
    root = np.sqrt(var_sr) if var_sr >= 0 else np.nan    # NaN, as metafor, when negative
    if estimator == "L0":
        return k0, 4 * root / (2 * k - 1)
    denom = (k - 0.5) ** 2 - k0 * (2 * k - k0 - 1)
    return k0, 2 * root / np.sqrt(denom) if denom > 0 else np.nan


def trimfill(result: MetaResult, side: str | None = None, estimator: str = "L0",
             maxiter: int = 100) -> TrimFillResult:
    """Duval & Tweedie's trim-and-fill on a pooled result (metafor's ``trimfill``).

    Args:
        result: a ``MetaResult`` without subgroups.
        side: "left" or "right" (where the missing studies are); None: from the sign
            of the slope of the meta-regression on the standard errors.
        estimator: "L0" (default), "R0" or "Q0".
        maxiter: iterations allowed.
    """
    if estimator not in ("L0", "R0", "Q0"):
        raise InputError(f"estimator={estimator!r}: use 'L0', 'R0' or 'Q0'")
    parts = model_parts(result)
    y, v = parts.y, parts.v
    k = len(y)
    if k < 3:
        raise InputError("trim-and-fill needs at least 3 studies")
    spec = replace(parts.spec, ci="z")
    if side is None:
        slope = fit_regression(y, v, np.column_stack([np.ones(k), np.sqrt(v)]), spec).beta[1]
        side = "right" if slope < 0 else "left"
    if side not in ("left", "right"):
        raise InputError(f"side={side!r}: use 'left', 'right' or None")
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y, kind="stable")
    ys, vs = sign * y[order], v[order]
    k0, previous, iterations, beta, se_k0 = 0, -1, 0, 0.0, 0.0
    while k0 != previous:
        previous, iterations = k0, iterations + 1
        if iterations > maxiter:
            raise InputError(f"trim-and-fill did not converge in {maxiter} iterations")
        beta = _mean(ys[: k - k0], vs[: k - k0], spec)
        est, se_k0 = _k0(ys - beta, estimator)
        k0, se_k0 = max(0, round(float(est))), max(0.0, float(se_k0))
        if k0 >= k:
            raise InputError(f"trim-and-fill estimated {k0} missing studies out of {k}; the "
                             "funnel is too asymmetric for the method")
    fill_y = sign * (2 * beta - ys[k - k0:])
    fill_v = vs[k - k0:]
    labels = [*parts.labels, *[f"Filled {i + 1}" for i in range(k0)]]
    all_y, all_v = np.concatenate([y, fill_y]), np.concatenate([v, fill_v])
    frame = pd.DataFrame({"study": labels, "estimate": all_y, "se": np.sqrt(all_v),
                          "filled": [False] * k + [True] * k0})
    filled_result = result
    if k0 > 0:
        table = StudyTable(y=all_y, v=all_v, labels=labels, data=frame)
        filled_result = type(result).from_table(table, result.spec,
                                                getattr(result, "measure", None))
    return TrimFillResult(k0=int(k0), se_k0=float(se_k0), side=side, estimator=estimator,
                          p_k0=0.5 ** (k0 + 1) if estimator == "R0" else float("nan"),
                          iterations=iterations, filled=frame, result=filled_result,
                          original=result)


# ---------------------------------------------------------------- funnel plot data
@dataclass(frozen=True, eq=False)
class FunnelData:
    """What a funnel plot draws: the studies, the centre line, the pseudo-CI and contours.

    ``points``: study, estimate, se, filled.  The pseudo confidence region is
    ``center ± crit·se``; contour-enhanced regions are ``null ± z_(1−α/2)·se`` for
    each α in ``contours`` (significance regions, Peters et al. 2008).
    """

    points: pd.DataFrame
    center: float
    level: float
    crit: float
    null: float
    contours: tuple[tuple[float, float], ...]
    se_max: float
    measure: str | None = None

    def summary(self) -> str:
        """What the funnel plot shows, in one line."""
        filled = int(self.points["filled"].astype(bool).sum())
        return (f"Funnel plot data: {len(self.points) - filled} studies"
                + (f" and {filled} filled" if filled else "")
                + f", centre {self.center:.4g}, {round(100 * self.level)}% pseudo-CI, "
                f"{len(self.contours)} significance contours")

    def __repr__(self) -> str:
        return f"FunnelData({self.summary()})"


def funnel_data(result: Any, level: float | None = None,
                contours: tuple[float, ...] | None = (0.10, 0.05, 0.01),
                null: float = 0.0) -> FunnelData:
    """Funnel-plot data of a ``MetaResult`` or ``TrimFillResult`` (filled studies flagged).

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> fd = funnel_data(ipd.pool(bcg, estimate="yi", variance="vi", study="trial"))
        >>> len(fd.points), round(fd.crit, 2)
        (13, 1.96)
    """
    if isinstance(result, TrimFillResult):
        points = result.filled.copy()
        pooled = result.result
    else:
        pooled = result
        points = pd.DataFrame({"study": result.studies["study"],
                               "estimate": np.asarray(result.estimates),
                               "se": np.sqrt(np.asarray(result.variances)), "filled": False})
    lev = pooled.spec.level if level is None else regression_spec(level=level).level
    crit = float(stats.norm.ppf(1 - (1 - lev) / 2))
    cont = tuple((float(a), float(stats.norm.ppf(1 - a / 2)))
                 for a in sorted(contours or (), reverse=True))
    return FunnelData(points=points, center=float(pooled.overall.estimate), level=lev,
                      crit=crit, null=float(null), contours=cont,
                      se_max=float(points["se"].max()), measure=getattr(pooled, "measure", None))


regtest = egger_test
ranktest = rank_test
