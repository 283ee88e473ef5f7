"""``ipdover()``: the treatment effect within subgroups of participants (Stata's ``ipdover``).

Stata's ``ipdover, over(sex agegrp): <model>`` fits the model within each level of
each ``over()`` variable (and in all the data) and draws the estimates in a forest
plot whose boxes are sized by the number of participants: how the effect varies
across kinds of participants ("who benefits").  ``ipdover`` pools nothing and
tests nothing; a second ``over(trial)`` splits every result by trial.

:func:`ipdover` does the same with the stage-1 machinery of :func:`ipdmeta.stage1.stage1`:

* without ``study=``, one model per subgroup on all its participants (as Stata's
  ``ipdover``; write ``strata(trial)`` in a Cox formula to stratify by trial);
* with ``study=``, two-stage within each subgroup: the model in each trial's
  participants of that subgroup, pooled across trials with ``method=``/``ci=``
  (as :func:`ipdmeta.ipdmeta`), so trials are never mixed; a subgroup with one
  estimable trial shows that trial's estimate;
* ``by=`` (Stata's second ``over()``) repeats everything within each level of
  ``by``; ``by=study`` gives the trial-by-subgroup table (each trial's own
  estimate in each subgroup).

One stage-1 call per ``over`` variable fits all its cells at once (the study key is
the combination of subgroup, trial and ``by``).  Subgroup effects are descriptive:
to compare them use a within-trial interaction (``ipdmeta(..., interaction=...)``,
the "deft" approach of Fisher et al. 2017).

Example:
    >>> import ipdmeta as ipd
    >>> hyp = ipd.datasets.load("hypertension")
    >>> ov = ipdover(hyp, over=["smk"], study="trial",
    ...              formula="Surv(time, event) ~ treat + age")
    >>> ov.table[["over", "level", "k", "n"]].values.tolist()
    [['smk', 0, 10, 3560], ['smk', 1, 10, 850]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.errors import ConvergenceError, InputError
from ipdmeta.pooling.options import make_spec
from ipdmeta.pooling.pool import pool
from ipdmeta.report.results_set import ResultsSet
from ipdmeta.report.tables import TextTable, fmt
from ipdmeta.stage1.data import as_frame
from ipdmeta.stage1.run import stage1

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CELL = "__ipdover_cell__"
RESULT_COLUMNS = ["estimate", "se", "ci_low", "ci_high", "n", "events", "k", "tau2", "I2",
                  "status", "reason"]


@dataclass(frozen=True, eq=False)
class IPDOverResult:
    """Treatment effects within subgroups (the result of :func:`ipdover`).

    Attributes:
        table: one row per level of each ``over`` variable (within each ``by``
            level): ``by`` (with ``by=``), ``over``, ``level``, ``estimate``, ``se``,
            ``ci_low``, ``ci_high`` (analysis scale), ``n``, ``events`` (in the
            estimate), ``k`` (trials pooled), ``tau2``, ``I2`` (two-stage),
            ``status``, ``reason``.
        overall: the same for all participants (one row, or one per ``by`` level
            followed by the grand total).
        trials: the stage-1 rows of every trial in every subgroup (``by``, ``over``,
            ``level`` and the stage-1 columns).
    """

    table: pd.DataFrame
    overall: pd.DataFrame
    trials: pd.DataFrame
    over: tuple[str, ...]
    measure: str | None
    model: str
    formula: str
    poolvar: str | None
    study: str | None
    by: str | None
    method: str
    ci: str
    level: float
    labels: dict[str, str]

    @property
    def eform_default(self) -> bool:
        """True for ratio measures (shown exponentiated)."""
        return (self.measure or "").upper() in {"HR", "OR", "RR", "IRR"}

    def to_frame(self) -> pd.DataFrame:
        """Subgroup rows then overall rows, with ``row_type`` "subgroup" / "overall"."""
        return pd.concat([self.table.assign(row_type="subgroup"),
                          self.overall.assign(row_type="overall")], ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        """Rows and settings as plain Python objects."""
        return {"rows": self.to_frame().to_dict(orient="records"), "over": list(self.over),
                "measure": self.measure, "model": self.model, "formula": self.formula,
                "poolvar": self.poolvar, "study": self.study, "by": self.by,
                "method": self.method, "ci": self.ci, "level": self.level}

    def __repr__(self) -> str:
        how = (f"two-stage over trials ('{self.study}', {self.method})" if self.study
               else "one model per subgroup")
        return (f"IPDOverResult({self.measure or 'ES'} of {self.poolvar!r} within "
                f"{', '.join(self.over)}{f' by {self.by}' if self.by else ''}: "
                f"{len(self.table)} subgroups, {how})")

    def summary(self, eform: bool | None = None, digits: int = 3) -> str:
        """The estimates by subgroup as a printed table."""
        eform = self.eform_default if eform is None else eform
        pct = round(self.level * 100)
        cols = ["N", "Events", self.measure or "ES", f"[{pct}% Conf.", "Interval]", "k"]
        out = TextTable("Subgroup", cols, label_width=28, width=11)
        for label, row in _plot_rows(self):
            if row is None or row["_kind"] == "heading":
                out.add(label, [""] * len(cols))
                continue
            ok = row["status"] == "ok"
            out.add(label, [_count(row["n"]), _count(row.get("events")),
                            fmt(row["estimate"], digits, eform) if ok else "(not estimable)",
                            fmt(row["ci_low"], digits, eform) if ok else "",
                            fmt(row["ci_high"], digits, eform) if ok else "",
                            _count(row["k"])])
        how = (f"two-stage within each subgroup: the model in each trial ({self.study}), "
               f"pooled ({self.method}, {self.ci} interval)" if self.study
               else "one model per subgroup on all its participants")
        lines = [f"Subgroup analysis (ipdover): {self.model} model {self.formula}; "
                 f"{self.measure} of {self.poolvar!r}", f"  {how}", "", str(out)]
        bad = self.table[self.table["status"].ne("ok")]
        if len(bad):
            lines += ["", "Not estimable:"] + [
                f"  {r.over} = {r.level}: {r.reason}" for r in bad.itertuples()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def results_set(self) -> ResultsSet:
        """The forest-plot rows with the variables of Stata's ``ipdover`` results set:
        ``_USE``, ``_BY``, ``_OVER`` (1, 2 ... in the order of ``over``), ``_LEVEL``,
        ``_LABELS``, ``_ES`` ... ``_NN``; ``_WT`` is the share of participants."""
        total = float(self.overall["n"].iloc[-1] if len(self.overall)
                      else self.table["n"].max()) or 1.0
        rows = []
        for label, row in _plot_rows(self):
            if row is None or row["_kind"] == "heading":
                rows.append({"_USE": 6 if label == "" else 0, "_LABELS": label,
                             "_BY": np.nan if row is None else row["_by_code"]})
                continue
            use = {"subgroup": 1, "by_overall": 3, "overall": 5}[row["_kind"]]
            ok = row["status"] == "ok"
            if use == 1 and not ok:
                use = 2
            rows.append({"_USE": use, "_BY": row.get("_by_code", np.nan),
                         "_OVER": row.get("_over_code", np.nan),
                         "_LEVEL": row.get("_level_code", np.nan), "_LABELS": label,
                         "_ES": row["estimate"] if ok else np.nan,
                         "_seES": row["se"] if ok else np.nan,
                         "_LCI": row["ci_low"] if ok else np.nan,
                         "_UCI": row["ci_high"] if ok else np.nan,
                         "_WT": 100.0 * float(row["n"]) / total if ok else np.nan,
                         "_NN": float(row["n"])})
        frame = pd.DataFrame(rows)
        keep = ["_USE", *(["_BY"] if self.by else []), "_OVER", "_LEVEL", "_LABELS", "_NN",
                "_ES", "_seES", "_LCI", "_UCI", "_WT"]
        frame = frame.reindex(columns=keep)
        frame["_USE"] = frame["_USE"].astype("int8")
        frame["_LABELS"] = frame["_LABELS"].fillna("")
        labels = {"_NN": "No. pts", "_LABELS": "Subgroup", "_OVER": "over() variable",
                  "_LEVEL": "level of the over() variable", "_WT": "% of participants"}
        if self.by:
            labels["_BY"] = self.labels.get(self.by, self.by)
        return ResultsSet(frame=frame, measure=self.measure, eform=self.eform_default,
                          level=self.level, left_columns=("_NN",), labels=labels)

    def forest(self, **options: Any) -> Figure:
        """Forest plot as ipdover draws it: headings per covariate, its levels as rows,
        boxes sized by the number of participants, "No. pts" on the left; options as
        :func:`ipdmeta.plots.results_forest.results_set_plot`."""
        options.setdefault("show_weights", False)
        return self.results_set().forest(**options)

    def save(self, path: str | Path) -> Path:
        """Write the results set (``.dta``, ``.csv``, ``.parquet``)."""
        return self.results_set().save(path)


def _count(v: Any) -> str:
    return "." if v is None or (isinstance(v, float) and not np.isfinite(v)) else str(int(v))


def _level_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "(missing)" if pd.isna(value) else str(value)


def _plot_rows(res: IPDOverResult) -> list[tuple[str, dict[str, Any] | None]]:
    """(label, row) in plot order; row None for a heading of an over variable ("" for a
    gap), ``{"_kind": "heading"}`` for the heading of a ``by`` level."""
    out: list[tuple[str, dict[str, Any] | None]] = []
    lab = res.labels
    groups = ([None] if res.by is None else list(dict.fromkeys(res.table["by"])))
    codes = {g: i + 1 for i, g in enumerate(groups)}
    over_code = {v: i + 1 for i, v in enumerate(res.over)}
    for g in groups:
        part = res.table if g is None else res.table[res.table["by"] == g]
        if g is not None:
            out.append((g if isinstance(g, str) else f"{lab.get(str(res.by), res.by)} = "
                        f"{_level_text(g)}", {"_kind": "heading", "_by_code": codes[g]}))
        for var in res.over:
            rows = part[part["over"] == var]
            if g is None:
                out.append((lab.get(var, var), None))
            for i, r in enumerate(rows.to_dict(orient="records")):
                text = _level_text(r["level"])
                label = text if g is None else f"{lab.get(var, var)} = {text}"
                out.append((label, {**_record(r), "_kind": "subgroup", "_by_code": codes.get(g),
                                    "_over_code": over_code[var], "_level_code": i + 1}))
            if g is None:
                out.append(("", None))
        if g is not None:
            ov = res.overall[res.overall["by"] == g]
            if len(ov):
                out.append(("Overall", {**_record(ov.iloc[0]), "_kind": "by_overall",
                                        "_by_code": codes[g]}))
            out.append(("", None))
    if len(res.overall):
        out.append(("Overall", {**_record(res.overall.iloc[-1]), "_kind": "overall"}))
    return out


# ---------------------------------------------------------------------- computing
def _codes(series: pd.Series, missing: bool) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1: left out) and the sorted levels of a key column."""
    codes, levels = pd.factorize(series, sort=True, use_na_sentinel=not missing)
    return codes, np.asarray(levels, dtype=object)


