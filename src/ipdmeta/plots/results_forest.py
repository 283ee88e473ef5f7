"""Forest plot of a results set (Stata's ``forestplot`` on a saved ``_USE`` dataset).

A :class:`~ipdmeta.report.results_set.ResultsSet` lists the lines of a plot top to bottom;
each ``_USE`` code becomes one kind of row: 0 a heading, 1 a study (box sized by
``_WT`` and its interval), 2 a study that was not estimable ("(Insufficient data)"),
3 and 5 pooled diamonds (with the prediction interval ``_rfLCI``–``_rfUCI`` on its
own row when present), 4 a line of text, 6 a gap.  The drawing is that of
:func:`ipdmeta.plots.forest.forest_plot`, so the options are the same; nothing is
computed here.  The results sets of ``ipd.ipdover()`` are drawn the
same way, with boxes sized by the number of participants.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import pandas as pd
    >>> from ipdmeta.report.results_set import read_results_set
    >>> rs = read_results_set(pd.DataFrame({
    ...     "_USE": [0, 1, 1, 3, 6, 5], "_LABELS": ["Men", "A", "B", "Subtotal", "", "Overall"],
    ...     "_ES": [None, 0.1, 0.3, 0.2, None, 0.2], "_LCI": [None, -0.1, 0.0, 0.05, None, 0.1],
    ...     "_UCI": [None, 0.3, 0.6, 0.35, None, 0.3], "_WT": [None, 60, 40, 100, None, 100]}))
    >>> [r.kind for r in results_set_table(rs).rows]
    ['heading', 'study', 'study', 'pooled', 'pooled']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.plots._forest_rows import Column, Row, Table
from ipdmeta.plots._text import fmt_num, fmt_value
from ipdmeta.plots.forest import AXIS_TITLES, render_table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ipdmeta.report.results_set import ResultsSet

NAN = float("nan")
_KIND = {0: "heading", 1: "study", 2: "excluded", 3: "pooled", 4: "note", 5: "pooled"}


def _value(row: Mapping[Any, Any], key: str) -> float:
    v = row.get(key, NAN)
    try:
        return float(v)
    except (TypeError, ValueError):
        return NAN


def results_set_table(rs: ResultsSet, *, eform: bool | None = None, effect: str | None = None,
                      digits: int = 2, left_columns: Sequence[str] | None = None,
                      right_columns: Sequence[str] | None = None,
                      headers: Mapping[str, str] | None = None, show_weights: bool = True,
                      show_estimates: bool = True, show_pi: bool = True,
                      blank: float = 0.5) -> Table:
    """The rows and columns of the plot of ``rs`` (one row per ``_USE`` line)."""
    eform = rs.eform if eform is None else eform
    left = list(rs.left_columns if left_columns is None else left_columns)
    right = list(rs.right_columns if right_columns is None else right_columns)
    frame = rs.frame
    heads = {**rs.labels, **(headers or {})}
    pct = f"{100 * rs.level:g}"
    numeric = {c: pd.api.types.is_numeric_dtype(frame[c]) for c in [*left, *right]}
    columns = [Column("study", heads.get("study", heads.get("_LABELS", "Study")), "left")]
    columns += [Column(c, heads.get(c, c), "left", numeric[c]) for c in left]
    if show_estimates:
        header = effect or f"{rs.measure or 'Estimate'} ({pct}% CI)"
        if effect and "CI" not in effect:
            header = f"{effect} ({pct}% CI)"
        columns.append(Column("effect", header, "right", True, 3))
    if show_weights:
        columns.append(Column("weight", heads.get("weight", "Weight (%)"), "right", True))
    columns += [Column(c, heads.get(c, c), "right", numeric[c]) for c in right]

    def cells(row: Mapping[Any, Any], data: bool) -> dict[str, tuple[str, ...]]:
        out: dict[str, tuple[str, ...]] = {c: (fmt_value(row[c], digits) if data else "",)
                                           for c in [*left, *right]}
        est, lo, hi = _value(row, "_ES"), _value(row, "_LCI"), _value(row, "_UCI")
        lo_s, hi_s = fmt_num(lo, digits, eform), fmt_num(hi, digits, eform)
        out["effect"] = (fmt_num(est, digits, eform),
                         *((f"({lo_s},", f"{hi_s})") if lo_s or hi_s else ("", "")))
        wt = _value(row, "_WT")
        out["weight"] = (f"{wt:.1f}" if np.isfinite(wt) else "",)
        return out

    rows: list[Row] = []
    y = 0.6
    for r in frame.to_dict(orient="records"):
        use = int(r["_USE"])
        label = "" if pd.isna(r.get("_LABELS")) else str(r["_LABELS"])
        if use not in _KIND:          # 6 (blank) and anything unknown: a gap
            y += blank
            continue
        y += 1.0
        kind = _KIND[use]
        if kind in ("heading", "note"):
            rows.append(Row(kind, label, y=y))
            continue
        if kind == "excluded":
            rows.append(Row(kind, label, cells(r, True), note="(Insufficient data)", y=y))
            continue
        est, lo, hi = _value(r, "_ES"), _value(r, "_LCI"), _value(r, "_UCI")
        role = "" if kind == "study" else ("overall" if use == 5 else "subgroup")
        rows.append(Row(kind, label, cells(r, True), est, lo, hi,
                        weight=_value(r, "_WT"), role=role, y=y))
        pi_lo, pi_hi = _value(r, "_rfLCI"), _value(r, "_rfUCI")
        if kind == "pooled" and show_pi and np.isfinite(pi_lo) and np.isfinite(pi_hi):
            y += 1.0
            pi_cells = cells({"_ES": NAN, "_LCI": pi_lo, "_UCI": pi_hi}, False)
            rows.append(Row("pi", "Prediction interval", pi_cells, NAN, pi_lo, pi_hi, y=y))
    return Table(columns, rows, [], top=-0.6, rule=0.6, bottom=y + 0.6)


def results_set_plot(rs: ResultsSet, *, eform: bool | None = None, effect: str | None = None,
                     xlabel: str | None = None, xticks: Sequence[float] | None = None,
                     xlim: tuple[float, float] | None = None,
                     left_columns: Sequence[str] | None = None,
                     right_columns: Sequence[str] | None = None,
                     left_headers: Mapping[str, str] | None = None,
                     show_weights: bool = True, show_estimates: bool = True,
                     show_pi: bool = True, digits: int = 2, **options: Any) -> Figure:
    """Forest plot of a results set; the options are those of ``forest_plot``.

    Args:
        rs: the results set (:func:`ipdmeta.report.results_set.read_results_set`).
        eform: exponentiated estimates on a log axis (default: the set's own).
        effect, xlabel, xticks, xlim: the estimate column's header, the axis title,
            ticks (display scale) and range, as in ``forest_plot``.
        left_columns, right_columns: data columns beside the plot (default: the
            set's own).
        left_headers: column headers by column ("study", "effect", "weight" or a
            data column), over the variable labels of the set.
        show_weights, show_estimates, show_pi: the weight and estimate columns and
            the prediction-interval rows.
        **options: ``favours``, ``box_scale``, ``text_fraction``, ``spacing``,
            ``null_line``, ``title``, ``font_size``, ``font_family``, ``colors``,
            ``figsize``, ``ax``, ``path``, ``dpi`` (see ``forest_plot``).
    """
    eform = rs.eform if eform is None else bool(eform)
    table = results_set_table(rs, eform=eform, effect=effect, digits=digits,
                              left_columns=left_columns, right_columns=right_columns,
                              headers=left_headers, show_weights=show_weights,
                              show_estimates=show_estimates, show_pi=show_pi)
    if not any(r.kind in ("study", "pooled") and np.isfinite(r.est) for r in table.rows):
        raise ValueError("nothing to draw: no row of the results set has an estimate")
    if xlabel is None:
        xlabel = AXIS_TITLES.get((rs.measure or "").upper(), "")
    return render_table(table, eform=eform, xlabel=xlabel, xticks=xticks, xlim=xlim,
                        **options)
