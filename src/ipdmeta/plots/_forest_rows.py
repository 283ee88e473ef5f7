"""The row model of a forest plot: what goes on each line, read from a MetaResult.

``build_table`` turns a result into columns (headers, alignment) and rows (kind,
text cells, the interval to draw, the y position).  Drawing is in ``forest.py``.
Nothing here computes a statistic: every number is read from the result.

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> m = ipd.pool(pd.DataFrame({"yi": [0.1, 0.5, 0.3], "vi": [0.01, 0.02, 0.03]}))
    >>> table = build_table(m, TableOptions())
    >>> [r.kind for r in table.rows]
    ['study', 'study', 'study', 'pooled', 'pi']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError
from ipdmeta.plots._text import fmt_num, fmt_p, fmt_tau2, fmt_value
from ipdmeta.report.tables import model_label

if TYPE_CHECKING:
    from ipdmeta.pooling.results import MetaResult, Pooled

NAN = float("nan")


@dataclass
class Column:
    """A text column: ``key`` names the cells, ``parts`` > 1 for the estimate (CI) column."""

    key: str
    header: str
    side: str  # "left" | "right"
    numeric: bool = False
    parts: int = 1


@dataclass
class Row:
    """One line of the plot.

    ``kind``: "study", "excluded", "heading", "pooled", "pi" (prediction interval),
    "note" (a line of text in the label column, e.g. heterogeneity).
    ``est``/``lo``/``hi`` are on the analysis scale; ``role`` tells pooled rows
    apart ("overall", "common", "subgroup", "subgroup-common").
    """

    kind: str
    label: str = ""
    cells: dict[str, tuple[str, ...]] = field(default_factory=dict)
    est: float = NAN
    lo: float = NAN
    hi: float = NAN
    weight: float = NAN
    role: str = ""
    group: Any = None
    note: str = ""
    hollow: bool = False
    y: float = 0.0
    color: str | None = None

    @property
    def bold(self) -> bool:
        """Headings and pooled rows are set in bold."""
        return self.kind in ("heading", "pooled")


@dataclass
class TableOptions:
    """The options of ``forest_plot`` that decide which rows and columns there are."""

    eform: bool = False
    effect: str = "Estimate"
    digits: int = 2
    left_columns: Sequence[str] = ()
    right_columns: Sequence[str] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    show_weights: bool = True
    show_estimates: bool = True
    show_common: bool = False
    show_random: bool = True
    show_pi: bool = True
    show_heterogeneity: bool = True
    show_excluded: bool = True
    subgroup_tests: bool = True
    subtotals: bool = True
    overall: bool = True
    counts: tuple[str, ...] | None = None
    show_studies: bool = True
    sort_by: str | Sequence[Any] | None = None
    het_stats: Sequence[str] | None = None
    plot_id: str | None = None
    group_colors: Mapping[Any, str] | None = None


#: the statistics of ``het_stats`` (Stata metan's ``hetinfo()``) and how they read
HET_STATS = ("I2", "tau2", "Q", "p", "H", "H2")


@dataclass
class Table:
    """Columns, rows, and the lines printed under the axis (``footer``)."""

    columns: list[Column]
    rows: list[Row]
    footer: list[str]
    top: float
    rule: float
    bottom: float


def _pooled_label(p: Pooled, subgroup: bool, both: bool, measure: str | None) -> str:
    if not subgroup:
        return model_label(p, measure)
    if both:
        return "Subtotal, " + ("common effect" if p.model == "common" else "random effects")
    return "Subtotal"


def heterogeneity_text(p: Pooled, stats: Sequence[str] | None = None) -> str:
    """'Heterogeneity: I² = 92.2%, τ² = 0.313, p < 0.001' (τ² only for random effects).

    ``stats`` chooses and orders the statistics (``HET_STATS``: "I2", "tau2", "Q" (with
    its df), "p", "H", "H2"), as Stata metan's ``hetinfo()``.

    Example:
        >>> import pandas as pd, ipdmeta as ipd
        >>> m = ipd.pool(pd.DataFrame({"yi": [0.1, 0.5, 0.3], "vi": [0.01, 0.02, 0.03]}))
        >>> heterogeneity_text(m.overall, ["Q", "p"])
        'Heterogeneity: Q = 5.45 on 2 df, p = 0.065'
    """
    if stats is None:
        stats = ["I2", "tau2", "p"] if p.model == "random" else ["I2", "p"]
    unknown = [s for s in stats if s not in HET_STATS]
    if unknown:
        raise InputError(f"het_stats: unknown statistic(s) {unknown}; use "
                         f"{', '.join(HET_STATS)}")
    text = {"I2": f"I² = {p.I2:.1f}%" if np.isfinite(p.I2) else "",
            "tau2": f"τ² = {fmt_tau2(p.tau2)}" if np.isfinite(p.tau2) else "",
            "Q": f"Q = {p.Q:.2f} on {p.Q_df} df", "p": fmt_p(p.Q_pvalue),
            "H": f"H = {np.sqrt(p.H2):.2f}" if np.isfinite(p.H2) else "",
            "H2": f"H² = {p.H2:.2f}" if np.isfinite(p.H2) else ""}
    return "Heterogeneity: " + ", ".join(text[s] for s in stats if text[s])


def count_columns(result: MetaResult, groups: Sequence[str], digits: int
                  ) -> dict[str, tuple[str, list[str]]]:
    """The summary data of each study as text, one column per arm (metan's ``counts``):
    "events/N" for counts, "events/time" for rates, "N, mean (SD)" for means.

    Returns column key -> (header, one cell per row of ``result.data``).  Needs a result
    pooled from summary data (``result.summary_columns``).
    """
    cols = getattr(result, "summary_columns", None) or {}
    data = result.data.reset_index(drop=True)

    def values(role: str, j: int) -> list[str]:
        return [fmt_value(v, digits) for v in data[cols[role][j]]]

    if "events" in cols:
        events = len(cols["events"])
        if "nonevents" in cols:
            totals = [[fmt_value(e + f, digits) for e, f in
                       zip(data[cols["events"][j]], data[cols["nonevents"][j]], strict=True)]
                      for j in range(events)]
        else:
            role = "time" if "time" in cols else "n"
            totals = [values(role, j) for j in range(events)]
        unit = "events/time" if "time" in cols else "n/N"
        cells = [[f"{e}/{t}" for e, t in zip(values("events", j), totals[j], strict=True)]
                 for j in range(events)]
    elif "means" in cols:
        unit = "N, mean (SD)"
        cells = [[f"{n}, {m} ({s})" for n, m, s in zip(values("n", j), values("means", j),
                                                        values("sds", j), strict=True)]
                 for j in range(2)]
    else:
        raise InputError("counts=True shows the summary data (events, n, means, SDs) of a "
                         "result pooled from them, e.g. ipd.pool(frame, events=(...), "
                         "n=(...), measure='OR'); this result has none")
    names = list(groups)[: len(cells)] if len(cells) > 1 else ["Events"]
    return {f"counts{j}": (f"{names[j]} {unit}", cells[j]) for j in range(len(cells))}


def subgroup_test_text(result: MetaResult) -> str:
    """'Test for subgroup differences: Q = 1.86, df = 2, p = 0.39'."""
    s = result.subgroups
    assert s is not None
    return (f"Test for subgroup differences: Q = {s.Q_between:.2f}, df = {s.Q_between_df}, "
            f"{fmt_p(s.Q_between_pvalue)}")


class _Builder:
    def __init__(self, result: MetaResult, opt: TableOptions) -> None:
        self.result, self.opt = result, opt
        self.eform, self.digits = opt.eform, opt.digits
        self.random = result.overall.model == "random" and opt.show_random
        self.common = opt.show_common
        self.both = self.random and self.common
        self.rows: list[Row] = []
        self.y = 0.0
        self.data = result.data.reset_index(drop=True)
        self.counts = ({} if opt.counts is None
                       else count_columns(result, opt.counts, self.digits))
        self.colors = self.group_colors()

    def add(self, row: Row, step: float = 1.0) -> Row:
        self.y += step
        row.y = self.y
        self.rows.append(row)
        return row

    def gap(self, size: float = 0.5) -> None:
        self.y += size

    def effect_cells(self, est: float, lo: float, hi: float) -> tuple[str, ...]:
        e, d = self.eform, self.digits
        lo_s, hi_s = fmt_num(lo, d, e), fmt_num(hi, d, e)
        ci = (f"({lo_s},", f"{hi_s})") if lo_s or hi_s else ("", "")
        return (fmt_num(est, d, e), *ci)

    def data_cells(self, i: int | None) -> dict[str, tuple[str, ...]]:
        cells: dict[str, tuple[str, ...]] = {}
        for col in [*self.opt.left_columns, *self.opt.right_columns]:
            value = "" if i is None else fmt_value(self.data[col].iloc[i], self.digits)
            cells[col] = (value,)
        for key, (_, texts) in self.counts.items():
            cells[key] = ("" if i is None else texts[i],)
        return cells

    def study_row(self, i: int, s: pd.Series, group: Any = None) -> None:
        if not self.opt.show_studies:
            return
        cells = self.data_cells(i)
        cells["effect"] = self.effect_cells(s.estimate, s.ci_low, s.ci_high)
        cells["weight"] = (f"{s.weight:.1f}",)
        row = self.add(Row("study", str(s.study), cells, float(s.estimate), float(s.ci_low),
                           float(s.ci_high), float(s.weight)))
        row.group = group
        if self.colors is not None:
            row.color = self.colors[i]

    def study_order(self, n: int) -> np.ndarray:
        """Positions of the studies in plot order (``sort_by``: a column of the pooled
        table, or the study labels in the order wanted; Stata's ``sortby()``)."""
        key = self.opt.sort_by
        if key is None:
            return np.arange(n)
        labels = self.result.studies["study"].astype(str).tolist()
        if isinstance(key, str):
            if key not in self.data.columns:
                raise InputError(f"sort_by={key!r} is not a column of the pooled table "
                                 f"(columns: {', '.join(map(str, self.data.columns))})")
            return np.argsort(self.data[key].to_numpy(), kind="stable")
        skipped = set(self.result.excluded["study"].astype(str))
        wanted = [str(k) for k in key if str(k) not in skipped]
        if sorted(wanted) != sorted(labels):
            raise InputError("sort_by must be a column name or list every study label once")
        return np.array([labels.index(k) for k in wanted])

    def excluded_places(self, excluded: pd.DataFrame) -> dict[int, pd.DataFrame]:
        """Where the studies not estimable go when ``sort_by`` lists them too (Stata's
        ``keeporder``): {number of estimable studies before them: their rows}; -1 (at
        the end) for those it does not list."""
        key = self.opt.sort_by
        if key is None or isinstance(key, str) or not len(excluded):
            return {-1: excluded}
        labels = excluded["study"].astype(str).tolist()
        places: dict[int, list[int]] = {}
        before = 0
        for k in map(str, key):
            if k in labels:
                places.setdefault(before, []).append(labels.index(k))
            else:
                before += 1
        listed = {i for idx in places.values() for i in idx}
        out = {pos: excluded.iloc[idx] for pos, idx in places.items()}
        rest = [i for i in range(len(labels)) if i not in listed]
        if rest:
            out[-1] = excluded.iloc[rest]
        return out

    def group_colors(self) -> list[str | None] | None:
        """The box/CI colour of each study under ``plot_id`` (Stata's ``plotid()`` with
        ``box#opts(mcolor())``): the colour of its group, by value or 1, 2, ... in
        sorted order (groups without one keep the default; without ``group_colors`` a
        palette tells the groups apart)."""
        col = self.opt.plot_id
        if col is None:
            return None
        if col not in self.data.columns:
            raise InputError(f"plot_id={col!r} is not a column of the pooled table "
                             f"(columns: {', '.join(map(str, self.data.columns))})")
        values = self.data[col].tolist()
        levels = sorted(set(values), key=lambda v: (isinstance(v, str), str(v)))
        given = dict(self.opt.group_colors or {})
        cycle = ["#3d6a96", "#c0504d", "#4f8a3a", "#8064a2", "#d08a2e", "#2c9ca6"]
        out = {}
        for n, level in enumerate(levels, start=1):
            default = None if given else cycle[(n - 1) % len(cycle)]
            out[level] = given.get(level, given.get(n, default))
        return [out[v] for v in values]

    def excluded_rows(self, frame: pd.DataFrame) -> None:
        for r in frame.itertuples():
            reason = str(getattr(r, "reason", "") or "").strip()
            note = "not estimable" + (f": {reason}" if reason and reason != "nan" else "")
            self.add(Row("excluded", str(r.study), self.data_cells(None), note=note))

    def pooled_row(self, p: Pooled, role: str, weight: str, label: str) -> None:
        cells = self.data_cells(None)
        cells["effect"] = self.effect_cells(p.estimate, p.ci_low, p.ci_high)
        cells["weight"] = (weight,)
        self.add(Row("pooled", label, cells, p.estimate, p.ci_low, p.ci_high, role=role))

    def pooled_rows(self, random: Pooled | None, common: Pooled | None, weight: str,
                    subgroup: bool, group: Any = None) -> None:
        """Common then random diamond; the weight goes with the chosen model."""
        chosen = self.result.overall.model
        start = len(self.rows)
        if common is not None:
            w = weight if chosen == "common" else ""
            self.pooled_row(common, "subgroup-common" if subgroup else "common", w,
                            _pooled_label(common, subgroup, self.both, self.result.measure))
        if random is not None:
            self.pooled_row(random, "subgroup" if subgroup else "overall", weight,
                            _pooled_label(random, subgroup, self.both, self.result.measure))
        for row in self.rows[start:]:
            row.group = group
            # a common-effect diamond beside a random-effects one is drawn hollow
            row.hollow = row.role.endswith("common") and random is not None

    def note(self, text: str) -> None:
        self.add(Row("note", text))

    def build(self) -> Table:
        res, opt = self.result, self.opt
        studies = res.studies.reset_index(drop=True)
        excluded = res.excluded if opt.show_excluded else res.excluded.iloc[0:0]
        sub = res.subgroups
        self.y = 0.6  # the header is at 0, its rule at 0.6
        order = self.study_order(len(studies))
        if sub is None:
            places = self.excluded_places(excluded) if opt.show_studies else {}
            for n, i in enumerate(order):
                if n in places:
                    self.excluded_rows(places[n])
                self.study_row(int(i), studies.iloc[i])
            for n in sorted(p for p in places if p >= len(order) or p == -1):
                self.excluded_rows(places[n])
        else:
            self.subgroup_blocks(studies, excluded, order)
        if opt.overall:
            self.gap(0.4 if sub is None else 0.0)
            common = res.common if self.common else None
            random = res.overall if self.random else None
            if common is not None and res.overall.model == "common":
                random = None
            self.pooled_rows(random, common, "100.0", subgroup=False)
            o = res.overall
            if opt.show_pi and self.random and np.isfinite(o.pi_low):
                cells = self.data_cells(None)
                cells["effect"] = self.effect_cells(NAN, o.pi_low, o.pi_high)
                cells["weight"] = ("",)
                self.add(Row("pi", "Prediction interval", cells, NAN, o.pi_low, o.pi_high))
            for p in getattr(res, "models", ()):   # further models (metan's model(a \ b))
                self.pooled_row(p, "model", "", model_label(p, res.measure))
                self.rows[-1].hollow = True
        footer = []
        if opt.overall and opt.show_heterogeneity and res.overall.k > 1 and (
                self.random or self.common):
            footer.append(heterogeneity_text(res.overall if self.random else res.common,
                                             opt.het_stats))
        if sub is not None and opt.subgroup_tests and sub.Q_between_df > 0:
            footer.append(subgroup_test_text(res))
        bottom = self.y + 0.6
        return Table(self.columns(), self.rows, footer, top=-0.6, rule=0.6, bottom=bottom)

    def subgroup_blocks(self, studies: pd.DataFrame, excluded: pd.DataFrame,
                        order: np.ndarray) -> None:
        res, opt = self.result, self.opt
        sub = res.subgroups
        assert sub is not None
        by = sub.by
        ex_by = excluded[by] if by in excluded.columns else None
        groups = list(sub.pooled)
        for n, g in enumerate(groups):
            if n:
                self.gap(0.5)
            # numbers alone ("2") say little: name the variable ("phase = 2")
            heading = str(g) if isinstance(g, str) else f"{by} = {g}"
            self.add(Row("heading", heading, group=g))
            idx = np.flatnonzero(studies[by].to_numpy() == g)
            for i in order[np.isin(order, idx)]:
                self.study_row(int(i), studies.iloc[i], g)
            if ex_by is not None and opt.show_studies:
                self.excluded_rows(excluded[ex_by.to_numpy() == g])
            if opt.subtotals:
                random = sub.pooled[g] if self.random else None
                common = None
                if self.common:
                    csub = res.common_subgroups or sub
                    common = csub.pooled.get(g)
                    if res.overall.model == "common":
                        random = None
                weight = f"{studies.weight.iloc[idx].sum():.1f}"
                self.pooled_rows(random, common, weight, subgroup=True, group=g)
                shown = random if random is not None else common
                if opt.show_heterogeneity and shown is not None and shown.k > 1:
                    self.note(heterogeneity_text(shown, opt.het_stats))
        rest = excluded if ex_by is None and opt.show_studies else excluded.iloc[0:0]
        if len(rest):
            self.gap(0.5)
            self.add(Row("heading", "Not pooled"))
            self.excluded_rows(rest)
        self.gap(0.5)

    def columns(self) -> list[Column]:
        opt, h = self.opt, self.opt.headers
        num = {c: pd.api.types.is_numeric_dtype(self.data[c]) for c in
               [*opt.left_columns, *opt.right_columns]}
        cols = [Column("study", h.get("study", "Study"), "left")]
        cols += [Column(k, h.get(k, header), "left") for k, (header, _) in self.counts.items()]
        cols += [Column(c, h.get(c, str(c)), "left", num[c]) for c in opt.left_columns]
        if opt.show_estimates:
            cols.append(Column("effect", h.get("effect", opt.effect), "right", True, 3))
        if opt.show_weights:
            cols.append(Column("weight", h.get("weight", "Weight (%)"), "right", True))
        cols += [Column(c, h.get(c, str(c)), "right", num[c]) for c in opt.right_columns]
        return cols


def build_table(result: MetaResult, options: TableOptions) -> Table:
    """Columns and rows of the forest plot of ``result`` under ``options``."""
    for col in [*options.left_columns, *options.right_columns]:
        if col not in result.data.columns:
            raise InputError(f"column {col!r} is not in the pooled data (columns: "
                             f"{', '.join(map(str, result.data.columns))}); keep it in "
                             "stage 1 with keep=[...] or add it to the aggregate table")
    return _Builder(result, options).build()
