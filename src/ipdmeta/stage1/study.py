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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.models._newton import _fmt as _value
from ipdmeta.models._newton import people as _people
from ipdmeta.models.base import Fit, failed
from ipdmeta.models.custom import call
from ipdmeta.models.parametric_survival import to_aft
from ipdmeta.models.registry import fitter
from ipdmeta.models.robust import robust_fit
from ipdmeta.stage1.formula import (
    ModelFormula,
    baseline_columns,
    reduce_design,
    strata_codes,
    study_design,
)

#: semi-parametric survival families (no intercept; strata() allowed)
SURVIVAL = ("cox", "logrank")
#: per-study statistics a fitter reports in ``Fit.extra`` that go into the stage-1 row
#: (log-rank O - E and V)
ROW_EXTRAS = ("oe", "v")
#: ratio models: an estimate beyond this with a standard error beyond RUNAWAY_SE is runaway
RUNAWAY_EST = 10.0
RUNAWAY_SE = 10.0
#: the models whose estimates are on a log scale (the runaway rule applies)
LOG_SCALE_MODELS = ("logistic", "poisson", "cox", "logrank", "rr", "negbin", "ordinal",
                    "weibull", "exponential", "finegray")
#: models with an events count: the outcome column (or the event column of Surv())
COUNT_MODELS = ("logistic", "poisson", "rr", "rd", "negbin")
#: every family with a Surv(time, event) outcome
SURVIVAL_MODELS = (*SURVIVAL, "weibull", "exponential", "finegray")
#: models without an intercept (the baseline hazard takes its place)
NO_INTERCEPT_MODELS = (*SURVIVAL, "finegray")
#: models whose offset is log(exposure) + offset
OFFSET_MODELS = ("poisson", "negbin")


@dataclass(frozen=True)
class Setup:
    """Everything a worker needs to fit one study (picklable)."""

    formula: ModelFormula | None     # None only for model=callable without a formula
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
    cluster: str | None = None       # cluster-robust standard errors by this column
    robust: bool = False             # robust (sandwich) standard errors without clusters
    adjust: str = "stata"            # small-sample factor of the robust variance
    func: Callable | None = None     # model=callable: the user's function

    @property
    def design_formula(self) -> ModelFormula:
        """The formula of a built-in model (which always has one)."""
        if self.formula is None:
            raise SpecificationError("give formula= (or outcome=/covariates=)")
        return self.formula


@dataclass(frozen=True)
class StudyTask:
    """One study: its complete cases (rows ``rows`` of ``source``, whose first column is
    the study; ``first``: the first column the study's frame keeps), its bookkeeping
    and, when the block's design was built at once, its slice of that design
    (``design``: outcome, design matrix, column names)."""

    label: Any
    source: pd.DataFrame
    rows: np.ndarray
    n_dropped: int
    all_missing: tuple[str, ...]
    design: tuple[np.ndarray, np.ndarray, tuple[str, ...]] | None = None
    first: int = 1

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The study's complete cases (model columns only), made when first needed."""
        return self.source.iloc[self.rows, self.first:]


# ------------------------------------------------------------------------ one study
def event_indicator(model: str, y: np.ndarray) -> np.ndarray | None:
    """The events of each row (the count for Poisson), or None when the family has none."""
    if model in COUNT_MODELS:
        return y
    if model in SURVIVAL_MODELS:
        return (y[:, 1] == 1).astype(float)
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
    if setup.model in SURVIVAL and setup.strata:
        opts["strata"] = strata_codes(frame, setup.strata)
    if setup.model in OFFSET_MODELS and (setup.exposure or setup.offset):
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


def _options(setup: Setup, task: StudyTask) -> dict[str, Any]:
    """The fitter options of one study (its rows are only looked at when needed)."""
    if setup.strata or setup.exposure or setup.offset:
        return fitter_options(setup, task.frame)
    return dict(setup.fit_options)


def _constant_reason(setup: Setup, task: StudyTask, x: np.ndarray) -> str | None:
    """Why the pooled term cannot be estimated because it does not vary, or None."""
    n = x.size
    parts = list(setup.interaction) if setup.interaction else []
    for var in parts:
        v = task.frame[var].to_numpy(dtype=float)
        if np.ptp(v) == 0:
            return (f"'{var}' is {_value(v[0])} for all {_people(n)}, so the interaction "
                    f"'{setup.poolvar}' cannot be estimated")
    if np.ptp(x) == 0:
        return f"the pooled term '{setup.poolvar}' is {_value(x[0])} for all {_people(n)}"
    return None


_ONE = np.zeros(1, dtype=np.intp)


