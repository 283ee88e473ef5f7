"""One-stage and two-stage results side by side.

:func:`compare` takes a :class:`~ipdmeta.onestage.results.OneStageResult` and a two-stage
result (``ipd.ipdmeta(...)`` or ``ipd.pool(...)``) and returns a :class:`Comparison`:

* ``table``: one row per approach — the pooled estimate of the treatment (or interaction)
  term with its standard error, interval and p-value, tau² with its interval, the number
  of trials and participants;
* ``studies``: per trial, the two-stage estimate (the trial's own model) beside the
  one-stage trial-specific effect (fixed effect + BLUP, shrunken towards the mean);
* ``summary()`` and ``plot()`` (a forest-style figure of both, :mod:`ipdmeta.plots.compare`).

The two approaches answer the same question with different weights and assumptions, and
agree closely when trials are large and the models match; Burke, Ensor & Riley (2017)
list why they may differ (docs/one-stage.md).

Example:
    >>> import ipdmeta as ipd
    >>> from ipdmeta.onestage import onestage
    >>> wg = ipd.datasets.load("weight_gain")
    >>> one = onestage(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
    ...                model="linear", covariates_by_study=True, tau2_ci=False)
    >>> two = ipd.ipdmeta(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
    ...                   model="linear")
    >>> c = one.compare(two)
    >>> c.table["approach"].tolist(), round(float(c.table["estimate"].diff().iloc[1]), 2)
    (['two-stage', 'one-stage'], -0.02)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ipdmeta.onestage.results import OneStageResult

CI_NAMES = {"z": "Wald z", "t": "t", "hksj": "HKSJ", "hksj-trunc": "HKSJ (truncated)",
            "pl": "profile likelihood"}


@dataclass(frozen=True, eq=False)
class Comparison:
    """One-stage and two-stage results side by side (see the module docstring)."""

    table: pd.DataFrame
    studies: pd.DataFrame
    measure: str
    poolvar: str
    level: float
    notes: tuple[str, ...] = ()

    @property
    def eform_default(self) -> bool:
        return self.measure in ("OR", "HR", "IRR", "RR")

    def to_frame(self) -> pd.DataFrame:
        """The approach table."""
        return self.table.copy()

    def summary(self, eform: bool | None = None, digits: int = 3) -> str:
        """The approach table in words, and the per-trial estimates."""
        eform = self.eform_default if eform is None else eform
        pct = round(self.level * 100)
        f = (lambda v: f"{np.exp(v):.{digits}f}") if eform else (lambda v: f"{v:.{digits}f}")
        label = f"exp({self.poolvar})" if eform else self.poolvar
        lines = [f"One-stage versus two-stage IPD meta-analysis of '{self.poolvar}' "
                 f"({self.measure})", "",
                 f"{'Approach':<11}{label[:14]:>14}{f'[{pct}% CI':>11}{']':>9}{'p':>9}"
                 f"{'tau²':>10}{'k':>5}{'n':>8}"]
        for r in self.table.to_dict("records"):
            p = "<0.001" if r["pvalue"] < 0.001 else f"{r['pvalue']:.3f}"
            n = "." if not np.isfinite(r["n"]) else str(int(r["n"]))
            lines.append(f"{r['approach']:<11}{f(r['estimate']):>14}{f(r['ci_low']):>11}"
                         f"{f(r['ci_high']):>9}{p:>9}{r['tau2']:>10.4g}{r['k']:>5}{n:>8}")
        lines += [""] + [f"  {r.approach}: {r.model}" for r in self.table.itertuples()]
        one, two = self.table.iloc[1], self.table.iloc[0]
        lines += ["", f"Difference (one − two): {one.estimate - two.estimate:+.4g} on the "
                      f"analysis scale ({(one.estimate - two.estimate) / two.se:+.2f} "
                      f"two-stage standard errors); se ratio {one.se / two.se:.3f}"]
        if self.notes:
            lines += [""] + [f"Note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        t = self.table
        return (f"Comparison({self.poolvar}: two-stage {t.estimate.iloc[0]:.4g} "
                f"(tau2 {t.tau2.iloc[0]:.4g}), one-stage {t.estimate.iloc[1]:.4g} "
                f"(tau2 {t.tau2.iloc[1]:.4g}))")

    def plot(self, *, eform: bool | None = None, ax: Axes | None = None,
             path: str | Path | None = None, **options: Any) -> Figure:
        """Forest-style plot of both approaches (:func:`ipdmeta.plots.compare.compare_plot`)."""
        from ipdmeta.plots.compare import compare_plot
        return compare_plot(self, eform=eform, ax=ax, path=path, **options)


def _two_stage_parts(two_stage: Any) -> tuple[Any, Any]:
    meta = getattr(two_stage, "meta", two_stage)
    if not hasattr(meta, "overall") or not hasattr(meta, "studies"):
        raise InputError("compare() takes a two-stage result: the value of ipd.ipdmeta(...) "
                         f"or ipd.pool(...); got {type(two_stage).__name__}")
    return meta, getattr(two_stage, "aggregate", None)


def compare(one: OneStageResult, two_stage: Any, level: float | None = None) -> Comparison:
    """The :class:`Comparison` of a one-stage and a two-stage result."""
    meta, ad = _two_stage_parts(two_stage)
    o = meta.overall
    notes = []
    if meta.measure and meta.measure != one.measure and not (
            one.model == "linear" and meta.measure in ("MD", "coef")):
        notes.append(f"the two-stage measure is {meta.measure}, the one-stage one {one.measure}")
    if ad is not None and getattr(ad, "poolvar", None) not in (None, one.poolvar):
        notes.append(f"the two-stage analysis pooled '{ad.poolvar}', the one-stage estimate "
                     f"is of '{one.poolvar}'")
    if level is not None and abs(level - one.level) > 1e-12:
        notes.append(f"the one-stage interval is at level {one.level}, not {level}")
    row = one._row()
    two_n = (int(ad.ok.table["n"].sum())              # the participants of the pooled trials
             if ad is not None and "n" in ad.table.columns else np.nan)
    model2 = (f"{'random' if o.model == 'random' else 'common'} effects ({o.method}, "
              f"{CI_NAMES.get(o.ci_method, o.ci_method)})")
    layout = "stratified baselines" if one.model == "cox" else f"{one.intercepts} intercepts"
    model1 = (f"{one.estimation}, {layout}"
              + (f", {one.df_method.replace('-', ' ').title()} df"
                 if one.df_method != "z" else ""))
    table = pd.DataFrame([
        {"approach": "two-stage", "model": model2, "estimate": o.estimate, "se": o.se,
         "ci_low": o.ci_low, "ci_high": o.ci_high, "pvalue": o.pvalue, "tau2": o.tau2,
         "tau2_ci_low": o.tau2_ci[0], "tau2_ci_high": o.tau2_ci[1], "k": o.k, "n": two_n},
        {"approach": "one-stage", "model": model1, "estimate": float(row["estimate"]),
         "se": float(row["se"]), "ci_low": float(row["ci_low"]),
         "ci_high": float(row["ci_high"]), "pvalue": float(row["pvalue"]), "tau2": one.tau2,
         "tau2_ci_low": one.tau2_ci[0], "tau2_ci_high": one.tau2_ci[1], "k": one.k,
         "n": one.n}])
    two = meta.studies[["study", "estimate", "ci_low", "ci_high"]].rename(
        columns={"estimate": "two_stage", "ci_low": "two_stage_ci_low",
                 "ci_high": "two_stage_ci_high"})
    two = two.assign(key=two["study"].astype(str))
    if one.poolvar == one.random:
        b = one.blups[one.blups["term"] == one.random][["study", "effect", "ci_low", "ci_high"]]
        b = b.rename(columns={"effect": "one_stage", "ci_low": "one_stage_ci_low",
                              "ci_high": "one_stage_ci_high"})
        b = b.assign(key=b["study"].astype(str)).drop(columns="study")
        studies = two.merge(b, on="key", how="left")
        extra = b[~b["key"].isin(two["key"])].assign(study=lambda f: f["key"])
        studies = pd.concat([studies, extra], ignore_index=True) if len(extra) else studies
    else:
        studies = two.assign(one_stage=np.nan, one_stage_ci_low=np.nan,
                             one_stage_ci_high=np.nan)
    studies = studies.drop(columns="key")
    return Comparison(table=table, studies=studies.reset_index(drop=True),
                      measure=one.measure, poolvar=one.poolvar, level=one.level,
                      notes=tuple(notes))
