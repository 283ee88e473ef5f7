"""CSV files that keep text and numbers apart: ``"001"`` stays text, ``1`` stays a number.

A plain CSV file has no column types, so a reader guesses: study labels ``"001"``
and ``"010"`` come back as the numbers 1 and 10, a kept value ``"02134"`` as 2134.
ipdmeta's aggregate tables are written so that nothing has to be guessed:

* text is always quoted (``"001"``, ``"Smith, 2001"``), an empty text is ``""``;
* numbers are never quoted and written exactly (shortest round-trip form, ``inf``
  and ``-inf`` as such), booleans as ``True``/``False``;
* a missing value is an empty, unquoted field.

:func:`parse_typed_csv` reads such a file back exactly: a column with a quoted field
is text, a column of unquoted numbers is integer (when every value is an integer
and none is missing) or floating point, ``True``/``False`` columns are boolean.
Files written by other programs are read by the same rules (an unquoted field that
is not a number makes its column text).  Dates and categoricals have no CSV form:
they are written as their text and come back as text (use ``.json``, ``.parquet``
or ``.dta`` to keep their types).

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"study": ["001", "010"], "n": [12, 30], "x": [0.5, None]})
    >>> text = typed_csv_text(frame)
    >>> print(text, end="")
    "study","n","x"
    "001",12,0.5
    "010",30,
    >>> back = parse_typed_csv(text)
    >>> back["study"].tolist(), back["n"].tolist(), back["x"].isna().tolist()
    (['001', '010'], [12, 30], [False, True])
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError


class MalformedCSVError(ValueError):
    """Text that the typed reader cannot split into fields (a stray quote)."""


_FIELD = re.compile(r'(?:"((?:[^"]|"")*)"|([^,"\r\n]*))(,|\r\n|\n|\r|$)')
_INT = re.compile(r"[+-]?\d+")
_BOOLS = {"True": True, "False": False}


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _token(value: Any) -> str:
    """One field: text quoted, numbers bare, missing empty."""
    if _missing(value):
        return ""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, datetime | date | pd.Timestamp):
        value = value.isoformat()
    return '"' + str(value).replace('"', '""') + '"'


def typed_csv_text(frame: pd.DataFrame) -> str:
    """The CSV text of ``frame`` with text quoted and numbers bare (see the module)."""
    lines = [",".join(_token(str(c)) for c in frame.columns)]
    columns = [frame[c].astype(object).tolist() for c in frame.columns]
    lines += [",".join(_token(v) for v in row) for row in zip(*columns, strict=True)]
    return "\n".join(lines) + "\n"


def _rows(text: str) -> list[list[tuple[str, bool]]] | None:
    """Fields as (text, quoted) per row, or None when the text is not well-formed CSV."""
    rows: list[list[tuple[str, bool]]] = []
    row: list[tuple[str, bool]] = []
    pos, end = 0, len(text)
    while pos < end:
        m = _FIELD.match(text, pos)
        if m is None:
            return None
        quoted = m.group(1) is not None
        row.append((m.group(1).replace('""', '"') if quoted else m.group(2), quoted))
        pos = m.end()
        if m.group(3) != ",":
            rows.append(row)
            row = []
            if not m.group(3):
                break
    if row:
        rows.append(row)
    return rows


def _column(fields: list[tuple[str, bool]]) -> pd.Series:
    """A column from its fields, typed by the rules of the module."""
    present = [f for f, quoted in fields if quoted or f != ""]
    if any(quoted for _, quoted in fields) or not present:
        values = [f if quoted or f != "" else None for f, quoted in fields]
        return _text(values)
    if all(f in _BOOLS for f in present) and len(present) == len(fields):
        return pd.Series([_BOOLS[f] for f, _ in fields], dtype=bool)
    if all(_INT.fullmatch(f) for f in present):
        ints = pd.array([int(f) if f != "" else None for f, _ in fields], dtype="Int64")
        return pd.Series(ints).astype("int64") if len(present) == len(fields) \
            else pd.Series(ints)
    try:   # Python's float() is correctly rounded: repr() text reads back exactly
        if any("_" in f for f in present):   # float() reads "1_0"; a CSV number has no "_"
            raise ValueError
        return pd.Series([float(f) if f != "" else math.nan for f, _ in fields],
                         dtype="float64")
    except ValueError:
        return _text([f if f != "" else None for f, _ in fields])


def _text(values: list[str | None]) -> pd.Series:
    """A text column as pandas makes one by default (``str`` in pandas 3, else object)."""
    if all(v is None for v in values):
        return pd.Series(values, dtype=object)
    return pd.Series(values)


def parse_typed_csv(text: str) -> pd.DataFrame:
    """A frame from CSV text (see the module); :class:`MalformedCSVError` when the text is
    not well-formed CSV (the caller may then fall back to a lenient reader)."""
    rows = _rows(text)
    if rows is None:
        raise MalformedCSVError("not well-formed CSV (a quote inside an unquoted field?)")
    rows = [r for r in rows if r != [("", False)]]   # blank lines
    if not rows:
        raise InputError("the CSV file is empty: it has no header line")
    header, body = [f for f, _ in rows[0]], rows[1:]
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        raise InputError(f"the CSV header names column(s) {', '.join(map(repr, twice))} more "
                         "than once; rename them")
    width = len(header)
    short = [i for i, r in enumerate(body) if len(r) != width]
    if short:
        raise InputError(f"CSV line {short[0] + 2} has {len(body[short[0]])} fields but the "
                         f"header has {width}")
    columns = {name: _column([r[j] for r in body]) for j, name in enumerate(header)}
    return pd.DataFrame(columns, columns=header) if body else pd.DataFrame(columns=header)
