"""Blocks of whole studies: the unit of work of every stage-1 engine.

:func:`fit_block` takes the rows of some whole studies (model columns only) and
returns one stage-1 row per study.  With many studies it builds the design matrix
of the block once, for every family (formulaic on all rows; categorical levels come
from the whole data, as in the per-study path), and slices it per study.  On that
design:

* the outcome screens of the family run on all studies at once
  (:mod:`ipdmeta.models.screens`: no or all events, one outcome category, a term
  that separates a logistic outcome) and write those studies' rows without fitting;
* linear, logistic, Poisson and Cox models (:mod:`ipdmeta.models.batched`,
  :mod:`ipdmeta.models.batched_cox`; Cox studies of more than ``COX_BATCH_MAX_ROWS``
  rows are fitted one by one, as fast), log- and identity-binomial, negative
  binomial, exponential and Weibull models (:mod:`ipdmeta.models.batched_mle`) and
  ordinal models (:mod:`ipdmeta.models.batched_ordinal`) are fitted in all studies at
  once;
* every other study -- Fine-Gray and log-rank models, cluster-robust standard errors,
  Firth's penalty, and the studies that need special handling: no complete cases, a
  constant pooled term, a dropped or aliased nuisance term, too few rows,
  separation, a boundary fit, non-convergence, a decision near a threshold of the
  per-study loop -- goes to the per-study path
  (:func:`ipdmeta.stage1.study.fit_study`) with its slice of the block's design.

So every row and status is the one the per-study path gives (estimates to 1e-10).
A design with stateful transforms (``center()``, ``scale()``, splines) or
categorical codings whose levels would depend on the study's own data is built per
study.  Batching is on by default from ``BATCH_MIN_STUDIES`` studies.

Example:
    >>> block_ranges(np.array([5, 5, 5, 20, 1]), 10)
    [(0, 2), (2, 4), (4, 5)]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from formulaic import model_matrix

from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.models.batched import BatchFit, fit_glm
from ipdmeta.models.batched_cox import fit_cox
from ipdmeta.models.batched_mle import MLE_MODELS, fit_batched
from ipdmeta.models.batched_ordinal import fit_ordinal
from ipdmeta.models.ordinal import INTERCEPT_NAMES
from ipdmeta.models.padded import segment_ptp
from ipdmeta.models.screens import screened_failures
from ipdmeta.stage1.data import kept_covariates, split_studies
from ipdmeta.stage1.formula import ModelFormula, study_design
from ipdmeta.stage1.study import (
    NO_INTERCEPT_MODELS,
    Setup,
    StudyTask,
    arm_counts,
    fit_study,
    fitter_options,
    study_row,
)

#: batching is used by default from this many studies
BATCH_MIN_STUDIES = 20
#: the families with a batched fitter (the others are fitted by the per-study path, on
#: their slices of the block's design)
BATCHED_MODELS = ("linear", "logistic", "poisson", "cox", *MLE_MODELS, "ordinal")
#: the serial and processes engines work on blocks of whole studies of about this many rows
#: (small blocks: their design matrices and work arrays stay in the CPU caches and are a
#: few tens of MB, whatever the size of the data)
BLOCK_ROWS = 1 << 17
#: Cox studies with more complete rows than this are fitted one by one: there the per-study
#: fit (risk-set sums over tied-time groups) is as fast as the batched one (which works row
#: by row) and the per-study overhead is small (measured crossover: ~7,000 rows)
COX_BATCH_MAX_ROWS = 5_000


@dataclass(frozen=True)
class Plan:
    """What every block needs (picklable; the same for all engines)."""

    setup: Setup
    study: str
    needed: tuple[str, ...]         # the model's columns
    keep: tuple[str, ...]           # keep= columns
    formula_names: tuple[str, ...]  # design columns of the formula (no interaction)
    design_names: tuple[str, ...]   # design columns of a study (with the interaction)
    batch: bool | None              # None: from BATCH_MIN_STUDIES studies


def design_is_global(formula: ModelFormula, sample: pd.DataFrame) -> bool:
    """True when the design matrix of many studies built at once is, row by row, the one
    each study's own design would have: no stateful transform (``center()``,
    ``scale()``, ``poly()``, splines: their state would come from all studies), and
    every categorical factor made of columns with fixed levels (pandas categoricals,
    which stage 1 makes of text columns with the levels of the whole data)."""
    try:
        mm = model_matrix(formula.formulaic, sample, na_action="ignore")
    except Exception:   # the per-study path reports the problem
        return False
    for part in (mm.lhs, mm.rhs):
        spec = part.model_spec
        if spec.transform_state:
            return False
        for factor, (kind, _) in spec.encoder_state.items():
            if getattr(kind, "value", kind) != "categorical":
                continue
            used = set(re.findall(r"[A-Za-z_][A-Za-z0-9_.]*", str(factor))) & set(sample)
            if not used or not all(isinstance(sample[v].dtype, pd.CategoricalDtype)
                                   for v in used):
                return False
    return True


def make_plan(setup: Setup, study: str, needed: Sequence[str], keep: Sequence[str],
              sample: pd.DataFrame, names: Sequence[str], batch: bool | None) -> Plan:
    """The :class:`Plan` of a stage-1 call; ``sample``: complete rows (for the design
    names), ``names``: the design columns stage 1 resolved ``poolvar`` against."""
    formula_names = tuple(names[:-1]) if setup.interaction else tuple(names)
    design: tuple[str, ...] = ()
    if (batch is not False and setup.func is None
            and design_is_global(setup.design_formula, sample)):
        _, _, found = study_design(setup.design_formula, sample,
                                   cox=setup.model in NO_INTERCEPT_MODELS,
                                   interaction=setup.interaction, center=False)
        design = tuple(found)
    return Plan(setup, study, tuple(needed), tuple(keep), formula_names, design, batch)


def block_ranges(sizes: np.ndarray, target: int) -> list[tuple[int, int]]:
    """Consecutive studies grouped into blocks of about ``target`` rows (>= 1 study each).

    Example:
        >>> block_ranges(np.array([5, 5, 5, 20, 1]), 10)
        [(0, 2), (2, 4), (4, 5)]
    """
    out, i, acc = [], 0, 0
    for j, s in enumerate(sizes.tolist()):
        acc += s
        if acc >= target:
            out.append((i, j + 1))
            i, acc = j + 1, 0
    if i < sizes.size:
        out.append((i, int(sizes.size)))
    return out


def fit_block(plan: Plan, block: pd.DataFrame,
              advance: Callable[[int], object] | None = None) -> list[dict[str, Any]]:
    """Stage-1 rows (in study order) of the whole studies in ``block`` (columns: study,
    the model's, keep=); ``advance(k)`` is called as studies are done."""
    study = plan.study
    if block[study].isna().any():
        raise InputError(f"study column {study!r} is missing in "
                         f"{int(block[study].isna().sum())} row(s); give those rows a study "
                         "or drop them")
    labels, positions, complete, all_missing = split_studies(block, study, plan.needed)
    kept: dict[Any, dict[Any, Any]] = (kept_covariates(block, study, plan.keep).to_dict("index")
                                       if plan.keep else {})
    batch = plan.batch if plan.batch is not None else len(labels) >= BATCH_MIN_STUDIES
    done: dict[int, dict[str, Any]] = {}
    designs: dict[int, tuple] = {}
    if batch:   # in pieces of about BLOCK_ROWS rows (a dask partition may be large)
        sizes = np.fromiter((p.size for p in positions), np.intp, len(positions))
        for i, j in block_ranges(sizes, BLOCK_ROWS):
            part, part_designs = batched_rows(plan, block, labels[i:j], positions[i:j],
                                              complete)
            done.update({i + key: row for key, row in part.items()})
            designs.update({i + key: d for key, d in part_designs.items()})
            if advance is not None and part:
                advance(len(part))
    rows = []
    # a study's own rows: the model's columns (model=callable: all, the study's included)
    first = 0 if plan.setup.func is not None else 1
    for i, (label, pos) in enumerate(zip(labels, positions, strict=True)):
        row = done.get(i)
        if row is None:
            c = complete[pos]
            task = StudyTask(label, block, pos[c], int((~c).sum()),
                             tuple(v for v, m in zip(plan.needed, all_missing[i], strict=True)
                                   if m), designs.get(i), first)
            row = fit_study(plan.setup, task)
            if advance is not None:
                advance(1)
        rows.append({**row, **kept.get(label, {})})
    return rows


def batched_rows(plan: Plan, block: pd.DataFrame, labels: Sequence, positions: list,
                 complete: np.ndarray) -> tuple[dict[int, dict[str, Any]], dict[int, tuple]]:
    """Rows of the studies of ``block`` that the batched fitters can take, by position;
    and the slices of the block's design of the other studies with complete rows, so
    that the per-study path does not build their designs again."""
    setup = plan.setup
    if not plan.design_names or setup.func is not None:
        return {}, {}
    cox = setup.model == "cox"
    no_intercept = setup.model in NO_INTERCEPT_MODELS
    sizes = np.fromiter((p.size for p in positions), np.intp, len(positions))
    order = np.concatenate(positions)
    cc = complete[order]
    n_ok = np.add.reduceat(cc.astype(np.intp), np.cumsum(sizes) - sizes)
    take = (n_ok > 0) & (n_ok <= COX_BATCH_MAX_ROWS) if cox else n_ok > 0
    cand = np.flatnonzero(take)
    if cand.size == 0:
        return {}, {}
    counts = n_ok[cand]
    starts = np.cumsum(counts) - counts
    sub = block.iloc[order[cc & np.repeat(take, sizes)]]
    try:
        y, X, names = study_design(setup.design_formula, sub, cox=no_intercept,
                                   interaction=setup.interaction, center=False)
    except (InputError, SpecificationError):   # the per-study path names the study
        return {}, {}
    if tuple(names) != plan.design_names or setup.poolvar not in names:
        return {}, {}
    if setup.interaction is not None:
        _center_interaction(setup, plan.formula_names, sub, X, names, starts, counts)
    designs = {int(cand[ci]): (y[s:s + m], X[s:s + m], tuple(names))
               for ci, (s, m) in enumerate(zip(starts.tolist(), counts.tolist(), strict=True))}
    if setup.firth:   # the penalised fits have no outcome screens
        return {}, designs
    x = X[:, names.index(setup.poolvar)]
    use = segment_ptp(x, starts) > 0
    for var in setup.interaction or ():
        use &= segment_ptp(sub[var].to_numpy(dtype=float), starts) > 0
    try:
        opts = fitter_options(setup, sub)
    except InputError:   # e.g. a non-positive exposure: the per-study path names the study
        return {}, designs
    failures = {} if cox else screened_failures(setup.model, y, X, starts, names, use)
    if failures:
        use = use.copy()
        use[list(failures)] = False
    fit, j = _fit_all(setup, y, X, names, starts, opts, use)
    est, se = fit.coef[:, j], fit.se()[:, j]
    counted = arm_counts(setup.model, y, x, starts)
    out = {}
    for ci in [*np.flatnonzero(fit.ok).tolist(), *failures]:
        i = int(cand[ci])
        row = {"study": labels[i], "estimate": np.nan, "se": np.nan, "n": int(counts[ci]),
               "n_dropped": int(sizes[i] - counts[ci]), **counted[ci]}
        if ci in failures:
            out[i] = {**row, "status": failures[ci][0], "reason": failures[ci][1]}
        else:
            out[i] = {**study_row(setup, row, est[ci], se[ci]),
                      "_k": int(np.isfinite(fit.coef[ci]).sum())}
    return out, {i: d for i, d in designs.items() if i not in out}


def _fit_all(setup: Setup, y: np.ndarray, X: np.ndarray, names: list[str], starts: np.ndarray,
             opts: dict[str, Any], use: np.ndarray) -> tuple[BatchFit, int]:
    """The family's batched fit of the studies ``use`` (none fitted for a family without
    one, or with robust standard errors) and the column of the pooled term in it."""
    j = names.index(setup.poolvar)
    model = setup.model
    if model not in BATCHED_MODELS or setup.cluster is not None or setup.robust:
        return BatchFit.empty(starts.size, X.shape[1]), j
    if model == "ordinal":   # the cut-points replace the intercept
        slopes = [c for c, name in enumerate(names) if name not in INTERCEPT_NAMES]
        if j not in slopes:
            return BatchFit.empty(starts.size, X.shape[1]), j
        return fit_ordinal(y, X[:, slopes], starts, use=use), slopes.index(j)
    if model in MLE_MODELS:
        return fit_batched(model, y, X, starts, scale=opts.get("scale", "ph"),
                           offset=opts.get("offset"), use=use), j
    if model == "cox":
        return fit_cox(y, X, starts, strata=opts.get("strata"), ties=opts["ties"], use=use), j
    return fit_glm(model, y, X, starts, offset=opts.get("offset"), use=use), j


def _center_interaction(setup: Setup, formula_names: Sequence[str], sub: pd.DataFrame,
                        X: np.ndarray, names: list[str], starts: np.ndarray,
                        counts: np.ndarray) -> None:
    """Centre the second interaction variable within each study, as the per-study design
    does (in place: the interaction column, and that variable's own column when the
    formula lacks it)."""
    if not setup.center or setup.interaction is None:
        return
    a, b = setup.interaction
    xb = sub[b].to_numpy(dtype=float)
    xb = xb - np.repeat(np.add.reduceat(xb, starts) / counts, counts)
    X[:, -1] = sub[a].to_numpy(dtype=float) * xb
    if b not in formula_names:
        X[:, names.index(b)] = xb
