"""Stage 1: fit the same regression model in every study and collect one row per study.

``stage1()`` is Stata's ``ipdmetan, study(trial): <model>`` without the pooling:
the data are split by study once (one stable sort of the study codes; only
the model's columns are copied), complete cases are taken within each study
on the model's columns (the dropped rows are counted), each study's own design
matrix is built from the formula (:mod:`ipdmeta.formula`) and the family's
fitter is run (:mod:`ipdmeta.models`).  A study that cannot be estimated is a
row with a ``status`` and a ``reason``, never an exception.

Per study, before fitting:

* the pooled term constant (for example, every participant in one arm):
  ``constant_poolvar``; the pooled term absent from the study's model:
  ``missing_poolvar``;
* nuisance terms that are all zero (a level of a categorical covariate absent
  from the study) or aliased (constant in the study, or collinear with the
  other terms) are dropped from that study's model, as Stata's ``stcox``/``regress``
  omit them and R gives them ``NA``; the ``reason`` of the (ok) row names them.
  The pooled term is checked last: when it is aliased with the nuisance terms
  the study is ``collinear`` (its estimate would not be adjusted as asked).

With many studies (20 or more by default, ``batch=``) the design matrix is built
once for all of them and linear, logistic, Poisson and Cox models are fitted in
all studies at once (:mod:`ipdmeta.engines`); every study that needs the special
handling above goes through the per-study path, so the table is the same (to
1e-10).  ``engine=`` runs the work in this process, in worker processes or on a
dask cluster (:mod:`ipdmeta.engines`, :mod:`ipdmeta.dask_engine`).

After fitting, an estimate of a ratio model (Cox, logistic, Poisson) with
``|estimate| > 10`` and ``se > 10`` on the log scale is never ``ok`` (``runaway``),
whatever the fitter said.

Ties in Cox models default to Efron's method (R ``coxph``'s default, the more
accurate approximation); Stata's ``stcox`` defaults to Breslow: pass
``ties="breslow"`` to reproduce Stata.

Example:
    >>> from ipdmeta import datasets
    >>> from ipdmeta.stage1 import stage1
    >>> wg = datasets.load("weight_gain")
    >>> ad = stage1(wg, study="study_name", formula="final_wt ~ trt + baseline_wt",
    ...             model="linear", keep=["intervention"])
    >>> len(ad), ad.measure, ad.poolvar, bool(ad["status"].eq("ok").all())
    (33, 'MD', 'trt', True)
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.aggregate import STANDARD_COLUMNS, AggregateData
from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.formula import (
    ModelFormula,
    apply_levels,
    baseline_columns,
    build_formula,
    categorical_levels,
    interaction_name,
    mentions,
    parse_formula,
    reduce_design,
    strata_codes,
    study_design,
)
from ipdmeta.models._newton import _fmt as _value
from ipdmeta.models._newton import people as _people
from ipdmeta.models.base import FAILURE_CODES
from ipdmeta.pooling.input import _column_error
from ipdmeta.pooling.pool import normalise_level

MODELS = ("linear", "logistic", "poisson", "cox")
MODEL_ALIASES = {"ols": "linear", "gaussian": "linear", "regress": "linear", "lm": "linear",
                 "logit": "logistic", "binomial": "logistic", "glm-binomial": "logistic",
                 "count": "poisson", "stcox": "cox", "coxph": "cox", "survival": "cox"}
#: the effect measure of each family (``linear`` with a continuous pooled term: "coef")
MEASURES = {"cox": "HR", "logistic": "OR", "poisson": "IRR", "linear": "MD"}
#: every status of a stage-1 row other than "ok", with a short description
STATUS_CODES = {**FAILURE_CODES,
                "missing_poolvar": "the pooled term is not in the study's model"}
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
    level: float


@dataclass(frozen=True)
class StudyTask:
    """One study's complete cases (model columns only) and its bookkeeping."""

    label: Any
    frame: pd.DataFrame
    n_dropped: int
    all_missing: tuple[str, ...]


