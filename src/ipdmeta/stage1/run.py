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
once for all of them and linear, logistic, Poisson and Cox models are fitted in
all studies at once (:mod:`ipdmeta.stage1.blocks`); every study that needs the special
handling above goes through the per-study path, so the table is the same (to
1e-10).  ``engine=`` runs the work in this process, in worker processes or on a
dask cluster (:mod:`ipdmeta.stage1.engines`, :mod:`ipdmeta.stage1.dask_engine`).

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

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.models.base import FAILURE_CODES
from ipdmeta.pooling.options import normalise_level
from ipdmeta.stage1 import engines
from ipdmeta.stage1.blocks import make_plan
from ipdmeta.stage1.dask_engine import prepare_dask
from ipdmeta.stage1.data import as_frame, prepare, split_studies
from ipdmeta.stage1.formula import (
    ModelFormula,
    build_formula,
    interaction_name,
    mentions,
    parse_formula,
)
from ipdmeta.stage1.study import Setup
from ipdmeta.stage1.table import AggregateData

MODELS = ("linear", "logistic", "poisson", "cox")
MODEL_ALIASES = {"ols": "linear", "gaussian": "linear", "regress": "linear", "lm": "linear",
                 "logit": "logistic", "binomial": "logistic", "glm-binomial": "logistic",
                 "count": "poisson", "stcox": "cox", "coxph": "cox", "survival": "cox"}
#: the effect measure of each family (``linear`` with a continuous pooled term: "coef")
MEASURES = {"cox": "HR", "logistic": "OR", "poisson": "IRR", "linear": "MD"}
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


def _sample_names(formula: ModelFormula, sample: pd.DataFrame, model: str
                  ) -> tuple[list[str], dict[str, list[str]]]:
    """Design column names and term -> columns, from a sample of complete rows."""
    _, _, names, term_columns = formula.matrices(sample, intercept=model != "cox")
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
             offset: str | None) -> dict[str, Any]:
    """Validated fitter options of the family."""
    if strata and model != "cox":
        raise SpecificationError("strata= is for Cox models; add the variable as a covariate")
    if (exposure or offset) and model != "poisson":
        raise SpecificationError("exposure= and offset= are for Poisson models")
    if firth and model not in ("logistic", "cox"):
        raise SpecificationError("firth=True is for logistic and Cox models")
    opts: dict[str, Any] = {}
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
            age + strata(centre)"`` (formulaic syntax; see :mod:`ipdmeta.stage1.formula`).
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
            workers (``pip install 'ipdmeta[dask]'``; see :mod:`ipdmeta.stage1.engines` and
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
            build_formula(outcome=outcome, time=time, event=event,
                          covariates=_as_list(covariates)))
    model = normalise_model(model, spec)
    strata_cols = list(dict.fromkeys([*spec.strata, *_as_list(strata)]))
    fit_options = _options(model, ties, firth, strata_cols, exposure, offset)
    inter = parse_interaction(interaction)
    keep = [c for c in dict.fromkeys(_as_list(keep)) if c != study]   # study is a column
    engines.check_engine(engine, data)
    level = normalise_level(level)
    extra = [*strata_cols, *(c for c in (exposure, offset) if c), *(inter or ())]
    split = None
    if engines.is_dask_frame(data):
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
                  fit_options=fit_options, firth=bool(firth), level=level)
    plan = make_plan(setup, study, needed, keep, sample, names, batch)
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
