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

from ipdmeta.errors import EstimationError, InputError, check_unique_columns, missing_column
from ipdmeta.io.labels import check_unique

ESTIMATE_NAMES = ("estimate", "yi", "_ES", "es", "effect", "logor", "loghr", "logrr")
SE_NAMES = ("se", "sei", "_seES", "stderr", "std_err")
VARIANCE_NAMES = ("variance", "vi", "var")
STUDY_NAMES = ("study", "_STUDY", "trial", "study_name", "author", "label")
N_NAMES = ("n", "_NN", "N")


@dataclass
class StudyTable:
    """Validated per-study estimates and variances, labels, subgroups and excluded rows."""

    y: np.ndarray
    v: np.ndarray
    labels: list
    data: pd.DataFrame
    by: np.ndarray | None = None
    by_name: str | None = None
    by_order: tuple | None = None
    genq_weights: np.ndarray | None = None
    user_weights: np.ndarray | None = None
    n: np.ndarray | None = None
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["study", "status", "reason"]))
    measure: str | None = None
    messages: tuple[str, ...] = ()

    def groups(self) -> dict[Any, np.ndarray]:
        """Row indices per subgroup, in :func:`subgroup_order` (sorted, as Stata)."""
        assert self.by is not None
        order = self.by_order if self.by_order is not None else subgroup_order(self.by)
        return {g: np.flatnonzero(self.by == g) for g in order if np.any(self.by == g)}

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


def subgroup_order(values: Any) -> tuple:
    """The order of subgroups everywhere (tables, plots, meta-regression dummies): the
    categories' order for a pandas categorical, else sorted (numbers numerically, text
    alphabetically, as Stata's ``by()`` and ``tabulate``).

    Example:
        >>> subgroup_order(["mixed", "diet", "exercise", "diet"])
        ('diet', 'exercise', 'mixed')
    """
    series = pd.Series(values)
    if isinstance(series.dtype, pd.CategoricalDtype):
        present = set(series.dropna())
        return tuple(c for c in series.cat.categories if c in present)
    unique = pd.unique(series.dropna())
    try:
        return tuple(sorted(unique))
    except TypeError:   # mixed types: numbers first, then text, each sorted
        return tuple(sorted(unique, key=lambda v: (isinstance(v, str), str(v))))


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


def study_column(frame: pd.DataFrame, study: str | None) -> str | None:
    """The study-label column: ``study`` (checked), else one named like study/trial."""
    return _pick(frame, study, STUDY_NAMES, "study")


def _numeric(frame: pd.DataFrame, column: str, labels: list) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"column {column!r} is missing or not a finite number in row {i} "
                         f"(study {labels[i]!r}, value {frame[column].iloc[i]!r}); fix or drop "
                         f"that row ({bad.size} such row(s) in all)")
    return values


def normalise_status(frame: pd.DataFrame, study_col: str | None) -> pd.Series:
    """The ``status`` column stripped and lower-cased ("OK", " ok" -> "ok"); a missing or
    empty status is refused, naming the rows (it cannot say whether to pool the study).

    Example:
        >>> normalise_status(pd.DataFrame({"status": ["OK", " ok", "no_events"]}), None).tolist()
        ['ok', 'ok', 'no_events']
    """
    raw = frame["status"]
    text = raw.astype(object).where(raw.notna(), "").astype(str).str.strip().str.lower()
    blank = np.flatnonzero(text.eq("").to_numpy())
    if blank.size:
        labels = frame[study_col].iloc[blank].tolist() if study_col else blank.tolist()
        rows = ", ".join(f"row {i} (study {lab!r})" for i, lab in zip(blank[:5], labels[:5],
                                                                         strict=False))
        raise InputError(f"column 'status' is missing or empty in {blank.size} row(s): {rows}; "
                         "write 'ok' for the studies to pool and a failure code (e.g. "
                         "'not_estimable') for the others")
    return text


def _split_status(frame: pd.DataFrame, study_col: str | None, by: str | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame, tuple]:
    """Keep rows with status 'ok'; return the excluded rows with their reasons.

    Statuses are compared after :func:`normalise_status`.  With ``by``, the excluded
    rows carry their subgroup too (for tables and plots).
    """
    empty = pd.DataFrame(columns=["study", "status", "reason"])
    if "status" not in frame.columns:
        return frame, empty, ()
    status = normalise_status(frame, study_col)
    ok = status.eq("ok").to_numpy()
    bad = frame.loc[~ok]
    excluded = pd.DataFrame({
        "study": bad[study_col].tolist() if study_col else bad.index.tolist(),
        "status": status[~ok].tolist(),
        "reason": (bad["reason"].astype(str).tolist() if "reason" in bad.columns
                   else [""] * len(bad))})
    if by is not None and by in bad.columns:
        excluded[by] = bad[by].to_numpy()
    messages: tuple = ()
    if len(excluded):
        listing = ", ".join(map(str, excluded.study))
        messages = (f"{len(excluded)} stud{'y' if len(excluded) == 1 else 'ies'} not pooled "
                    f"(not estimable): {listing}; the reasons are in .excluded",)
    return frame.loc[ok].reset_index(drop=True), excluded, messages