def _fit_cells(frame: pd.DataFrame, keys: Sequence[str], study: str | None, missing: bool,
               fit: dict[str, Any]) -> tuple[pd.DataFrame, Any]:
    """Stage 1 in every cell (a combination of ``keys`` and the trial): its rows with the
    key columns decoded, and the AggregateData (for its measure and pooled term)."""
    parts = [*keys, *([study] if study else [])]
    coded = [_codes(frame[k], missing or k == study) for k in parts]
    use = np.ones(len(frame), dtype=bool)
    for c, _ in coded:
        use &= c >= 0
    if not use.any():
        raise InputError(f"no participant has a value of {', '.join(map(repr, keys))}")
    shape = tuple(max(len(lv), 1) for _, lv in coded) or (1,)
    cell = (np.ravel_multi_index(tuple(c[use] for c, _ in coded), shape) if coded
            else np.zeros(int(use.sum()), dtype=np.int64))
    ad = stage1(frame.loc[use].assign(**{CELL: cell}), study=CELL, **fit)
    rows = ad.to_frame()
    idx = np.unravel_index(rows["study"].to_numpy(dtype=np.int64), shape)[: len(parts)]
    for name, (_, levels), i in zip(parts, coded, idx, strict=True):
        rows[f"_key_{name}"] = levels[i]
        rows[f"_code_{name}"] = i        # the level's place in the column's own order
    return rows, ad


