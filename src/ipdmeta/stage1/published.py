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

from ipdmeta.effects import effect_sizes
from ipdmeta.errors import InputError
from ipdmeta.io.data import read_data
from ipdmeta.io.labels import RULE, check_unique, study_key
from ipdmeta.pooling.options import normalise_level
from ipdmeta.stage1.table import AggregateData

RATIO_MEASURES = ("HR", "OR", "RR", "IRR", "SHR", "TR")
#: per-arm summary data (1 = treatment, 0 = control), as the arm counts of stage 1
ARM_KEYS = ("events_1", "n_1", "events_0", "n_0", "mean_1", "sd_1", "mean_0", "sd_0")
KNOWN_KEYS = ("study", "estimate", "se", "variance", "ci_low", "ci_high", "oe", "v", "n",
              "events", *ARM_KEYS)
#: the effect_sizes() measure of per-arm data for each stage-1 measure
ARM_MEASURES = {"OR": "OR", "RR": "RR", "RD": "RD", "MD": "MD", "COEF": "MD", "SMD": "SMD"}


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


def _arm_rows(frame: pd.DataFrame, columns: dict[str, str], measure: str,
              labels: list[str]) -> pd.DataFrame:
    """Effect sizes of published per-arm data (2x2 counts or means and SDs)."""
    key = ARM_MEASURES.get(measure)
    means = "mean_1" in columns
    wanted = ("mean_1", "sd_1", "n_1", "mean_0", "sd_0", "n_0") if means else (
        "events_1", "n_1", "events_0", "n_0")
    absent = [k for k in wanted if k not in columns]
    if absent:
        raise InputError(f"per-arm aggregate data need {', '.join(wanted)} in "
                         f"aggregate_columns; missing: {', '.join(absent)}")
    if key is None or (means and key not in ("MD", "SMD")) or (
            not means and key not in ("OR", "RR", "RD")):
        raise InputError(f"per-arm {'means' if means else 'counts'} cannot give measure "
                         f"{measure!r}; counts give OR, RR or RD, means MD or SMD")
    for k in wanted:
        _column(frame, columns, k)  # names a missing column
    named = frame.assign(_label=labels)
    arms: dict[str, Any] = ({"means": (columns["mean_1"], columns["mean_0"]),
             "sds": (columns["sd_1"], columns["sd_0"])} if means else
            {"events": (columns["events_1"], columns["events_0"])})
    es = effect_sizes(named, key, n=(columns["n_1"], columns["n_0"]), study="_label",
                      **arms)
    out = pd.DataFrame({"study": labels, "estimate": es["estimate"].to_numpy(),
                        "se": es["se"].to_numpy(), "status": es["status"].to_numpy(),
                        "reason": es["reason"].to_numpy()})
    for k in wanted:
        out[k] = frame[columns[k]].to_numpy()
    if not means:
        out["n"] = out.n_1 + out.n_0
        out["events"] = out.events_1 + out.events_0
    return out


