"""ipdmeta: two-stage individual participant data (IPD) meta-analysis.

Example:
    >>> import ipdmeta as ipd
    >>> sorted(["pool"]) == [n for n in ["pool"] if hasattr(ipd, n)]
    True
"""

from __future__ import annotations

from ipdmeta import datasets, effects
from ipdmeta._version import __version__
from ipdmeta.analysis import IPDMetaResult, ipdmeta
from ipdmeta.effects import effect_sizes
from ipdmeta.errors import ConvergenceError, InputError, IpdMetaError, SpecificationError
from ipdmeta.io import read_data
from ipdmeta.ipdover import IPDOverResult, ipdover
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
from ipdmeta.pooling.counts_bias import harbord_test, peters_test
from ipdmeta.pooling.failsafe import fsn, tes
from ipdmeta.pooling.fitstats import lrt
from ipdmeta.pooling.gosh import gosh
from ipdmeta.pooling.influence import InfluenceResult, influence, tau2_sensitivity
from ipdmeta.pooling.metareg import MetaRegResult, metareg
from ipdmeta.pooling.pool import pool
from ipdmeta.pooling.results import MetaResult, Pooled, SubgroupResult
from ipdmeta.pooling.selection import selection_model
from ipdmeta.pooling.summary_data import CountsMetaResult
from ipdmeta.report.results_set import (
    ResultsSet,
    forest_from_results,
    read_results_set,
    results_set,
)
from ipdmeta.stage1 import AggregateData, read_aggregate, stage1
from ipdmeta.stage1.arms import summarise_arms
from ipdmeta.stage1.published import combine, read_published
from ipdmeta.stage1.site import DisclosureRules, read_site_results, site_stage1

__all__ = [
    "AggregateData",
    "Comparison",
    "ConvergenceError",
    "CountsMetaResult",
    "DisclosureRules",
    "IPDMetaResult",
    "IPDOverResult",
    "InfluenceResult",
    "InputError",
    "IpdMetaError",
    "MetaRegResult",
    "MetaResult",
    "OneStageResult",
    "Pooled",
    "ResultsSet",
    "SpecificationError",
    "SubgroupResult",
    "TrimFillResult",
    "__version__",
    "combine",
    "datasets",
    "effect_sizes",
    "effects",
    "egger_test",
    "forest_from_results",
    "fsn",
    "funnel_data",
    "gosh",
    "harbord_test",
    "influence",
    "ipdmeta",
    "ipdover",
    "lrt",
    "metareg",
    "onestage",
    "peters_test",
    "pool",
    "rank_test",
    "ranktest",
    "read_aggregate",
    "read_data",
    "read_published",
    "read_results_set",
    "read_site_results",
    "regtest",
    "results_set",
    "selection_model",
    "site_stage1",
    "stage1",
    "summarise_arms",
    "tau2_sensitivity",
    "tes",
    "trimfill",
]
