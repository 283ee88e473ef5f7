"""``AggregateData``: the stage-1 table (one row per study).

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
them back (the formats are in :mod:`ipdmeta.io.aggregate_files`).  JSON and Parquet
keep the model description (``measure``, ``model``, ``formula``, ``poolvar``,
``ties``, ``level`` ...) and the column types; the
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
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.io.aggregate_files import (
    NAME_STYLES,
    format_of,
    from_names,
    read_table,
    with_names,
    write_table,
)

FLOAT_COLUMNS = ("estimate", "se", "ci_low", "ci_high")
COUNT_COLUMNS = ("n", "events", "n_dropped", "n_0", "n_1", "events_0", "events_1")
STANDARD_COLUMNS = ("study", *FLOAT_COLUMNS, *COUNT_COLUMNS, "status", "reason")


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
        format_of(path)
        if names not in NAME_STYLES:
            raise InputError(f"names={names!r} is not known; use 'ipdmeta' or 'ipdmetan'")
        meta = {**self.metadata(), "names": names,
                "dtypes": {str(c): str(t) for c, t in self.table.dtypes.items()}}
        write_table(with_names(self.table, names), path, meta)
        return path


def _restore(frame: pd.DataFrame, meta: dict[str, Any]) -> AggregateData:
    """AggregateData from a frame read from a file and its metadata (possibly empty)."""
    frame = from_names(frame)
    for col, dtype in (meta.get("dtypes") or {}).items():
        if col in frame.columns and str(frame[col].dtype) != dtype:
            with contextlib.suppress(TypeError, ValueError):
                frame[col] = frame[col].astype(dtype)
    known = {f.name for f in fields(AggregateData)} - {"table"}
    kwargs = {k: v for k, v in meta.items() if k in known and v is not None}
    if "keep" in kwargs:
        kwargs["keep"] = tuple(kwargs["keep"])
    return AggregateData(frame, **kwargs)




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
    return _restore(*read_table(path))