def read_published(data: Any, *, columns: dict[str, str] | None = None, measure: str,
                   scale: str | None = None, level: float = 0.95) -> pd.DataFrame:
    """Published results as stage-1 rows: study, estimate, se, n, events, source="AD".

    Args:
        data: a DataFrame or a file path (any format ``read_data`` reads).
        columns: maps ``study``, ``estimate`` and ``se`` (or ``variance``, or
            ``ci_low``/``ci_high``, or ``oe``/``v`` for log-rank O − E and V), and
            optionally ``n``, ``events``, to the table's column names.  Or per-arm
            summary data: ``events_1``, ``n_1``, ``events_0``, ``n_0`` (2x2 counts of the
            treatment and control arms; measure OR, RR or RD) or ``mean_1``, ``sd_1``,
            ``n_1``, ``mean_0``, ``sd_0``, ``n_0`` (measure MD, or SMD), whose effect
            sizes are computed as :func:`ipdmeta.effects.effect_sizes` does (a study
            that gives none is kept with its status and reason, and not pooled).  Other
            columns of the table are kept (study-level covariates).
        measure: the measure of these rows ("HR", "OR", "RR", "IRR", "MD", ...).
        scale: "ratio" when estimates and CI bounds of a ratio measure are given as
            ratios (default for ratio measures), "log" when already on the log scale.
        level: the confidence level of the published intervals.

    Published interval bounds are kept (on the analysis scale) as ``ci_low`` and
    ``ci_high``; bounds that are reversed or exclude their estimate are refused.
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

    labels = (frame[columns["study"]].astype(str).tolist() if "study" in columns
              else [f"AD {i + 1}" for i in range(len(frame))])
    if any(k in columns for k in ARM_KEYS):
        return _with_covariates(_arm_rows(frame, columns, measure, labels), frame, columns)
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
                crit = stats.norm.ppf(0.5 + normalise_level(level) / 2)
                std_err = (to_analysis(hi) - to_analysis(lo)) / (2 * crit)
            else:
                raise InputError("aggregate data need 'se', 'variance' or 'ci_low' and "
                                 "'ci_high' beside 'estimate' (in aggregate_columns)")
        else:
            raise InputError("aggregate data need an 'estimate' column (or 'oe' and 'v')")
    bad = np.flatnonzero(~np.isfinite(estimate) | ~np.isfinite(std_err) | (std_err <= 0))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"aggregate row {i} (study {labels[i]!r}) has no usable estimate and "
                         "standard error (missing, non-positive or a ratio ≤ 0); fix or drop "
                         "it")
    check_unique(labels, "the aggregate-data table")
    out = pd.DataFrame({"study": labels, "estimate": estimate, "se": std_err})
    if lo is not None and hi is not None:
        _check_interval(est, lo, hi, labels)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["ci_low"], out["ci_high"] = to_analysis(lo), to_analysis(hi)
    for key in ("n", "events"):
        if key in columns:
            out[key] = _column(frame, columns, key)
    out["status"], out["reason"] = "ok", ""
    return _with_covariates(out, frame, columns)


def _with_covariates(out: pd.DataFrame, frame: pd.DataFrame, columns: dict[str, str]
                     ) -> pd.DataFrame:
    """The other columns of the published table (study covariates), and source="AD"."""
    used = {columns[k] for k in columns}
    for name in frame.columns:
        if name not in used and name not in out.columns:
            out[name] = frame[name].to_numpy()
    out["source"] = "AD"
    return out


def _check_interval(est: np.ndarray | None, lo: np.ndarray, hi: np.ndarray,
                    labels: list) -> None:
    """Refuse a published interval whose bounds are reversed or that excludes its
    estimate (a transcription error), naming the study."""
    with np.errstate(invalid="ignore"):
        reversed_ = lo > hi
        outside = (np.zeros(lo.shape, bool) if est is None
                   else (est < lo) | (est > hi))
    for bad, what in ((reversed_, "its lower bound is above its upper bound"),
                      (outside, "its estimate lies outside its confidence interval")):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            shown = "" if est is None else f"{est[i]:g} "
            raise InputError(f"aggregate row {i} (study {labels[i]!r}): {what} ({shown}"
                             f"[{lo[i]:g}, {hi[i]:g}]); check the published numbers")


def combine(ipd: AggregateData, published: Any, *, columns: dict[str, str] | None = None,
            measure: str | None = None, scale: str | None = None, level: float = 0.95,
            relabel: bool = False) -> AggregateData:
    """Stage-1 rows from IPD plus published rows, with a ``source`` column (IPD / AD).

    The measure of the published rows must equal the IPD analysis's (an HR table
    cannot join a logistic analysis). Study labels present in both (compared by
    :func:`ipdmeta.io.labels.study_key`: ``1`` and ``" 1"`` are one study) are an
    error unless ``relabel=True``, which appends " (AD)" to the published labels.

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
    taken = {study_key(s) for s in frame["study"]}
    clash = [s for s in rows["study"] if study_key(s) in taken]
    if clash:
        if not relabel:
            raise InputError(f"study label(s) {clash} appear in both the IPD and the aggregate "
                             f"data ({RULE}); rename them or pass relabel=True")
        rows["study"] = [f"{study_key(s)} (AD)" if study_key(s) in taken else s
                         for s in rows["study"]]
    frame["source"] = "IPD"
    combined = pd.concat([frame, rows], ignore_index=True, sort=False)
    # IPD before AD in subgroup tables and plots (as ipdmetan's byad), not alphabetical
    combined["source"] = pd.Categorical(combined["source"], categories=["IPD", "AD"])
    return replace(ipd, table=combined)
