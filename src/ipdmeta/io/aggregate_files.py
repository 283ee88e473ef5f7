"""Files of aggregate (stage-1) tables: CSV, Stata ``.dta``, Parquet and JSON.

The functions here know formats, not models: :func:`write_table` writes a
DataFrame and a metadata dictionary (the model description of
:class:`ipdmeta.stage1.AggregateData`), :func:`read_table` gives both back.
JSON and Parquet keep the metadata and the column types; a ``.dta`` file keeps
them in its notes (``notes list`` in Stata) and data label (with the cells of missing
text, which Stata stores as ""); a CSV file keeps text and numbers apart by quoting
(:mod:`ipdmeta.io.typed_csv`) but has no other metadata.  Every format gives back
the same labels, values and types (a CSV gives dates and categoricals back as text),
or the save is refused with an :class:`~ipdmeta.errors.InputError`: infinite values
in a ``.dta`` file, text and numbers mixed in one column (except in JSON, and except
the study column, which is then written as text), value labels beyond Stata's 32,000
bytes.  :func:`with_names` / :func:`from_names` map between ipdmeta's
column names and those of Stata's ``ipdmetan`` results set (``_ES``, ``_seES``
...).

Example:
    >>> import os, tempfile, pandas as pd
    >>> path = os.path.join(tempfile.mkdtemp(), "t.json")
    >>> write_table(pd.DataFrame({"estimate": [0.5]}), path, {"measure": "MD"})
    >>> frame, meta = read_table(path)
    >>> frame["estimate"].tolist(), meta["measure"]
    ([0.5], 'MD')
"""

from __future__ import annotations

import json
import math
import re
import struct
from io import BytesIO, StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.stata import (  # type: ignore[attr-defined]  # StataWriterUTF8: not in the stubs
    StataParser,
    StataWriterUTF8,
)

from ipdmeta.errors import InputError, IpdMetaError
from ipdmeta.io.data import read_text
from ipdmeta.io.labels import study_key
from ipdmeta.io.output import writing
from ipdmeta.io.typed_csv import MalformedCSVError, parse_typed_csv, typed_csv_text

#: ipdmeta column -> ipdmetan results-set variable
IPDMETAN_NAMES = {"study": "_STUDY", "estimate": "_ES", "se": "_seES", "ci_low": "_LCI",
                  "ci_high": "_UCI", "n": "_NN", "oe": "_OE", "v": "_V"}