def _combine(rows: pd.DataFrame, spec: dict[str, Any], study: str | None) -> dict[str, Any]:
    """One subgroup's result from its trials' stage-1 rows."""
    ok = rows[rows["status"].eq("ok")]
    has_events = "events" in rows.columns
    out: dict[str, Any] = {"n": int(ok["n"].sum()) if len(ok) else int(rows["n"].sum()),
                           "events": int(ok["events"].sum()) if has_events and len(ok)
                           else (int(rows["events"].sum()) if has_events else None),
                           "k": len(ok), "tau2": np.nan, "I2": np.nan}
    if len(ok) == 0:
        if study is None:
            r = rows.iloc[0]
            return {**out, "status": r["status"], "reason": r["reason"],
                    **dict.fromkeys(("estimate", "se", "ci_low", "ci_high"), np.nan)}
        why = "; ".join(f"{s}: {r}" for s, r in zip(rows[f"_key_{study}"], rows["reason"],
                                                     strict=True))
        return {**out, "status": "no_estimable_study", "reason": f"no trial could be "
                f"estimated ({why})", **dict.fromkeys(("estimate", "se", "ci_low",
                                                       "ci_high"), np.nan)}
    if len(ok) == 1:
        r = ok.iloc[0]
        return {**out, "estimate": r["estimate"], "se": r["se"], "ci_low": r["ci_low"],
                "ci_high": r["ci_high"], "status": "ok", "reason": ""}
    try:
        p = pool(ok[["estimate", "se"]].reset_index(drop=True), estimate="estimate", se="se",
                 **spec).overall
    except ConvergenceError as err:
        return {**out, "status": "not_converged", "reason": f"pooling: {err}",
                **dict.fromkeys(("estimate", "se", "ci_low", "ci_high"), np.nan)}
    return {**out, "estimate": p.estimate, "se": p.se, "ci_low": p.ci_low,
            "ci_high": p.ci_high, "tau2": p.tau2, "I2": p.I2, "status": "ok", "reason": ""}