# ------------------------------------------------------------------------ one study
def _counts(setup: Setup, y: np.ndarray, x: np.ndarray | None) -> dict[str, Any]:
    """Events and per-arm counts of one study (pooled column ``x``, when it is 0/1)."""
    out: dict[str, Any] = {}
    ev = None
    if setup.model in ("logistic", "poisson"):
        ev = y
    elif setup.model == "cox":
        ev = y[:, 1]
    if ev is not None:
        out["events"] = round(float(ev.sum()))
    binary = None if x is None else bool(np.all((x == 0) | (x == 1)))
    out["_binary"] = binary
    if binary:
        arm = x == 1
        out.update(n_0=int((~arm).sum()), n_1=int(arm.sum()))
        if ev is not None:
            out.update(events_0=round(float(ev[~arm].sum())),
                       events_1=round(float(ev[arm].sum())))
    return out


def _fitter_options(setup: Setup, frame: pd.DataFrame) -> dict[str, Any]:
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
        return _failure({**row, **_counts(setup, np.zeros((0, 2)), None)},
                        "no_complete_cases", f"no complete cases: {why}")
    cox = setup.model == "cox"
    y, X, names = study_design(setup.formula, frame, cox=cox, interaction=setup.interaction,
                               center=setup.center)
    if setup.poolvar not in names:
        return _failure({**row, **_counts(setup, y, None)}, "missing_poolvar",
                        f"the pooled term '{setup.poolvar}' is not in this study's model "
                        f"(its terms: {', '.join(names)})")
    j = names.index(setup.poolvar)
    row.update(_counts(setup, y, X[:, j]))
    why = _constant_reason(setup, frame, X[:, j])
    if why is not None:
        return _failure(row, "constant_poolvar", why)
    strata = strata_codes(frame, setup.strata) if cox and setup.strata else None
    base, base_names, base_idx = baseline_columns(X, names, cox=cox, strata=strata)
    X, names, notes, aliased = reduce_design(X, names, j, base, base_names, base_idx)
    if aliased is not None:
        return _failure(row, "collinear", aliased)
    fitter = importlib.import_module(f"ipdmeta.models.{setup.model}")
    try:
        fit = fitter.fit(y, X, names=tuple(names), **_fitter_options(setup, frame))
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


# ------------------------------------------------------------------------ checks
def normalise_model(model: str | None, formula: ModelFormula) -> str:
    """The family name from ``model=`` and the formula (``Surv()`` means Cox)."""
    if model is None:
        if formula.survival:
            return "cox"
        raise SpecificationError(f"give model= for {formula.text!r}: 'linear', 'logistic' or "
                                 "'poisson' (a Surv(time, event) outcome means 'cox')")
    name = MODEL_ALIASES.get(str(model).strip().lower(), str(model).strip().lower())
    if name not in MODELS:
        raise SpecificationError(f"model={model!r} is not known; use one of "
                                 f"{', '.join(MODELS)}")
    if (name == "cox") != formula.survival:
        raise SpecificationError(
            "a Cox model needs a Surv(time, event) outcome" if name == "cox" else
            f"the outcome Surv(...) is for model='cox', not model={model!r}")
    return name


def resolve_poolvar(poolvar: str | None, names: Sequence[str],
                    term_columns: dict[str, list[str]], formula: ModelFormula,
                    interaction: tuple[str, str] | None) -> str:
    """The design column to pool: given (a column, term or variable) or the default.

    The default is the interaction when one is given, else the first term of the
    right-hand side, which must code to a single column.
    """
    if poolvar is None:
        if interaction is not None:
            return interaction_name(interaction)
        if not formula.terms:
            raise SpecificationError(f"{formula.text!r} has no covariate to pool")
        term = formula.terms[0]
        cols = term_columns.get(term, [term])
        if len(cols) != 1:
            raise SpecificationError(
                f"the first term {term!r} codes to {len(cols)} columns "
                f"({', '.join(cols)}): give poolvar= naming the one to pool")
        return cols[0]
    if poolvar in names:
        return poolvar
    cols = term_columns.get(poolvar)
    if cols is None:
        matches = [t for t in term_columns if ":" not in t and mentions(t, poolvar)]
        cols = term_columns[matches[0]] if len(matches) == 1 else None
    if cols is not None and len(cols) == 1:
        return cols[0]
    hint = f" ({poolvar!r} codes to {', '.join(cols)}: name one)" if cols else ""
    raise SpecificationError(f"poolvar={poolvar!r} is not a column of the design{hint}; "
                             f"the columns are {', '.join(names)}")


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


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


# ------------------------------------------------------------------------ data
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
            raise _column_error(name, data, role)
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


def _sample_names(formula: ModelFormula, sample: pd.DataFrame, model: str
                  ) -> tuple[list[str], dict[str, list[str]]]:
    """Design column names and term -> columns, from a sample of complete rows."""
    _, _, names, term_columns = formula.matrices(sample, intercept=model != "cox")
    return list(names), term_columns


