"""ipdmetan's results set: the rows of the forest plot as a table, saved and redrawn.

Stata's ``ipdmetan, ... saving(AD.dta)`` (and ``metan``, ``ipdover``) save the
"forest plot results set": one row per line of the plot, top to bottom, with the
variables that ``forestplot`` reads (``help forestplot``, ``help metan##saved_datasets``):

``_USE``
    what the row is: 0 heading, 1 study, 2 study not estimable, 3 subgroup pooled
    effect, 4 text (heterogeneity), 5 overall pooled effect, 6 blank line.
``_STUDY``, ``_BY``
    study and subgroup, numeric with value labels (text labels become 1, 2, ...).
``_LABELS``
    the text of the left-most column (study names, headings, pooled-row labels).
``_ES``, ``_seES``, ``_LCI``, ``_UCI``
    estimate, standard error and interval on the analysis scale (log HR ...).
``_WT``, ``_NN``, ``_EFFECT``
    percent weight (subgroup rows: the sum of theirs; overall: 100), participants
    (pooled rows: the sum over the pooled studies), and "ES (LCI, UCI)" on the
    display scale.
``_rfLCI``, ``_rfUCI``
    the prediction interval, on pooled rows (when there is one).
``_OE``, ``_V``
    log-rank O − E and V (log-rank stage 1).
lcols/rcols
    the columns shown left and right of the plot (kept covariates, ``n``, or the
    per-trial columns of :func:`ipdmeta.stage1.columns.collapse_columns`); ordered after
    ``_LABELS`` (left) and after ``_EFFECT`` (right).

:func:`results_set` builds it from an ``IPDMetaResult`` or a ``MetaResult``;
:meth:`ResultsSet.save` writes ``.dta`` (value and variable labels, the settings in
a note), ``.csv`` or ``.parquet``; :func:`read_results_set` reads such a file (also
one written by Stata) and :func:`forest_from_results` redraws its forest plot.

Example:
    >>> import ipdmeta as ipd
    >>> res = ipd.ipdmeta(ipd.datasets.load("hypertension"), study="trial",
    ...                   formula="Surv(time, event) ~ treat + age")
    >>> rs = results_set(res)
    >>> rs.to_frame()["_USE"].tolist()
    [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 6, 5, 4]
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError
from ipdmeta.io.results_files import read_results, write_results
from ipdmeta.report.tables import TextTable, fmt, fmt_p, model_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ipdmeta.pooling.results import MetaResult, Pooled

#: _USE codes of forestplot
USE = {"heading": 0, "study": 1, "excluded": 2, "subgroup": 3, "text": 4, "overall": 5,
       "blank": 6}
CORE = ("_USE", "_STUDY", "_BY", "_OVER", "_LEVEL", "_LABELS", "_ES", "_seES", "_LCI",
        "_UCI", "_WT", "_NN", "_EFFECT", "_rfLCI", "_rfUCI", "_OE", "_V")
RATIO = {"HR", "OR", "RR", "IRR", "RATIO", "ROM"}


@dataclass(frozen=True, eq=False)
class ResultsSet:
    """The rows of a forest plot with ipdmetan's variable names.

    Attributes:
        frame: the rows, top to bottom (see the module docstring for the columns).
        measure: "HR", "OR", "MD" ... (None when unknown).
        eform: show exponentiated estimates (ratio measures).
        level: confidence level of the intervals.
        left_columns, right_columns: data columns shown beside the plot.
        labels: variable labels (column headers), by column name.
        value_labels: value labels of ``_STUDY`` and ``_BY`` (code -> text) when the
            study or subgroup labels are text.
    """

    frame: pd.DataFrame
    measure: str | None = None
    eform: bool = False
    level: float = 0.95
    left_columns: tuple[str, ...] = ()
    right_columns: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    value_labels: dict[str, dict[int, str]] = field(default_factory=dict)

    def to_frame(self) -> pd.DataFrame:
        """The rows as a new DataFrame."""
        return self.frame.copy()

    def to_dict(self) -> dict[str, Any]:
        """Settings and rows as plain Python objects."""
        return {**self.metadata(), "rows": self.frame.to_dict(orient="records")}

    def metadata(self) -> dict[str, Any]:
        """Everything but the rows (what the saved files keep in a note or metadata)."""
        return {"measure": self.measure, "eform": self.eform, "level": self.level,
                "left_columns": list(self.left_columns),
                "right_columns": list(self.right_columns), "labels": dict(self.labels),
                "value_labels": {k: {str(c): t for c, t in v.items()}
                                 for k, v in self.value_labels.items()}}

    def __repr__(self) -> str:
        counts = self.frame["_USE"].value_counts()
        return (f"ResultsSet({len(self.frame)} rows: {int(counts.get(1, 0))} studies, "
                f"{int(counts.get(2, 0))} not estimable, {int(counts.get(3, 0))} subgroup "
                f"and {int(counts.get(5, 0))} overall pooled rows; {self.measure or 'ES'})")

    def summary(self, digits: int = 3) -> str:
        """The rows as a printed table (label, estimate, interval, weight)."""
        pct = f"{100 * self.level:g}"
        table = TextTable("", [self.measure or "ES", f"[{pct}% Conf.", "Interval]",
                               "% Weight"], label_width=34, width=11)
        e = self.eform
        for r in self.frame.to_dict(orient="records"):
            use, label = int(r["_USE"]), str(r["_LABELS"])
            if use in (USE["heading"], USE["text"], USE["blank"]):
                table.add(label, [""] * 4)
            elif use == USE["excluded"]:
                table.add(label, ["(Insufficient data)", "", "", ""])
            else:
                wt = f"{r['_WT']:.2f}" if np.isfinite(r["_WT"]) else "."
                table.add(label, [fmt(r["_ES"], digits, e), fmt(r["_LCI"], digits, e),
                                  fmt(r["_UCI"], digits, e), wt])
        return str(table)

    def forest(self, **options: Any) -> Figure:
        """Redraw the forest plot (``ipdmeta.plots.results_forest.results_set_plot``)."""
        from ipdmeta.plots.results_forest import results_set_plot
        return results_set_plot(self, **options)

    def save(self, path: str | Path) -> Path:
        """Write ``.dta`` (Stata 118, value and variable labels), ``.csv`` or ``.parquet``.

        Example:
            >>> import os, tempfile, ipdmeta as ipd
            >>> m = ipd.pool(ipd.datasets.load_bcg(), estimate="yi", variance="vi",
            ...              study="trial", measure="RR")
            >>> p = results_set(m).save(os.path.join(tempfile.mkdtemp(), "AD.dta"))
            >>> read_results_set(p).frame["_USE"].tolist()[-3:]
            [6, 5, 4]
        """
        path = Path(path)
        write_results(self.frame, path, self.metadata(), labels=self.labels,
                      value_labels=self.value_labels)
        return path


# ---------------------------------------------------------------------- building
def _het_text(p: Pooled) -> str:
    parts = [f"I² = {p.I2:.1f}%"] if np.isfinite(p.I2) else []
    if p.model == "random":
        parts.append(f"τ² = {p.tau2:.4g}")
    p_text = fmt_p(p.Q_pvalue)
    parts.append(f"p {p_text}" if p_text.startswith("<") else f"p = {p_text}")
    return "Heterogeneity: " + ", ".join(parts)


def _codes(values: pd.Series | list) -> tuple[np.ndarray, dict[int, str] | None]:
    """Numeric codes (integers kept) and value labels (for text)."""
    s = pd.Series(values)
    numeric = pd.to_numeric(s, errors="coerce")
    if numeric.notna().all() and np.all(numeric == np.round(numeric)):
        return numeric.to_numpy(dtype=float), None
    uniques = pd.unique(s.astype(str))
    code = {v: i + 1 for i, v in enumerate(uniques)}
    return s.astype(str).map(code).to_numpy(dtype=float), {i + 1: v for i, v in
                                                          enumerate(uniques)}


class _Rows:
    """Collects the rows of a results set."""

    def __init__(self, eform: bool, digits: int) -> None:
        self.rows: list[dict[str, Any]] = []
        self.eform, self.digits = eform, digits

    def effect(self, est: float, lo: float, hi: float) -> str:
        if not np.isfinite(est):
            return ""
        d, e = self.digits, self.eform
        return f"{fmt(est, d, e)} ({fmt(lo, d, e)}, {fmt(hi, d, e)})"

    def add(self, use: str, label: str, **values: Any) -> None:
        est = values.get("_ES", np.nan)
        row = {"_USE": USE[use], "_LABELS": label, **values,
               "_EFFECT": self.effect(est, values.get("_LCI", np.nan),
                                      values.get("_UCI", np.nan))}
        self.rows.append(row)

    def pooled(self, use: str, label: str, p: Pooled, weight: float, nn: float,
               extra: dict[str, Any]) -> None:
        pi = ({"_rfLCI": p.pi_low, "_rfUCI": p.pi_high} if np.isfinite(p.pi_low) else {})
        self.add(use, label, _ES=p.estimate, _seES=p.se, _LCI=p.ci_low, _UCI=p.ci_high,
                 _WT=weight, _NN=nn, **pi, **extra)


def _unpack(result: Any) -> tuple[MetaResult, pd.DataFrame]:
    """The MetaResult and the full per-study table (with not-estimable rows)."""
    meta = getattr(result, "meta", result)
    if not hasattr(meta, "studies"):
        raise InputError("results_set() takes the result of ipd.ipdmeta() or ipd.pool()")
    aggregate = getattr(result, "aggregate", None)
    if aggregate is not None:
        return meta, aggregate.to_frame()
    studies = meta.studies.drop(columns="weight").reset_index(drop=True)
    data = meta.data.reset_index(drop=True)
    table = pd.concat([studies, data[[c for c in data.columns if c not in studies.columns]]],
                      axis=1).assign(status="ok", reason="")
    if len(meta.excluded):
        table = pd.concat([table, meta.excluded], ignore_index=True)
    return meta, table


def results_set(result: Any, *, columns: pd.DataFrame | None = None,
                totals: pd.DataFrame | None = None, left_columns: Any = (),
                right_columns: Any = (), labels: dict[str, str] | None = None,
                show_common: bool | None = None, keep_all: bool = True,
                digits: int = 2) -> ResultsSet:
    """The results set of a two-stage analysis, as ipdmetan's ``saving()`` writes it.

    Args:
        result: the result of :func:`ipdmeta.ipdmeta` or :func:`ipdmeta.pool`.
        columns: extra per-study columns (a frame with ``study``, e.g. from
            :func:`ipdmeta.stage1.columns.collapse_columns` with the study column renamed).
        totals: their values on pooled rows (:func:`ipdmeta.stage1.columns.column_totals`:
            a ``group`` column with the subgroup values and "Overall").
        left_columns, right_columns: the columns shown beside the plot (from
            ``columns`` or the stage-1 table: kept covariates, ``n``, ``events`` ...).
        labels: variable labels (column headers) by column.
        show_common: add the common-effect rows beside the random-effects ones
            (default: only the chosen model's, as ipdmetan).
        keep_all: keep the studies that were not estimable (``_USE`` 2), as
            ipdmetan's ``keepall``.
        digits: decimals of ``_EFFECT``.

    Example:
        >>> import ipdmeta as ipd
        >>> wg = ipd.datasets.load("weight_gain")
        >>> res = ipd.ipdmeta(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
        ...                   model="linear", by="intervention", keep=["study_name"])
        >>> rs = results_set(res, left_columns=["study_name", "n"])
        >>> rs.to_frame().groupby("_USE").size().to_dict()
        {0: 3, 1: 33, 3: 3, 4: 5, 5: 1, 6: 3}
    """
    meta, table = _unpack(result)
    left, right = list(left_columns), list(right_columns)
    if columns is not None:
        if "study" not in columns.columns:
            raise InputError("columns= needs a 'study' column matching the study labels")
        extra = [c for c in columns.columns if c != "study"]
        table = table.drop(columns=[c for c in extra if c in table.columns])
        table = table.merge(columns, on="study", how="left")
    missing = [c for c in [*left, *right] if c not in table.columns]
    if missing:
        raise InputError(f"column(s) {', '.join(map(repr, missing))} are not in the stage-1 "
                         f"table or columns= (columns: {', '.join(map(str, table.columns))})")
    builder = _Builder(meta, table, [*left, *right], totals, show_common, keep_all, digits)
    frame = _assemble(builder.build(), table, left, right, builder.by, builder.logrank)
    names = {**_default_labels(meta, builder.by), **(labels or {})}
    value_labels = {"_STUDY": _codes(table["study"].tolist())[1]}
    if meta.subgroups is not None:
        value_labels["_BY"] = _codes(list(meta.subgroups.pooled))[1]
    return ResultsSet(frame=frame, measure=meta.measure, eform=builder.rows.eform,
                      level=meta.overall.level, left_columns=tuple(left),
                      right_columns=tuple(right), labels=names,
                      value_labels={k: v for k, v in value_labels.items() if v})


class _Builder:
    """Rows of the results set of one MetaResult, in plot order."""

    def __init__(self, meta: MetaResult, table: pd.DataFrame, shown: list[str],
                 totals: pd.DataFrame | None, show_common: bool | None, keep_all: bool,
                 digits: int) -> None:
        self.meta, self.table, self.shown, self.keep_all = meta, table, shown, keep_all
        self.rows = _Rows((meta.measure or "").upper() in RATIO, digits)
        chosen = meta.overall
        self.random = chosen if chosen.model == "random" else None
        self.common = bool(show_common) or self.random is None
        self.weights = dict(zip(meta.studies["study"], meta.studies["weight"], strict=True))
        self.by = meta.subgroups.by if meta.subgroups is not None else None
        self.logrank = ({"oe": "_OE", "v": "_V"} if {"oe", "v"} <= set(table.columns)
                        else {})
        self.totals = totals.set_index("group") if totals is not None else None

    def carried(self, group: Any) -> dict[str, Any]:
        """lcols/rcols values of a pooled row (from ``totals``)."""
        t = self.totals
        if t is None or group not in t.index:
            return {}
        return {c: t.at[group, c] for c in t.columns if c in self.shown}

    def study_rows(self, part: pd.DataFrame, by_code: float | None) -> None:
        for r in part.to_dict(orient="records"):
            ok = r.get("status", "ok") == "ok"
            if not ok and not self.keep_all:
                continue
            values = {"_NN": r.get("n", np.nan),
                      **{c: r[c] for c in self.shown},
                      **{new: r[old] for old, new in self.logrank.items()}}
            if ok:
                values.update(_ES=r["estimate"], _seES=r["se"], _LCI=r["ci_low"],
                              _UCI=r["ci_high"], _WT=self.weights.get(r["study"], np.nan))
            if by_code is not None:
                values["_BY"] = by_code
            self.rows.add("study" if ok else "excluded", str(r["study"]), **values)

    def participants(self, part: pd.DataFrame) -> float:
        """Participants in the pooled studies of ``part`` (NaN without ``n``)."""
        if "n" not in part.columns:
            return np.nan
        ok = part["status"].eq("ok") if "status" in part.columns else np.ones(len(part), bool)
        return float(pd.to_numeric(part.loc[ok, "n"]).sum())

    def pooled_rows(self, random: Pooled | None, common: Pooled | None, use: str,
                    weight: float, part: pd.DataFrame, group: Any,
                    extra: dict[str, Any]) -> None:
        both = random is not None and common is not None
        for p in (common, random):
            if p is None:
                continue
            if use == "overall":
                label = model_label(p, self.meta.measure)
            else:
                label = ("Subtotal, " + ("common effect" if p.model == "common"
                                         else "random effects")) if both else "Subtotal"
            chosen = p is (random if random is not None else common)
            self.rows.pooled(use, label, p, weight if chosen else np.nan,
                             self.participants(part), {**extra, **self.carried(group)})

    def build(self) -> list[dict[str, Any]]:
        meta, table, sub = self.meta, self.table, self.meta.subgroups
        if sub is None:
            self.study_rows(table, None)
            self.rows.add("blank", "")
        else:
            commons = meta.common_subgroups or sub
            codes, _ = _codes(list(sub.pooled))
            for code, (g, p) in zip(codes, sub.pooled.items(), strict=True):
                part = table[table[self.by] == g]
                self.rows.add("heading", str(g) if isinstance(g, str) else f"{self.by} = {g}",
                              _BY=code)
                self.study_rows(part, code)
                weight = float(sum(self.weights.get(s, 0.0) for s in part["study"]))
                self.pooled_rows(p if self.random is not None else None,
                                 commons.pooled.get(g) if self.common else None, "subgroup",
                                 weight, part, g, {"_BY": code})
                if p.k > 1:
                    self.rows.add("text", _het_text(p), _BY=code)
                self.rows.add("blank", "", _BY=code)
            if sub.Q_between_df > 0:
                self.rows.add("text", f"Test for subgroup differences: Q = {sub.Q_between:.2f}, "
                              f"df = {sub.Q_between_df}, p = {fmt_p(sub.Q_between_pvalue)}")
        self.pooled_rows(self.random, meta.common if self.common else None, "overall", 100.0,
                         table, "Overall", {})
        for p in meta.models:        # further models (MetaResult.with_models)
            self.rows.pooled("overall", model_label(p, meta.measure), p, np.nan,
                             self.participants(table), self.carried("Overall"))
        if meta.overall.k > 1:
            self.rows.add("text", _het_text(meta.overall))
        return self.rows.rows


def _assemble(rows: list[dict[str, Any]], table: pd.DataFrame, left: list[str],
              right: list[str], by: str | None, logrank: dict[str, str]) -> pd.DataFrame:
    """The frame of the rows in ipdmetan's column order, with numeric study codes:
    _USE _STUDY [_BY] _LABELS, left columns, _ES ... _EFFECT, right columns, then the
    prediction interval and O - E, V when present."""
    frame = pd.DataFrame(rows)
    frame["_USE"] = frame["_USE"].astype("int8")
    codes, _ = _codes(table["study"].tolist())
    lookup = dict(zip(table["study"].astype(str), codes, strict=True))
    frame["_STUDY"] = [lookup[s] if u in (1, 2) else np.nan      # study rows: _LABELS
                       for s, u in zip(frame["_LABELS"], frame["_USE"], strict=True)]
    core = ["_ES", "_seES", "_LCI", "_UCI", "_WT", "_NN", "_EFFECT"]
    tail = [c for c in ("_rfLCI", "_rfUCI", *logrank.values()) if c in frame.columns]
    for c in [*core, *left, *right]:
        if c not in frame.columns:
            frame[c] = np.nan
    head = ["_USE", "_STUDY", *(["_BY"] if by is not None else []), "_LABELS"]
    frame = frame[[*head, *left, *core, *right, *tail]].copy()
    frame["_EFFECT"] = frame["_EFFECT"].fillna("")
    for c in [*left, *right]:
        if not pd.api.types.is_numeric_dtype(table[c]):
            frame[c] = frame[c].astype(object).where(frame[c].notna(), "").astype(str)
    return frame


def _default_labels(meta: MetaResult, by: str | None) -> dict[str, str]:
    pct = f"{100 * meta.overall.level:g}"
    out = {"_USE": "0 heading 1 study 2 not estimable 3 subgroup 4 text 5 overall 6 blank",
           "_STUDY": "Study", "_LABELS": "Study", "_ES": "Effect size (analysis scale)",
           "_seES": "Standard error of _ES", "_LCI": f"Lower {pct}% confidence limit",
           "_UCI": f"Upper {pct}% confidence limit", "_WT": "% Weight", "_NN": "No. pts",
           "_EFFECT": f"{meta.measure or 'Effect'} ({pct}% CI)",
           "_rfLCI": "Lower limit of the prediction interval",
           "_rfUCI": "Upper limit of the prediction interval", "_OE": "O-E", "_V": "V"}
    if by is not None:
        out["_BY"] = by
    return out


# ---------------------------------------------------------------------- files
def _infer_columns(frame: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Left and right data columns of a results set from the column order."""
    cols = [str(c) for c in frame.columns]
    if "_LABELS" not in cols or "_ES" not in cols:
        return (), ()
    left = [c for c in cols[cols.index("_LABELS") + 1: cols.index("_ES")] if c not in CORE]
    after = cols.index("_EFFECT") + 1 if "_EFFECT" in cols else cols.index("_ES") + 1
    right = [c for c in cols[after:] if c not in CORE]
    return tuple(left), tuple(right)


def read_results_set(source: str | Path | pd.DataFrame, *, measure: str | None = None,
                     eform: bool | None = None, left_columns: Any = None,
                     right_columns: Any = None) -> ResultsSet:
    """A results set from a file (``.dta``, ``.csv``, ``.parquet``) or a DataFrame.

    Files written by :meth:`ResultsSet.save` keep the measure, the shown columns and
    the labels; for others (Stata's ``saving()``, a CSV) give ``eform=True`` for
    ratio measures; the columns between ``_LABELS`` and ``_ES`` are shown on the
    left, those after ``_EFFECT`` on the right, unless ``left_columns`` /
    ``right_columns`` say otherwise.

    Example:
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"_USE": [1, 1, 5], "_LABELS": ["A", "B", "Overall"],
        ...                      "_ES": [0.1, 0.3, 0.2], "_LCI": [-0.1, 0.0, 0.05],
        ...                      "_UCI": [0.3, 0.6, 0.35], "_WT": [60.0, 40.0, 100.0]})
        >>> read_results_set(rows).frame["_USE"].tolist()
        [1, 1, 5]
    """
    if isinstance(source, pd.DataFrame):
        frame, meta = source.copy(), dict[str, Any]()
    else:
        frame, meta = read_results(source)
    missing = [c for c in ("_USE", "_ES", "_LCI", "_UCI") if c not in frame.columns]
    if missing:
        raise InputError(f"a results set needs _USE, _ES, _LCI and _UCI; missing "
                         f"{', '.join(missing)} (columns: {', '.join(map(str, frame.columns))})")
    frame["_USE"] = pd.to_numeric(frame["_USE"], errors="coerce").fillna(6).astype("int8")
    if "_LABELS" not in frame.columns:
        frame["_LABELS"] = ""
    frame["_LABELS"] = frame["_LABELS"].astype(object).where(frame["_LABELS"].notna(), "")
    for c in ("_ES", "_seES", "_LCI", "_UCI", "_WT", "_NN", "_rfLCI", "_rfUCI"):
        if c in frame.columns:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype(float)
    if "_WT" not in frame.columns:
        frame["_WT"] = np.where(frame["_USE"].eq(1), 1.0, np.nan)
    left, right = _infer_columns(frame)
    left = tuple(left_columns) if left_columns is not None else tuple(
        meta.get("left_columns", left))
    right = tuple(right_columns) if right_columns is not None else tuple(
        meta.get("right_columns", right))
    unknown = [c for c in (*left, *right) if c not in frame.columns]
    if unknown:
        raise InputError(f"column(s) {', '.join(map(repr, unknown))} are not in the results set")
    measure = measure if measure is not None else meta.get("measure")
    eform = eform if eform is not None else bool(
        meta.get("eform", (measure or "").upper() in RATIO))
    value_labels = {k: {int(c): t for c, t in v.items()}
                    for k, v in (meta.get("value_labels") or {}).items()}
    return ResultsSet(frame=frame, measure=measure, eform=eform,
                      level=float(meta.get("level", 0.95)), left_columns=left,
                      right_columns=right, labels=dict(meta.get("labels") or {}),
                      value_labels=value_labels)


def forest_from_results(source: str | Path | pd.DataFrame | ResultsSet, *,
                        measure: str | None = None, eform: bool | None = None,
                        left_columns: Any = None, right_columns: Any = None,
                        **options: Any) -> Figure:
    """Redraw the forest plot of a results set (Stata's ``forestplot`` after ``use``).

    ``source`` is a file written by :meth:`ResultsSet.save` or by Stata's
    ``ipdmetan``/``metan``/``ipdover`` ``saving()``, a DataFrame with the results-set
    variables, or a :class:`ResultsSet`.  ``options`` are those of
    :func:`ipdmeta.plots.results_forest.results_set_plot` (``xticks``, ``favours``,
    ``box_scale``, ``text_fraction``, ``path`` ...).

    Example:
        >>> import matplotlib; matplotlib.use("Agg")
        >>> import pandas as pd
        >>> rows = pd.DataFrame({"_USE": [1, 1, 5], "_LABELS": ["A", "B", "Overall"],
        ...                      "_ES": [0.1, 0.3, 0.2], "_LCI": [-0.1, 0.0, 0.05],
        ...                      "_UCI": [0.3, 0.6, 0.35], "_WT": [60.0, 40.0, 100.0]})
        >>> fig = forest_from_results(rows, xticks=[-0.2, 0, 0.2, 0.4, 0.6])
        >>> len(fig.axes) >= 1
        True
    """
    if isinstance(source, ResultsSet):
        changes: dict[str, Any] = {k: v for k, v in {"measure": measure, "eform": eform}.items()
                                   if v is not None}
        if left_columns is not None:
            changes["left_columns"] = tuple(left_columns)
        if right_columns is not None:
            changes["right_columns"] = tuple(right_columns)
        rs = replace(source, **changes)
    else:
        rs = read_results_set(source, measure=measure, eform=eform, left_columns=left_columns,
                              right_columns=right_columns)
    return rs.forest(**options)
