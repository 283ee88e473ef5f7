"""Per-trial columns from the IPD, as ipdmetan's ``lcols()``/``rcols()`` make them.

ipdmetan's column lists follow Stata's ``collapse`` syntax::

    [(stat)] [newname=]item [%fmt] ["label"] [[newname=]item ...] [(stat) ...]

An *item* is

* a text variable: the first non-empty value in each trial (not shown on pooled rows);
* a numeric variable: ``stat`` of it in each trial, ``(mean)`` unless given (a
  variable that is constant within trials — the usual case — is carried as it is);
* a returned value in parentheses, e.g. ``(e(N))``: taken from the stage-1 table
  (``e(N)`` -> ``n``, ``e(N_fail)`` -> ``events`` ...; see :data:`RETURNED`).

A ``(stat)`` applies to every numeric item after it until the next one.  The column
is named ``newname``, or after the item (a returned value after Stata's
``strtoname()``: ``(e(N))`` -> ``_e_N__``).  Statistics (:data:`STATS`) are those of
``collapse``: ``mean``, ``median``, ``p1``–``p99`` (Stata's percentile definition:
with ``P = n p/100``, ``x[P]`` averaged with ``x[P+1]`` when ``P`` is whole, else
``x[ceil(P)]``), ``iqr``, ``sd`` (n − 1), ``semean``, ``sebinomial``,
``sepoisson``, ``sum``, ``rawsum``, ``count`` (non-missing values), ``percent``
(share of all non-missing values, in percent), ``min``, ``max``, ``first``,
``last``, ``firstnm``, ``lastnm``.  Missing values are ignored except by ``first``
and ``last``.

:func:`parse_columns` reads the syntax, :func:`collapse_columns` makes one row per
trial and :func:`column_totals` the values of the pooled rows (subgroups and
overall: the statistic over all their participants, the sum of returned counts).

Example:
    >>> import pandas as pd
    >>> ipd = pd.DataFrame({"trial": [1, 1, 2, 2, 2], "age": [50, 60, 40, 45, 50],
    ...                     "name": ["A", "A", "B", "B", "B"]})
    >>> specs = parse_columns('name (mean) age mage=age (count) n_age=age "Ages"')
    >>> [(s.name, s.stat) for s in specs]
    [('name', None), ('age', 'mean'), ('mage', 'mean'), ('n_age', 'count')]
    >>> collapse_columns(ipd, "trial", specs)
       trial name   age  mage  n_age
    0      1    A  55.0  55.0      2
    1      2    B  45.0  45.0      3
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError, SpecificationError

#: collapse statistics (``pN`` percentiles are also accepted)
STATS = ("mean", "median", "iqr", "sd", "semean", "sebinomial", "sepoisson", "sum", "rawsum",
         "count", "percent", "min", "max", "first", "last", "firstnm", "lastnm")
#: returned values of Stata estimation commands -> the stage-1 column that holds them
RETURNED = {"e(N)": "n", "e(N_sub)": "n", "e(N_fail)": "events", "r(N)": "n",
            "e(N_drop)": "n_dropped"}
_PCTILE = re.compile(r"^p([1-9]|[1-9][0-9])$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ALIASES = {"p50": "median"}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of ``lcols()``/``rcols()``.

    ``kind`` is "variable" (a column of the IPD; numeric ones are collapsed with
    ``stat``, text ones take the first non-empty value) or "returned" (``source``
    is the returned value, ``column`` the stage-1 column holding it).
    """

    name: str
    source: str
    kind: str = "variable"
    stat: str | None = None
    column: str | None = None
    fmt: str | None = None
    label: str | None = None


