"""Worker processes and progress bars of the stage-1 engines.

Example:
    >>> import os
    >>> workers(3), workers(-1) == (os.cpu_count() or 1)
    (3, True)
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ipdmeta.errors import InputError

#: more studies than this show a progress bar by default (on a terminal)
PROGRESS_MIN_STUDIES = 20
#: environment variables that limit BLAS / OpenMP threads in worker processes
BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


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
