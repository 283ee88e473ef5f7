"""Leave-one-out and cumulative meta-analysis (as metafor's ``leave1out`` and ``cumul``).

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> m = ipd.pool(pd.DataFrame({"yi": [0.1, 0.5, 0.3], "vi": [0.01, 0.02, 0.03]}),
    ...              method="DL")
    >>> m.leave_one_out()["omitted"].tolist()
    ['Study 1', 'Study 2', 'Study 3']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.errors import ConvergenceError, InputError
from ipdmeta.pooling.estimate import fit_pooled

if TYPE_CHECKING:
    from ipdmeta.pooling.results import MetaResult

ROW_FIELDS = ("k", "estimate", "se", "ci_low", "ci_high", "z_or_t", "pvalue", "Q", "Q_pvalue",
              "tau2", "I2", "H2", "pi_low", "pi_high")


def _row(result: MetaResult, idx: np.ndarray) -> dict[str, Any]:
    """Pool the studies ``idx`` with the result's options; NaN with a note on failure."""
    try:
        p = fit_pooled(result.estimates[idx], result.variances[idx], result.spec)
    except ConvergenceError as err:
        return {**{f: np.nan for f in ROW_FIELDS}, "k": len(idx), "note": str(err)}
    return {**{f: getattr(p, f) for f in ROW_FIELDS}, "note": "; ".join(p.messages)}


def leave_one_out(result: MetaResult) -> pd.DataFrame:
    """One row per study: the pooled result without that study."""
    k = result.k
    if k < 2:
        raise InputError("leave-one-out needs at least 2 studies")
    labels = result.studies["study"].tolist()
    rows = [{"omitted": labels[i], **_row(result, np.delete(np.arange(k), i))}
            for i in range(k)]
    return pd.DataFrame(rows)


def _order(result: MetaResult, order: Any) -> np.ndarray:
    labels = result.studies["study"].tolist()
    if order is None:
        return np.arange(len(labels))
    if isinstance(order, str):
        if order not in result.data.columns:
            raise InputError(f"order={order!r} is not a column of the pooled table "
                             f"(columns: {', '.join(map(str, result.data.columns))})")
        return np.argsort(result.data[order].to_numpy(), kind="stable")
    order = list(order)
    missing = [s for s in order if s not in labels]
    if missing or len(order) != len(labels):
        raise InputError("order must list every study label once; unknown or missing: "
                         f"{missing or sorted(set(labels) - set(order))}")
    return np.array([labels.index(s) for s in order])


def cumulative(result: MetaResult, order: Any = None) -> pd.DataFrame:
    """Pooled results as studies are added one at a time, in data order or by ``order``."""
    idx = _order(result, order)
    labels = result.studies["study"].tolist()
    rows = [{"added": labels[idx[j]], **_row(result, idx[: j + 1])} for j in range(len(idx))]
    return pd.DataFrame(rows)