def _tokens(text: str) -> list[str]:
    """Split on spaces outside parentheses and quotes; '=' is its own token."""
    out, buf, depth, quote = [], "", 0, False
    for ch in text:
        if quote:
            buf += ch
            quote = ch != '"'
            continue
        if ch == '"' and depth == 0:
            if buf:
                out.append(buf)
            buf, quote = ch, True
        elif ch in "()":
            depth += 1 if ch == "(" else -1
            if depth < 0:
                raise SpecificationError(f"unbalanced parentheses in {text!r}")
            buf += ch
        elif depth == 0 and (ch.isspace() or ch == "="):
            if buf:
                out.append(buf)
            buf = ""
            if ch == "=":
                out.append("=")
        else:
            buf += ch
    if depth or quote:
        raise SpecificationError(f"unbalanced parentheses or quotes in {text!r}")
    return [*out, buf] if buf else out


def _stat_name(inner: str) -> str | None:
    """The statistic of a ``(stat)`` token, or None when it is not one."""
    name = inner.strip().replace(" ", "").lower()
    name = _ALIASES.get(name, name)
    return name if name in STATS or _PCTILE.match(name) else None


def strtoname(text: str) -> str:
    """Stata's ``strtoname()`` as ipdmetan applies it to returned values.

    Example:
        >>> strtoname("(e(N))"), strtoname("(e(N_fail))")
        ('_e_N__', '_e_N_fail__')
    """
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)[:32] or "_"
    if name[0].isdigit():
        name = "_" + name[:31]
    if len(name) > 1 and name[0] == "_" and name[1].isupper():
        name = "_" + name[:31]   # ipdmetan: _X... would look like one of its own names
    return name


def _returned(source: str) -> str:
    inner = source[1:-1].strip()
    column = RETURNED.get(inner.replace(" ", ""))
    if column is None:
        known = ", ".join(f"({k})" for k in RETURNED)
        raise SpecificationError(f"the returned value {source} has no stage-1 column; use one "
                                 f"of {known}, or a variable of the data")
    return column


def parse_columns(spec: str | Sequence[str]) -> tuple[ColumnSpec, ...]:
    """Read ipdmetan's ``lcols()``/``rcols()`` syntax into column specifications.

    ``spec`` is the text inside ``lcols()``, or a list of such pieces (read as if
    joined by spaces, so a ``(stat)`` carries over to the next pieces).

    Example:
        >>> [(s.name, s.kind, s.column) for s in parse_columns(["intervention", "(e(N))"])]
        [('intervention', 'variable', None), ('_e_N__', 'returned', 'n')]
        >>> parse_columns('(sd) sd_age=age %5.1f "SD of age"')[0].label
        'SD of age'
    """
    text = spec if isinstance(spec, str) else " ".join(str(s) for s in spec)
    tokens = _tokens(text)
    specs: list[ColumnSpec] = []
    stat: str | None = None
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("(") and tok.endswith(")") and _stat_name(tok[1:-1]) is not None:
            stat = _stat_name(tok[1:-1])
            i += 1
            continue
        newname = None
        if i + 1 < len(tokens) and tokens[i + 1] == "=":
            newname, i = tok, i + 2
            if i >= len(tokens) or not _NAME.match(newname):
                raise SpecificationError(f"'{newname}=' must be followed by an item and be a "
                                         f"valid name (in {text!r})")
            tok = tokens[i]
        i += 1
        fmt = label = None
        if i < len(tokens) and tokens[i].startswith("%"):
            fmt, i = tokens[i], i + 1
        if i < len(tokens) and tokens[i].startswith('"'):
            label, i = tokens[i][1:-1], i + 1
        if tok.startswith("(") and tok.endswith(")"):
            specs.append(ColumnSpec(name=newname or strtoname(tok), source=tok,
                                    kind="returned", column=_returned(tok), fmt=fmt,
                                    label=label))
        elif _NAME.match(tok):
            specs.append(ColumnSpec(name=newname or tok, source=tok, stat=stat, fmt=fmt,
                                    label=label))
        else:
            raise SpecificationError(f"{tok!r} in the column list {text!r} is neither a "
                                     "variable name, a (stat) nor a returned value in "
                                     "parentheses such as (e(N))")
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SpecificationError(f"column name(s) {', '.join(map(repr, dup))} appear twice in "
                                 f"{text!r}: give one of them a new name (newname=item)")
    return tuple(specs)