#: the smallest variance that can be pooled (its weight squared stays finite)
MIN_VARIANCE = 1e-100
#: the largest ratio of two variances (of weights) that double precision pools reliably
MAX_VARIANCE_RATIO = 1e12


def check_variance_range(v: np.ndarray, labels: list, column: str | None) -> None:
    """Refuse variances too small, or too unequal, for double precision: the weights
    ``1/v`` of a study 10^12 times more precise than another leave nothing of the
    others' in sums such as ``sum(w)^2 - sum(w^2)`` (division by zero), so the
    heterogeneity statistics cannot be computed.

    Example:
        >>> check_variance_range(np.array([1e-19, 0.01]), ["A", "B"], "vi")
        Traceback (most recent call last):
        ...
        ipdmeta.errors.InputError: study 'A' has variance 1e-19, 1e+17 times smaller than ...
    """
    i, j = int(np.argmin(v)), int(np.argmax(v))
    if v[i] < MIN_VARIANCE:
        raise InputError(f"study {labels[i]!r} has variance {v[i]:.3g} (column {column!r}), "
                         f"below {MIN_VARIANCE:g}: too small to pool in double precision; "
                         "express the estimates in larger units")
    if v[j] / v[i] > MAX_VARIANCE_RATIO:
        raise InputError(f"study {labels[i]!r} has variance {v[i]:.3g}, {v[j] / v[i]:.3g} "
                         f"times smaller than study {labels[j]!r} ({v[j]:.3g}; column "
                         f"{column!r}): weights more unequal than {MAX_VARIANCE_RATIO:g} "
                         "cannot be pooled reliably in double precision; check those "
                         "variances (a standard error given as a variance? a variance of 0 "
                         "rounded up?) or leave the study out")


def read_study_table(data: Any, *, estimate: str | None = None, se: str | None = None,
                     variance: str | None = None, study: str | None = None,
                     by: str | None = None, weights: str | None = None,
                     n: str | None = None) -> StudyTable:
    """Check a per-study table and return its estimates, variances and labels.

    Errors name the column and row: missing or non-positive variances, NaN
    estimates, duplicated study labels and an empty table are refused.  ``n`` names
    the column of study sizes (found as ``n``, ``_NN`` or ``N`` when not given; only
    Rukhin's B0 estimator uses them).
    """
    if isinstance(data, pd.DataFrame):
        measure = data.attrs.get("measure")          # effect_sizes() records its measure
        if measure is None and "measure" in data.columns:
            values = data["measure"].dropna().astype(str).unique()  # as AggregateData.save
            measure = values[0] if len(values) == 1 else None
    else:
        measure = getattr(data, "measure", None)
    if not isinstance(data, pd.DataFrame):
        data = data.to_frame() if hasattr(data, "to_frame") else pd.DataFrame(data)
    if len(data) == 0:
        raise InputError("the table of study estimates has no rows")
    check_unique_columns(data, "the table of study estimates")
    study_col = _pick(data, study, STUDY_NAMES, "study")
    frame, excluded, messages = _split_status(data, study_col, by)
    if len(frame) == 0:
        raise EstimationError("no study can be pooled: every study was excluded "
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
    check_unique(labels, f"the study column {study_col!r}")
    y = _numeric(frame, est_col, labels)
    spread = _numeric(frame, str(se_col or var_col), labels)
    nonpos = np.flatnonzero(spread <= 0)
    if nonpos.size:
        i = int(nonpos[0])
        what = "standard error" if se_col else "variance"
        raise InputError(f"column {se_col or var_col!r} has a non-positive {what} "
                         f"({spread[i]!r}) in row {i} (study {labels[i]!r}); every study "
                         f"needs a positive {what}")
    v = spread**2 if se_col else spread
    check_variance_range(v, labels, se_col or var_col)
    by_values = by_order = None
    if by is not None:
        if by not in frame.columns:
            raise missing_column(by, frame, "by")
        if frame[by].isna().any():
            i = int(np.flatnonzero(frame[by].isna().to_numpy())[0])
            raise InputError(f"subgroup column {by!r} is missing in row {i} "
                             f"(study {labels[i]!r})")
        by_values = frame[by].to_numpy()
        by_order = subgroup_order(frame[by])
    genq = None
    if weights is not None:
        if weights not in frame.columns:
            raise missing_column(weights, frame, "weights")
        genq = _numeric(frame, weights, labels)
        bad = np.flatnonzero(genq <= 0)
        if bad.size:
            i = int(bad[0])
            raise InputError(f"weights column {weights!r} must be positive; row {i} (study "
                             f"{labels[i]!r}) has {genq[i]:g} ({bad.size} such row(s)); give "
                             "every study a positive weight or leave it out")
    n_col = _pick(frame, n, N_NAMES, "n")
    sizes = None
    if n_col is not None:
        values = pd.to_numeric(frame[n_col], errors="coerce").to_numpy(dtype=float)
        if n is not None or np.all(np.isfinite(values)):
            sizes = _numeric(frame, n_col, labels)
    return StudyTable(y=y, v=v, labels=labels, data=frame.reset_index(drop=True), by=by_values,
                      by_name=by, by_order=by_order, genq_weights=genq, n=sizes,
                      excluded=excluded, measure=measure, messages=messages)
