"""Reading and checking the study table that stage 2 pools.

Example:
    >>> import pandas as pd
    >>> t = read_study_table(pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.01, 0.04]}))
    >>> t.labels, t.v.tolist()
    (['Study 1', 'Study 2'], [0.01, 0.04])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError, missing_column

ESTIMATE_NAMES = ("estimate", "yi", "_ES", "es", "effect", "logor", "loghr", "logrr")
SE_NAMES = ("se", "sei", "_seES", "stderr", "std_err")
VARIANCE_NAMES = ("variance", "vi", "var")
STUDY_NAMES = ("study", "_STUDY", "trial", "study_name", "author", "label")


@dataclass
class StudyTable:
    """Validated per-study estimates and variances, labels, subgroups and excluded rows."""

    y: np.ndarray
    v: np.ndarray
    labels: list
    data: pd.DataFrame
    by: np.ndarray | None = None
    by_name: str | None = None
    genq_weights: np.ndarray | None = None
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["study", "status", "reason"]))
    measure: str | None = None
    messages: tuple[str, ...] = ()

    def groups(self) -> dict[Any, np.ndarray]:
        """Row indices per subgroup, in order of first appearance."""
        assert self.by is not None
        order = pd.unique(pd.Series(self.by))
        return {g: np.flatnonzero(self.by == g) for g in order}

    def study_frame(self, level: float) -> pd.DataFrame:
        """Per-study table: study, estimate, se, Wald CI at ``level`` (and the subgroup)."""
        se = np.sqrt(self.v)
        crit = stats.norm.ppf(1 - (1 - level) / 2)
        frame = pd.DataFrame({"study": pd.Series(self.labels, dtype=object),
                              "estimate": self.y, "se": se,
                              "ci_low": self.y - crit * se, "ci_high": self.y + crit * se})
        if self.by is not None:
            frame[self.by_name or "by"] = self.by
        return frame


def _pick(frame: pd.DataFrame, given: str | None, candidates: tuple[str, ...], role: str
          ) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise missing_column(given, frame, role)
        return given
    lower = {str(c).lower(): c for c in frame.columns}
    for name in candidates:
        if name.lower() in lower:
            return lower[name.lower()]
    return None


def _numeric(frame: pd.DataFrame, column: str, labels: list) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"column {column!r} is missing or not a finite number in row {i} "
                         f"(study {labels[i]!r}, value {frame[column].iloc[i]!r}); fix or drop "
                         f"that row ({bad.size} such row(s) in all)")
    return values


def _split_status(frame: pd.DataFrame, study_col: str | None, by: str | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame, tuple]:
    """Keep rows with status 'ok'; return the excluded rows with their reasons.

    With ``by``, the excluded rows carry their subgroup too (for tables and plots).
    """
    empty = pd.DataFrame(columns=["study", "status", "reason"])
    if "status" not in frame.columns:
        return frame, empty, ()
    ok = frame["status"].astype(str).eq("ok").to_numpy()
    bad = frame.loc[~ok]
    excluded = pd.DataFrame({
        "study": bad[study_col].tolist() if study_col else bad.index.tolist(),
        "status": bad["status"].astype(str).tolist(),
        "reason": (bad["reason"].astype(str).tolist() if "reason" in bad.columns
                   else [""] * len(bad))})
    if by is not None and by in bad.columns:
        excluded[by] = bad[by].to_numpy()
    messages: tuple = ()
    if len(excluded):
        listing = "; ".join(f"{s}: {r}" for s, r in zip(excluded.study, excluded.reason,
                                                          strict=True))
        messages = (f"{len(excluded)} stud{'y' if len(excluded) == 1 else 'ies'} not pooled "
                    f"(not estimable in stage 1): {listing}",)
    return frame.loc[ok].reset_index(drop=True), excluded, messages


def read_study_table(data: Any, *, estimate: str | None = None, se: str | None = None,
                     variance: str | None = None, study: str | None = None,
                     by: str | None = None, weights: str | None = None) -> StudyTable:
    """Check a per-study table and return its estimates, variances and labels.

    Errors name the column and row: missing or non-positive variances, NaN
    estimates, duplicated study labels and an empty table are refused.
    """
    measure = getattr(data, "measure", None)
    if not isinstance(data, pd.DataFrame):
        data = data.to_frame() if hasattr(data, "to_frame") else pd.DataFrame(data)
    if len(data) == 0:
        raise InputError("the table of study estimates has no rows")
    study_col = _pick(data, study, STUDY_NAMES, "study")
    frame, excluded, messages = _split_status(data, study_col, by)
    if len(frame) == 0:
        raise InputError("no study can be pooled: every study was excluded "
                         f"({'; '.join(excluded.reason.astype(str))})")
    est_col = _pick(frame, estimate, ESTIMATE_NAMES, "estimate")
    if est_col is None:
        raise InputError("give estimate= (no column named like 'estimate', 'yi' or '_ES'; "
                         f"columns: {', '.join(map(str, frame.columns))})")
    if se is not None and variance is not None:
        raise InputError("give either se= or variance=, not both")
    se_col = _pick(frame, se, SE_NAMES, "se") if variance is None else None
    var_col = None if se_col is not None else _pick(frame, variance, VARIANCE_NAMES,
                                                    "variance")
    if se_col is None and var_col is None:
        raise InputError("give se= or variance= (no column named like 'se', 'sei', '_seES' "
                         f"or 'vi'; columns: {', '.join(map(str, frame.columns))})")
    labels = (frame[study_col].tolist() if study_col
              else [f"Study {i + 1}" for i in range(len(frame))])
    dup = pd.Series(labels)[pd.Series(labels).duplicated()].unique().tolist()
    if dup:
        raise InputError(f"study labels must be unique; duplicated in column {study_col!r}: "
                         f"{', '.join(map(repr, dup))}")
    y = _numeric(frame, est_col, labels)
    spread = _numeric(frame, se_col or var_col, labels)
    nonpos = np.flatnonzero(spread <= 0)
    if nonpos.size:
        i = int(nonpos[0])
        what = "standard error" if se_col else "variance"
        raise InputError(f"column {se_col or var_col!r} has a non-positive {what} "
                         f"({spread[i]!r}) in row {i} (study {labels[i]!r}); every study "
                         f"needs a positive {what}")
    v = spread**2 if se_col else spread
    by_values = None
    if by is not None:
        if by not in frame.columns:
            raise missing_column(by, frame, "by")
        if frame[by].isna().any():
            i = int(np.flatnonzero(frame[by].isna().to_numpy())[0])
            raise InputError(f"subgroup column {by!r} is missing in row {i} "
                             f"(study {labels[i]!r})")
        by_values = frame[by].to_numpy()
    genq = None
    if weights is not None:
        if weights not in frame.columns:
            raise missing_column(weights, frame, "weights")
        genq = _numeric(frame, weights, labels)
    return StudyTable(y=y, v=v, labels=labels, data=frame.reset_index(drop=True), by=by_values,
                      by_name=by, genq_weights=genq, excluded=excluded, measure=measure,
                      messages=messages)