NAME_STYLES = ("ipdmeta", "ipdmetan")
FORMATS = {".csv": "csv", ".dta": "dta", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json"}
#: the tag of the metadata note of a .dta file (and the JSON / Parquet key)
META_TAG = "ipdmeta-metadata"
STATA_STR_MAX = 2045
#: the longest value label (bytes) of a Stata 118 file
STATA_LABEL_MAX = 32_000
STATA_NAME_MAX = 32
_LABELS = {"study": "Study", "estimate": "Estimate (analysis scale)", "se": "Standard error",
           "ci_low": "Lower confidence limit", "ci_high": "Upper confidence limit",
           "n": "Participants in the model", "events": "Events",
           "n_dropped": "Rows dropped (missing values)", "n_0": "Participants, poolvar = 0",
           "n_1": "Participants, poolvar = 1", "events_0": "Events, poolvar = 0",
           "events_1": "Events, poolvar = 1", "oe": "Log-rank O - E",
           "v": "Log-rank variance V", "status": "ok or failure code",
           "reason": "Reason (plain words)", "_USE": "1 = estimated, 2 = not estimable",
           "_LABELS": "Study label"}



# ---------------------------------------------------------------------- names
def with_names(table: pd.DataFrame, names: str) -> pd.DataFrame:
    """``table`` with ipdmeta's names ("ipdmeta") or ipdmetan's ("ipdmetan")."""
    if names == "ipdmeta":
        return table.copy()
    frame = table.rename(columns=IPDMETAN_NAMES)
    frame.insert(0, "_USE", np.where(table["status"].eq("ok"), 1, 2).astype("int8"))
    frame.insert(2, "_LABELS", table["study"].astype(str))
    return frame


def from_names(frame: pd.DataFrame) -> pd.DataFrame:
    """Map ipdmetan names back; keep the study rows of a Stata ipdmetan results set."""
    if "_ES" not in frame.columns:
        return frame
    if "_USE" in frame.columns:
        use = pd.to_numeric(frame["_USE"], errors="coerce")
        frame = frame[use.isin([1, 2])].copy()
        if "status" not in frame.columns:
            frame["status"] = np.where(use[use.isin([1, 2])].eq(1), "ok", "not_estimable")
            frame["reason"] = np.where(frame["status"].eq("ok"), "",
                                       "not estimable (ipdmetan _USE = 2)")
    if "_STUDY" not in frame.columns and "_LABELS" in frame.columns:
        frame["_STUDY"] = frame["_LABELS"]
    frame = frame.drop(columns=[c for c in ("_USE", "_LABELS") if c in frame.columns])
    if "_STUDY" in frame.columns and isinstance(frame["_STUDY"].dtype, pd.CategoricalDtype):
        frame["_STUDY"] = frame["_STUDY"].astype(object)
    return frame.rename(columns={v: k for k, v in IPDMETAN_NAMES.items()})


def format_of(path: Path) -> str:
    """"csv", "dta", "parquet" or "json" from the suffix of ``path`` (or an error)."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"cannot tell the format of {path.name!r}: use one of the suffixes "
                         f"{', '.join(FORMATS)}")
    return FORMATS[suffix]



# ---------------------------------------------------------------------- csv / json / parquet
def _write_csv(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    path.write_text(typed_csv_text(frame), encoding="utf-8")


def _read_csv(path: Path) -> tuple[pd.DataFrame, dict]:
    text = read_text(path)
    try:
        return parse_typed_csv(text), {}
    except MalformedCSVError:   # not well-formed for the typed reader: pandas' lenient reading
        return pd.read_csv(StringIO(text), keep_default_na=False, na_values=[""]), {}


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _write_json(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    data, infinite = {}, {}
    for c in frame.columns:
        values = [_plain(v) for v in frame[c].tolist()]
        inf = {i: ("inf" if v > 0 else "-inf") for i, v in enumerate(values)
               if isinstance(v, float) and math.isinf(v)}
        if inf:
            infinite[str(c)] = {str(i): sign for i, sign in inf.items()}
            values = [None if i in inf else v for i, v in enumerate(values)]
        data[str(c)] = values
    doc = {"format": "ipdmeta aggregate data", META_TAG: meta,
           "columns": [str(c) for c in frame.columns], "data": data}
    if infinite:
        doc["infinite"] = infinite
    path.write_text(json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8")


def _read_json(path: Path) -> tuple[pd.DataFrame, dict]:
    doc = json.loads(read_text(path))
    if isinstance(doc, dict) and "data" in doc:
        frame = pd.DataFrame(doc["data"], columns=doc.get("columns"))
        for col, cells in (doc.get("infinite") or {}).items():
            frame[col] = frame[col].astype(object)
            for i, sign in cells.items():
                frame.at[int(i), col] = float(sign)
        return frame, doc.get(META_TAG) or {}
    if not isinstance(doc, list | dict):
        raise InputError(f"{path.name!r} holds a JSON {type(doc).__name__}, not a table: "
                         "write a list of rows or an ipdmeta aggregate-data file")
    return pd.DataFrame(doc), {}


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise InputError("Parquet files need pyarrow: pip install 'ipdmeta[parquet]'") from err
    return pa, pq


def _write_parquet(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    pa, pq = _pyarrow()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[META_TAG.encode()] = json.dumps(meta).encode("utf-8")
    pq.write_table(table.replace_schema_metadata(schema_meta), path)


def _read_parquet(path: Path) -> tuple[pd.DataFrame, dict]:
    _, pq = _pyarrow()
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(META_TAG.encode())
    return table.to_pandas(), json.loads(raw) if raw else {}


# ---------------------------------------------------------------------- Stata .dta
def stata_names(columns: list[str]) -> dict[str, str]:
    """Valid, distinct Stata variable names (≤ 32 characters) for ``columns``.

    Example:
        >>> stata_names(["study", "mean age (years)", "1st"])
        {'study': 'study', 'mean age (years)': 'mean_age__years_', '1st': '_1st'}
    """
    reserved = StataParser().RESERVED_WORDS  # type: ignore[attr-defined]  # not in the stubs
    out: dict[str, str] = {}
    taken: set[str] = set()
    for col in columns:
        name = re.sub(r"[^A-Za-z0-9_]", "_", str(col)) or "_var"
        if name in reserved or name[0].isdigit():
            name = "_" + name
        name = name[:STATA_NAME_MAX]
        i = 1
        while name in taken:
            suffix = f"_{i}"
            name = name[: STATA_NAME_MAX - len(suffix)] + suffix
            i += 1
        taken.add(name)
        out[col] = name
    return out


class _NotesWriter(StataWriterUTF8):
    """pandas' dta 118 writer that also writes ``_dta`` notes (Stata characteristics)."""

    def __init__(self, *args: Any, notes: tuple[str, ...] = (), **kwargs: Any) -> None:
        self._notes = notes
        super().__init__(*args, **kwargs)

    def _write_characteristics(self) -> None:
        self._update_map("characteristics")
        entries = [("note0", str(len(self._notes)))]
        entries += [(f"note{i + 1}", text) for i, text in enumerate(self._notes)]
        bio = BytesIO()
        for name, text in entries:
            body = (_pad(b"_dta", 129) + _pad(name.encode(), 129)
                    + text.encode("utf-8") + b"\x00")
            bio.write(b"<ch>" + struct.pack(self._byteorder + "I", len(body)) + body
                      + b"</ch>")
        self._write_bytes(self._tag(bio.getvalue(), "characteristics"))


def _pad(raw: bytes, size: int) -> bytes:
    return raw[: size - 1].ljust(size, b"\x00")


def read_dta_notes(path: str | Path) -> list[str]:
    """The ``_dta`` notes of a Stata 117–119 file (``notes list`` in Stata), in order."""
    raw = Path(path).read_bytes()
    if not raw.startswith(b"<stata_dta>"):
        return []
    release = int(raw[raw.find(b"<release>") + 9: raw.find(b"</release>")])
    order = "<" if b"<byteorder>LSF" in raw[:200] else ">"
    start = raw.find(b"<map>") + 5
    offsets = struct.unpack(order + "14Q", raw[start: start + 112])
    section = raw[offsets[8]: offsets[9]]
    width = 33 if release == 117 else 129
    notes: dict[int, str] = {}
    pos = section.find(b"<ch>")
    while pos >= 0:
        (size,) = struct.unpack(order + "I", section[pos + 4: pos + 8])
        body = section[pos + 8: pos + 8 + size]
        var = body[:width].split(b"\x00")[0]
        name = body[width: 2 * width].split(b"\x00")[0].decode()
        if var == b"_dta" and re.fullmatch(r"note[1-9]\d*", name):
            notes[int(name[4:])] = body[2 * width:].split(b"\x00")[0].decode("utf-8")
        pos = section.find(b"<ch>", pos + 8 + size)
    return [notes[i] for i in sorted(notes)]


def _dta_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[int, str]],
                                             list[str]]:
    """Stata-ready copy: text as strings (``strL`` beyond 2045 bytes), nullable ints as
    floats, bools as bytes; the value labels and the ``strL`` columns.

    A text ``_STUDY`` becomes 1, 2, ... with value labels (as in ipdmetan).  Infinite
    values (Stata has none) and value labels beyond Stata's 32,000 bytes are refused.
    """
    out = frame.copy()
    value_labels: dict[str, dict[int, str]] = {}
    strl: list[str] = []
    for col in out.columns:
        s = out[col]
        if pd.api.types.is_float_dtype(s) and np.isinf(s.to_numpy(dtype=float)).any():
            rows = np.flatnonzero(np.isinf(s.to_numpy(dtype=float)))
            raise InputError(f"column {col!r} has infinite values (row(s) "
                             f"{', '.join(map(str, rows[:5]))}), which a Stata .dta file "
                             "cannot store; replace them (e.g. with missing) or save as "
                             ".json or .parquet")
        if isinstance(s.dtype, pd.CategoricalDtype):
            continue
        if col == "_STUDY" and not pd.api.types.is_numeric_dtype(s):
            codes, labels = pd.factorize(s.astype(str))
            long = [v for v in labels if len(str(v).encode("utf-8")) > STATA_LABEL_MAX]
            if long:
                raise InputError(f"study label {long[0][:40]!r}... is longer than the "
                                 f"{STATA_LABEL_MAX:,} bytes of a Stata value label; shorten "
                                 "it or save with names='ipdmeta' (a strL column)")
            out[col] = (codes + 1).astype("int32")
            value_labels[col] = {i + 1: str(v) for i, v in enumerate(labels)}
        elif pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("int8")
        elif isinstance(s.dtype, pd.api.extensions.ExtensionDtype) and \
                pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype("float64")
        elif not pd.api.types.is_numeric_dtype(s) and \
                not pd.api.types.is_datetime64_any_dtype(s):
            out[col] = ["" if _plain(v) is None else str(v) for v in s]
            if any(len(v.encode("utf-8")) > STATA_STR_MAX for v in out[col]):
                strl.append(col)
    return out, value_labels, strl


