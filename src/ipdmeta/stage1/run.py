"""Stage 1: fit the same regression model in every study and collect one row per study.

``stage1()`` is Stata's ``ipdmetan, study(trial): <model>`` without the pooling:
the data are split by study once (one stable sort of the study codes; only
the model's columns are copied), complete cases are taken within each study
on the model's columns (the dropped rows are counted), each study's own design
matrix is built from the formula (:mod:`ipdmeta.stage1.formula`) and the family's
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
once for all of them (every family), the outcome screens run on all studies at once,
and linear, logistic, Poisson, Cox, log- and identity-binomial, negative binomial,
exponential, Weibull and ordinal models are fitted in all studies at once
(:mod:`ipdmeta.stage1.blocks`); Fine-Gray models, and every study that needs the
special handling above, go through the per-study path on their slice of that design,
so the table is the same (to 1e-10).  ``engine=`` runs the work in this process, in
worker processes or on a dask cluster (:mod:`ipdmeta.stage1.engines`,
:mod:`ipdmeta.stage1.dask_engine`).

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

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.models.base import FAILURE_CODES
from ipdmeta.models.custom import check_picklable
from ipdmeta.models.robust import ADJUSTMENTS
from ipdmeta.models.robust import FAMILIES as ROBUST_FAMILIES
from ipdmeta.pooling.options import normalise_level
from ipdmeta.stage1 import engines
from ipdmeta.stage1.blocks import make_plan
from ipdmeta.stage1.dask_engine import prepare_dask
from ipdmeta.stage1.data import (
    as_frame,
    check_columns,
    check_outcome,
    missing_studies,
    prepare,
    split_studies,
)
from ipdmeta.stage1.formula import (
    ModelFormula,
    build_formula,
    interaction_name,
    mentions,
    parse_formula,
)
from ipdmeta.stage1.imputation import combine_rows, imputed_frames
from ipdmeta.stage1.study import (
    NO_INTERCEPT_MODELS,
    OFFSET_MODELS,
    SURVIVAL,
    SURVIVAL_MODELS,
    Setup,
)
from ipdmeta.stage1.table import AggregateData

logger = logging.getLogger(__name__)

MODELS = ("linear", "logistic", "poisson", "cox", "logrank", "rr", "rd", "negbin", "ordinal",
          "weibull", "exponential", "finegray")
MODEL_ALIASES = {"ols": "linear", "gaussian": "linear", "regress": "linear", "lm": "linear",
                 "logit": "logistic", "binomial": "logistic", "glm-binomial": "logistic",
                 "count": "poisson", "stcox": "cox", "coxph": "cox", "survival": "cox",
                 "peto": "logrank", "log-rank": "logrank", "survdiff": "logrank",
                 "log-binomial": "rr", "logbinomial": "rr", "relative-risk": "rr",
                 "identity-binomial": "rd", "risk-difference": "rd",
                 "nbreg": "negbin", "nb": "negbin", "glm.nb": "negbin",
                 "negative-binomial": "negbin", "ologit": "ordinal", "polr": "ordinal",
                 "proportional-odds": "ordinal", "exp": "exponential", "stcrreg": "finegray",
                 "crr": "finegray", "fine-gray": "finegray", "competing-risks": "finegray"}
#: the effect measure of each family (``linear`` with a continuous pooled term: "coef";
#: parametric survival models with ``scale="aft"``: "TR", the time ratio)
MEASURES = {"cox": "HR", "logistic": "OR", "poisson": "IRR", "linear": "MD", "logrank": "HR",
            "rr": "RR",
            "rd": "RD", "negbin": "IRR", "ordinal": "OR", "weibull": "HR",
            "exponential": "HR", "finegray": "SHR", "custom": "coef"}
#: every status of a stage-1 row other than "ok", with a short description
STATUS_CODES = {**FAILURE_CODES,
                "missing_poolvar": "the pooled term is not in the study's model"}


# ------------------------------------------------------------------------ checks
def normalise_model(model: str | None, formula: ModelFormula) -> str:
    """The family name from ``model=`` and the formula (``Surv()`` means Cox)."""
    if model is None:
        if formula.survival:
            return "cox"
        raise SpecificationError(f"give model= for {formula.text!r}: 'linear', 'logistic' or "
                                 "'poisson' (a Surv(time, event) outcome means 'cox')")
    key = str(model).strip().lower().replace(" ", "-").replace("_", "-")
    name = MODEL_ALIASES.get(key, key)
    if name not in MODELS:
        raise SpecificationError(f"model={model!r} is not known; use one of "
                                 f"{', '.join(MODELS)}, or a function (model=callable)")
    if (name in SURVIVAL_MODELS) != formula.survival:
        survival = ", ".join(f"'{m}'" for m in SURVIVAL_MODELS if m in MODELS)
        raise SpecificationError(
            f"model={name!r} needs a Surv(time, event) outcome" if name in SURVIVAL_MODELS
            else f"the outcome Surv(...) is for the survival models ({survival}), not "
                 f"model={model!r}")
    if name == "logrank" and len(formula.terms) != 1:
        raise SpecificationError(
            f"the log-rank model compares the groups of one variable, e.g. 'Surv(time, event) "
            f"~ treat + strata(centre)'; {formula.text!r} has {len(formula.terms)} terms: use "
            "strata() for stratification or model='cox' to adjust for covariates")
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
    coded = term_columns.get(poolvar)
    if coded is None:
        matches = [t for t in term_columns if ":" not in t and mentions(t, poolvar)]
        coded = term_columns[matches[0]] if len(matches) == 1 else None
    if coded is not None and len(coded) == 1:
        return coded[0]
    hint = f" ({poolvar!r} codes to {', '.join(coded)}: name one)" if coded else ""
    raise SpecificationError(f"poolvar={poolvar!r} is not a column of the design{hint}; "
                             f"the columns are {', '.join(names)}")


def _as_list(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _sample_names(formula: ModelFormula, sample: pd.DataFrame, model: str
                  ) -> tuple[list[str], dict[str, list[str]]]:
    """Design column names and term -> columns, from a sample of complete rows."""
    _, _, names, term_columns = formula.matrices(sample,
                                                 intercept=model not in NO_INTERCEPT_MODELS)
    return list(names), term_columns


def parse_interaction(interaction: str | Sequence[str] | None) -> tuple[str, str] | None:
    """``("treat", "age")`` from ``interaction=`` ("treat:age", "treat*age", a pair), or None.

    Example:
        >>> parse_interaction("treat*age")
        ('treat', 'age')
    """
    if interaction is None:
        return None
    parts = ([p.strip() for p in interaction.replace("*", ":").replace("#", ":").split(":")]
             if isinstance(interaction, str) else list(interaction))
    if len(parts) != 2 or not all(isinstance(p, str) and p for p in parts):
        raise SpecificationError(f"interaction= takes two column names, e.g. ('treat', "
                                 f"'age'); got {interaction!r}")
    return parts[0], parts[1]


def _options(model: str, ties: str, firth: bool, strata: list[str], exposure: str | None,
             offset: str | None, scale: str = "ph") -> dict[str, Any]:
    """Validated fitter options of the family."""
    if strata and model not in SURVIVAL:
        raise SpecificationError("strata= is for Cox and log-rank models; add the variable as "
                                 "a covariate")
    if (exposure or offset) and model not in OFFSET_MODELS:
        raise SpecificationError("exposure= and offset= are for Poisson and negative "
                                 "binomial models")
    if firth and model not in ("logistic", "cox"):
        raise SpecificationError("firth=True is for logistic and Cox models")
    scale = str(scale).strip().lower()
    if scale not in ("ph", "aft"):
        raise SpecificationError(f"scale={scale!r} is not known; use 'ph' (log hazard "
                                 "ratios, Stata's streg) or 'aft' (log time ratios, R's survreg)")
    opts: dict[str, Any] = {}
    if model in ("weibull", "exponential"):
        opts["scale"] = scale
    elif scale != "ph":
        raise SpecificationError("scale='aft' is for the Weibull and exponential models")
    if model == "cox":
        ties = str(ties).strip().lower()
        if ties not in ("efron", "breslow"):
            raise SpecificationError(f"ties={ties!r} is not known; use 'efron' (R's default) "
                                     "or 'breslow' (Stata's stcox default)")
        opts["ties"] = ties
    return opts


def stage1(data: Any, study: str, formula: str | None = None,
           model: str | Callable | None = None, poolvar: str | None = None,
           interaction: str | Sequence[str] | None = None, center: bool = True,
           keep: str | Sequence[str] | None = None, ties: str = "efron",
           strata: str | Sequence[str] | None = None, exposure: str | None = None,
           offset: str | None = None, firth: bool = False, level: float = 0.95,
           engine: str = "serial", n_jobs: int | None = None, progress: bool | None = None,
           outcome: str | None = None, time: str | None = None, event: str | None = None,
           covariates: str | Sequence[str] | None = None, batch: bool | None = None,
           client: Any = None, scale: str = "ph", cluster: str | None = None,
           robust: bool = False, adjust: str = "stata",
           imputation: str | Sequence[pd.DataFrame] | None = None,
           measure: str | None = None, missing_study: str = "error") -> AggregateData:
    """Fit the model in every study: the stage-1 table of a two-stage IPD meta-analysis.

    Args:
        data: the participant data (a DataFrame, one row per participant; with
            ``engine="dask"`` also a dask DataFrame, e.g. from partitioned Parquet).
        study: the column that identifies the study; rows are grouped by it and the
            table is sorted by it.
        formula: ``"y ~ treat + age + C(region)"`` or ``"Surv(time, event) ~ treat +
            age + strata(centre)"`` (formulaic syntax; see :mod:`ipdmeta.stage1.formula`).
            Instead, the keyword form: ``outcome=`` (or ``time=`` and ``event=``) and
            ``covariates=[...]``.
        model: "linear", "logistic", "poisson", "cox" (inferred from ``Surv()``),
            "logrank" (Peto: the log-rank O − E and V of a 0/1 ``poolvar`` per study,
            estimate (O − E)/V with variance 1/V; ``Surv(time, event) ~ treat``, strata
            with ``strata()``; :mod:`ipdmeta.models.logrank`), "rr"
            (log-binomial: log risk ratios), "rd" (identity-binomial: risk differences),
            "negbin" (negative binomial NB2), "ordinal" (proportional odds), "weibull" or
            "exponential" (parametric proportional hazards; ``Surv()`` outcome),
            "finegray" (competing risks, ``Surv(time, status)`` with status 0 censored, 1
            the event of interest, 2 a competing event; as ``cmprsk::crr``); see
            docs/methods/stage1.md.  Or a function ``fit(frame) -> (estimate, se)`` (or a
            dict with ``estimate``, ``se``, ``n``, ``events``) run on each study's rows
            (all columns; complete cases on the formula's columns when ``formula=`` is
            given): :mod:`ipdmeta.models.custom`.
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
        strata: Cox or log-rank strata columns (also ``strata()`` in the formula).
        exposure, offset: Poisson / negative binomial exposure (``log(exposure)`` is the
            offset) or an offset column.
        scale: Weibull and exponential models: "ph" (default, log hazard ratios, as
            Stata's ``streg``) or "aft" (log time ratios, as R's ``survreg``; measure "TR").
        cluster: a column of clusters within the studies (wards, GPs, families):
            cluster-robust (sandwich) standard errors per study, CR1 as Stata's
            ``vce(cluster x)``; ``robust=True`` without ``cluster``: ``vce(robust)``.
            ``adjust``: the small-sample factor, "stata" (default: G/(G-1), and
            (n-1)/(n-k) for linear models), "hc1" (both for every model, R's
            ``sandwich::vcovCL(type="HC1")``) or "none" (R's ``coxph(cluster=)``); see
            :mod:`ipdmeta.models.robust`.  Not for ordinal models.
        imputation: multiply imputed data: a column numbering the imputations (long
            format, mice's ``.imp``, Stata's ``_mi_m``; imputation 0 is left out) or a
            list of DataFrames (then ``data`` may be None); each study is fitted in each
            imputation and combined by Rubin's rules (columns ``m``, ``df``, ``fmi``): see
            :mod:`ipdmeta.stage1.imputation`.
        measure: the measure of a ``model=callable`` estimate ("OR", "HR", "MD"...;
            default "coef"), for display.
        firth: Firth's penalised likelihood (logistic and Cox).
        level: confidence level of the per-study intervals.
        engine: "serial" (default): in this process; "processes": ``n_jobs`` worker
            processes (default all CPUs; one BLAS thread each); "dask": tasks on a
            ``dask.distributed`` cluster, ``client=`` or a local one with ``n_jobs``
            workers (``pip install 'ipdmeta[dask]'``; see :mod:`ipdmeta.stage1.engines` and
            docs/scaling.md).  All engines give the same table.
        progress: show a progress bar on stderr (True/False); default (None): the
            ``IPDMETA_PROGRESS`` environment variable, else only on a terminal with
            more than 20 studies (:mod:`ipdmeta.progress`).
        batch: one design matrix for the whole table, shared outcome screens, and all
            studies fitted at once where the family allows (linear, logistic, Poisson,
            Cox, rr, rd, negbin, exponential, Weibull and ordinal, without Firth or robust
            standard errors: batched Newton iterations); studies that need special
            handling are fitted one by one, so the results are those of the per-study
            fits (to 1e-10).
            Default (None): from 20 studies (below, the per-study overhead is under
            0.1 s and the per-study path is the reference).  False: always one
            by one.
        client: a ``dask.distributed.Client`` for ``engine="dask"``.
        missing_study: rows whose study id is missing: "error" (default: refused,
            naming the rows), "drop" (left out) or "group" (pooled as one study
            labelled "Missing", Stata's ``study(, missing)``; the labels become text).
            What was done is in ``ad.notes``.

    Returns:
        :class:`~ipdmeta.stage1.table.AggregateData` with one row per study.

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
            None if callable(model) and outcome is None and time is None else
            build_formula(outcome=outcome, time=time, event=event,
                          covariates=_as_list(covariates)))
    if imputation is not None and not isinstance(imputation, str) and data is None:
        data = imputation[0]
    engines.check_engine(engine, data)
    level = normalise_level(level)
    if adjust not in ADJUSTMENTS:
        raise SpecificationError(f"adjust={adjust!r} is not known; use one of "
                                 f"{', '.join(ADJUSTMENTS)}")
    keep = [c for c in dict.fromkeys(_as_list(keep)) if c != study]   # study is a column
    if callable(model):
        check_picklable(model, engine)
        setup = Setup(formula=spec, model="custom", poolvar=poolvar or "estimate",
                      interaction=None, center=center, strata=(), exposure=None, offset=None,
                      fit_options={}, firth=False, level=level, func=model)
        inter, fit_options = None, {}
    else:
        if spec is None:
            raise SpecificationError("give formula= (or outcome=/covariates=)")
        name = normalise_model(model, spec)
        if cluster is not None and cluster == study:
            raise SpecificationError(f"cluster={cluster!r} is the study column: give the "
                                     "column of clusters within the studies (wards, GPs...)")
        if (cluster is not None or robust) and name not in ROBUST_FAMILIES:
            raise SpecificationError(f"cluster-robust standard errors are not available for "
                                     f"model={name!r}")
        strata_cols = list(dict.fromkeys([*spec.strata, *_as_list(strata)]))
        fit_options = _options(name, ties, firth, strata_cols, exposure, offset, scale)
        inter = parse_interaction(interaction)
        if inter is not None and name == "logrank":
            raise SpecificationError("interaction= needs a regression model (model='cox'); the "
                                     "log-rank model compares the two groups of one variable")
        setup = Setup(formula=spec, model=name, poolvar=poolvar or "", interaction=inter,
                      center=center, strata=tuple(strata_cols), exposure=exposure,
                      offset=offset, fit_options=fit_options, firth=bool(firth), level=level,
                      cluster=cluster, robust=bool(robust), adjust=adjust)
    logger.debug("stage 1: %s model, engine %r%s", setup.model, engine,
                 "" if imputation is None else ", multiple imputation")
    run_one = partial(_rows, setup=setup, study=study, keep=keep, batch=batch, engine=engine,
                      n_jobs=n_jobs, progress=progress, client=client)
    source = getattr(data, "attrs", {}).get("source")
    data, notes = _missing_studies(data, study, missing_study, imputation)
    if imputation is None:
        rows, setup = run_one(data)
    else:
        frames = imputed_frames(data, imputation)
        runs = [run_one(f) for _, f in frames]
        setup = runs[0][1]
        rows = combine_rows([r for r, _ in runs], [lab for lab, _ in frames], level=level)
    failed = [r for r in rows if r["status"] != "ok"]
    logger.info("stage 1: %d studies fitted, %d not estimable", len(rows) - len(failed),
                len(failed))
    for r in failed:
        logger.debug("stage 1: study %s not estimable (%s): %s", r["study"], r["status"],
                     r["reason"])
    arms = [r.pop("_binary", None) for r in rows]
    for r in rows:
        r.pop("_k", None)
    binary = inter is None and all(a is not False for a in arms)
    table = _table(rows, binary)
    kind = setup.model
    if callable(model):
        what = measure or "coef"
    elif kind in ("weibull", "exponential") and fit_options.get("scale") == "aft":
        what = "TR"
    else:
        what = MEASURES[kind] if (kind != "linear" or binary) else "coef"
    return AggregateData(table, measure=what, model=kind,
                         formula=spec.text if spec is not None else None,
                         poolvar=setup.poolvar, ties=fit_options.get("ties"), level=level,
                         firth=bool(firth), study_var=study, interaction=inter,
                         keep=tuple(keep), notes=notes, source=source)


def _missing_studies(data: Any, study: str, how: str, imputation: Any
                     ) -> tuple[Any, tuple[str, ...]]:
    """The data after ``missing_study=`` (:func:`ipdmeta.stage1.data.missing_studies`) and
    the note saying what was done."""
    if how == "error" or data is None:
        return data, ()
    if engines.is_dask_frame(data) or imputation is not None:
        raise InputError(f"missing_study={how!r} needs one pandas frame (not a dask frame or "
                         f"imputations); drop the rows first: data.dropna(subset=[{study!r}])")
    frame, note = missing_studies(as_frame(data), study, how)
    return frame, (note,) if note else ()


def _rows(data: Any, *, setup: Setup, study: str, keep: list[str], batch: bool | None,
          engine: str, n_jobs: int | None, progress: bool | None, client: Any
          ) -> tuple[list[dict[str, Any]], Setup]:
    """The study rows of one dataset (one imputation), and the setup with the pooled
    term resolved."""
    spec, inter = setup.formula, setup.interaction
    extra = [*setup.strata, *(c for c in (setup.exposure, setup.offset, setup.cluster) if c),
             *(inter or ())]
    split = None
    if setup.func is not None:
        frame, needed = _custom_frame(data, study, spec, keep)
        split = split_studies(frame, study, needed)
        plan = make_plan(setup, study, needed, keep, frame.iloc[:0], [], False)
        return engines.run(plan, frame, split, engine=engine, n_jobs=n_jobs,
                           progress=progress, client=client), setup
    spec = setup.design_formula
    if engines.is_dask_frame(data):
        frame, needed, sample = prepare_dask(data, study, spec, extra, keep)
    else:
        frame, needed = prepare(as_frame(data), study, spec, extra, keep)
        check_outcome(frame, study, spec, setup.model)
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
    names, term_columns = _sample_names(spec, sample, setup.model)
    if inter is not None:
        names.append(interaction_name(inter))
    setup = replace(setup, poolvar=resolve_poolvar(setup.poolvar or None, names,
                                                   term_columns, spec, inter))
    plan = make_plan(setup, study, needed, keep, sample, names, batch)
    return engines.run(plan, frame, split, engine=engine, n_jobs=n_jobs, progress=progress,
                       client=client), setup


def _custom_frame(data: Any, study: str, spec: ModelFormula | None, keep: list[str]
                  ) -> tuple[pd.DataFrame, list[str]]:
    """All columns, the study first, for ``model=callable``; complete cases are taken on
    the formula's columns (none without a formula)."""
    if engines.is_dask_frame(data):
        raise InputError("model=callable needs a pandas DataFrame (call .compute() on a "
                         "dask DataFrame); engine='dask' still runs it on a cluster")
    frame = as_frame(data)
    needed = check_columns(frame, study, spec, [], keep) if spec is not None else []
    if study not in frame.columns:
        raise InputError(f"study column {study!r} is not in the data")
    return frame[[study, *(c for c in frame.columns if c != study)]], needed


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
