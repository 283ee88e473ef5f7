"""Adding published aggregate data (AD) to IPD-derived study rows (ipdmetan's ``ad()``).

Published trials report an estimate with its standard error, a confidence interval,
or — for time-to-event outcomes — the log-rank O − E and its variance V. This module
turns any of these into the analysis-scale estimate and standard error of stage 1,
checks that the measure matches, and appends the rows with ``source = "AD"``.

Example:
    >>> import pandas as pd
    >>> published = pd.DataFrame({"trial": ["X"], "hr": [0.8], "lo": [0.64], "hi": [1.0]})
    >>> rows = read_published(published, columns={"study": "trial", "estimate": "hr",
    ...                       "ci_low": "lo", "ci_high": "hi"}, measure="HR")
    >>> round(float(rows.estimate[0]), 4), round(float(rows.se[0]), 4)
    (-0.2231, 0.1139)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.io.data import read_data
from ipdmeta.stage1.table import AggregateData

RATIO_MEASURES = ("HR", "OR", "RR", "IRR")
KNOWN_KEYS = ("study", "estimate", "se", "variance", "ci_low", "ci_high", "oe", "v", "n",
              "events")


def _column(frame: pd.DataFrame, columns: dict[str, str], key: str) -> np.ndarray | None:
    name = columns.get(key)
    if name is None:
        return None
    if name not in frame.columns:
        raise InputError(f"aggregate_columns[{key!r}] = {name!r} is not a column of the "
                         f"aggregate table (columns: {', '.join(map(str, frame.columns))})")
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    return values


def _default_columns(frame: pd.DataFrame) -> dict[str, str]:
    return {k: k for k in KNOWN_KEYS if k in frame.columns}


def read_published(data: Any, *, columns: dict[str, str] | None = None, measure: str,
                   scale: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Published results as stage-1 rows: study, estimate, se, n, events, source="AD".

    Args:
        data: a DataFrame or a file path (any format ``read_data`` reads).
        columns: maps ``study``, ``estimate`` and ``se`` (or ``variance``, or
            ``ci_low``/``ci_high``, or ``oe``/``v`` for log-rank O − E and V), and
            optionally ``n``, ``events``, to the table's column names. Other
            columns of the table are kept (study-level covariates).
        measure: the measure of these rows ("HR", "OR", "RR", "IRR", "MD", ...).
        scale: "ratio" when estimates and CI bounds of a ratio measure are given as
            ratios (default for ratio measures), "log" when already on the log scale.
        level: the confidence level of the published intervals.
    """
    frame = read_data(data) if isinstance(data, str | Path) else pd.DataFrame(data)
    if len(frame) == 0:
        raise InputError("the aggregate-data table has no rows")
    columns = dict(columns or _default_columns(frame))
    unknown = sorted(set(columns) - set(KNOWN_KEYS))
    if unknown:
        raise InputError(f"unknown aggregate_columns key(s) {unknown}; use {list(KNOWN_KEYS)}")
    measure = measure.upper()
    ratio = measure in RATIO_MEASURES
    scale = scale or ("ratio" if ratio else "log")
    if scale not in ("ratio", "log"):
        raise InputError(f"scale={scale!r}: use 'ratio' or 'log'")
    to_analysis = np.log if (ratio and scale == "ratio") else (lambda x: x)

    est, se = _column(frame, columns, "estimate"), _column(frame, columns, "se")
    var, lo, hi = (_column(frame, columns, k) for k in ("variance", "ci_low", "ci_high"))
    oe, v = _column(frame, columns, "oe"), _column(frame, columns, "v")
    with np.errstate(divide="ignore", invalid="ignore"):
        if oe is not None and v is not None:
            if measure != "HR":
                raise InputError("O − E and V (log-rank) give a hazard ratio: use measure='HR'")
            estimate, std_err = oe / v, 1 / np.sqrt(v)
        elif est is not None:
            estimate = to_analysis(est)
            if se is not None:
                std_err = se
            elif var is not None:
                std_err = np.sqrt(var)
            elif lo is not None and hi is not None:
                crit = stats.norm.ppf(0.5 + level / 2)
                std_err = (to_analysis(hi) - to_analysis(lo)) / (2 * crit)
            else:
                raise InputError("aggregate data need 'se', 'variance' or 'ci_low' and "
                                 "'ci_high' beside 'estimate' (in aggregate_columns)")
        else:
            raise InputError("aggregate data need an 'estimate' column (or 'oe' and 'v')")
    labels = (frame[columns["study"]].astype(str).tolist() if "study" in columns
              else [f"AD {i + 1}" for i in range(len(frame))])
    bad = np.flatnonzero(~np.isfinite(estimate) | ~np.isfinite(std_err) | (std_err <= 0))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"aggregate row {i} (study {labels[i]!r}) has no usable estimate and "
                         "standard error (missing, non-positive or a ratio ≤ 0); fix or drop "
                         "it")
    used = {columns[k] for k in columns}
    out = pd.DataFrame({"study": labels, "estimate": estimate, "se": std_err})
    for key in ("n", "events"):
        if key in columns:
            out[key] = _column(frame, columns, key)
    for name in frame.columns:
        if name not in used and name not in out.columns:
            out[name] = frame[name].to_numpy()
    out["status"], out["reason"], out["source"] = "ok", "", "AD"
    return out


def combine(ipd: AggregateData, published: Any, *, columns: dict[str, str] | None = None,
            measure: str | None = None, scale: str | None = None, level: float = 0.95,
            relabel: bool = False) -> AggregateData:
    """Stage-1 rows from IPD plus published rows, with a ``source`` column (IPD / AD).

    The measure of the published rows must equal the IPD analysis's (an HR table
    cannot join a logistic analysis). Study labels present in both are an error
    unless ``relabel=True``, which appends " (AD)" to the published labels.

    Example:
        >>> import pandas as pd
        >>> ipd_rows = AggregateData(pd.DataFrame({"study": ["A"], "estimate": [-0.2],
        ...                                        "se": [0.1]}), measure="HR")
        >>> ad = combine(ipd_rows, pd.DataFrame({"study": ["B"], "estimate": [0.9],
        ...                                      "se": [0.2]}), measure="HR", scale="ratio")
        >>> ad["source"].tolist()
        ['IPD', 'AD']
    """
    ipd_measure = (ipd.measure or "").upper()
    measure = (measure or ipd_measure).upper()
    if not measure:
        raise InputError("state the measure of the aggregate data (aggregate_measure=)")
    if ipd_measure and measure != ipd_measure:
        raise InputError(f"the aggregate data are {measure} but the IPD analysis gives "
                         f"{ipd_measure} ({ipd.model or 'model'}): effects must be on the "
                         "same scale")
    rows = read_published(published, columns=columns, measure=measure, scale=scale,
                          level=level)
    frame = ipd.to_frame()
    taken = set(frame["study"].astype(str))
    clash = [s for s in rows["study"] if s in taken]
    if clash:
        if not relabel:
            raise InputError(f"study label(s) {clash} appear in both the IPD and the aggregate "
                             "data; rename them or pass relabel=True")
        rows["study"] = [f"{s} (AD)" if s in taken else s for s in rows["study"]]
    frame["source"] = "IPD"
    combined = pd.concat([frame, rows], ignore_index=True, sort=False)
    return replace(ipd, table=combined)