def _interaction(interaction: str | Sequence[str] | None) -> tuple[str, str] | None:
    if interaction is None:
        return None
    parts = ([p.strip() for p in interaction.replace("*", ":").replace("#", ":").split(":")]
             if isinstance(interaction, str) else list(interaction))
    if len(parts) != 2 or not all(isinstance(p, str) and p for p in parts):
        raise SpecificationError(f"interaction= takes two column names, e.g. ('treat', "
                                 f"'age'); got {interaction!r}")
    return parts[0], parts[1]


def _options(model: str, ties: str, firth: bool, strata: list[str], exposure: str | None,
             offset: str | None) -> dict[str, Any]:
    """Validated fitter options of the family."""
    if strata and model != "cox":
        raise SpecificationError("strata= is for Cox models; add the variable as a covariate")
    if (exposure or offset) and model != "poisson":
        raise SpecificationError("exposure= and offset= are for Poisson models")
    if firth and model not in ("logistic", "cox"):
        raise SpecificationError("firth=True is for logistic and Cox models")
    opts: dict[str, Any] = {}
    if model in ("logistic", "cox"):
        opts["firth"] = bool(firth)
    if model == "cox":
        ties = str(ties).strip().lower()
        if ties not in ("efron", "breslow"):
            raise SpecificationError(f"ties={ties!r} is not known; use 'efron' (R's default) "
                                     "or 'breslow' (Stata's stcox default)")
        opts["ties"] = ties
    return opts


