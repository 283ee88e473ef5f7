"""Reading the summary-data columns ``effect_sizes()`` is given, with errors that name them.

Each measure family takes certain arguments (``events``, ``n``, ``nonevents``, ``means``,
``sds``, ``time``, ``cor``), each either a pair of column names (treatment, control) or
one column name.  Missing values are allowed (the row is reported as not estimable);
text in a numeric column, negative counts, events above the group size and the like are
refused with the column, row and study named.

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"d1": [3, 0], "n1": [20, 25], "d0": [5, 2], "n0": [21, 24]})
    >>> got = read_inputs(frame, "two_by_two", {"events": ("d1", "d0"), "n": ("n1", "n0")})
    >>> got.values["events"][0].tolist(), got.columns["n"]
    ([3.0, 0.0], ('n1', 'n0'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.effects.measures import FAMILY_INPUTS
from ipdmeta.errors import InputError, missing_column

USAGE = {
    "two_by_two": "events=(treatment, control) and n=(treatment, control) "
                  "(or nonevents=(treatment, control) instead of n=)",
    "means": "means=(treatment, control), sds=(treatment, control) and n=(treatment, control)",
    "proportion": "events= and n= (one column each; or nonevents= instead of n=)",
    "rate": "events= and time= (one column each)",
    "rate_ratio": "events=(treatment, control) and time=(treatment, control)",
    "correlation": "cor= and n= (one column each)",
}


@dataclass(frozen=True)
class Inputs:
    """The numeric columns of each argument, their names, and a label per row."""

    values: dict[str, tuple[np.ndarray, ...]]
    columns: dict[str, tuple[str, ...]]
    labels: list

    def missing(self) -> tuple[np.ndarray, list[str]]:
        """Rows with a missing input, and the first missing column of each such row."""
        k = len(self.labels)
        missing = np.zeros(k, dtype=bool)
        which = [""] * k
        for role, arrays in self.values.items():
            for col, arr in zip(self.columns[role], arrays, strict=True):
                for i in np.flatnonzero(np.isnan(arr) & ~missing):
                    which[i] = col
                missing |= np.isnan(arr)
        return missing, which


def row_labels(frame: pd.DataFrame, study: str | None) -> list:
    """Study labels for messages: the ``study`` column, else the frame's index."""
    if study is None:
        return list(frame.index)
    if study not in frame.columns:
        raise missing_column(study, frame, "study")
    return frame[study].tolist()


def _names(role: str, given: Any, shape: str, family: str) -> tuple[str, ...]:
    if shape == "pair":
        if isinstance(given, str) or not hasattr(given, "__len__") or len(given) != 2:
            raise InputError(f"{role}= must be a pair of column names (treatment, control) "
                             f"for this measure, not {given!r}; it takes {USAGE[family]}")
        return tuple(str(g) for g in given)
    if not isinstance(given, str):
        if hasattr(given, "__len__") and len(given) == 1:
            return (str(given[0]),)
        raise InputError(f"{role}= must be one column name for this measure, not {given!r}; "
                         f"it takes {USAGE[family]}")
    return (given,)


def _numeric(frame: pd.DataFrame, column: str, labels: list) -> np.ndarray:
    raw = frame[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    text = np.flatnonzero(np.isnan(values) & raw.notna().to_numpy())
    if text.size:
        i = int(text[0])
        raise InputError(f"column {column!r} is not numeric in row {i} (study {labels[i]!r}, "
                         f"value {raw.iloc[i]!r}); fix or drop that row")
    if np.isinf(values).any():
        i = int(np.flatnonzero(np.isinf(values))[0])
        raise InputError(f"column {column!r} is infinite in row {i} (study {labels[i]!r})")
    return values


def read_inputs(frame: pd.DataFrame, family: str, given: dict[str, Any],
                study: str | None = None, measure: str = "") -> Inputs:
    """Check the arguments of a measure family against the frame and read the columns."""
    allowed = FAMILY_INPUTS[family]
    what = f"measure {measure!r}" if measure else "this measure"
    for role, value in given.items():
        if value is not None and role not in allowed:
            raise InputError(f"{what} does not use {role}=; it takes {USAGE[family]}")
    wanted = [r for r in allowed if r != "nonevents"]
    if "nonevents" in allowed and given.get("nonevents") is not None:
        if given.get("n") is not None:
            raise InputError(f"give either n= or nonevents= for {what}, not both")
        wanted = [r if r != "n" else "nonevents" for r in wanted]
    absent = [r for r in wanted if given.get(r) is None]
    if absent:
        raise InputError(f"{what} needs {', '.join(f'{r}=' for r in absent)}; it takes "
                         f"{USAGE[family]}")
    labels = row_labels(frame, study)
    values, columns = {}, {}
    for role in wanted:
        names = _names(role, given[role], allowed[role], family)
        for name in names:
            if name not in frame.columns:
                raise missing_column(name, frame, role)
        columns[role] = names
        values[role] = tuple(_numeric(frame, name, labels) for name in names)
    return Inputs(values, columns, labels)


def refuse(bad: np.ndarray, message: str, inputs: Inputs, values: np.ndarray | None = None
           ) -> None:
    """Raise ``message`` (with row, study and value) for the first row flagged in ``bad``."""
    rows = np.flatnonzero(bad)
    if rows.size == 0:
        return
    i = int(rows[0])
    value = "" if values is None else f", value {values[i]:g}"
    more = f" ({rows.size} such rows in all)" if rows.size > 1 else ""
    raise InputError(f"{message} in row {i} (study {inputs.labels[i]!r}{value}){more}")


def check_counts(inputs: Inputs, role: str, *, positive: bool = False) -> None:
    """Refuse negative (or, with ``positive``, zero) values of the columns of ``role``."""
    for col, arr in zip(inputs.columns[role], inputs.values[role], strict=True):
        bad = arr <= 0 if positive else arr < 0
        kind = "positive" if positive else "zero or more"
        refuse(bad, f"column {col!r} ({role}) must be {kind}", inputs, arr)


def check_events_within(inputs: Inputs, total_role: str = "n") -> None:
    """Refuse events above the group size, naming both columns."""
    pairs = zip(inputs.columns["events"], inputs.values["events"], inputs.columns[total_role],
                inputs.values[total_role], strict=True)
    for ecol, events, ncol, total in pairs:
        refuse(events > total, f"events {ecol!r} exceed the group size {ncol!r}", inputs,
               events)


def table_cells(inputs: Inputs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells (a, b, c, d) of 2x2 tables read by :func:`read_inputs`, checked: counts
    zero or more, events within the group sizes.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"d1": [3], "n1": [20], "d0": [5], "n0": [21]})
        >>> got = read_inputs(frame, "two_by_two", {"events": ("d1", "d0"), "n": ("n1", "n0")})
        >>> [float(x[0]) for x in table_cells(got)]
        [3.0, 17.0, 5.0, 16.0]
    """
    a, c = inputs.values["events"]
    check_counts(inputs, "events")
    if "n" in inputs.values:
        check_counts(inputs, "n")
        check_events_within(inputs)
        return a, inputs.values["n"][0] - a, c, inputs.values["n"][1] - c
    check_counts(inputs, "nonevents")
    b, d = inputs.values["nonevents"]
    return a, b, c, d
