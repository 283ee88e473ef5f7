"""Stage-1 engines: many studies without per-study overhead, in one or many processes.

Every engine runs the same unit of work, :func:`fit_block`: the rows of some
whole studies (model columns only) in, one stage-1 row per study out.

* **Batching** (:func:`batched_rows`).  The design matrix of the whole block is
  built once (formulaic on all rows; categorical levels come from the whole
  data, as in the per-study path), rows are sliced per study, and linear,
  logistic, Poisson and Cox models are fitted in all studies at once
  (:mod:`ipdmeta.models.batched`, :mod:`ipdmeta.models.batched_cox`; Cox studies of
  more than ``COX_BATCH_MAX_ROWS`` rows are fitted one by one, as fast).  Studies
  that need special handling -- no complete cases, a constant pooled term, a
  dropped or aliased nuisance term, too few rows, no events, separation,
  non-convergence, Firth's penalty, a step size near a convergence threshold --
  go to the per-study path (:func:`ipdmeta.stage1.fit_study`), so every row and
  status is the one the per-study path gives (estimates to 1e-10).  A design
  with stateful transforms (``center()``, ``scale()``, splines) or categorical
  codings whose levels would depend on the study's own data is built per study.
  Batching is on by default from ``BATCH_MIN_STUDIES`` studies.
* **serial**: blocks of at most ``BLOCK_ROWS`` rows, one after the other (so the
  design matrices of only one block are ever in memory).
* **processes**: blocks in ``n_jobs`` worker processes (each limited to one BLAS
  thread), at most two blocks per worker in flight.
* **dask**: see :mod:`ipdmeta.dask_engine`.

Example:
    >>> import numpy as np, pandas as pd
    >>> from ipdmeta.stage1 import stage1
    >>> rng = np.random.default_rng(1)
    >>> d = pd.DataFrame({"trial": np.repeat(np.arange(40), 50), "treat": np.tile([0, 1], 1000),
    ...                   "age": rng.normal(50, 10, 2000)})
    >>> d["y"] = d["treat"] + 0.1 * d["age"] + rng.normal(size=2000)
    >>> fast = stage1(d, study="trial", formula="y ~ treat + age", model="linear")
    >>> slow = stage1(d, study="trial", formula="y ~ treat + age", model="linear", batch=False)
    >>> bool(np.allclose(fast["estimate"], slow["estimate"], rtol=1e-10, atol=0))
    True
"""

from __future__ import annotations

import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from formulaic import model_matrix

from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.formula import ModelFormula, study_design
from ipdmeta.models.batched import fit_glm
from ipdmeta.models.batched_cox import fit_cox
from ipdmeta.models.padded import segment_all, segment_ptp
from ipdmeta.stage1 import (
    Setup,
    StudyTask,
    _fitter_options,
    fit_study,
    kept_covariates,
    split_studies,
    study_row,
)

ENGINES = ("serial", "processes", "dask")
#: batching is used by default from this many studies
BATCH_MIN_STUDIES = 20
#: the serial and processes engines work on blocks of whole studies of about this many rows
#: (small blocks: their design matrices and work arrays stay in the CPU caches and are a
#: few tens of MB, whatever the size of the data)
BLOCK_ROWS = 1 << 17
#: Cox studies with more complete rows than this are fitted one by one: there the per-study
#: fit (risk-set sums over tied-time groups) is as fast as the batched one (which works row
#: by row) and the per-study overhead is small (measured crossover: ~7,000 rows)
COX_BATCH_MAX_ROWS = 5_000
#: more studies than this show a progress bar by default (on a terminal)
PROGRESS_MIN_STUDIES = 20
#: environment variables that limit BLAS / OpenMP threads in worker processes
BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


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


# ----------------------------------------------------------------------------- checks
def is_dask_frame(data: Any) -> bool:
    """True for a dask DataFrame (checked without importing dask)."""
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


def check_engine(engine: str, data: Any = None) -> None:
    """Refuse an unknown engine, a missing dask, or a dask frame with another engine."""
    if engine not in ENGINES:
        raise InputError(f"engine={engine!r} is not known; use one of {', '.join(ENGINES)}")
    if engine == "dask":
        from ipdmeta.dask_engine import require_dask

        require_dask()
    elif is_dask_frame(data):
        raise InputError(f"a dask DataFrame needs engine='dask' (got engine={engine!r}); or "
                         "pass data.compute() if it fits in memory")


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
    if batch is not False and design_is_global(setup.formula, sample):
        _, _, found = study_design(setup.formula, sample, cox=setup.model == "cox",
                                   interaction=setup.interaction, center=False)
        design = tuple(found)
    return Plan(setup, study, tuple(needed), tuple(keep), formula_names, design, batch)


