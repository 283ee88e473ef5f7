"""Files of aggregate (stage-1) tables: CSV, Stata ``.dta``, Parquet and JSON.

The functions here know formats, not models: :func:`write_table` writes a
DataFrame and a metadata dictionary (the model description of
:class:`ipdmeta.stage1.AggregateData`), :func:`read_table` gives both back.
JSON and Parquet keep the metadata and the column types; a ``.dta`` file keeps
them in its notes (``notes list`` in Stata) and data label; a CSV file is plain
(columns only).  :func:`with_names` / :func:`from_names` map between ipdmeta's
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
import re
import struct
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.stata import StataParser, StataWriterUTF8

from ipdmeta.errors import InputError

#: ipdmeta column -> ipdmetan results-set variable
IPDMETAN_NAMES = {"study": "_STUDY", "estimate": "_ES", "se": "_seES", "ci_low": "_LCI",
                  "ci_high": "_UCI", "n": "_NN"}
NAME_STYLES = ("ipdmeta", "ipdmetan")
FORMATS = {".csv": "csv", ".dta": "dta", ".parquet": "parquet", ".pq": "parquet",
           ".json": "json"}
#: the tag of the metadata note of a .dta file (and the JSON / Parquet key)
META_TAG = "ipdmeta-metadata"
STATA_STR_MAX = 2045
STATA_NAME_MAX = 32
_LABELS = {"study": "Study", "estimate": "Estimate (analysis scale)", "se": "Standard error",
           "ci_low": "Lower confidence limit", "ci_high": "Upper confidence limit",
           "n": "Participants in the model", "events": "Events",
           "n_dropped": "Rows dropped (missing values)", "n_0": "Participants, poolvar = 0",
           "n_1": "Participants, poolvar = 1", "events_0": "Events, poolvar = 0",
           "events_1": "Events, poolvar = 1", "status": "ok or failure code",
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
    frame.to_csv(path, index=False)


def _read_csv(path: Path) -> tuple[pd.DataFrame, dict]:
    return pd.read_csv(path, keep_default_na=False, na_values=[""]), {}


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _write_json(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    doc = {"format": "ipdmeta aggregate data", META_TAG: meta,
           "columns": [str(c) for c in frame.columns],
           "data": {str(c): [_plain(v) for v in frame[c].tolist()] for c in frame.columns}}
    path.write_text(json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8")


def _read_json(path: Path) -> tuple[pd.DataFrame, dict]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(doc, dict) and "data" in doc:
        frame = pd.DataFrame(doc["data"], columns=doc.get("columns"))
        return frame, doc.get(META_TAG) or {}
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
    reserved = StataParser().RESERVED_WORDS
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


def _truncate_utf8(text: str, limit: int) -> str:
    raw = text.encode("utf-8")
    return text if len(raw) <= limit else raw[:limit].decode("utf-8", errors="ignore")


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


def _dta_frame(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, dict[int, str]]]:
    """Stata-ready copy: text as short strings, nullable ints as floats, bools as bytes.

    A text ``_STUDY`` becomes 1, 2, ... with value labels (as in ipdmetan).
    """
    out = frame.copy()
    value_labels: dict[str, dict[int, str]] = {}
    for col in out.columns:
        s = out[col]
        if isinstance(s.dtype, pd.CategoricalDtype):
            continue
        if col == "_STUDY" and not pd.api.types.is_numeric_dtype(s):
            codes, labels = pd.factorize(s.astype(str))
            out[col] = (codes + 1).astype("int32")
            value_labels[col] = {i + 1: str(v) for i, v in enumerate(labels)}
        elif pd.api.types.is_bool_dtype(s):
            out[col] = s.astype("int8")
        elif isinstance(s.dtype, pd.api.extensions.ExtensionDtype) and \
                pd.api.types.is_numeric_dtype(s):
            out[col] = s.astype("float64")
        elif not pd.api.types.is_numeric_dtype(s) and \
                not pd.api.types.is_datetime64_any_dtype(s):
            out[col] = [_truncate_utf8("" if v is None or v is pd.NA or
                                       (isinstance(v, float) and np.isnan(v)) else str(v),
                                       STATA_STR_MAX) for v in s]
    return out, value_labels


def _write_dta(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    names = stata_names([str(c) for c in frame.columns])
    renamed = {new: old for old, new in names.items() if new != old}
    meta = {**meta, "stata_names": renamed}
    data, value_labels = _dta_frame(frame)
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
                 notes=(human, f"{META_TAG}: {json.dumps(meta)}")).write_file()


def _read_dta(path: Path) -> tuple[pd.DataFrame, dict]:
    frame = pd.read_stata(path, preserve_dtypes=False, convert_categoricals=True)
    meta: dict[str, Any] = {}
    for note in read_dta_notes(path):
        if note.startswith(META_TAG + ":"):
            meta = json.loads(note[len(META_TAG) + 1:])
    return frame.rename(columns=meta.get("stata_names") or {}), meta


WRITERS = {"csv": _write_csv, "json": _write_json, "parquet": _write_parquet,
           "dta": _write_dta}
READERS = {"csv": _read_csv, "json": _read_json, "parquet": _read_parquet, "dta": _read_dta}



def write_table(frame: pd.DataFrame, path: str | Path, meta: dict[str, Any]) -> None:
    """Write ``frame`` and its metadata to ``path`` in the format of its suffix."""
    path = Path(path)
    WRITERS[format_of(path)](frame, path, meta)


def read_table(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame and the metadata (empty when the file has none) of ``path``."""
    path = Path(path)
    fmt = format_of(path)
    if not path.exists():
        raise InputError(f"file {str(path)!r} does not exist")
    return READERS[fmt](path)
