"""Participant data for stage 1: column checks, the model's columns, the split by study.

Example:
    >>> import pandas as pd
    >>> d = pd.DataFrame({"trial": ["B", "A", "B"], "y": [1.0, None, 3.0]})
    >>> labels, positions, complete, all_missing = split_studies(d, "trial", ["y"])
    >>> labels, [p.tolist() for p in positions], complete.tolist()
    (['A', 'B'], [[1], [0, 2]], [True, False, True])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError, check_unique_columns, missing_column
from ipdmeta.io.labels import check_unique, study_key
from ipdmeta.stage1.formula import ModelFormula, apply_levels, categorical_levels
from ipdmeta.stage1.table import STANDARD_COLUMNS


def kept_covariates(data: pd.DataFrame, study: str, keep: Sequence[str]) -> pd.DataFrame:
    """One row per study with the ``keep`` columns; each must be constant within a study.

    Missing values are ignored; a study where a kept column takes two values is an
    :class:`~ipdmeta.errors.InputError` naming the study, the column and the values.
    """
    groups = data.groupby(study, sort=True, observed=True)[list(keep)]
    varying = groups.nunique(dropna=True) > 1
    if varying.to_numpy().any():
        label = varying.index[varying.any(axis=1).to_numpy()][0]
        col = varying.columns[varying.loc[label].to_numpy()][0]
        values = pd.unique(data.loc[data[study] == label, col].dropna())[:4]
        raise InputError(f"keep= column {col!r} is not constant within study {label!r} "
                         f"(values {', '.join(map(repr, values.tolist()))}); keep= is for "
                         "study-level variables")
    return groups.first()


def split_studies(frame: pd.DataFrame, study: str, columns: Sequence[str]
                  ) -> tuple[list, list[np.ndarray], np.ndarray, np.ndarray]:
    """Sort once by study: labels, row positions per study, complete-case mask, all-missing.

    ``all-missing`` is a (studies, columns) boolean array: the column has no value
    in any row of the study.
    """
    codes, labels = pd.factorize(frame[study], sort=True)
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    positions = np.split(order, starts[1:])
    present = frame[list(columns)].notna().to_numpy()
    complete = present.all(axis=1)
    all_missing = ~np.logical_or.reduceat(present[order], starts, axis=0)
    return list(labels), positions, np.asarray(complete), np.asarray(all_missing)


def as_frame(data: Any) -> pd.DataFrame:
    """``data`` as a pandas DataFrame (polars/pyarrow via ``to_pandas()``)."""
    if isinstance(data, pd.DataFrame):
        return data
    return data.to_pandas() if hasattr(data, "to_pandas") else pd.DataFrame(data)


def check_columns(data: Any, study: str, formula: ModelFormula, extra: Sequence[str],
                  keep: Sequence[str]) -> list[str]:
    """Check that the study, model and keep= columns exist; the model's columns."""
    needed = list(dict.fromkeys([*formula.variables, *extra]))
    for name, role in [(study, "study"), *((c, "model") for c in needed),
                       *((c, "keep=") for c in keep)]:
        if name not in data.columns:
            raise missing_column(name, data, role)
    clash = [c for c in keep if c in STANDARD_COLUMNS]
    if clash:
        raise InputError(f"keep= column(s) {', '.join(map(repr, clash))} would overwrite a "
                         "stage-1 column; rename them first")
    return needed


MISSING_STUDY = ("error", "drop", "group")
#: the label of the study of the rows without a study id under ``missing_study="group"``
MISSING_LABEL = "Missing"


def missing_studies(data: pd.DataFrame, study: str, how: str
                    ) -> tuple[pd.DataFrame, str | None]:
    """Rows with a missing study id: refused (``how="error"``), dropped (``"drop"``) or
    pooled as one study labelled ``"Missing"`` (``"group"``, Stata's ``study(, missing)``).

    Returns the data and a note saying what was done (None when no id is missing).
    With ``"group"`` the labels become text: numbers are written as their study keys
    (:func:`ipdmeta.io.labels.study_key`), in numeric order, and ``"Missing"`` comes last.

    Example:
        >>> d = pd.DataFrame({"trial": [2, None, 1], "y": [1.0, 2, 3]})
        >>> frame, note = missing_studies(d, "trial", "group")
        >>> frame["trial"].tolist()
        ['2', 'Missing', '1']
        >>> note
        "1 row with a missing study id pooled as one study 'Missing' (missing_study='group')"
    """
    if study not in data.columns:
        raise missing_column(study, data, "study")
    if how not in MISSING_STUDY:
        raise InputError(f"missing_study={how!r} is not known; use 'error' (default), 'drop' "
                         "or 'group'")
    missing = data[study].isna().to_numpy()
    n = int(missing.sum())
    if n == 0:
        return data, None
    rows = f"{n} row{'s' * (n != 1)} with a missing study id"
    if how == "error":
        first = int(np.flatnonzero(missing)[0])
        raise InputError(f"study column {study!r} is missing in {n} row(s) (first: row "
                         f"{first}); give those rows a study, drop them, or pass "
                         "missing_study='drop' (leave them out) or 'group' (one study)")
    if how == "drop":
        return data.loc[~missing], f"{rows} left out (missing_study='drop')"
    values = data[study]
    try:
        present = sorted(pd.unique(values.dropna()))
    except TypeError as err:
        raise InputError(f"study column {study!r} mixes numbers and text; make it one "
                         "type") from err
    labels = [v if isinstance(v, str) else study_key(v) for v in present]
    if MISSING_LABEL in labels:
        raise InputError(f"study column {study!r} already has a study {MISSING_LABEL!r}; "
                         "rename it to use missing_study='group'")
    mapping = dict(zip(present, labels, strict=True))
    text = pd.Categorical(values.map(mapping).where(~missing, MISSING_LABEL),
                          categories=[*labels, MISSING_LABEL])
    return (data.assign(**{study: text}),
            f"{rows} pooled as one study {MISSING_LABEL!r} (missing_study='group')")