def fit_study(setup: Setup, task: StudyTask) -> dict[str, Any]:
    """Fit one study and return its row of the stage-1 table (never raises for data)."""
    if setup.func is not None:
        return custom_row(setup, task)
    n = task.rows.size
    row: dict[str, Any] = {"study": task.label, "estimate": np.nan, "se": np.nan,
                           "n": n, "n_dropped": task.n_dropped}
    if n == 0:
        cols = ", ".join(f"'{c}'" for c in task.all_missing)
        why = (f"{cols} {'is' if len(task.all_missing) == 1 else 'are'} missing for all "
               f"{_people(task.n_dropped)}" if task.all_missing
               else f"each of the {_people(task.n_dropped)} has a missing value")
        return _failure({**row, **arm_counts(setup.model, np.zeros((0, 2)), None, _ONE)[0]},
                        "no_complete_cases", f"no complete cases: {why}")
    cox = setup.model in NO_INTERCEPT_MODELS
    if task.design is not None:
        y, X, names = task.design[0], task.design[1], list(task.design[2])
    else:
        y, X, names = study_design(setup.design_formula, task.frame, cox=cox,
                                   interaction=setup.interaction, center=setup.center)
    if setup.poolvar not in names:
        return _failure({**row, **arm_counts(setup.model, y, None, _ONE)[0]}, "missing_poolvar",
                        f"the pooled term '{setup.poolvar}' is not in this study's model "
                        f"(its terms: {', '.join(names)})")
    j = names.index(setup.poolvar)
    row.update(arm_counts(setup.model, y, X[:, j], _ONE)[0])
    constant = _constant_reason(setup, task, X[:, j])
    if constant is not None:
        return _failure(row, "constant_poolvar", constant)
    strata = strata_codes(task.frame, setup.strata) if cox and setup.strata else None
    base, base_names, base_idx = baseline_columns(X, names, cox=cox, strata=strata)
    X, names, notes, aliased = reduce_design(X, names, j, base, base_names, base_idx)
    if aliased is not None:
        return _failure(row, "collinear", aliased)
    try:
        fit = _fit(setup, task, y, X, tuple(names))
    except InputError as err:
        raise InputError(f"study {task.label!r}: {err}") from err
    row.update({k: float(fit.extra[k]) for k in ROW_EXTRAS if k in fit.extra})
    if not fit.ok:
        return _failure(row, fit.problem or "not_converged", fit.reason or "")
    out = study_row(setup, row, fit.estimate(setup.poolvar), fit.se(setup.poolvar), notes,
                    note=fit.reason or "")
    return {**out, "_k": len(fit.coef)}


def _fit(setup: Setup, task: StudyTask, y: np.ndarray, X: np.ndarray,
         names: tuple[str, ...]) -> Fit:
    """The family's fit of one study, with (cluster-)robust standard errors when asked
    (computed on the PH form of a parametric survival model, then converted)."""
    opts = _options(setup, task)
    robust = setup.cluster is not None or setup.robust
    aft = robust and opts.get("scale") == "aft"
    fit = fitter(setup.model, setup.firth)(y, X, names=names,
                                           **({**opts, "scale": "ph"} if aft else opts))
    if not robust or not fit.ok:
        return fit
    cluster = None if setup.cluster is None else task.frame[setup.cluster].to_numpy()
    if cluster is not None and pd.unique(cluster).size < 2:
        return failed("too_few_rows", f"cluster-robust standard errors need at least 2 "
                      f"clusters of '{setup.cluster}' in the study; it has 1", names=names,
                      n=fit.n, events=fit.events)
    fit = robust_fit(setup.model, y, X, fit, cluster=cluster, adjust=setup.adjust,
                     offset=opts.get("offset"), strata=opts.get("strata"),
                     ties=opts.get("ties", "efron"))
    return to_aft(fit, setup.model) if aft else fit


def custom_row(setup: Setup, task: StudyTask) -> dict[str, Any]:
    """The row of one study fitted by the user's function (``model=callable``)."""
    if setup.func is None:
        raise InputError("custom_row needs the setup of a model=callable analysis")
    fit = call(setup.func, task.frame)
    row: dict[str, Any] = {"study": task.label, "estimate": np.nan, "se": np.nan,
                           "n": fit.n, "n_dropped": task.n_dropped, "_binary": None}
    if fit.events is not None:
        row["events"] = fit.events
    if not fit.ok:
        return _failure(row, fit.problem or "model_error", fit.reason or "")
    warned = "; ".join(fit.extra.get("warnings", ()))
    return study_row(setup, row, fit.estimate("estimate"), fit.se("estimate"),
                     note=f"warnings: {warned}" if warned else "")


@lru_cache(maxsize=8)
def _critical(level: float) -> float:
    return float(stats.norm.ppf(0.5 + level / 2))


def study_row(setup: Setup, row: dict[str, Any], est: float, se: float,
              notes: Sequence[str] = (), note: str = "") -> dict[str, Any]:
    """The row of a fitted study: estimate, se and Wald interval, or a failure when the
    estimate is not finite or runaway (``notes``: terms dropped from its model;
    ``note``: what the fitter said about an ok fit)."""
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        return _failure(row, "not_converged", f"the estimate of '{setup.poolvar}' or its "
                        f"standard error is not finite (estimate {est:g}, se {se:g})")
    if setup.model in LOG_SCALE_MODELS and abs(est) > RUNAWAY_EST and se > RUNAWAY_SE:
        return _failure(row, "runaway", f"the estimate of '{setup.poolvar}' ({est:.3g} on "
                        f"the log scale, se {se:.3g}) is implausibly large: the likelihood "
                        "has (almost) no maximum")
    crit = _critical(setup.level)
    reason = "; ".join(([f"not in this study's model: {', '.join(notes)}"] if notes else [])
                       + ([note] if note else []))
    return {**row, "estimate": float(est), "se": float(se), "ci_low": est - crit * se,
            "ci_high": est + crit * se, "status": "ok", "reason": reason}