# ----------------------------------------------------------------------------- one block
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
    kept = (kept_covariates(block, study, plan.keep).to_dict("index") if plan.keep else {})
    batch = plan.batch if plan.batch is not None else len(labels) >= BATCH_MIN_STUDIES
    done: dict[int, dict[str, Any]] = {}
    if batch:   # in pieces of about BLOCK_ROWS rows (a dask partition may be large)
        sizes = np.fromiter((p.size for p in positions), np.intp, len(positions))
        for i, j in block_ranges(sizes, BLOCK_ROWS):
            part = batched_rows(plan, block, labels[i:j], positions[i:j], complete)
            done.update({i + key: row for key, row in part.items()})
            if advance is not None and part:
                advance(len(part))
    rows = []
    for i, (label, pos) in enumerate(zip(labels, positions, strict=True)):
        row = done.get(i)
        if row is None:
            c = complete[pos]
            task = StudyTask(label, block.iloc[pos[c], 1:], int((~c).sum()),
                             tuple(v for v, m in zip(plan.needed, all_missing[i], strict=True)
                                   if m))
            row = fit_study(plan.setup, task)
            if advance is not None:
                advance(1)
        rows.append({**row, **kept.get(label, {})})
    return rows


def batched_rows(plan: Plan, block: pd.DataFrame, labels: Sequence, positions: list,
                 complete: np.ndarray) -> dict[int, dict[str, Any]]:
    """Rows of the studies of ``block`` that the batched fitters can take, by position."""
    setup = plan.setup
    if not plan.design_names or setup.fit_options.get("firth"):
        return {}
    cox = setup.model == "cox"
    sizes = np.fromiter((p.size for p in positions), np.intp, len(positions))
    order = np.concatenate(positions)
    cc = complete[order]
    n_ok = np.add.reduceat(cc.astype(np.intp), np.cumsum(sizes) - sizes)
    take = (n_ok > 0) & (n_ok <= COX_BATCH_MAX_ROWS) if cox else n_ok > 0
    cand = np.flatnonzero(take)
    if cand.size == 0:
        return {}
    counts = n_ok[cand]
    starts = np.cumsum(counts) - counts
    sub = block.iloc[order[cc & np.repeat(take, sizes)]]
    try:
        y, X, names = study_design(setup.formula, sub, cox=cox,
                                   interaction=setup.interaction, center=False)
    except (InputError, SpecificationError):   # the per-study path names the study
        return {}
    if tuple(names) != plan.design_names or setup.poolvar not in names:
        return {}
    if setup.interaction is not None:
        _center_interaction(setup, plan.formula_names, sub, X, names, starts, counts)
    x = X[:, names.index(setup.poolvar)]
    use = segment_ptp(x, starts) > 0
    for var in setup.interaction or ():
        use &= segment_ptp(sub[var].to_numpy(dtype=float), starts) > 0
    try:
        opts = _fitter_options(setup, sub)
    except InputError:   # e.g. a non-positive exposure: the per-study path names the study
        return {}
    if cox:
        fit = fit_cox(y, X, starts, strata=opts.get("strata"), ties=opts["ties"], use=use)
    else:
        fit = fit_glm(setup.model, y, X, starts, offset=opts.get("offset"), use=use)
    j = names.index(setup.poolvar)
    est, se = fit.coef[:, j], fit.se()[:, j]
    counted = arm_counts(setup.model, y, x, starts)
    out = {}
    for ci in np.flatnonzero(fit.ok):
        i = int(cand[ci])
        row = {"study": labels[i], "estimate": np.nan, "se": np.nan, "n": int(counts[ci]),
               "n_dropped": int(sizes[i] - counts[ci]), **counted[ci]}
        out[i] = study_row(setup, row, est[ci], se[ci])
    return out


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


def arm_counts(model: str, y: np.ndarray, x: np.ndarray, starts: np.ndarray
               ) -> list[dict[str, Any]]:
    """Per study, what :func:`ipdmeta.stage1._counts` gives: events, and participants and
    events per arm when the pooled column ``x`` is 0/1."""
    ev = None if model == "linear" else (y[:, 1] if model == "cox" else y)
    binary = segment_all((x == 0) | (x == 1), starts)
    arm = x == 1
    n1 = np.add.reduceat(arm.astype(np.intp), starts)
    n0 = np.add.reduceat((~arm).astype(np.intp), starts)
    if ev is not None:
        total, e1, e0 = (np.add.reduceat(v, starts) for v in (ev, ev * arm, ev * ~arm))
    out = []
    for i in range(starts.size):
        row: dict[str, Any] = {}
        if ev is not None:
            row["events"] = round(float(total[i]))
        row["_binary"] = bool(binary[i])
        if binary[i]:
            row.update(n_0=int(n0[i]), n_1=int(n1[i]))
            if ev is not None:
                row.update(events_0=round(float(e0[i])), events_1=round(float(e1[i])))
        out.append(row)
    return out


