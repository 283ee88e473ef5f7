"""ipdmeta: two-stage individual participant data (IPD) meta-analysis.

Example:
    >>> import ipdmeta as ipd
    >>> sorted(["pool"]) == [n for n in ["pool"] if hasattr(ipd, n)]
    True
"""

from __future__ import annotations

from ipdmeta import datasets
from ipdmeta.errors import ConvergenceError, InputError, IpdMetaError, SpecificationError
from ipdmeta.pooling.pool import pool
from ipdmeta.pooling.results import MetaResult, Pooled, SubgroupResult

__version__ = "0.1.0"

__all__ = [
    "ConvergenceError",
    "InputError",
    "IpdMetaError",
    "MetaResult",
    "Pooled",
    "SpecificationError",
    "SubgroupResult",
    "__version__",
    "datasets",
    "pool",
]