def stage1(data: Any, study: str, formula: str | None = None, model: str | None = None,
           poolvar: str | None = None, interaction: str | Sequence[str] | None = None,
           center: bool = True, keep: str | Sequence[str] | None = None, ties: str = "efron",
           strata: str | Sequence[str] | None = None, exposure: str | None = None,
           offset: str | None = None, firth: bool = False, level: float = 0.95,
           engine: str = "serial", n_jobs: int | None = None, progress: bool | None = None,
           outcome: str | None = None, time: str | None = None, event: str | None = None,
           covariates: str | Sequence[str] | None = None, batch: bool | None = None,
           client: Any = None) -> AggregateData:
    """Fit the model in every study: the stage-1 table of a two-stage IPD meta-analysis.

    Args:
        data: the participant data (a DataFrame, one row per participant; with
            ``engine="dask"`` also a dask DataFrame, e.g. from partitioned Parquet).
        study: the column that identifies the study; rows are grouped by it and the
            table is sorted by it.
        formula: ``"y ~ treat + age + C(region)"`` or ``"Surv(time, event) ~ treat +
            age + strata(centre)"`` (formulaic syntax; see :mod:`ipdmeta.formula`).
            Instead, the keyword form: ``outcome=`` (or ``time=`` and ``event=``) and
            ``covariates=[...]``.
        model: "linear", "logistic", "poisson" or "cox" (inferred from ``Surv()``).
        poolvar: the design column to pool (a column, term or variable name); default
            the first right-hand-side term (the interaction when ``interaction=`` is
            given).  A first term coding to several columns needs ``poolvar=``.
        interaction: two numeric columns, e.g. ``("treat", "age")``: adds the column
            ``treat:age`` = treat × (age − the study's mean age) (and any missing main
            effect) and pools it: within-trial interactions, the "deft" approach
            (Fisher et al. 2017, BMJ 356:j573).  ``center=False`` leaves age uncentred
            (the interaction estimate is the same; the main effect of treat changes).
        keep: study-level columns copied to the table (each must be constant within a
            study; :class:`~ipdmeta.errors.InputError` otherwise).
        ties: Cox ties, "efron" (default, as R's ``coxph``) or "breslow" (as Stata's
            ``stcox``).
        strata: Cox strata columns (also ``strata()`` in the formula).
        exposure, offset: Poisson exposure (``log(exposure)`` is the offset) or an
            offset column.
        firth: Firth's penalised likelihood (logistic and Cox).
        level: confidence level of the per-study intervals.
        engine: "serial" (default): in this process; "processes": ``n_jobs`` worker
            processes (default all CPUs; one BLAS thread each); "dask": tasks on a
            ``dask.distributed`` cluster, ``client=`` or a local one with ``n_jobs``
            workers (``pip install 'ipdmeta[dask]'``; see :mod:`ipdmeta.engines` and
            docs/scaling.md).  All engines give the same table.
        progress: show a progress bar on stderr; default: on a terminal with more
            than 20 studies.
        batch: fit all studies at once where the family allows (linear, logistic,
            Poisson and Cox without Firth): one design matrix for the whole table and
            batched Newton iterations; studies that need special handling are fitted
            one by one, so the results are those of the per-study fits (to 1e-10).
            Default (None): from 20 studies (below, the per-study overhead is under
            0.1 s and the per-study path is the reference).  False: always one
            by one.
        client: a ``dask.distributed.Client`` for ``engine="dask"``.

    Returns:
        :class:`~ipdmeta.aggregate.AggregateData` with one row per study.

    Example:
        >>> from ipdmeta import datasets
        >>> hyp = datasets.load("hypertension")
        >>> ad = stage1(hyp, study="trial", formula="Surv(time, event) ~ treat + age")
        >>> ad.measure, ad.ties, len(ad), ad.columns[:7]
        ('HR', 'efron', 10, ['study', 'estimate', 'se', 'ci_low', 'ci_high', 'n', 'events'])
    """
    if formula is not None and any(v is not None for v in (outcome, time, event, covariates)):
        raise SpecificationError("give formula= or the keywords outcome=/time=/event=/"
                                 "covariates=, not both")
    spec = (parse_formula(formula) if formula is not None else
            build_formula(outcome=outcome, time=time, event=event,
                          covariates=_as_list(covariates)))
    model = normalise_model(model, spec)
    strata_cols = list(dict.fromkeys([*spec.strata, *_as_list(strata)]))
    fit_options = _options(model, ties, firth, strata_cols, exposure, offset)
    inter = _interaction(interaction)
    keep = [c for c in dict.fromkeys(_as_list(keep)) if c != study]   # study is a column
    from ipdmeta import engines  # imported here: engines builds on this module

    engines.check_engine(engine, data)
    level = normalise_level(level)
    extra = [*strata_cols, *(c for c in (exposure, offset) if c), *(inter or ())]
    split = None
    if engines.is_dask_frame(data):
        from ipdmeta.dask_engine import prepare_dask

        frame, needed, sample = prepare_dask(data, study, spec, extra, keep)
    else:
        frame, needed = prepare(as_frame(data), study, spec, extra, keep)
        split = split_studies(frame, study, needed)
        if not split[2].any():
            raise InputError(f"no row of the data is complete for the model's columns "
                             f"({', '.join(needed)})")
        sample = frame.iloc[np.flatnonzero(split[2])[:500]]
    if inter is not None:
        for var in inter:
            if not pd.api.types.is_numeric_dtype(frame[var]):
                raise InputError(f"interaction column {var!r} must be numeric (code it 0/1 "
                                 "or as a number)")
    names, term_columns = _sample_names(spec, sample, model)
    if inter is not None:
        names.append(interaction_name(inter))
    pooled = resolve_poolvar(poolvar, names, term_columns, spec, inter)
    setup = Setup(formula=spec, model=model, poolvar=pooled, interaction=inter,
                  center=center, strata=tuple(strata_cols), exposure=exposure, offset=offset,
                  fit_options=fit_options, level=level)
    plan = engines.make_plan(setup, study, needed, keep, sample, names, batch)
    rows = engines.run(plan, frame, split, engine=engine, n_jobs=n_jobs, progress=progress,
                       client=client)
    arms = [r.pop("_binary") for r in rows]
    binary = inter is None and all(a is not False for a in arms)
    table = _table(rows, binary)
    measure = MEASURES[model] if (model != "linear" or binary) else "coef"
    return AggregateData(table, measure=measure, model=model, formula=spec.text,
                         poolvar=pooled, ties=fit_options.get("ties"), level=level,
                         firth=bool(firth), study_var=study, interaction=inter,
                         keep=tuple(keep))


def _table(rows: list[dict[str, Any]], binary: bool) -> pd.DataFrame:
    """The stage-1 frame from the study rows (kept covariates included), with per-arm
    counts when the pooled term is 0/1."""
    table = pd.DataFrame(rows)
    arm_cols = ["n_0", "n_1", "events_0", "events_1"]
    if binary:
        table[[c for c in arm_cols if c in table.columns]] = (
            table[[c for c in arm_cols if c in table.columns]].fillna(0))
    else:
        table = table.drop(columns=[c for c in arm_cols if c in table.columns])
    return table
