"""``pool()``: common-effect and random-effects pooling of study estimates.

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> frame = pd.DataFrame({"study": ["A", "B", "C"], "yi": [0.1, 0.5, 0.3],
    ...                       "vi": [0.01, 0.02, 0.03]})
    >>> m = ipd.pool(frame, estimate="yi", variance="vi", method="DL", ci="hksj")
    >>> round(m.overall.estimate, 4), m.overall.k
    (0.2844, 3)
"""

from __future__ import annotations

from typing import Any

from ipdmeta.pooling.estimate import fit_pooled
from ipdmeta.pooling.input import StudyTable, read_study_table
from ipdmeta.pooling.options import (
    METHODS,
    PoolSpec,
    make_spec,
    normalise_level,
    normalise_method,
)
from ipdmeta.pooling.results import MetaResult

__all__ = ["METHODS", "PoolSpec", "fit_pooled", "make_spec", "normalise_level",
           "normalise_method", "pool", "pool_table"]


def pool_table(table: StudyTable, spec: PoolSpec, measure: str | None = None) -> MetaResult:
    """Pool a validated ``StudyTable``; ``pool()`` without the input handling."""
    return MetaResult.from_table(table, spec, measure)


def pool(data: Any, *, estimate: str | None = None, se: str | None = None,
         variance: str | None = None, study: str | None = None, by: str | None = None,
         method: str = "REML", ci: str = "z", level: float = 0.95, pi: str = "hts",
         tau2_ci: str = "qp", weights: str | None = None,
         measure: str | None = None) -> MetaResult:
    """Pool study estimates: common effect or random effects, with subgroups.

    Args:
        data: a DataFrame with one row per study, or stage 1's ``AggregateData``
            (only rows with ``status == "ok"`` are pooled; the others are listed in
            ``result.excluded``).
        estimate, se, variance, study, by: column names; ``estimate`` and one of
            ``se``/``variance`` are found automatically when named like
            ``estimate``/``yi``/``_ES`` and ``se``/``sei``/``_seES`` or ``vi``.
        method: "common" (aliases "FE", "EE", "IV") or a tau² estimator: "DL",
            "REML" (default, as metafor), "ML", "PM", "PMM", "EB", "HE", "SJ", "HS",
            "GENQ" (weights from the ``weights`` column, default 1/variance).
        ci: "z" (default, as metafor), "t", "hksj", "hksj-trunc" or "pl".
        level: confidence level (0.95 or 95).
        pi: prediction interval: "hts" (t with k − 2 df, Higgins et al. 2009, as
            Stata's metan) or "metafor" (metafor's ``predict()``).
        tau2_ci: "qp" (Q-profile) or "pl" (profile likelihood; ML/REML only).
        measure: the effect measure ("HR", "OR", "RR", "MD", ...), used for display.

    Returns:
        MetaResult.

    Example:
        >>> import pandas as pd, ipdmeta as ipd
        >>> df = pd.DataFrame({"yi": [0.2, 0.4, 0.1, 0.6], "sei": [0.1, 0.2, 0.15, 0.3]})
        >>> round(ipd.pool(df, method="common").overall.estimate, 4)
        0.2277
    """
    spec = make_spec(method, ci, level, pi, tau2_ci)
    table = read_study_table(data, estimate=estimate, se=se, variance=variance, study=study,
                             by=by, weights=weights)
    return pool_table(table, spec, measure)
