"""The dask engine of stage 1: participant data larger than memory, on any dask cluster.

``stage1(data, ..., engine="dask")`` with ``data`` a dask DataFrame (for example
``dask.dataframe.read_parquet("ipd/")``) or a pandas one:

1. only the study, model and ``keep=`` columns are read; categorical levels are
   computed over the whole data (one pass over those columns); column names of
   the design are taken from the first partition with complete rows;
2. the rows are grouped so that every study lies in one partition: a single
   ``shuffle`` on the study column, skipped when the frame is indexed by study
   with known, strictly increasing divisions (``read_parquet(..., index="trial",
   calculate_divisions=True)`` of data written sorted by study, or after
   ``set_index("trial")``);
3. each partition is a task (:func:`ipdmeta.stage1.blocks.fit_block`: batched fits of
   its studies, per-study fits where needed) on the cluster: the ``client=``
   given, or a ``LocalCluster`` with ``n_jobs`` single-threaded worker processes
   (dask's nanny sets ``OMP_NUM_THREADS=1`` etc. in them), closed afterwards;
4. only the per-study rows come back to the client.

A pandas frame is cut into blocks of whole studies locally (no shuffle) and the
blocks are scattered to the workers.  dask is an optional dependency
(``pip install 'ipdmeta[dask]'``), imported only here.

Example:
    >>> from types import SimpleNamespace
    >>> whole_studies(SimpleNamespace(known_divisions=True, divisions=("A", "C", "F", "F")))
    True
    >>> whole_studies(SimpleNamespace(known_divisions=True, divisions=("A", "C", "C", "F")))
    False
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from itertools import pairwise
from typing import Any

import pandas as pd

from ipdmeta.errors import InputError
from ipdmeta.stage1.blocks import fit_block
from ipdmeta.stage1.data import check_columns
from ipdmeta.stage1.formula import ModelFormula, categorical_levels
from ipdmeta.stage1.workers import progress_bar, workers

#: at most this many complete rows are read to name the design's columns
SAMPLE_ROWS = 500


def require_dask() -> None:
    """Raise :class:`~ipdmeta.errors.InputError` (with the pip command) without dask."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as err:
        raise InputError("engine='dask' needs dask and distributed: pip install "
                         "'ipdmeta[dask]' (or use engine='serial' or 'processes')") from err


def whole_studies(ddf: Any) -> bool:
    """True when the partitions of a frame indexed by study hold whole studies: known,
    strictly increasing divisions."""
    if not ddf.known_divisions:
        return False
    div = list(ddf.divisions)
    return all(a < b for a, b in pairwise(div[:-1]))


def prepare_dask(ddf: Any, study: str, formula: ModelFormula, extra: Sequence[str],
                 keep: Sequence[str]) -> tuple[Any, list[str], pd.DataFrame]:
    """The lazy frame of the model's columns, grouped by study (categoricals given the
    levels of the whole data); the model's columns; a sample of complete rows."""
    require_dask()
    grouped = False
    if study not in ddf.columns and ddf.index.name == study:
        grouped = whole_studies(ddf)
        ddf = ddf.reset_index()
    needed = check_columns(ddf, study, formula, extra, keep)
    frame = ddf[list(dict.fromkeys([study, *needed, *keep]))]
    levels = _levels(frame, formula)
    if levels:
        frame = frame.astype({c: pd.CategoricalDtype(lv) for c, lv in levels.items()})
    sample = _sample(frame, needed)
    if not grouped:
        frame = frame.shuffle(on=study)
    return frame, needed, sample


def _levels(frame: Any, formula: ModelFormula) -> dict[str, list]:
    """:func:`ipdmeta.stage1.formula.categorical_levels` of the whole dask frame (one pass over
    the columns concerned)."""
    import dask

    meta = frame._meta
    wanted = categorical_levels(meta, formula)
    lazy = {}
    out: dict[str, list] = {}
    for c in wanted:
        col = frame[c]
        if isinstance(meta[c].dtype, pd.CategoricalDtype):
            out[c] = list((col if col.cat.known else col.cat.as_known()).cat.categories)
        else:
            lazy[c] = col.dropna().unique()
    for c, values in zip(lazy, dask.compute(*lazy.values()), strict=True):
        out[c] = categorical_levels(pd.DataFrame({c: pd.Series(values)}), formula)[c]
    return out


def _sample(frame: Any, needed: Sequence[str]) -> pd.DataFrame:
    """Complete rows from the first partition that has any."""
    for i in range(frame.npartitions):
        part = frame.partitions[i].compute().dropna(subset=list(needed))
        if len(part):
            return part.iloc[:SAMPLE_ROWS]
    raise InputError(f"no row of the data is complete for the model's columns "
                     f"({', '.join(needed)})")


def run_dask(plan: Any, data: Any, *, client: Any = None, n_jobs: int | None = None,
             progress: bool | None = None) -> list[dict[str, Any]]:
    """Stage-1 rows of every study, fitted on a dask cluster, sorted by study.

    ``data``: a dask DataFrame from :func:`prepare_dask` (one task per partition), or
    an iterable of pandas blocks of whole studies (scattered to the workers).
    """
    require_dask()
    import dask
    from distributed import Client, LocalCluster, as_completed

    work = partial(fit_block, plan)
    cluster = None
    if client is None:
        cluster = LocalCluster(n_workers=workers(n_jobs), threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    rows: list[dict[str, Any]] = []
    try:
        if isinstance(data, Iterable) and not hasattr(data, "to_delayed"):
            futures = client.map(work, client.scatter(list(data)))
        else:
            futures = client.compute([dask.delayed(work)(part) for part in data.to_delayed()])
        with progress_bar(progress, len(futures), unit="partition") as bar:
            for fut in as_completed(futures):
                rows.extend(fut.result())
                fut.release()
                bar.update(1)
    finally:
        if cluster is not None:
            client.close()
            cluster.close()
    order = pd.Series([r["study"] for r in rows], dtype=object)
    return [rows[i] for i in order.sort_values(kind="stable").index]
