"""Participant data collapsed to summary data per study and arm (ipdmetan's "Syntax 2").

Stata's ``ipdmetan outcome treat, study(trial) or`` collapses the IPD of each trial to a
2x2 table (or to the mean, SD and size of each arm for a continuous outcome) and pools
those with metan.  :func:`summarise_arms` does the collapse; ``ipd.pool(arms,
events=("events_1", "events_0"), n=("n_1", "n_0"), measure="OR", method="MH")`` the
pooling.  Arm 1 is the treatment (``treatment == 1``), arm 0 the control; the column
names match the per-arm counts of :func:`ipdmeta.stage1.stage1`.

Example:
    >>> import ipdmeta as ipd
    >>> arms = summarise_arms(ipd.datasets.load("weight_gain_binary"), study="study_name",
    ...                       outcome="gdm", treatment="trt")
    >>> print(arms.head(2).to_string(index=False))
        study_name  n_1  events_1  n_0  events_0
    Abernethy 1998   21         2   21         3
     Baptiste 1999   12         0   12         2
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError, missing_column

KINDS = ("binary", "continuous")


def _check(data: pd.DataFrame, study: str, outcome: str, treatment: str) -> pd.DataFrame:
    if not isinstance(data, pd.DataFrame):
        raise InputError(f"summarise_arms() needs a pandas DataFrame, not {type(data).__name__}")
    for name, role in ((study, "study"), (outcome, "outcome"), (treatment, "treatment")):
        if name not in data.columns:
            raise missing_column(name, data, role)
    frame = data[[study, outcome, treatment]].dropna()
    if len(frame) == 0:
        raise InputError(f"no participant has {outcome!r}, {treatment!r} and {study!r} all "
                         "present")
    arm = pd.to_numeric(frame[treatment], errors="coerce")
    bad = sorted(set(frame[treatment][~arm.isin([0, 1])].astype(str)))
    if bad:
        raise InputError(f"treatment column {treatment!r} must be coded 0 (control) and 1 "
                         f"(treatment); it also holds {', '.join(bad[:5])}")
    return frame.assign(**{treatment: arm.astype(int)})


def summarise_arms(data: pd.DataFrame, *, study: str, outcome: str, treatment: str,
                   kind: str | None = None) -> pd.DataFrame:
    """One row per study with the summary data of each arm (1 = treatment, 0 = control).

    Args:
        data: participant data.
        study, outcome, treatment: column names; ``treatment`` coded 0/1.
        kind: ``"binary"`` (``outcome`` coded 0/1: ``events_1``, ``n_1``, ``events_0``,
            ``n_0``) or ``"continuous"`` (``mean_1``, ``sd_1``, ``n_1``, ``mean_0``,
            ``sd_0``, ``n_0``; SD with n - 1); default binary when the outcome is 0/1.

    Returns:
        a DataFrame in order of first appearance of each study; participants with a
        missing study, outcome or treatment are left out (their number is in
        ``attrs["dropped"]``).  An arm without participants has n = 0.
    """
    frame = _check(data, study, outcome, treatment)
    y = pd.to_numeric(frame[outcome], errors="coerce")
    if y.isna().any():
        raise InputError(f"outcome column {outcome!r} is not numeric (e.g. "
                         f"{frame[outcome][y.isna()].iloc[0]!r})")
    binary = bool(y.isin([0, 1]).all())
    kind = kind or ("binary" if binary else "continuous")
    if kind not in KINDS:
        raise InputError(f"kind={kind!r}: use 'binary' or 'continuous'")
    if kind == "binary" and not binary:
        raise InputError(f"a binary outcome must be coded 0/1; {outcome!r} holds other values "
                         "(use a continuous measure: md, smd ...)")
    groups = frame.assign(_y=y).groupby([study, treatment], sort=False)["_y"]
    stats: dict[str, Any] = {"n": groups.size()}
    if kind == "binary":
        stats["events"] = groups.sum()
    else:
        stats["mean"] = groups.mean()
        stats["sd"] = groups.std(ddof=1)
    order = pd.unique(frame[study])
    out = pd.DataFrame({study: order})
    for arm in (1, 0):
        for name, series in stats.items():
            values = series.unstack(treatment).reindex(index=order)
            col = values[arm] if arm in values.columns else pd.Series(np.nan, index=order)
            out[f"{name}_{arm}"] = col.to_numpy()
    counts = [c for c in out.columns if c.startswith(("n_", "events_"))]
    out[counts] = out[counts].fillna(0).astype(int)
    out.attrs["dropped"] = int(len(data) - len(frame))
    return out
