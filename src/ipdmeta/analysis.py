"""``ipdmeta()``: both stages of a two-stage IPD meta-analysis in one call.

Stage 1 (:func:`ipdmeta.stage1.stage1`) fits the model in each study; stage 2
(:func:`ipdmeta.pool`) pools the estimable studies.  The result keeps both:
``res.aggregate`` (the stage-1 table) and ``res.meta`` (the pooled result).

Example:
    >>> import numpy as np
    >>> from ipdmeta import datasets
    >>> from ipdmeta.analysis import ipdmeta
    >>> hyp = datasets.load("hypertension")
    >>> res = ipdmeta(hyp, study="trial", formula="Surv(time, event) ~ treat + age")
    >>> res.meta.k, res.aggregate.measure, round(float(np.exp(res.meta.overall.estimate)), 3)
    (10, 'HR', 0.816)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.onestage.api import onestage
from ipdmeta.onestage.compare import Comparison
from ipdmeta.onestage.results import OneStageResult
from ipdmeta.pooling.options import SPEC_OPTIONS, make_spec
from ipdmeta.pooling.pool import pool
from ipdmeta.pooling.results import MetaResult, Pooled
from ipdmeta.report.results_set import ResultsSet, results_set
from ipdmeta.report.tables import TextTable, fmt
from ipdmeta.stage1.columns import carry_columns, column_totals, label_studies, parse_columns
from ipdmeta.stage1.published import combine
from ipdmeta.stage1.run import stage1
from ipdmeta.stage1.table import AggregateData

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from matplotlib.figure import Figure

FAMILY_LABELS = {"linear": "Linear regression (least squares)",
                 "logistic": "Logistic regression", "poisson": "Poisson regression",
                 "cox": "Cox proportional hazards model",
                 "logrank": "Log-rank (Peto): O − E and V, estimate (O − E)/V"}


@dataclass(frozen=True, eq=False)
class IPDMetaResult:
    """Both stages of a two-stage IPD meta-analysis.

    Attributes:
        aggregate: the stage-1 table (:class:`~ipdmeta.stage1.table.AggregateData`).
        meta: the stage-2 result (:class:`~ipdmeta.pooling.results.MetaResult`).
        left_columns, right_columns: the columns of ``ipdmeta(left_columns=...)``,
            shown beside the forest plot and saved with the results set by default.
        column_totals: their values on the pooled rows (subgroups and overall).
        one_stage: with ``ipdmeta(..., one_stage=True)``, the one-stage fit
            (:class:`~ipdmeta.onestage.results.OneStageResult`), and ``comparison``
            the two side by side (:class:`~ipdmeta.onestage.compare.Comparison`).
    """

    aggregate: AggregateData
    meta: MetaResult
    left_columns: tuple[str, ...] = ()
    right_columns: tuple[str, ...] = ()
    column_totals: pd.DataFrame | None = None
    one_stage: OneStageResult | None = None
    comparison: Comparison | None = None

    @property
    def overall(self) -> Pooled:
        """The pooled result of the chosen stage-2 model (``meta.overall``)."""
        return self.meta.overall

    def stage1_table(self) -> pd.DataFrame:
        """The stage-1 table with the stage-2 weight (percent) of each pooled study."""
        weights = dict(zip(self.meta.studies["study"], self.meta.studies["weight"],
                           strict=True))
        table = self.aggregate.to_frame()
        table["weight"] = [weights.get(s, np.nan) if st == "ok" else np.nan
                           for s, st in zip(table["study"], table["status"], strict=True)]
        return table

    def summary(self, eform: bool | None = None, digits: int = 3) -> str:
        """Stage 1 (model, studies, participants, events, per-study table, studies
        not estimable) followed by the stage-2 summary.

        ``eform`` shows exponentiated estimates (default: for ratio measures).
        """
        eform = self.meta.eform_default if eform is None else eform
        lines = ["Two-stage IPD meta-analysis", "", *stage1_header(self.aggregate), "",
                 stage1_text(self.stage1_table(), self.aggregate, eform, digits)]
        table = self.aggregate.to_frame()
        bad = table[table["status"].ne("ok")]
        if len(bad):
            lines += ["", "Not estimable in stage 1 (not pooled):"]
            lines += [f"  {r.study}: {r.reason} [{r.status}]" for r in bad.itertuples()]
        noted = table[table["status"].eq("ok") & table["reason"].ne("")]
        if len(noted):
            lines += ["", "Study models that differ from the formula:"]
            lines += [f"  {r.study}: {r.reason}" for r in noted.itertuples()]
        stage2 = replace(self.meta, excluded=self.meta.excluded.iloc[0:0])
        lines += ["", "Stage 2: " + stage2.summary(eform=eform, digits=digits,
                                                    show_studies=False)]
        if self.one_stage is not None and self.comparison is not None:
            lines += ["", "=" * 78, "", self.one_stage.summary(eform=eform), "",
                      self.comparison.summary(eform=eform, digits=digits)]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        o = self.meta.overall
        return (f"IPDMetaResult({self.aggregate.model} model, {self.aggregate.measure} of "
                f"{self.aggregate.poolvar!r}: k={o.k}, estimate={o.estimate:.4g}, "
                f"se={o.se:.4g}, tau2={o.tau2:.4g})")

    def _repr_html_(self) -> str:
        from ipdmeta.report.html import result_html
        return result_html(self)

    def with_models(self, *models: Any) -> IPDMetaResult:
        """Further pooling models beside the chosen one (Stata's ``model(a \\ b)``); see
        :meth:`ipdmeta.pooling.results.MetaResult.with_models`."""
        return replace(self, meta=self.meta.with_models(*models))

    def with_study_level(self, level: float) -> IPDMetaResult:
        """Study intervals at another level (Stata's ``ilevel()``); see
        :meth:`ipdmeta.pooling.results.MetaResult.with_study_level`."""
        return replace(self, meta=self.meta.with_study_level(level))

    def forest(self, **options: Any) -> Figure:
        """Forest plot of the pooled result (``self.meta.forest(**options)``), with the
        analysis' ``left_columns``/``right_columns`` unless others are given."""
        self._column_defaults(options)
        return self.meta.forest(**options)

    def _column_defaults(self, options: dict[str, Any]) -> None:
        """The analysis' left/right columns, unless the call names others."""
        if self.left_columns:
            options.setdefault("left_columns", list(self.left_columns))
        if self.right_columns:
            options.setdefault("right_columns", list(self.right_columns))

    def results_set(self, **options: Any) -> ResultsSet:
        """The forest-plot rows as ipdmetan's ``saving()`` writes them, with the
        not-estimable studies and the stage-1 columns (``left_columns=["n"]`` ...);
        options as :func:`ipdmeta.report.results_set.results_set`."""
        self._column_defaults(options)
        if self.column_totals is not None:
            options.setdefault("totals", self.column_totals)
        return results_set(self, **options)

    def save(self, path: str | Path, **options: Any) -> Path:
        """Write the results set (ipdmetan's ``saving(AD.dta)``): ``.dta`` with value and
        variable labels, ``.csv`` or ``.parquet``; options as :meth:`results_set`.

        Example:
            >>> import os, tempfile, ipdmeta as ipd
            >>> wg = ipd.datasets.load("weight_gain")
            >>> res = ipd.ipdmeta(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
            ...                   model="linear", keep=["intervention", "study_name"])
            >>> p = res.save(os.path.join(tempfile.mkdtemp(), "AD.dta"),
            ...              left_columns=["intervention", "study_name"])
            >>> len(ipd.read_aggregate(p))
            33
        """
        return self.results_set(**options).save(path)


def stage1_header(ad: AggregateData) -> list[str]:
    """Lines describing the stage-1 model and the numbers of studies, participants, events.

    Example:
        >>> import pandas as pd
        >>> ad = AggregateData(pd.DataFrame({"study": ["A"], "estimate": [0.1], "se": [0.1],
        ...                    "n": [50], "n_dropped": [2]}), model="linear", measure="MD",
        ...                    formula="y ~ treat", poolvar="treat")
        >>> stage1_header(ad)[1]
        '  1 study (1 estimated), 50 participants (2 rows dropped for missing values)'
    """
    t = ad.table
    family = FAMILY_LABELS.get(ad.model or "", ad.model or "aggregate data")
    if ad.firth:
        family += ", Firth-penalised"
    if ad.model == "cox":
        family += f", ties: {ad.ties or 'efron'}"
    first = f"Stage 1: {family}; {ad.formula or ''}".rstrip("; ")
    k = len(t)
    counts = f"  {k} stud{'y' if k == 1 else 'ies'} ({int(t['status'].eq('ok').sum())} estimated)"
    if "n" in t.columns:
        counts += f", {int(t['n'].sum())} participants"
        if "n_dropped" in t.columns and int(t["n_dropped"].sum()):
            counts += f" ({int(t['n_dropped'].sum())} rows dropped for missing values)"
    if "events" in t.columns:
        counts += f", {int(t['events'].sum())} events"
    pooled = f"  pooled term: {ad.poolvar} ({ad.measure})"
    if ad.interaction:
        pooled += " — within-study interaction"
    return [first, counts, pooled, *(f"  note: {note}" for note in ad.notes)]


def _count(value: Any) -> str:
    """A count for the table: "." when missing (published rows without counts)."""
    return "." if value is None or pd.isna(value) else str(int(value))


def stage1_text(table: pd.DataFrame, ad: AggregateData, eform: bool, digits: int) -> str:
    """The per-study table: N, events, estimate, interval and % weight."""
    pct = round(ad.level * 100)
    has_events = "events" in table.columns
    cols = ["N", *(["Events"] if has_events else []),
            ad.measure or ("exp(ES)" if eform else "ES"), f"[{pct}% Conf.", "Interval]",
            "% Weight"]
    width = min(40, max([24] + [len(str(s)) + 1 for s in table["study"]]))
    out = TextTable("Study", cols, label_width=width, width=11)
    r: Any
    for r in table.itertuples():
        counts = [_count(getattr(r, "n", None)), *([_count(r.events)] if has_events else [])]
        weight = f"{r.weight:.2f}" if np.isfinite(r.weight) else "."
        out.add(r.study, [*counts, fmt(r.estimate, digits, eform), fmt(r.ci_low, digits, eform),
                          fmt(r.ci_high, digits, eform), weight])
    out.add_rule()
    return str(out)


def ipdmeta(data: Any, study: str, formula: str | None = None, model: str | None = None,
            poolvar: str | None = None, method: str = "REML", ci: str = "z",
            by: str | None = None, keep: str | Sequence[str] | None = None,
            level: float = 0.95, pi: str = "hts", tau2_ci: str = "qp",
            aggregate: Any = None, aggregate_columns: dict[str, str] | None = None,
            aggregate_measure: str | None = None, aggregate_scale: str | None = None,
            relabel: bool = False, left_columns: str | Sequence[str] | None = None,
            right_columns: str | Sequence[str] | None = None,
            label: str | Sequence[str] | None = None,
            pool_options: dict[str, Any] | None = None,
            one_stage: bool | dict[str, Any] = False,
            **stage1_options: Any) -> IPDMetaResult:
    """Two-stage IPD meta-analysis: the model in each study, then pooling.

    Stata's ``ipdmetan, study(trial): stcox treat ...`` in one call.

    Args:
        data: the participant data.
        study, formula, model, poolvar, keep: as in :func:`ipdmeta.stage1.stage1`.
        method, ci, level, pi, tau2_ci: as in :func:`ipdmeta.pool` (method "REML"
            and Wald z intervals by default, as metafor).
        by: a study-level column for subgroup analysis (kept automatically; it must
            be constant within each study). With ``aggregate=``, ``by="source"``
            compares IPD with aggregate-data studies.
        aggregate: published aggregate data to add in stage 2 (ipdmetan's ``ad()``):
            a DataFrame or file; ``aggregate_columns`` maps ``study``, ``estimate``
            and ``se`` (or ``variance``, ``ci_low``/``ci_high``, or ``oe``/``v``) to
            its columns -- or per-arm data: ``events_1``, ``n_1``, ``events_0``,
            ``n_0`` (2x2 counts) or ``mean_1``, ``sd_1``, ``n_1``, ``mean_0``,
            ``sd_0``, ``n_0`` (means), turned into effect sizes as
            :func:`ipdmeta.effects.effect_sizes`; ``aggregate_measure`` states its
            measure (must match the IPD model's; default: the same);
            ``aggregate_scale`` is "ratio" or "log" for ratio measures;
            ``relabel=True`` renames clashing study labels. See
            :func:`ipdmeta.stage1.published.combine`.
        left_columns, right_columns: columns shown left / right of the forest plot and
            saved with the results set, as ipdmetan's ``lcols()``/``rcols()``: study-level
            variables of the data (carried into the stage-1 table without ``keep=``),
            collapse syntax (``"(mean) age (count) n_age=id"``: a statistic of a
            participant-level variable per study, see :mod:`ipdmeta.stage1.columns`),
            returned values (``"(e(N))"``) or stage-1 columns (``n``, ``events``).
        label: a study-level column to label the studies with in tables and plots
            instead of the ``study`` identifiers, or ``(name, year)`` for "name (year)"
            (Stata's ``label(namevar= yearvar=)``).
        pool_options: further options of :func:`ipdmeta.pool` (``pi_level``, ``I2``,
            ``reps``, ``seed``, ``npts``), e.g. ``{"I2": "q", "pi_level": 0.8}``.
        one_stage: also fit the one-stage model (:func:`ipdmeta.onestage.api.onestage`:
            stratified intercepts, a random effect of the treatment) on the same data and
            attach it with the comparison; a dict gives its options (``{"intercepts":
            "random", "nagq": 1, "covariates_by_study": True}`` ...).  The formula, model,
            ``interaction=``, ``ties=``, ``exposure=``/``offset=`` and ``level`` are shared.
        **stage1_options: any other option of :func:`~ipdmeta.stage1.stage1`
            (``interaction=``, ``ties=``, ``strata=``, ``firth=``, ``engine=`` ...).

    Returns:
        :class:`IPDMetaResult` with ``.aggregate`` (stage 1) and ``.meta`` (stage 2)
        (and ``.one_stage``, ``.comparison`` with ``one_stage=``).

    Example:
        >>> from ipdmeta import datasets
        >>> wg = datasets.load("weight_gain")
        >>> res = ipdmeta(wg, study="study_name", formula="final_wt ~ trt + baseline_wt",
        ...               model="linear", by="intervention", ci="hksj")
        >>> sorted(res.meta.subgroups.pooled), res.aggregate.measure
        (['diet', 'exercise', 'mixed'], 'MD')
    """
    pool_options = dict(pool_options or {})
    make_spec(method, ci, level, pi, tau2_ci,   # check stage-2 options before stage 1 runs
              **{k: v for k, v in pool_options.items() if k in SPEC_OPTIONS})
    keep_list = [keep] if isinstance(keep, str) else list(keep or [])
    if by is not None:
        if not isinstance(by, str):
            raise InputError(f"by= takes one column name, got {by!r}")
        if by not in keep_list and not (aggregate is not None and by == "source"):
            keep_list.append(by)
    specs = parse_columns([*_as_list(left_columns), *_as_list(right_columns)])
    labels = _as_list(label)
    keep_list += [c for c in labels if c not in keep_list]
    ad = stage1(data, study=study, formula=formula, model=model, poolvar=poolvar,
                keep=keep_list, level=level, **stage1_options)
    ad = carry_columns(ad, data, study, specs) if specs else ad
    if label is not None:
        ad = label_studies(ad, label)
    if aggregate is not None:
        ad = combine(ad, aggregate, columns=aggregate_columns, measure=aggregate_measure,
                     scale=aggregate_scale, level=level, relabel=relabel)
    meta = pool(ad, method=method, ci=ci, by=by, level=level, pi=pi, tau2_ci=tau2_ci,
                **pool_options)
    n_left = len(parse_columns(_as_list(left_columns)))
    totals = None
    if specs:
        totals = column_totals(data, specs, by=by if by in data.columns else None,
                               stage1=ad)
    two = IPDMetaResult(aggregate=ad, meta=meta,
                        left_columns=tuple(s.name for s in specs[:n_left]),
                        right_columns=tuple(s.name for s in specs[n_left:]),
                        column_totals=totals)
    if one_stage is False or one_stage is None:
        return two
    one = _one_stage(data, study, ad, one_stage, level, stage1_options)
    return replace(two, one_stage=one, comparison=one.compare(two))


#: stage-1 options the one-stage model shares, and those it has no counterpart for
_SHARED = ("interaction", "ties", "exposure", "offset")
_NOT_ONE_STAGE = ("strata", "firth")


def _one_stage(data: Any, study: str, ad: AggregateData, options: bool | dict[str, Any],
               level: float, stage1_options: dict[str, Any]) -> OneStageResult:
    """The one-stage fit beside a two-stage analysis (same formula, model, options)."""
    extra = dict(options) if isinstance(options, dict) else {}
    used = [k for k in _NOT_ONE_STAGE if stage1_options.get(k)]
    if used:
        raise SpecificationError(f"one_stage=True cannot mirror {', '.join(used)}= (the "
                                 "one-stage model stratifies by trial only and has no Firth "
                                 "correction); fit ipd.onestage() separately")
    if ad.formula is None:
        raise SpecificationError("one_stage=True fits the stage-1 formula to all trials at "
                                 "once: give formula= (a model=callable has none)")
    shared = {k: stage1_options[k] for k in _SHARED if stage1_options.get(k) is not None}
    if ad.model != "cox":
        shared.pop("ties", None)
    if ad.interaction is None and ad.poolvar and "random" not in extra:
        extra["random"] = ad.poolvar
    return onestage(data, study=study, formula=ad.formula, model=ad.model, level=level,
                    **{**shared, **extra})


def _as_list(value: str | Sequence[str] | None) -> list[str]:
    """A column list from None, one name (or collapse-syntax text) or a sequence."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)