def prepare(data: pd.DataFrame, study: str, formula: ModelFormula, extra: Sequence[str],
            keep: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Check the columns and copy the ones the model uses, then the keep= columns
    (categoricals given the levels of the whole data); no other column is copied.

    Study ids that name one study twice (``1`` and ``"1"``, ``"A"`` and ``"A "``:
    :mod:`ipdmeta.io.labels`) are refused; rows with a missing id must have been
    handled by :func:`missing_studies`.
    """
    check_unique_columns(data, "the participant data")
    needed = check_columns(data, study, formula, extra, keep)
    if len(data) == 0:
        raise InputError("the data have no rows")
    missing_studies(data, study, "error")
    if not (isinstance(data[study].dtype, pd.CategoricalDtype)
            or pd.api.types.is_numeric_dtype(data[study])):
        check_unique(pd.unique(data[study]), f"study column {study!r}",
                     "make the ids consistent (one type, no stray spaces)")
    frame = data[list(dict.fromkeys([study, *needed, *keep]))]
    frame = apply_levels(frame, categorical_levels(frame, formula))
    return frame, needed


_BINARY = (0, "coded 0/1", lambda v: (v == 0) | (v == 1))
_COUNT = (0, "a count (0 or more)", lambda v: v >= 0)
_TIME = (0, "a time of 0 or more", lambda v: v >= 0)
_EVENT = (1, "coded 1 (event) / 0 (censored)", lambda v: (v == 0) | (v == 1))
#: per family: (outcome part, rule in words, test of a valid value) for plain-column outcomes
OUTCOME_RULES: dict[str, tuple[tuple[int, str, Any], ...]] = {
    "logistic": (_BINARY,), "rr": (_BINARY,), "rd": (_BINARY,),
    "poisson": (_COUNT,), "negbin": (_COUNT,),
    "cox": (_TIME, _EVENT), "logrank": (_TIME, _EVENT), "weibull": (_TIME, _EVENT),
    "exponential": (_TIME, _EVENT), "finegray": (_TIME,),
}


def check_outcome(frame: pd.DataFrame, study: str, formula: ModelFormula, model: str) -> None:
    """Refuse invalid outcome values in the whole data, naming the column, how many rows,
    the first value and its study (a logistic outcome that is not 0/1, a negative count,
    a negative survival time, an event indicator that is not 0/1).

    Only outcomes written as plain column names are checked here; an expression such as
    ``I(y > 0)`` is checked per study by the fitter.

    Example:
        >>> d = pd.DataFrame({"trial": ["A", "A", "B"], "t": [1.0, -2, 3], "e": [1, 0, 1]})
        >>> from ipdmeta.stage1.formula import parse_formula
        >>> check_outcome(d, "trial", parse_formula("Surv(t, e) ~ 1"), "cox")
        Traceback (most recent call last):
        ...
        ipdmeta.errors.InputError: survival time column 't' must be a time of 0 or more; 1 ro...
    """
    roles = ("survival time", "event") if formula.survival else ("outcome",)
    for part, rule, valid in OUTCOME_RULES.get(model, ()):
        column = formula.lhs[part]
        if column not in frame.columns:
            continue
        values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
        with np.errstate(invalid="ignore"):
            bad = np.flatnonzero(~np.isnan(values) & ~valid(values))
        if bad.size:
            i = int(bad[0])
            label = frame[study].iloc[i]
            label = label.item() if isinstance(label, np.generic) else label
            raise InputError(
                f"{roles[part]} column {column!r} must be {rule}; {bad.size} row(s) are not "
                f"(first: row {i}, study {label!r}, value "
                f"{values[i]:g}); fix or drop them")
