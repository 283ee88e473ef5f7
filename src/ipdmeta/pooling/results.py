"""``MetaResult``: the result of ``pool()``, with its sensitivity and bias analyses.

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", method="DL")
    >>> round(m.overall.estimate, 4)
    -0.7141
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.pooling.bias import (
    EggerResult,
    FunnelData,
    TrimFillResult,
    egger_test,
    funnel_data,
    trimfill,
)
from ipdmeta.pooling.estimate import (
    NAN,
    Pooled,
    SubgroupResult,
    fit_pooled,
    study_weights,
    subgroup_analysis,
)
from ipdmeta.pooling.influence import InfluenceResult, influence
from ipdmeta.pooling.input import StudyTable
from ipdmeta.pooling.options import PoolSpec, common_spec
from ipdmeta.pooling.sensitivity import cumulative, leave_one_out

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["NAN", "MetaResult", "Pooled", "SubgroupResult"]


@dataclass(frozen=True, eq=False)
class MetaResult:
    """The result of ``ipd.pool()``.

    ``overall`` is the pooled result of the chosen model, ``common`` the
    common-effect result (always computed), ``studies`` the per-study table with
    weights in percent, ``subgroups`` the subgroup analysis when ``by=`` was given,
    ``excluded`` the studies left out (with their stage-1 status and reason).
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

    @classmethod
    def from_table(cls, table: StudyTable, spec: PoolSpec, measure: str | None = None
                   ) -> MetaResult:
        """Pool a validated ``StudyTable``: ``pool()`` without the input handling."""
        overall = fit_pooled(table.y, table.v, spec, table.genq_weights)
        common = overall if spec.is_common else fit_pooled(table.y, table.v, common_spec(spec))
        studies = table.study_frame(spec.level)
        studies["weight"] = study_weights(table.v, overall.tau2)
        subgroups = common_subgroups = None
        if table.by is not None:
            subgroups = subgroup_analysis(table, spec)
            common_subgroups = (subgroups if spec.is_common
                                else subgroup_analysis(table, common_spec(spec)))
        return cls(overall=overall, common=common, studies=studies, spec=spec,
                   data=table.data, estimates=table.y, variances=table.v,
                   subgroups=subgroups, common_subgroups=common_subgroups,
                   excluded=table.excluded, measure=measure or table.measure,
                   messages=table.messages + overall.messages)

    @property
    def k(self) -> int:
        """Number of studies pooled."""
        return self.overall.k

    @property
    def eform_default(self) -> bool:
        """True when the measure is a ratio (HR, OR, RR, IRR), shown exponentiated."""
        return (self.measure or "").upper() in {"HR", "OR", "RR", "IRR", "RATIO"}

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
        return out

    def summary(self, eform: bool | None = None, digits: int = 3,
                show_studies: bool = True) -> str:
        """A printable table in the spirit of Stata's metan output."""
        from ipdmeta.report.tables import meta_summary
        return meta_summary(self, eform=self.eform_default if eform is None else eform,
                            digits=digits, show_studies=show_studies)

    def __str__(self) -> str:
        return self.summary()

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

    def trimfill(self, **options: Any) -> TrimFillResult:
        """Trim-and-fill (``ipdmeta.trimfill``): the filled studies and re-pooled result."""
        return trimfill(self, **options)

    def funnel_data(self, **options: Any) -> FunnelData:
        """What the funnel plot draws (``ipdmeta.pooling.bias.funnel_data``)."""
        return funnel_data(self, **options)

    def funnel(self, **options: Any) -> Figure:
        """Funnel plot (``ipdmeta.plots.funnel_plot``)."""
        from ipdmeta.plots.funnel import funnel_plot
        return funnel_plot(self, **options)