def _write_dta(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    names = stata_names([str(c) for c in frame.columns])
    renamed = {new: old for old, new in names.items() if new != old}
    missing_text = {str(c): np.flatnonzero(frame[c].isna().to_numpy()).tolist()
                    for c in frame.columns
                    if not pd.api.types.is_numeric_dtype(frame[c])
                    and not pd.api.types.is_datetime64_any_dtype(frame[c])
                    and not isinstance(frame[c].dtype, pd.CategoricalDtype)
                    and frame[c].isna().any()}
    meta = {**meta, "stata_names": renamed, "missing_text": missing_text}
    data, value_labels, strl = _dta_frame(frame)
    data = data.rename(columns=names)
    labels = {names[c]: _LABELS.get(c, c)[:80] for c in frame.columns}
    for ipd_name, stata_name in IPDMETAN_NAMES.items():
        if stata_name in labels:
            labels[stata_name] = _LABELS[ipd_name]
    def show(key: str) -> str:
        return str(meta.get(key) or ".")

    human = (f"ipdmeta stage 1: {meta.get('model') or 'aggregate'} model, formula "
             f"{show('formula')}, pooled term {show('poolvar')} ({show('measure')}), "
             f"ties {show('ties')}, level {float(meta.get('level') or 0.95):g}")
    data_label = f"ipdmeta: {meta.get('measure') or 'estimate'} of {show('poolvar')}"[:80]
    _NotesWriter(path, data, write_index=False, data_label=data_label, variable_labels=labels,
                 value_labels={names[c]: v for c, v in value_labels.items()},
                 convert_strl=[names[c] for c in strl],
                 notes=(human, f"{META_TAG}: {json.dumps(meta)}")).write_file()


def _read_dta(path: Path) -> tuple[pd.DataFrame, dict]:
    frame = pd.read_stata(path, preserve_dtypes=False, convert_categoricals=True)
    meta: dict[str, Any] = {}
    for note in read_dta_notes(path):
        if note.startswith(META_TAG + ":"):
            meta = json.loads(note[len(META_TAG) + 1:])
    frame = frame.rename(columns=meta.get("stata_names") or {})
    for col, rows in (meta.get("missing_text") or {}).items():   # Stata has no missing text
        if col in frame.columns:
            frame[col] = frame[col].astype(object)
            frame.loc[frame.index[rows], col] = None
    return frame, meta


WRITERS = {"csv": _write_csv, "json": _write_json, "parquet": _write_parquet,
           "dta": _write_dta}
READERS = {"csv": _read_csv, "json": _read_json, "parquet": _read_parquet, "dta": _read_dta}



def mixed_columns(frame: pd.DataFrame) -> list[str]:
    """Columns holding both text and non-text values (e.g. ``1`` and ``"1"``).

    Example:
        >>> mixed_columns(pd.DataFrame({"a": [1, "1"], "b": ["x", None], "c": [1.0, 2.0]}))
        ['a']
    """
    out = []
    for col in frame.columns:
        if frame[col].dtype != object:
            continue
        kinds = {isinstance(v, str) for v in frame[col].tolist() if _plain(v) is not None}
        if len(kinds) > 1:
            out.append(col)
    return out


def _typed(frame: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """The frame ready for ``fmt``: a study column that mixes numbers and text is written
    as text (labels are matched as text, :mod:`ipdmeta.io.labels`); any other mixed
    column is refused except in JSON, which keeps each value's type."""
    mixed = mixed_columns(frame)
    study = [c for c in mixed if c in ("study", "_STUDY", "_LABELS")]
    if study:
        frame = frame.assign(**{c: [v if isinstance(v, str) or _plain(v) is None
                                    else study_key(v) for v in frame[c]] for c in study})
    other = [c for c in mixed if c not in study]
    if other and fmt != "json":
        raise InputError(f"column(s) {', '.join(map(repr, other))} mix numbers and text, which "
                         f"a .{fmt} file cannot keep apart; make each column one type (e.g. "
                         "frame[col].astype(str)) or save as .json")
    return frame


def write_table(frame: pd.DataFrame, path: str | Path, meta: dict[str, Any]) -> None:
    """Write ``frame`` and its metadata to ``path`` in the format of its suffix.

    An error of the file system (missing or read-only folder, disk full) raises an
    :class:`~ipdmeta.errors.InputError` naming the file.
    """
    path = Path(path)
    fmt = format_of(path)
    frame = _typed(frame, fmt)
    with writing(path):
        try:
            WRITERS[fmt](frame, path, meta)
        except IpdMetaError:
            raise
        except (ValueError, TypeError) as err:   # a value the format cannot hold
            raise InputError(f"cannot write {path.name!r} as a .{fmt} file: "
                             f"{' '.join(str(err).split())[:300]}") from err


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame and the metadata (empty when the file has none) of ``path``.

    A file that is not of its suffix's format (corrupt, empty, truncated) is an
    :class:`~ipdmeta.errors.InputError` naming it.
    """
    path = Path(path)
    fmt = format_of(path)
    if not path.exists():
        raise InputError(f"file {str(path)!r} does not exist")
    try:
        return READERS[fmt](path)
    except IpdMetaError:
        raise
    except (ValueError, OSError, KeyError, TypeError, struct.error) as err:
        detail = " ".join(str(err).split())[:200]
        if fmt == "dta" and "not unique" in detail:
            raise InputError(f"cannot read {path.name!r}: its value labels are not unique "
                             "(two codes share a label); make them unique in Stata (label "
                             "define)") from err
        raise InputError(f"cannot read {path.name!r} as a .{fmt} file: {detail or type(err)}; "
                         "is it complete and of that format?") from err
