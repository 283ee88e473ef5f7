"""Stage 1 for one study: its design, screens, fit and row of the stage-1 table.

:func:`fit_study` is the per-study path: complete cases in, one row out (never an
exception for a property of the data).  Before fitting, the pooled term constant
(``constant_poolvar``) or absent from the study's model (``missing_poolvar``) is a
failure row; nuisance terms that are all zero or aliased are dropped from the
study's model (the row's ``reason`` names them) and the pooled term aliased with
them is ``collinear``.  :func:`study_row` turns an estimate into the row (or a
``not_converged`` / ``runaway`` failure); :func:`arm_counts` counts events and
participants per arm.  The batched path (:mod:`ipdmeta.stage1.blocks`) uses the
same :func:`study_row` and :func:`arm_counts`, so both give the same table.

Example:
    >>> import numpy as np
    >>> arm_counts("logistic", np.array([1.0, 0, 1, 1]), np.array([0.0, 0, 1, 1]),
    ...            np.array([0]))
    [{'events': 3, '_binary': True, 'n_0': 2, 'n_1': 2, 'events_0': 1, 'events_1': 2}]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.models._newton import _fmt as _value
from ipdmeta.models._newton import people as _people
from ipdmeta.models.registry import fitter
from ipdmeta.stage1.formula import (
    ModelFormula,
    baseline_columns,
    reduce_design,
    strata_codes,
    study_design,
)

#: ratio models: an estimate beyond this with a standard error beyond RUNAWAY_SE is runaway
RUNAWAY_EST = 10.0
RUNAWAY_SE = 10.0


@dataclass(frozen=True)
class Setup:
    """Everything a worker needs to fit one study (picklable)."""

    formula: ModelFormula
    model: str
    poolvar: str
    interaction: tuple[str, str] | None
    center: bool
    strata: tuple[str, ...]
    exposure: str | None
    offset: str | None
    fit_options: dict
    firth: bool
    level: float


@dataclass(frozen=True)
class StudyTask:
    """One study's complete cases (model columns only) and its bookkeeping."""

    label: Any
    frame: pd.DataFrame
    n_dropped: int
    all_missing: tuple[str, ...]


# ------------------------------------------------------------------------ one study
def event_indicator(model: str, y: np.ndarray) -> np.ndarray | None:
    """The events of each row (the count for Poisson), or None when the family has none."""
    if model in ("logistic", "poisson"):
        return y
    if model == "cox":
        return y[:, 1]
    return None


def arm_counts(model: str, y: np.ndarray, x: np.ndarray | None, starts: np.ndarray
               ) -> list[dict[str, Any]]:
    """Per study (its rows start at ``starts``): events, and participants and events per
    arm when the pooled column ``x`` is 0/1; ``_binary`` says whether it is (None
    without ``x``)."""
    ev = event_indicator(model, y)
    k = starts.size
    if y.shape[0] == 0:
        return [{**({} if ev is None else {"events": 0}), "_binary": None} for _ in range(k)]
    total = None if ev is None else np.add.reduceat(ev, starts)
    if x is not None:
        binary = np.logical_and.reduceat((x == 0) | (x == 1), starts)
        arm = x == 1
        n1 = np.add.reduceat(arm.astype(np.intp), starts)
        n0 = np.add.reduceat((~arm).astype(np.intp), starts)
        if ev is not None:
            e1, e0 = np.add.reduceat(ev * arm, starts), np.add.reduceat(ev * ~arm, starts)
    out = []
    for i in range(k):
        row: dict[str, Any] = {}
        if total is not None:
            row["events"] = round(float(total[i]))
        row["_binary"] = None if x is None else bool(binary[i])
        if row["_binary"]:
            row.update(n_0=int(n0[i]), n_1=int(n1[i]))
            if ev is not None:
                row.update(events_0=round(float(e0[i])), events_1=round(float(e1[i])))
        out.append(row)
    return out


def fitter_options(setup: Setup, frame: pd.DataFrame) -> dict[str, Any]:
    """The fitter options of one study or block: the family's, the Cox strata codes,
    the Poisson offset (log exposure plus offset)."""
    opts = dict(setup.fit_options)
    if setup.model == "cox" and setup.strata:
        opts["strata"] = strata_codes(frame, setup.strata)
    if setup.model == "poisson" and (setup.exposure or setup.offset):
        off = np.zeros(len(frame))
        if setup.exposure:
            exposure = frame[setup.exposure].to_numpy(dtype=float)
            if np.any(exposure <= 0):
                raise InputError(f"exposure column {setup.exposure!r} must be positive; "
                                 f"found {_value(exposure[exposure <= 0][0])}")
            off += np.log(exposure)
        if setup.offset:
            off += frame[setup.offset].to_numpy(dtype=float)
        opts["offset"] = off
    return opts


