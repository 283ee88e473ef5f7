"""Files of forest-plot results sets: Stata ``.dta``, CSV and Parquet.

A results set (:class:`ipdmeta.report.results_set.ResultsSet`) is a table of the
lines of a forest plot with ipdmetan's variable names.  :func:`write_results` writes
the table with its settings (a metadata dictionary), variable labels and value
labels: a ``.dta`` file keeps the labels as Stata labels and the settings in a
note (``notes list``); Parquet keeps the settings in its metadata; CSV keeps the
columns only.  :func:`read_results` gives the table and the settings back; for a
``.dta`` file written by Stata (no note) the settings hold its variable labels.

Example:
    >>> import os, tempfile, pandas as pd
    >>> path = os.path.join(tempfile.mkdtemp(), "rs.dta")
    >>> frame = pd.DataFrame({"_USE": [1, 5], "_LABELS": ["A", "Overall"], "_ES": [0.1, 0.1]})
    >>> write_results(frame, path, {"measure": "MD"}, labels={"_ES": "Effect"})
    >>> back, meta = read_results(path)
    >>> back["_LABELS"].tolist(), meta["measure"]
    (['A', 'Overall'], 'MD')
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta.errors import InputError
from ipdmeta.io.aggregate_files import (
    META_TAG,
    STATA_STR_MAX,
    _NotesWriter,
    _pyarrow,
    read_dta_notes,
    stata_names,
)
from ipdmeta.io.output import writing

FORMATS = {".dta": "dta", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the format of {path.name!r}: use .dta, .csv or .parquet")
    return fmt


def write_results(frame: pd.DataFrame, path: str | Path, meta: dict[str, Any], *,
                  labels: dict[str, str] | None = None,
                  value_labels: dict[str, dict[int, str]] | None = None) -> None:
    """Write a results-set ``frame`` with its settings ``meta`` to ``path``.

    ``labels``: variable labels by column (``.dta``: at most 80 characters);
    ``value_labels``: code -> text for numeric columns (``.dta`` only).  An error of
    the file system is an :class:`~ipdmeta.errors.InputError` naming the file.
    """
    path = Path(path)
    fmt = _format(path)
    with writing(path):
        _write(frame, path, fmt, meta, labels, value_labels)


def _write(frame: pd.DataFrame, path: Path, fmt: str, meta: dict[str, Any],
           labels: dict[str, str] | None, value_labels: dict[str, dict[int, str]] | None
           ) -> None:
    if fmt == "csv":
        frame.to_csv(path, index=False)
        return
    if fmt == "parquet":
        pa, pq = _pyarrow()
        table = pa.Table.from_pandas(frame, preserve_index=False)
        schema = dict(table.schema.metadata or {})
        schema[META_TAG.encode()] = json.dumps(meta).encode("utf-8")
        pq.write_table(table.replace_schema_metadata(schema), path)
        return
    names = stata_names([str(c) for c in frame.columns])
    data = frame.copy()
    strl = []
    for c in data.columns:
        if not pd.api.types.is_numeric_dtype(data[c]):
            text = data[c].astype(object).where(data[c].notna(), "")
            data[c] = [str(v) for v in text]
            if any(len(v.encode("utf-8")) > STATA_STR_MAX for v in data[c]):
                strl.append(names[c])   # long text as strL, never cut
        elif not pd.api.types.is_integer_dtype(data[c]):
            data[c] = data[c].astype("float64")
    labels = labels or {}
    var_labels = {names[c]: labels.get(c, c)[:80] for c in frame.columns}
    meta = {**meta, "stata_names": {v: k for k, v in names.items() if k != v}}
    human = (f"ipdmeta results set (forest plot rows): {meta.get('measure') or 'ES'}; _USE 0 "
             "heading 1 study 2 not estimable 3 subgroup 4 text 5 overall 6 blank")
    _NotesWriter(path, data.rename(columns=names), write_index=False,
                 data_label=f"ipdmeta results set: {meta.get('measure') or 'ES'}"[:80],
                 variable_labels=var_labels,
                 value_labels={names[c]: v for c, v in (value_labels or {}).items()
                               if c in names}, convert_strl=strl,
                 notes=(human, f"{META_TAG}: {json.dumps(meta)}")).write_file()


def read_results(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame and settings of a results-set file (settings empty for a plain CSV).

    Numeric codes stay numeric (``_STUDY`` and ``_BY`` are not turned into text).
    """
    path = Path(path)
    fmt = _format(path)
    if not path.exists():
        raise InputError(f"file {str(path)!r} does not exist")
    if fmt == "csv":
        return pd.read_csv(path, keep_default_na=False, na_values=[""]), {}
    if fmt == "parquet":
        _, pq = _pyarrow()
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(META_TAG.encode())
        return table.to_pandas(), json.loads(raw) if raw else {}
    frame = pd.read_stata(path, convert_categoricals=False, preserve_dtypes=False)
    meta: dict[str, Any] = {}
    for note in read_dta_notes(path):
        if note.startswith(META_TAG + ":"):
            meta = json.loads(note[len(META_TAG) + 1:])
    if not meta:   # a file from Stata: its variable labels are the column headers
        with pd.io.stata.StataReader(path) as reader:
            meta = {"labels": {k: v for k, v in reader.variable_labels().items() if v}}
    return frame.rename(columns=meta.get("stata_names") or {}), meta
