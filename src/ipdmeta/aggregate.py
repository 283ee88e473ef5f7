"""``AggregateData``: the stage-1 table (one row per study) and its files.

Columns, in this order (those that do not apply are absent):

``study``
    the study label (as in the IPD's study column).
``estimate``, ``se``, ``ci_low``, ``ci_high``
    the pooled term's coefficient on the analysis scale (log HR, log OR, log
    IRR, mean difference or slope), its standard error and Wald interval at
    ``level``.  NaN for a study that could not be fitted.
``n``, ``events``, ``n_dropped``
    participants in the model (complete cases), events (logistic, Poisson: the
    total count, Cox) and rows dropped for missing values.
``n_0``, ``n_1``, ``events_0``, ``events_1``
    participants and events per arm, when the pooled term is a 0/1 variable.
``status``, ``reason``
    ``"ok"`` or a failure code (:data:`ipdmeta.models.base.FAILURE_CODES`, plus
    ``missing_poolvar``), and the reason in plain words (for an ``ok`` row, any
    terms dropped from that study's model).
kept covariates
    the study-level columns named in ``keep=`` (for ``by=`` and meta-regression).

``save()`` writes CSV, Stata ``.dta``, Parquet or JSON; ``read_aggregate()`` reads
them back.  JSON and Parquet keep the model description (``measure``, ``model``,
``formula``, ``poolvar``, ``ties``, ``level`` ...) and the column types; the
``.dta`` file keeps them in its notes (``notes list`` in Stata) and data label; a
CSV file is plain (columns only).  ``names="ipdmetan"`` uses the variable names of
Stata's ``ipdmetan`` results set: ``_USE`` (1 estimated, 2 not estimable),
``_STUDY``, ``_LABELS``, ``_ES``, ``_seES``, ``_LCI``, ``_UCI``, ``_NN``; the other
columns keep their names (made valid Stata names in ``.dta`` files).

Example:
    >>> import pandas as pd
    >>> ad = AggregateData(pd.DataFrame({"study": ["A", "B"], "estimate": [0.1, -0.2],
    ...                                  "se": [0.1, 0.2]}), measure="MD", model="linear")
    >>> len(ad), ad.columns[:4], ad["status"].tolist()
    (2, ['study', 'estimate', 'se', 'ci_low'], ['ok', 'ok'])
"""

from __future__ import annotations

import contextlib
import json
import re
import struct
from dataclasses import dataclass, field, fields, replace
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pandas.io.stata import StataParser, StataWriterUTF8
from scipy import stats

from ipdmeta.errors import InputError

FLOAT_COLUMNS = ("estimate", "se", "ci_low", "ci_high")
COUNT_COLUMNS = ("n", "events", "n_dropped", "n_0", "n_1", "events_0", "events_1")
STANDARD_COLUMNS = ("study", *FLOAT_COLUMNS, *COUNT_COLUMNS, "status", "reason")
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