def _summaries(rows: pd.DataFrame, keys: Sequence[str], spec: dict[str, Any],
               study: str | None) -> pd.DataFrame:
    """One result per combination of ``keys``, in the order of their levels (sorted, or
    the categories' order for pandas categoricals)."""
    cols = [f"_code_{k}" for k in keys]
    out = []
    for _, part in (rows.groupby(cols, sort=True) if cols else [((), rows)]):
        values = {k: part[f"_key_{k}"].iloc[0] for k in keys}
        out.append({**values, **_combine(part, spec, study)})
    return pd.DataFrame(out)


def ipdover(data: Any, over: str | Sequence[str], formula: str | None = None,
            model: str | None = None, *, study: str | None = None, by: str | None = None,
            poolvar: str | None = None, method: str = "REML", ci: str = "z",
            level: float = 0.95, missing: bool = False, overall: bool = True,
            labels: dict[str, str] | None = None, **stage1_options: Any) -> IPDOverResult:
    """Treatment effects within the levels of covariates: Stata's ``ipdover``.

    Args:
        data: the participant data.
        over: the columns whose levels define the subgroups (integer-valued or text,
            as Stata's ``over()``); each is analysed separately.
        formula, model, poolvar: the model, as in :func:`ipdmeta.stage1.stage1`
            (``**stage1_options``: ``ties=``, ``strata=``, ``firth=`` ...).
        study: the trial column: two-stage within each subgroup (the model in each
            trial, pooled with ``method``/``ci`` as :func:`ipdmeta.pool`).  Without
            it, one model per subgroup on all its participants (Stata's ``ipdover``).
        by: a second grouping (Stata's second ``over()``): everything within each of
            its levels; ``by=study`` gives each trial's estimate in each subgroup.
        method, ci, level: stage-2 options (default REML with Wald intervals, as
            :func:`ipdmeta.ipdmeta`).
        missing: treat missing values of ``over``/``by`` as a subgroup (Stata's
            ``missing``); by default those participants are left out of that analysis.
        overall: also estimate the effect in all participants (and per ``by`` level).
        labels: headings for the columns (e.g. ``{"smk": "Smoking"}``).

    Returns:
        :class:`IPDOverResult` (``.table``, ``.overall``, ``.trials``, ``.forest()``,
        ``.summary()``, ``.results_set()``).

    Example:
        >>> import ipdmeta as ipd
        >>> hyp = ipd.datasets.load("hypertension")
        >>> ov = ipdover(hyp, over="smk", formula="Surv(time, event) ~ treat")
        >>> ov.table["n"].tolist(), int(ov.overall["n"].iloc[0])
        ([3560, 850], 4410)
    """
    frame = as_frame(data)
    over = [over] if isinstance(over, str) else list(over)
    if not over:
        raise InputError("give over= one or more columns whose levels define the subgroups")
    for name, role in [*((v, "over") for v in over), (study, "study"), (by, "by")]:
        if name is not None and name not in frame.columns:
            raise InputError(f"{role} column {name!r} is not in the data (columns: "
                             f"{', '.join(map(str, frame.columns))})")
    if study is not None and study in over:
        raise InputError(f"over= cannot hold the study column {study!r}: use by={study!r} for "
                         "each trial's estimates in each subgroup")
    if by is not None and by in over:
        raise InputError(f"{by!r} is both in over= and by=")
    spec = {"method": method, "ci": ci, "level": level}
    make_spec(method, ci, level)   # check the stage-2 options before any fitting
    fit = {"formula": formula, "model": model, "poolvar": poolvar, "level": level,
           **stage1_options}
    pooled_study = None if by is not None and by == study else study
    key_by = [by] if by is not None else []
    tables, trial_rows, ad = [], [], None
    for var in over:
        rows, ad = _fit_cells(frame, [*key_by, var], pooled_study, missing, fit)
        summary = _summaries(rows, [*key_by, var], spec, pooled_study)
        tables.append(summary.rename(columns={var: "level"}).assign(over=var))
        trial_rows.append(rows.assign(over=var).rename(columns={f"_key_{var}": "level"}))
    if ad is None:
        raise InputError("over= names no column: give at least one covariate")
    totals = []
    if overall:
        if by is not None:
            rows, _ = _fit_cells(frame, key_by, pooled_study, missing, fit)
            totals.append(_summaries(rows, key_by, spec, pooled_study))
        grand, ad = _fit_cells(frame, [], study, False, fit)
        totals.append(_summaries(grand, [], spec, study))
    order = [*(["by"] if by is not None else []), "over", "level", *RESULT_COLUMNS]
    table = pd.concat(tables, ignore_index=True).rename(columns={by: "by"} if by else {})
    overall_frame = (pd.concat(totals, ignore_index=True).rename(columns={by: "by"} if by
                                                                  else {})
                     if totals else pd.DataFrame(columns=["n"]))
    if by is not None and "by" not in overall_frame.columns:
        overall_frame["by"] = np.nan
    trials = pd.concat(trial_rows, ignore_index=True).drop(columns="study")
    trials = trials.drop(columns=[c for c in trials.columns if c.startswith("_code_")])
    trials = trials.rename(columns={f"_key_{study}": "study", f"_key_{by}": "by"})
    if not has_events(table):
        order.remove("events")
    table = table.reindex(columns=order)
    overall_frame = overall_frame.reindex(columns=[c for c in order if c not in
                                                   ("over", "level")])
    return IPDOverResult(table=table, overall=overall_frame, trials=trials, over=tuple(over),
                         measure=ad.measure, model=ad.model or "", formula=ad.formula or "",
                         poolvar=ad.poolvar, study=study, by=by, method=method, ci=ci,
                         level=float(ad.level), labels=dict(labels or {}))


def has_events(table: pd.DataFrame) -> bool:
    """True when the model counts events (logistic, Poisson, Cox)."""
    return "events" in table.columns and bool(table["events"].notna().any())


def _record(row: Any) -> dict[str, Any]:
    """A row (Series or record) as a dict keyed by column name."""
    return {str(k): v for k, v in dict(row).items()}
