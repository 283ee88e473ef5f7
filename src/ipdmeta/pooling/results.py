"""Result objects of stage 2: one pooled estimate, subgroup results, the whole analysis.

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", method="DL")
    >>> round(m.overall.estimate, 4)
    -0.7141
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ipdmeta.pooling.pool import PoolSpec

NAN = float("nan")


@dataclass(frozen=True)
class Pooled:
    """One pooled estimate with its interval, test, heterogeneity and prediction interval.

    ``model`` is "common" or "random"; ``method`` the tau² estimator; ``ci_method``
    the interval method.  I² is in percent, as in metafor and Stata.
    """

    model: str
    method: str
    ci_method: str
    level: float
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z_or_t: float
    pvalue: float
    df: float | None
    tau2: float
    tau2_ci: tuple[float, float]
    tau: float
    tau_ci: tuple[float, float]
    I2: float
    I2_ci: tuple[float, float]
    H2: float
    H2_ci: tuple[float, float]
    Q: float
    Q_df: int
    Q_pvalue: float
    pi_low: float
    pi_high: float
    pi_method: str
    iterations: int = 0
    messages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dictionary (tuples kept)."""
        return asdict(self)


@dataclass(frozen=True, eq=False)
class SubgroupResult:
    """Pooled result per subgroup and the test of difference between subgroups.

    The test compares the subgroup estimates with Cochran's Q on their standard
    errors (``Q_between`` on G − 1 df), as metan and RevMan do.
    """

    by: str
    pooled: dict[Any, Pooled]
    Q_between: float
    Q_between_df: int
    Q_between_pvalue: float

    @property
    def table(self) -> pd.DataFrame:
        """One row per subgroup: group, k, estimate, se, CI, p, tau², I², Q."""
        rows = [{"group": g, "k": p.k, "estimate": p.estimate, "se": p.se,
                 "ci_low": p.ci_low, "ci_high": p.ci_high, "pvalue": p.pvalue,
                 "tau2": p.tau2, "I2": p.I2, "Q": p.Q, "Q_df": p.Q_df,
                 "Q_pvalue": p.Q_pvalue, "pi_low": p.pi_low, "pi_high": p.pi_high}
                for g, p in self.pooled.items()]
        return pd.DataFrame(rows)


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
        from ipdmeta.pooling.sensitivity import leave_one_out
        return leave_one_out(self)

    def cumulative(self, order: str | list | np.ndarray | None = None) -> pd.DataFrame:
        """Cumulative meta-analysis adding studies in data order or by ``order``.

        ``order`` is a column of the input table (for example "year") or a sequence
        of study labels.
        """
        from ipdmeta.pooling.sensitivity import cumulative
        return cumulative(self, order)

    def to_frame(self) -> pd.DataFrame:
        """Study rows plus pooled rows, with a ``row_type`` column (metan's results set)."""
        from ipdmeta.tables import result_frame
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
        from ipdmeta.tables import meta_summary
        return meta_summary(self, eform=self.eform_default if eform is None else eform,
                            digits=digits, show_studies=show_studies)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        from ipdmeta.report import result_html
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

    def influence(self) -> Any:
        """Influence diagnostics (``ipdmeta.influence``): rstudent, DFFITS, Cook's D, ..."""
        from ipdmeta.pooling.influence import influence
        return influence(self)

    def egger(self, **options: Any) -> Any:
        """Egger's regression test for funnel-plot asymmetry (``ipdmeta.egger_test``)."""
        from ipdmeta.pooling.bias import egger_test
        return egger_test(self, **options)

    def trimfill(self, **options: Any) -> Any:
        """Trim-and-fill (``ipdmeta.trimfill``): the filled studies and re-pooled result."""
        from ipdmeta.pooling.bias import trimfill
        return trimfill(self, **options)

    def funnel(self, **options: Any) -> Figure:
        """Funnel plot (``ipdmeta.plots.funnel_plot``)."""
        from ipdmeta.plots.funnel import funnel_plot
        return funnel_plot(self, **options)
