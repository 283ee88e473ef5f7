"""Stage-1 engines: the blocks of whole studies in this process, in worker processes or
on a dask cluster.

Every engine runs the same unit of work, :func:`ipdmeta.stage1.blocks.fit_block`
(batched fits where the family allows, the per-study path elsewhere), so all give
the same table.

* **serial**: blocks of at most ``BLOCK_ROWS`` rows, one after the other (so the
  design matrices of only one block are ever in memory).
* **processes**: blocks in ``n_jobs`` worker processes (each limited to one BLAS
  thread), at most two blocks per worker in flight.
* **dask**: see :mod:`ipdmeta.stage1.dask_engine`.

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

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError
from ipdmeta.stage1.blocks import BATCH_MIN_STUDIES, BLOCK_ROWS, Plan, block_ranges, fit_block
from ipdmeta.stage1.dask_engine import require_dask, run_dask
from ipdmeta.stage1.workers import one_blas_thread, progress_bar, workers

ENGINES = ("serial", "processes", "dask")


def is_dask_frame(data: Any) -> bool:
    """True for a dask DataFrame (checked without importing dask)."""
    return type(data).__module__.split(".")[0] in ("dask", "dask_expr")


def check_engine(engine: str, data: Any = None) -> None:
    """Refuse an unknown engine, a missing dask, or a dask frame with another engine."""
    if engine not in ENGINES:
        raise InputError(f"engine={engine!r} is not known; use one of {', '.join(ENGINES)}")
    if engine == "dask":
        require_dask()
    elif is_dask_frame(data):
        raise InputError(f"a dask DataFrame needs engine='dask' (got engine={engine!r}); or "
                         "pass data.compute() if it fits in memory")


def run(plan: Plan, frame: Any, split: tuple | None, *, engine: str, n_jobs: int | None,
        progress: bool | None, client: Any = None) -> list[dict[str, Any]]:
    """Rows of every study (sorted by study) with the chosen engine.

    ``frame``: the prepared data (pandas with ``split`` from
    :func:`ipdmeta.stage1.data.split_studies`, or a dask DataFrame).
    """
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