def canonical_table(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """A copy of ``frame`` with the standard columns first and their standard types.

    Estimates are float64, counts int64 (nullable ``Int64`` when some are
    missing), ``status`` defaults to ``"ok"`` and ``reason`` to ``""``; a missing
    interval is the Wald interval at ``level``.
    """
    frame = frame.reset_index(drop=True).copy()
    missing = [c for c in ("estimate", "se") if c not in frame.columns]
    if missing:
        raise InputError(f"aggregate data need columns 'estimate' and 'se'; missing "
                         f"{', '.join(map(repr, missing))} (columns: "
                         f"{', '.join(map(str, frame.columns))})")
    if "study" not in frame.columns:
        frame.insert(0, "study", [f"Study {i + 1}" for i in range(len(frame))])
    for c in FLOAT_COLUMNS:
        if c in frame.columns:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    crit = stats.norm.ppf(0.5 + level / 2)
    for c, sign in (("ci_low", -1), ("ci_high", 1)):
        if c not in frame.columns:
            frame[c] = frame["estimate"] + sign * crit * frame["se"]
    for c in COUNT_COLUMNS:
        if c in frame.columns:
            values = pd.to_numeric(frame[c], errors="coerce")
            frame[c] = values.astype("Int64" if values.isna().any() else "int64")
    status = frame["status"] if "status" in frame.columns else pd.Series("ok", frame.index)
    frame["status"] = status.astype(object).where(status.notna(), "ok").astype(str)
    reason = frame["reason"] if "reason" in frame.columns else pd.Series("", frame.index)
    frame["reason"] = reason.astype(object).where(reason.notna(), "").astype(str)
    order = [c for c in STANDARD_COLUMNS if c in frame.columns]
    return frame[order + [c for c in frame.columns if c not in order]]


@dataclass(frozen=True, eq=False)
class AggregateData:
    """Stage-1 results: one row per study, with the model that produced them.

    A DataFrame-like table: ``len(ad)``, ``ad["estimate"]``, ``ad.columns``,
    ``ad.to_frame()``; ``ad.ok`` are the rows that can be pooled.  ``measure``
    is "HR" (Cox), "OR" (logistic), "IRR" (Poisson), "MD" (linear model with a
    0/1 pooled term) or "coef" (linear model with a continuous pooled term or
    an interaction); ratio measures are shown exponentiated by stage 2.  The
    estimates are always stored on the analysis (log) scale.

    Example:
        >>> import pandas as pd
        >>> ad = AggregateData(pd.DataFrame({"study": ["A", "B"], "estimate": [0.1, 0.3],
        ...                    "se": [0.1, 0.1], "status": ["ok", "no_events"]}),
        ...                    measure="OR", model="logistic", poolvar="treat")
        >>> len(ad.ok), ad.excluded["study"].tolist()
        (1, ['B'])
    """

    table: pd.DataFrame
    measure: str | None = None
    model: str | None = None
    formula: str | None = None
    poolvar: str | None = None
    ties: str | None = None
    level: float = 0.95
    firth: bool = False
    study_var: str | None = None
    interaction: tuple[str, ...] | None = None
    keep: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        level = float(self.level)
        object.__setattr__(self, "level", level / 100 if 1 < level < 100 else level)
        object.__setattr__(self, "table", canonical_table(pd.DataFrame(self.table), self.level))
        if self.interaction is not None:
            object.__setattr__(self, "interaction", tuple(self.interaction))
        object.__setattr__(self, "keep", tuple(self.keep))

    # ------------------------------------------------------------------ table access
    def to_frame(self) -> pd.DataFrame:
        """The table as a new DataFrame."""
        return self.table.copy()

    @property
    def columns(self) -> list[str]:
        """Column names."""
        return [str(c) for c in self.table.columns]

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, key: str | list[str]) -> pd.Series | pd.DataFrame:
        return self.table[key]

    @property
    def ok(self) -> AggregateData:
        """The rows with ``status == "ok"`` (those that stage 2 pools)."""
        return replace(self, table=self.table[self.table["status"].eq("ok")])

    @property
    def excluded(self) -> pd.DataFrame:
        """Studies that could not be estimated: study, status, reason."""
        bad = self.table[self.table["status"].ne("ok")]
        return bad[["study", "status", "reason"]].reset_index(drop=True)

    def metadata(self) -> dict[str, Any]:
        """The model description (every field but the table) as plain Python values."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "table"}
        out["interaction"] = list(self.interaction) if self.interaction else None
        out["keep"] = list(self.keep)
        return out

    def describe(self) -> str:
        """One line: model, pooled term, measure and number of studies."""
        what = f"{self.measure} of {self.poolvar!r}" if self.poolvar else (self.measure or "")
        model = f"{self.model} model" if self.model else "aggregate data"
        n_ok = int(self.table["status"].eq("ok").sum())
        return (f"AggregateData: {model}, {what}, {len(self)} studies ({n_ok} estimated)"
                .replace(", ,", ","))

    def __repr__(self) -> str:
        return f"{self.describe()}\n{self.table.to_string(max_rows=30)}"

    def _repr_html_(self) -> str:
        import html

        return (f"<p><b>{html.escape(self.describe())}</b></p>"
                + self.table.to_html(max_rows=60, index=False))

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, names: str = "ipdmeta") -> Path:
        """Write the table to ``path``: ``.csv``, ``.dta``, ``.parquet`` or ``.json``.

        Args:
            path: the file; its suffix chooses the format.
            names: "ipdmeta" (the column names above) or "ipdmetan" (Stata's
                ``ipdmetan`` results-set names ``_ES``, ``_seES``, ``_LCI``,
                ``_UCI``, ``_NN``, ``_STUDY``, plus ``_USE`` and ``_LABELS``).

        Returns:
            The path written.

        Example:
            >>> import os, tempfile, pandas as pd
            >>> ad = AggregateData(pd.DataFrame({"estimate": [0.1], "se": [0.2]}))
            >>> p = ad.save(os.path.join(tempfile.mkdtemp(), "ad.json"))
            >>> read_aggregate(p).to_frame().equals(ad.to_frame())
            True
        """
        path = Path(path)
        fmt = _format_of(path)
        if names not in NAME_STYLES:
            raise InputError(f"names={names!r} is not known; use 'ipdmeta' or 'ipdmetan'")
        frame = _with_names(self.table, names)
        meta = {**self.metadata(), "names": names,
                "dtypes": {str(c): str(t) for c, t in self.table.dtypes.items()}}
        WRITERS[fmt](frame, path, meta, self)
        return path


# ---------------------------------------------------------------------- names
def _with_names(table: pd.DataFrame, names: str) -> pd.DataFrame:
    if names == "ipdmeta":
        return table.copy()
    frame = table.rename(columns=IPDMETAN_NAMES)
    frame.insert(0, "_USE", np.where(table["status"].eq("ok"), 1, 2).astype("int8"))
    frame.insert(2, "_LABELS", table["study"].astype(str))
    return frame


def _from_names(frame: pd.DataFrame) -> pd.DataFrame:
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


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"cannot tell the format of {path.name!r}: use one of the suffixes "
                         f"{', '.join(FORMATS)}")
    return FORMATS[suffix]


def _restore(frame: pd.DataFrame, meta: dict[str, Any]) -> AggregateData:
    """AggregateData from a frame read from a file and its metadata (possibly empty)."""
    frame = _from_names(frame)
    for col, dtype in (meta.get("dtypes") or {}).items():
        if col in frame.columns and str(frame[col].dtype) != dtype:
            with contextlib.suppress(TypeError, ValueError):
                frame[col] = frame[col].astype(dtype)
    known = {f.name for f in fields(AggregateData)} - {"table"}
    kwargs = {k: v for k, v in meta.items() if k in known and v is not None}
    if "keep" in kwargs:
        kwargs["keep"] = tuple(kwargs["keep"])
    return AggregateData(frame, **kwargs)


# ---------------------------------------------------------------------- csv / json / parquet
def _write_csv(frame: pd.DataFrame, path: Path, meta: dict, ad: AggregateData) -> None:
    frame.to_csv(path, index=False)


def _read_csv(path: Path) -> AggregateData:
    return _restore(pd.read_csv(path, keep_default_na=False, na_values=[""]), {})


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def _write_json(frame: pd.DataFrame, path: Path, meta: dict, ad: AggregateData) -> None:
    doc = {"format": "ipdmeta aggregate data", META_TAG: meta,
           "columns": [str(c) for c in frame.columns],
           "data": {str(c): [_plain(v) for v in frame[c].tolist()] for c in frame.columns}}
    path.write_text(json.dumps(doc, indent=1, allow_nan=False), encoding="utf-8")


def _read_json(path: Path) -> AggregateData:
    doc = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(doc, dict) and "data" in doc:
        frame = pd.DataFrame(doc["data"], columns=doc.get("columns"))
        return _restore(frame, doc.get(META_TAG) or {})
    return _restore(pd.DataFrame(doc), {})


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as err:
        raise InputError("Parquet files need pyarrow: pip install 'ipdmeta[parquet]'") from err
    return pa, pq


def _write_parquet(frame: pd.DataFrame, path: Path, meta: dict, ad: AggregateData) -> None:
    pa, pq = _pyarrow()
    table = pa.Table.from_pandas(frame, preserve_index=False)
    schema_meta = dict(table.schema.metadata or {})
    schema_meta[META_TAG.encode()] = json.dumps(meta).encode("utf-8")
    pq.write_table(table.replace_schema_metadata(schema_meta), path)


def _read_parquet(path: Path) -> AggregateData:
    _, pq = _pyarrow()
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(META_TAG.encode())
    return _restore(table.to_pandas(), json.loads(raw) if raw else {})


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


def _write_dta(frame: pd.DataFrame, path: Path, meta: dict, ad: AggregateData) -> None:
    names = stata_names([str(c) for c in frame.columns])
    renamed = {new: old for old, new in names.items() if new != old}
    meta = {**meta, "stata_names": renamed}
    data, value_labels = _dta_frame(frame)
    data = data.rename(columns=names)
    labels = {names[c]: _LABELS.get(c, c)[:80] for c in frame.columns}
    for ipd_name, stata_name in IPDMETAN_NAMES.items():
        if stata_name in labels:
            labels[stata_name] = _LABELS[ipd_name]
    human = (f"ipdmeta stage 1: {ad.model or 'aggregate'} model, formula "
             f"{ad.formula or '.'}, pooled term {ad.poolvar or '.'} ({ad.measure or '.'}), "
             f"ties {ad.ties or '.'}, level {ad.level:g}")
    data_label = f"ipdmeta: {ad.measure or 'estimate'} of {ad.poolvar or '.'}"[:80]
    _NotesWriter(path, data, write_index=False, data_label=data_label, variable_labels=labels,
                 value_labels={names[c]: v for c, v in value_labels.items()},
                 notes=(human, f"{META_TAG}: {json.dumps(meta)}")).write_file()


def _read_dta(path: Path) -> AggregateData:
    frame = pd.read_stata(path, preserve_dtypes=False, convert_categoricals=True)
    meta: dict[str, Any] = {}
    for note in read_dta_notes(path):
        if note.startswith(META_TAG + ":"):
            meta = json.loads(note[len(META_TAG) + 1:])
    frame = frame.rename(columns=meta.get("stata_names") or {})
    return _restore(frame, meta)


WRITERS = {"csv": _write_csv, "json": _write_json, "parquet": _write_parquet,
           "dta": _write_dta}
READERS = {"csv": _read_csv, "json": _read_json, "parquet": _read_parquet, "dta": _read_dta}


def read_aggregate(path: str | Path) -> AggregateData:
    """Read aggregate data written by :meth:`AggregateData.save` (or Stata's ``ipdmetan``).

    The format follows the suffix (``.csv``, ``.dta``, ``.parquet``, ``.json``);
    ipdmetan names (``_ES``, ``_seES`` ...) are mapped back, and of an ipdmetan
    results set only the study rows (``_USE`` 1 or 2) are kept.

    Example:
        >>> import os, tempfile, pandas as pd
        >>> ad = AggregateData(pd.DataFrame({"study": ["A"], "estimate": [0.1], "se": [0.2]}),
        ...                    measure="HR", model="cox", poolvar="treat", ties="efron")
        >>> p = ad.save(os.path.join(tempfile.mkdtemp(), "ad.dta"), names="ipdmetan")
        >>> back = read_aggregate(p)
        >>> back.measure, back.poolvar, back["estimate"].tolist()
        ('HR', 'treat', [0.1])
    """
    path = Path(path)
    fmt = _format_of(path)
    if not path.exists():
        raise InputError(f"file {str(path)!r} does not exist")
    return READERS[fmt](path)