# ---------------------------------------------------------------------- statistics
def _percentiles(values: np.ndarray, codes: np.ndarray, k: int, p: float) -> np.ndarray:
    """Stata's percentile of ``values`` in each of ``k`` groups (missing dropped)."""
    keep = ~np.isnan(values)
    v, c = values[keep], codes[keep]
    order = np.lexsort((v, c))
    v, c = v[order], c[order]
    counts = np.bincount(c, minlength=k)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full(k, np.nan)
    has = counts > 0
    pos = counts[has] * p / 100.0
    whole = np.abs(pos - np.round(pos)) < 1e-9
    lo = np.where(whole, np.round(pos), np.floor(pos) + 1).astype(np.intp)  # 1-based
    hi = np.where(whole, np.minimum(lo + 1, counts[has]), lo)
    base = starts[has]
    out[has] = (v[base + np.clip(lo, 1, None) - 1] + v[base + hi - 1]) / 2.0
    return out


def _collapse(series: pd.Series, codes: np.ndarray, k: int, stat: str) -> np.ndarray:
    """``stat`` of a numeric column in each of ``k`` groups (codes 0..k-1)."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)
    if stat == "median" or _PCTILE.match(stat):
        return _percentiles(values, codes, k, 50.0 if stat == "median" else float(stat[1:]))
    if stat == "iqr":
        return (_percentiles(values, codes, k, 75.0) - _percentiles(values, codes, k, 25.0))
    g = pd.Series(values).groupby(codes, sort=True)
    idx = np.arange(k)
    count = g.count().reindex(idx, fill_value=0).to_numpy(dtype=float)
    simple = {"mean": "mean", "sd": "std", "sum": "sum", "rawsum": "sum", "min": "min",
              "max": "max", "firstnm": "first", "lastnm": "last"}
    if stat in simple:
        out = g.agg(simple[stat]).reindex(idx).to_numpy(dtype=float)
        return np.where(count > 0, out, 0.0 if stat in ("sum", "rawsum") else np.nan)
    if stat == "count":
        return count
    if stat == "percent":
        return 100.0 * count / max(count.sum(), 1.0)
    if stat in ("first", "last"):
        return _first_last(values, codes, k, stat == "first")
    mean = g.mean().reindex(idx).to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        if stat == "semean":
            return g.std().reindex(idx).to_numpy(dtype=float) / np.sqrt(count)
        if stat == "sebinomial":
            return np.sqrt(mean * (1.0 - mean) / count)
        return np.sqrt(mean / count)   # sepoisson


def _first_last(values: np.ndarray, codes: np.ndarray, k: int, first: bool) -> np.ndarray:
    """The first (or last) row's value in each group, missing or not."""
    out = np.full(k, np.nan)
    order = np.arange(values.size)
    pick = order if first else order[::-1]
    seen_codes, at = np.unique(codes[pick], return_index=True)
    out[seen_codes] = values[pick[at]]
    return out


def _first_text(series: pd.Series, codes: np.ndarray, k: int) -> np.ndarray:
    """The first non-empty text of each group ("" when there is none)."""
    text = series.astype(object).where(series.notna(), "").astype(str).to_numpy()
    filled = text != ""
    out = np.full(k, "", dtype=object)
    rows = np.flatnonzero(filled)
    seen, at = np.unique(codes[rows], return_index=True)
    out[seen] = text[rows[at]]
    return out


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _check(data: pd.DataFrame, specs: Sequence[ColumnSpec], stage1: Any) -> pd.DataFrame:
    """The stage-1 table the returned values come from (empty when none is needed)."""
    for s in specs:
        if s.kind == "variable" and s.source not in data.columns:
            raise InputError(f"column {s.source!r} (in the column list) is not in the data; "
                             f"the columns are {', '.join(map(str, data.columns))}")
    table = pd.DataFrame()
    if any(s.kind == "returned" for s in specs):
        if stage1 is None:
            raise SpecificationError("returned values such as (e(N)) come from stage 1: pass "
                                     "stage1= (the AggregateData or its table)")
        table = stage1.to_frame() if hasattr(stage1, "to_frame") else pd.DataFrame(stage1)
        for s in specs:
            if s.kind == "returned" and s.column not in table.columns:
                raise InputError(f"{s.source} needs the stage-1 column {s.column!r}, which "
                                 "this model does not report")
    return table


