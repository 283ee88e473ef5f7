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

from ipdmeta.errors import InputError, missing_column
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
    return list(labels), positions, complete, all_missing


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


def prepare(data: pd.DataFrame, study: str, formula: ModelFormula, extra: Sequence[str],
            keep: Sequence[str]) -> tuple[pd.DataFrame, list[str]]:
    """Check the columns and copy the ones the model uses, then the keep= columns
    (categoricals given the levels of the whole data); no other column is copied."""
    needed = check_columns(data, study, formula, extra, keep)
    if data[study].isna().any():
        rows = np.flatnonzero(data[study].isna().to_numpy())
        raise InputError(f"study column {study!r} is missing in {rows.size} row(s) (first: "
                         f"row {rows[0]}); give those rows a study or drop them")
    frame = data[list(dict.fromkeys([study, *needed, *keep]))]
    frame = apply_levels(frame, categorical_levels(frame, formula))
    return frame, needed