# ----------------------------------------------------------------------------- engines
def show_progress(progress: bool | None, k: int | None) -> bool:
    """Whether to show the progress bar: as asked, else on a terminal with many studies."""
    if progress is not None:
        return bool(progress)
    return sys.stderr.isatty() and (k is None or k > PROGRESS_MIN_STUDIES)


def progress_bar(progress: bool | None, total: int | None, unit: str = "study") -> Any:
    """A tqdm bar on stderr (disabled unless :func:`show_progress`)."""
    from tqdm import tqdm

    return tqdm(total=total, file=sys.stderr, unit=unit, desc="stage 1",
                disable=not show_progress(progress, total))


def workers(n_jobs: int | None) -> int:
    """The number of workers: ``n_jobs``, all CPUs when None, ``cpus + 1 + n_jobs``
    when negative (as joblib: -1 is all CPUs).

    Example:
        >>> workers(3), workers(-1) == (os.cpu_count() or 1)
        (3, True)
    """
    cpus = os.cpu_count() or 1
    if n_jobs is None:
        return cpus
    n = int(n_jobs)
    if n == 0:
        raise InputError("n_jobs=0: give a number of workers (>= 1), or -1 for all CPUs")
    return n if n > 0 else max(1, cpus + 1 + n)


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


def run(plan: Plan, frame: Any, split: tuple | None, *, engine: str, n_jobs: int | None,
        progress: bool | None, client: Any = None) -> list[dict[str, Any]]:
    """Rows of every study (sorted by study) with the chosen engine.

    ``frame``: the prepared data (pandas with ``split`` from
    :func:`ipdmeta.stage1.split_studies`, or a dask DataFrame).
    """
    from ipdmeta.dask_engine import run_dask

    if split is None:   # a dask frame
        return run_dask(plan, frame, client=client, n_jobs=n_jobs, progress=progress)
    labels, positions = split[0], split[1]
    if plan.batch is None:
        plan = replace(plan, batch=len(labels) >= BATCH_MIN_STUDIES)
    sizes = np.fromiter((p.size for p in positions), np.intp, len(positions))
    n_workers = 1 if engine == "serial" else workers(n_jobs)
    target = BLOCK_ROWS if engine == "serial" else max(1, min(
        BLOCK_ROWS, -(-int(sizes.sum()) // (4 * n_workers))))
    ranges = block_ranges(sizes, target)

    def blocks() -> Iterator[pd.DataFrame]:
        for i, j in ranges:
            yield frame.iloc[np.concatenate(positions[i:j])]

    if engine == "dask":
        return run_dask(plan, blocks(), client=client, n_jobs=n_jobs, progress=progress)
    rows: list[dict[str, Any]] = []
    if engine == "serial":
        with progress_bar(progress, len(labels)) as bar:
            for block in blocks():
                rows += fit_block(plan, block, bar.update)
        return rows
    with ProcessPoolExecutor(max_workers=n_workers, initializer=one_blas_thread) as pool:
        pool.submit(int).result()   # start the workers before the progress bar's thread
        with progress_bar(progress, len(labels)) as bar:
            for part in in_order(pool, plan, blocks(), window=2 * n_workers):
                rows += part
                bar.update(len(part))
    return rows


def in_order(pool: ProcessPoolExecutor, plan: Plan, blocks: Iterable[pd.DataFrame],
             window: int) -> Iterator[list[dict[str, Any]]]:
    """``fit_block`` of each block in the pool, results in order, with at most ``window``
    blocks submitted at a time (so the blocks are never all in memory)."""
    pending: deque = deque()
    for block in blocks:
        pending.append(pool.submit(fit_block, plan, block))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


_LIMITS: list = []


def one_blas_thread() -> None:
    """Worker initializer: one BLAS / OpenMP thread per worker process.

    Sets the usual environment variables (read by thread pools created later in the
    worker, and by every library in a worker that was spawned) and, when
    ``threadpoolctl`` is installed, also limits the BLAS already loaded (needed for
    workers forked from a parent that had loaded numpy).
    """
    for var in BLAS_THREAD_VARS:
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return
    _LIMITS.append(threadpool_limits(limits=1))