def _failure(row: dict, status: str, reason: str) -> dict:
    return {**row, "status": status, "reason": reason}


def _constant_reason(setup: Setup, frame: pd.DataFrame, x: np.ndarray) -> str | None:
    """Why the pooled term cannot be estimated because it does not vary, or None."""
    n = x.size
    parts = list(setup.interaction) if setup.interaction else []
    for var in parts:
        v = frame[var].to_numpy(dtype=float)
        if np.ptp(v) == 0:
            return (f"'{var}' is {_value(v[0])} for all {_people(n)}, so the interaction "
                    f"'{setup.poolvar}' cannot be estimated")
    if np.ptp(x) == 0:
        return f"the pooled term '{setup.poolvar}' is {_value(x[0])} for all {_people(n)}"
    return None


_ONE = np.zeros(1, dtype=np.intp)


def fit_study(setup: Setup, task: StudyTask) -> dict[str, Any]:
    """Fit one study and return its row of the stage-1 table (never raises for data)."""
    frame = task.frame
    n = len(frame)
    row: dict[str, Any] = {"study": task.label, "estimate": np.nan, "se": np.nan,
                           "n": n, "n_dropped": task.n_dropped}
    if n == 0:
        cols = ", ".join(f"'{c}'" for c in task.all_missing)
        why = (f"{cols} {'is' if len(task.all_missing) == 1 else 'are'} missing for all "
               f"{_people(task.n_dropped)}" if task.all_missing
               else f"each of the {_people(task.n_dropped)} has a missing value")
        return _failure({**row, **arm_counts(setup.model, np.zeros((0, 2)), None, _ONE)[0]},
                        "no_complete_cases", f"no complete cases: {why}")
    cox = setup.model == "cox"
    y, X, names = study_design(setup.formula, frame, cox=cox, interaction=setup.interaction,
                               center=setup.center)
    if setup.poolvar not in names:
        return _failure({**row, **arm_counts(setup.model, y, None, _ONE)[0]}, "missing_poolvar",
                        f"the pooled term '{setup.poolvar}' is not in this study's model "
                        f"(its terms: {', '.join(names)})")
    j = names.index(setup.poolvar)
    row.update(arm_counts(setup.model, y, X[:, j], _ONE)[0])
    why = _constant_reason(setup, frame, X[:, j])
    if why is not None:
        return _failure(row, "constant_poolvar", why)
    strata = strata_codes(frame, setup.strata) if cox and setup.strata else None
    base, base_names, base_idx = baseline_columns(X, names, cox=cox, strata=strata)
    X, names, notes, aliased = reduce_design(X, names, j, base, base_names, base_idx)
    if aliased is not None:
        return _failure(row, "collinear", aliased)
    fit_one = fitter(setup.model, setup.firth)
    try:
        fit = fit_one(y, X, names=tuple(names), **fitter_options(setup, frame))
    except InputError as err:
        raise InputError(f"study {task.label!r}: {err}") from err
    if not fit.ok:
        return _failure(row, fit.problem or "not_converged", fit.reason or "")
    return study_row(setup, row, fit.estimate(setup.poolvar), fit.se(setup.poolvar), notes)


@lru_cache(maxsize=8)
def _critical(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def study_row(setup: Setup, row: dict[str, Any], est: float, se: float,
              notes: Sequence[str] = ()) -> dict[str, Any]:
    """The row of a fitted study: estimate, se and Wald interval, or a failure when the
    estimate is not finite or runaway (``notes``: terms dropped from its model)."""
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        return _failure(row, "not_converged", f"the estimate of '{setup.poolvar}' or its "
                        f"standard error is not finite (estimate {est:g}, se {se:g})")
    if setup.model != "linear" and abs(est) > RUNAWAY_EST and se > RUNAWAY_SE:
        return _failure(row, "runaway", f"the estimate of '{setup.poolvar}' ({est:.3g} on "
                        f"the log scale, se {se:.3g}) is implausibly large: the likelihood "
                        "has (almost) no maximum")
    crit = _critical(setup.level)
    reason = f"not in this study's model: {', '.join(notes)}" if notes else ""
    return {**row, "estimate": float(est), "se": float(se), "ci_low": est - crit * se,
            "ci_high": est + crit * se, "status": "ok", "reason": reason}