def collapse_columns(data: pd.DataFrame, study: str, columns: str | Sequence[str] |
                     Sequence[ColumnSpec], *, stage1: Any = None) -> pd.DataFrame:
    """One row per trial (sorted by ``study``) with the columns of an ``lcols()`` list.

    Args:
        data: the IPD.
        study: the trial column.
        columns: the column list (text, pieces, or :func:`parse_columns` output).
        stage1: the stage-1 table (``AggregateData`` or a frame with ``study``) for
            returned values such as ``(e(N))``.

    Example:
        >>> import pandas as pd
        >>> ipd = pd.DataFrame({"trial": ["a", "a", "b"], "x": [1.0, 3.0, 5.0]})
        >>> collapse_columns(ipd, "trial", "(sd) x (max) top=x")
          trial         x  top
        0     a  1.414214  3.0
        1     b       NaN  5.0
    """
    specs = _as_specs(columns)
    if study not in data.columns:
        raise InputError(f"study column {study!r} is not in the data")
    table = _check(data, specs, stage1)
    codes, labels = pd.factorize(data[study], sort=True)
    keep = codes >= 0
    frame = data.loc[keep]
    codes = codes[keep]
    out = pd.DataFrame({study: labels})
    k = len(labels)
    for s in specs:
        if s.kind == "returned":
            by = table.set_index("study")[s.column]
            out[s.name] = by.reindex(labels).to_numpy()
        elif _is_text(frame[s.source]):
            out[s.name] = _first_text(frame[s.source], codes, k)
        else:
            values = _collapse(frame[s.source], codes, k, s.stat or "mean")
            out[s.name] = values.astype(np.int64) if s.stat == "count" else values
    return out


def column_totals(data: pd.DataFrame, columns: str | Sequence[str] | Sequence[ColumnSpec], *,
                  by: str | None = None, stage1: Any = None) -> pd.DataFrame:
    """The values of the pooled rows: one row per ``by`` group (if given) and "Overall".

    Numeric items take their statistic over all participants of the group, returned
    values the sum over its trials (``stage1`` must then hold ``by``); text items are
    empty, as ipdmetan leaves them on pooled rows.  The column ``group`` names the
    row (the ``by`` value, or "Overall").

    Example:
        >>> import pandas as pd
        >>> ipd = pd.DataFrame({"trial": [1, 1, 2], "x": [1.0, 3.0, 5.0]})
        >>> column_totals(ipd, "(mean) x")
             group    x
        0  Overall  3.0
    """
    specs = _as_specs(columns)
    table = _check(data, specs, stage1)
    groups: list[tuple[Any, np.ndarray]] = []
    if by is not None:
        if by not in data.columns:
            raise InputError(f"by column {by!r} is not in the data")
        codes, levels = pd.factorize(data[by], sort=True)
        groups = [(lv, codes == i) for i, lv in enumerate(levels)]
    groups.append(("Overall", np.ones(len(data), dtype=bool)))
    rows = []
    for label, mask in groups:
        row: dict[str, Any] = {"group": label}
        part = data.loc[mask]
        zeros = np.zeros(len(part), dtype=np.intp)
        for s in specs:
            if s.kind == "returned":
                sub = table if label == "Overall" else table[table[by] == label]
                row[s.name] = float(pd.to_numeric(sub[s.column], errors="coerce").sum())
            elif _is_text(part[s.source]):
                row[s.name] = ""
            elif s.stat == "percent":
                total = data[s.source].notna().sum()
                row[s.name] = 100.0 * part[s.source].notna().sum() / max(total, 1)
            else:
                row[s.name] = float(_collapse(part[s.source], zeros, 1, s.stat or "mean")[0])
        rows.append(row)
    return pd.DataFrame(rows)


