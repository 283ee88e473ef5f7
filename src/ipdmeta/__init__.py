"""ipdmeta: two-stage individual participant data (IPD) meta-analysis.

Example:
    >>> import ipdmeta as ipd
    >>> sorted(["pool"]) == [n for n in ["pool"] if hasattr(ipd, n)]
    True
"""

from __future__ import annotations

from ipdmeta import datasets
from ipdmeta._version import __version__
from ipdmeta.analysis import IPDMetaResult, ipdmeta
from ipdmeta.errors import ConvergenceError, InputError, IpdMetaError, SpecificationError
from ipdmeta.io import read_data
from ipdmeta.onestage import OneStageResult, onestage
from ipdmeta.onestage.compare import Comparison
from ipdmeta.pooling.bias import (
    TrimFillResult,
    egger_test,
    funnel_data,
    rank_test,
    ranktest,
    regtest,
    trimfill,
)
from ipdmeta.pooling.influence import InfluenceResult, influence, tau2_sensitivity
from ipdmeta.pooling.metareg import MetaRegResult, metareg
from ipdmeta.pooling.pool import pool
from ipdmeta.pooling.results import MetaResult, Pooled, SubgroupResult
from ipdmeta.stage1 import AggregateData, read_aggregate, stage1
from ipdmeta.stage1.published import combine, read_published
from ipdmeta.stage1.site import DisclosureRules, read_site_results, site_stage1

__all__ = [
    "AggregateData",
    "Comparison",
    "ConvergenceError",
    "DisclosureRules",
    "IPDMetaResult",
    "InfluenceResult",
    "InputError",
    "IpdMetaError",
    "MetaRegResult",
    "MetaResult",
    "OneStageResult",
    "Pooled",
    "SpecificationError",
    "SubgroupResult",
    "TrimFillResult",
    "__version__",
    "combine",
    "datasets",
    "egger_test",
    "funnel_data",
    "influence",
    "ipdmeta",
    "metareg",
    "onestage",
    "pool",
    "rank_test",
    "ranktest",
    "read_aggregate",
    "read_data",
    "read_published",
    "read_site_results",
    "regtest",
    "site_stage1",
    "stage1",
    "tau2_sensitivity",
    "trimfill",
]
