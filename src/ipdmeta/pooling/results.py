"""``MetaResult``: the result of ``pool()``, with its sensitivity and bias analyses.

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", method="DL")
    >>> round(m.overall.estimate, 4)
    -0.7141
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.effects.transforms import EXPONENTIATED
from ipdmeta.errors import InputError
from ipdmeta.pooling.alternative import fit_alternative
from ipdmeta.pooling.analyses import ModelAnalyses
from ipdmeta.pooling.bias import (
    EggerResult,
    FunnelData,
    RankTestResult,
    TrimFillResult,
    egger_test,
    funnel_data,
    rank_test,
    trimfill,
)
from ipdmeta.pooling.counts_bias import CountsTestResult, harbord_test, peters_test
from ipdmeta.pooling.diagnostics import LabbeData, labbe_data
from ipdmeta.pooling.estimate import (
    NAN,
    Pooled,
    SubgroupResult,
    fit_pooled,
    study_weights,
    subgroup_analysis,
)
from ipdmeta.pooling.extra_models import pooled_models
from ipdmeta.pooling.failsafe import FsnResult, fsn
from ipdmeta.pooling.influence import InfluenceResult, influence
from ipdmeta.pooling.input import StudyTable
from ipdmeta.pooling.options import PoolSpec, common_spec, normalise_level
from ipdmeta.pooling.profile import ProfileResult, profile_mu
from ipdmeta.pooling.proportions import back_transformed
from ipdmeta.pooling.robust import RobustFit
from ipdmeta.pooling.robust_bootstrap import OutlierTest, outlier_test
from ipdmeta.pooling.sandwich import RobustVariance, robust_variance
from ipdmeta.pooling.sensitivity import cumulative, leave_one_out
from ipdmeta.pooling.user_weights import fit_user_weighted, weight_percent

if TYPE_CHECKING:
    from pathlib import Path

    from matplotlib.figure import Figure

    from ipdmeta.report.results_set import ResultsSet

__all__ = ["NAN", "MetaResult", "Pooled", "SubgroupResult"]

#: per-arm counts of stage 1 (0/1 pooled term) and of published 2x2 rows: forest(counts=)
ARM_COUNTS = ("events_1", "n_1", "events_0", "n_0")


def _log_rank_rows(table: StudyTable) -> bool:
    """True when every pooled row is a log-rank ``(O - E)/V`` with variance ``1/V``
    (stage 1's ``oe`` and ``v``): the inverse-variance common effect is then Peto's
    ``sum(O - E)/sum(V)`` with variance ``1/sum(V)``."""
    if not {"oe", "v"} <= set(table.data.columns) or not len(table.y):
        return False
    oe = pd.to_numeric(table.data["oe"], errors="coerce").to_numpy(dtype=float)
    v = pd.to_numeric(table.data["v"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return bool(np.all(v > 0) and np.allclose(table.y, oe / v, rtol=1e-9, atol=1e-12)
                    and np.allclose(table.v, 1 / v, rtol=1e-9, atol=0))


def _as_peto(p: Pooled) -> Pooled:
    return replace(p, method="peto") if p.model == "common" else p


def _subgroups_as_peto(sub: SubgroupResult | None) -> SubgroupResult | None:
    if sub is None:
        return None
    return replace(sub, pooled={g: _as_peto(p) for g, p in sub.pooled.items()})


@dataclass(frozen=True, eq=False)
class MetaResult(ModelAnalyses):
    """The result of ``ipd.pool()``.

    ``overall`` is the pooled result of the chosen model, ``common`` the
    common-effect result (always computed), ``studies`` the per-study table with
    weights in percent, ``subgroups`` the subgroup analysis when ``by=`` was given,
    ``excluded`` the studies left out (with their stage-1 status and reason);
    ``summary_columns`` the summary-data columns pooled from (``events``, ``n``, ...: each
    a (treatment, control) pair), when the result was pooled from summary data.
    Fit statistics, Wald tests, BLUPs, selection models, GOSH and the diagnostic
    plots come from :class:`ipdmeta.pooling.analyses.ModelAnalyses`.
    """

    overall: Pooled
    common: Pooled
    studies: pd.DataFrame
    spec: PoolSpec
    data: pd.DataFrame
    estimates: np.ndarray
    variances: np.ndarray
    subgroups: SubgroupResult | None = None
    common_subgroups: SubgroupResult | None = None
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["study", "status", "reason"]))
    measure: str | None = None
    messages: tuple[str, ...] = ()
    summary_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    study_sizes: np.ndarray | None = None
    robust_model: RobustFit | None = None
    user_weights: np.ndarray | None = None
    models: tuple[Pooled, ...] = ()

    @classmethod
    def from_table(cls, table: StudyTable, spec: PoolSpec, measure: str | None = None
                   ) -> MetaResult:
        """Pool a validated ``StudyTable``: ``pool()`` without the input handling."""
        uw = table.user_weights
        fit = None
        if uw is not None:
            def fit(idx: np.ndarray, s: PoolSpec) -> Pooled:
                return fit_user_weighted(table.y[idx], table.v[idx], uw[idx], s)
        alt = (fit_alternative(table.y, table.v, spec)
               if spec.is_alternative and len(table.y) > 1 else None)
        if fit is not None:
            overall = fit(np.arange(len(table.y)), spec)
            common = overall if spec.is_common else fit(np.arange(len(table.y)),
                                                        common_spec(spec))
        else:
            overall = fit_pooled(table.y, table.v, spec, table.genq_weights, table.n, alt)
            common = (overall if spec.is_common
                      else fit_pooled(table.y, table.v, common_spec(spec)))
        studies = table.study_frame(spec.level)
        studies["weight"] = (weight_percent(uw) if uw is not None
                             else study_weights(table.v, overall.tau2) if alt is None
                             else 100 * alt.weights / alt.weights.sum())
        subgroups = common_subgroups = None
        if table.by is not None:
            subgroups = subgroup_analysis(table, spec, fit)
            common_subgroups = (subgroups if spec.is_common
                                else subgroup_analysis(table, common_spec(spec), fit))
        if fit is None and _log_rank_rows(table):      # label the common effect "Peto"
            overall, common = _as_peto(overall), _as_peto(common)
            subgroups = _subgroups_as_peto(subgroups)
            common_subgroups = (subgroups if spec.is_common
                                else _subgroups_as_peto(common_subgroups))
        arms: dict[str, tuple[str, ...]] = ({"events": ("events_1", "events_0"),
                                              "n": ("n_1", "n_0")}
                if set(ARM_COUNTS) <= set(table.data.columns) else {})
        return cls(overall=overall, common=common, studies=studies, spec=spec,
                   data=table.data, estimates=table.y, variances=table.v,
                   subgroups=subgroups, common_subgroups=common_subgroups,
                   excluded=table.excluded, measure=measure or table.measure,
                   messages=table.messages + overall.messages, summary_columns=arms,
                   study_sizes=table.n, robust_model=None if alt is None else alt.robust,
                   user_weights=uw)

    def with_models(self, *models: str | Mapping[str, Any]) -> MetaResult:
        """This result with further pooling models shown beside the chosen one (Stata
        metan's ``model(fe \\ dl \\ reml, hksj)``): each a method name or a dict of
        ``pool()`` options (``method``, ``ci``, ``pi``, ``tau2_ci``); see
        :mod:`ipdmeta.pooling.extra_models`.  ``summary()``, ``forest()`` and
        ``results_set()`` show them after the chosen model.

        Example:
            >>> import ipdmeta as ipd
            >>> m = ipd.pool(ipd.datasets.load_bcg(), estimate="yi", variance="vi",
            ...              study="trial", method="common")
            >>> m2 = m.with_models("DL", {"method": "REML", "ci": "hksj"})
            >>> [p.method for p in (m2.overall, *m2.models)]
            ['common', 'DL', 'REML']
        """
        extra = pooled_models(self.estimates, self.variances, self.spec, list(models),
                              self.user_weights)
        return replace(self, models=self.models + extra)

    def with_study_level(self, level: float) -> MetaResult:
        """This result with the study intervals at another confidence level (Stata
        metan's ``ilevel()``; the pooled results keep ``spec.level``, ``olevel()``).

        Example:
            >>> import pandas as pd, ipdmeta as ipd
            >>> m = ipd.pool(pd.DataFrame({"yi": [0.1, 0.3], "sei": [0.1, 0.2]}))
            >>> round(float(m.with_study_level(90).studies.ci_low[0]), 4)
            -0.0645
        """
        lev = normalise_level(level)
        crit = float(stats.norm.ppf(1 - (1 - lev) / 2))
        studies = self.studies.assign(ci_low=self.studies.estimate - crit * self.studies.se,
                                      ci_high=self.studies.estimate + crit * self.studies.se)
        return replace(self, studies=studies)

    @property
    def k(self) -> int:
        """Number of studies pooled."""
        return self.overall.k

    @property
    def eform_default(self) -> bool:
        """True when the measure is a ratio (HR, OR, RR, IRR, ...), shown exponentiated."""
        return (self.measure or "").upper() in EXPONENTIATED | {"RATIO"}

    def pooled_subset(self, idx: np.ndarray) -> Pooled:
        """The pooled result of the studies ``idx`` with this result's options (used by
        leave-one-out and cumulative analyses)."""
        if self.user_weights is not None:
            return fit_user_weighted(self.estimates[idx], self.variances[idx],
                                     self.user_weights[idx], self.spec)
        sizes = None if self.study_sizes is None else self.study_sizes[idx]
        return fit_pooled(self.estimates[idx], self.variances[idx], self.spec, n=sizes)

    def back_transformed(self, study_ci: str = "transformed",
                         level: float | None = None) -> MetaResult:
        """A copy shown as proportions (measures PR, PLO, PAS, PFT), for tables and plots:
        see :func:`ipdmeta.pooling.proportions.back_transformed` (``study_ci``:
        "transformed", "exact" or "wilson", at ``level``)."""
        return back_transformed(self, study_ci, level)

    def leave_one_out(self) -> pd.DataFrame:
        """Pooled result with each study left out in turn (metafor's ``leave1out``)."""
        return leave_one_out(self)

    def cumulative(self, order: str | list | np.ndarray | None = None) -> pd.DataFrame:
        """Cumulative meta-analysis adding studies in data order or by ``order``.

        ``order`` is a column of the input table (for example "year") or a sequence
        of study labels.
        """
        return cumulative(self, order)

    def to_frame(self) -> pd.DataFrame:
        """Study rows plus pooled rows, with a ``row_type`` column (metan's results set)."""
        from ipdmeta.report.tables import result_frame
        return result_frame(self)

    def to_dict(self) -> dict[str, Any]:
        """Overall and common results, studies and options as plain Python objects."""
        out = {"overall": self.overall.to_dict(), "common": self.common.to_dict(),
               "studies": self.studies.to_dict(orient="records"),
               "excluded": self.excluded.to_dict(orient="records"),
               "measure": self.measure, "messages": list(self.messages)}
        if self.subgroups is not None:
            out["subgroups"] = {"table": self.subgroups.table.to_dict(orient="records"),
                                "Q_between": self.subgroups.Q_between,
                                "Q_between_df": self.subgroups.Q_between_df,
                                "Q_between_pvalue": self.subgroups.Q_between_pvalue}
        if self.robust_model is not None:
            out["robust_model"] = self.robust_model.to_dict()
        return out

    def summary(self, eform: bool | None = None, digits: int = 3,
                show_studies: bool = True) -> str:
        """A printable table in the spirit of Stata's metan output."""
        from ipdmeta.report.tables import meta_summary
        return meta_summary(self, eform=self.eform_default if eform is None else eform,
                            digits=digits, show_studies=show_studies)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        o = self.overall
        return (f"MetaResult({o.k} studies, {o.model} effect {o.method}/{o.ci_method}: "
                f"estimate {o.estimate:.4g} [{o.ci_low:.4g}, {o.ci_high:.4g}], "
                f"tau² {o.tau2:.4g}, I² {o.I2:.1f}%"
                + (f", by {self.subgroups.by!r}" if self.subgroups is not None else "")
                + (f"; measure {self.measure}" if self.measure else "") + ")")

    def _repr_html_(self) -> str:
        from ipdmeta.report.html import result_html
        return result_html(self)

    def forest(self, **options: Any) -> Figure:
        """Forest plot of this result; see ``ipdmeta.plots.forest.forest_plot``."""
        from ipdmeta.plots.forest import forest_plot
        return forest_plot(self, **options)

    def leave_one_out_forest(self, **options: Any) -> Figure:
        """Forest plot of the leave-one-out analysis (``plots.leave_one_out_plot``)."""
        from ipdmeta.plots.sensitivity import leave_one_out_plot
        return leave_one_out_plot(self, **options)

    def cumulative_forest(self, order: Any = None, **options: Any) -> Figure:
        """Forest plot of the cumulative analysis (``plots.cumulative_plot``)."""
        from ipdmeta.plots.sensitivity import cumulative_plot
        return cumulative_plot(self, order, **options)

    def influence(self) -> InfluenceResult:
        """Influence diagnostics (``ipdmeta.influence``): rstudent, DFFITS, Cook's D, ..."""
        return influence(self)

    def egger(self, **options: Any) -> EggerResult:
        """Egger's regression test for funnel-plot asymmetry (``ipdmeta.egger_test``)."""
        return egger_test(self, **options)

    def rank_test(self, exact: bool = True) -> RankTestResult:
        """Begg and Mazumdar's rank correlation test (``ipdmeta.rank_test``)."""
        return rank_test(self, exact)

    def trimfill(self, **options: Any) -> TrimFillResult:
        """Trim-and-fill (``ipdmeta.trimfill``): the filled studies and re-pooled result."""
        return trimfill(self, **options)

    def outlier_probabilities(self) -> pd.DataFrame:
        """Each study's posterior probability of belonging to the outlier component of the
        normal-mixture model (``method="mixture"``; metaplus ``outlierProbs``)."""
        fit = self.robust_model
        if fit is None or fit.model != "mixture":
            raise InputError("outlier probabilities come from the normal-mixture model: pool "
                             "with method='mixture'")
        return pd.DataFrame({"study": self.studies["study"],
                             "outlier_probability": fit.outlier_prob})

    def outlier_test(self, model: str | None = None, replicates: int = 999,
                     seed: int | None = None) -> OutlierTest:
        """Parametric-bootstrap test of normal against t or mixture random effects
        (metaplus ``testOutliers``); ``model`` defaults to this result's robust model."""
        model = model or (self.robust_model.model if self.robust_model is not None else None)
        if model is None:
            raise InputError("give model='t' or model='mixture' (the robust alternative to test "
                             "against normal random effects)")
        return outlier_test(self.estimates, self.variances, model=model,
                            replicates=replicates, seed=seed)

    def robust(self, cluster: Any = None, adjust: bool = True) -> RobustVariance:
        """Cluster-robust (sandwich) variance of the pooled estimate, as metafor ``robust()``.

        ``cluster`` is a column of the input table or one value per study (default:
        each study its own cluster); ``adjust`` applies the small-sample factor
        n/(n − 1) ("CR1").  Tests use t on (clusters − 1) df.
        """
        if self.spec.is_alternative:
            raise InputError(f"robust() applies to inverse-variance pooling (common effect or a "
                             f"tau² method); method={self.spec.method!r}/ci={self.spec.ci!r} "
                             "has its own variance")
        if isinstance(cluster, str):
            if cluster not in self.data.columns:
                raise InputError(f"cluster column {cluster!r} is not in the table (columns: "
                                 f"{', '.join(map(str, self.data.columns))})")
            cluster = self.data[cluster].to_numpy()
        o = self.overall
        return robust_variance(self.estimates, self.variances, np.ones((o.k, 1)), o.tau2,
                               np.array([o.estimate]), cluster=cluster, adjust=adjust,
                               level=o.level, terms=("estimate",))

    def funnel_data(self, **options: Any) -> FunnelData:
        """What the funnel plot draws (``ipdmeta.pooling.bias.funnel_data``)."""
        return funnel_data(self, **options)

    def funnel(self, **options: Any) -> Figure:
        """Funnel plot (``ipdmeta.plots.funnel_plot``)."""
        from ipdmeta.plots.funnel import funnel_plot
        return funnel_plot(self, **options)

    def results_set(self, **options: Any) -> ResultsSet:
        """The forest-plot rows with the variables of metan's ``saving()`` results set
        (``ipdmeta.report.results_set.results_set``: ``_USE``, ``_ES``, ``_WT`` ...)."""
        from ipdmeta.report.results_set import results_set
        return results_set(self, **options)

    def save(self, path: str | Path, **options: Any) -> Path:
        """Write the results set to ``.dta``, ``.csv`` or ``.parquet`` (metan's
        ``saving()``); ``options`` as :meth:`results_set`."""
        return self.results_set(**options).save(path)

    def fsn(self, method: str = "rosenthal", **options: Any) -> FsnResult:
        """Fail-safe N: "rosenthal", "orwin" or "rosenberg" (``ipdmeta.fsn``)."""
        return fsn(self, method, **options)

    def profile_mu(self, values: Any = None, n: int = 41) -> ProfileResult:
        """ML profile log-likelihood of the pooled effect (tau² maximised at each value)."""
        return profile_mu(self, values, n)

    def harbord(self, events: Any = None, n: Any = None) -> CountsTestResult:
        """Harbord's test from the 2x2 counts (columns ``events``/``n``: treated, control)."""
        return harbord_test(self, events, n)

    def peters(self, events: Any = None, n: Any = None, weights: str = "peters"
               ) -> CountsTestResult:
        """Peters' test: the estimates on 1/n (``ipdmeta.peters_test``)."""
        return peters_test(self, events, n, weights)

    def labbe_data(self, events: Any = None, n: Any = None, measure: str | None = None
                   ) -> LabbeData:
        """Arm-level outcomes and the pooled line of the L'Abbé plot."""
        return labbe_data(self, events, n, measure)

    def labbe(self, events: Any = None, n: Any = None, **options: Any) -> Figure:
        """L'Abbé plot (``ipdmeta.plots.labbe_plot``)."""
        from ipdmeta.plots.labbe import labbe_plot
        return labbe_plot(self, events, n, **options)