def _as_specs(columns: str | Sequence[str] | Sequence[ColumnSpec]) -> tuple[ColumnSpec, ...]:
    if not isinstance(columns, str) and columns and all(isinstance(c, ColumnSpec)
                                                        for c in columns):
        return tuple(columns)  # type: ignore[arg-type]
    return parse_columns(columns)  # type: ignore[arg-type]


def column_labels(columns: Sequence[ColumnSpec]) -> dict[str, str]:
    """Variable labels of the columns: the given label, else the item (``(e(N))``).

    Example:
        >>> column_labels(parse_columns('(mean) age "Mean age" (e(N))'))
        {'age': 'Mean age', '_e_N__': '(e(N))'}
    """
    return {s.name: s.label if s.label is not None else s.source for s in columns}


def carry_columns(ad: Any, data: pd.DataFrame, study: str,
                  columns: str | Sequence[str] | Sequence[ColumnSpec]) -> Any:
    """The stage-1 table ``ad`` with the per-trial columns of an ``lcols()``/``rcols()``
    list added (their names join ``ad.keep``); items that name a stage-1 column
    (``n``, ``events`` ...) or a returned value already in the table are left as they
    are.

    Example:
        >>> import pandas as pd, ipdmeta as ipd
        >>> wg = ipd.datasets.load("weight_gain")
        >>> ad = ipd.stage1(wg, study="studyid", formula="final_wt ~ trt", model="linear")
        >>> carry_columns(ad, wg, "studyid", "intervention (mean) age=baseline_wt").columns[-2:]
        ['intervention', 'age']
    """
    specs = [s for s in _as_specs(columns) if s.name not in ad.table.columns]
    if not specs:
        return ad
    cols = collapse_columns(data, study, specs, stage1=ad).rename(columns={study: "study"})
    table = ad.table.merge(cols, on="study", how="left")
    return replace(ad, table=table, keep=(*ad.keep, *(s.name for s in specs)))


def label_studies(ad: Any, label: str | Sequence[str]) -> Any:
    """The stage-1 table with study labels from the (kept) column ``label`` — or
    ``(name, year)``, giving "name (year)" as Stata's ``label(namevar= yearvar=)`` —
    in ``study``; the original identifiers move to a column named after the study
    variable.

    Example:
        >>> import ipdmeta as ipd
        >>> wg = ipd.datasets.load("weight_gain")
        >>> ad = ipd.stage1(wg, study="studyid", formula="final_wt ~ trt", model="linear",
        ...                 keep=["study_name"])
        >>> label_studies(ad, "study_name")["study"].tolist()[:2]
        ['Abernethy 1998', 'Baptiste 1999']
    """
    parts = [label] if isinstance(label, str) else list(label)
    if not 1 <= len(parts) <= 2 or not all(isinstance(p, str) for p in parts):
        raise SpecificationError(f"label= takes a column name or (name, year); got {label!r}")
    table = ad.table
    missing = [p for p in parts if p not in table.columns]
    if missing:
        raise InputError(f"label column(s) {missing} are not in the stage-1 table: they must "
                         "be study-level columns of the data")
    text = table[parts[0]].astype(str)
    if len(parts) == 2:
        year = table[parts[1]]
        text = text + year.map(lambda y: "" if pd.isna(y) else f" ({_plain_number(y)})")
    dup = text[text.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"label= gives the same label to several studies: {dup}; add a "
                         "year (label=(name, year)) or choose another column")
    id_col = ad.study_var or "study_id"
    if id_col in table.columns:
        id_col = f"{id_col}_id"
    table = table.assign(**{id_col: table["study"]}).assign(study=text.to_numpy())
    return replace(ad, table=table, keep=(*ad.keep, id_col))


def _plain_number(value: Any) -> str:
    """``2004.0`` -> ``"2004"``; other values as text."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)
