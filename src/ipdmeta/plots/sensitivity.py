"""Leave-one-out and cumulative forest plots (as metafor's ``forest(leave1out(res))``).

Each row is a pooled result (without one study, or up to one study) drawn with the
forest plot of the full analysis; the diamond is the full result.

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> m = ipd.pool(pd.DataFrame({"yi": [0.1, 0.5, 0.3, 0.2], "vi": [.01, .02, .03, .02]}))
    >>> fig = leave_one_out_plot(m)
    >>> len(fig.axes) >= 1
    True
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ipdmeta.plots.forest import forest_plot

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ipdmeta.pooling.results import MetaResult


def _rows_as_result(result: MetaResult, table: pd.DataFrame, labels: list[str]) -> MetaResult:
    """The result with its study rows replaced by the sensitivity rows (equal boxes)."""
    studies = pd.DataFrame({"study": labels, "estimate": table["estimate"].to_numpy(),
                            "se": table["se"].to_numpy(), "ci_low": table["ci_low"].to_numpy(),
                            "ci_high": table["ci_high"].to_numpy(),
                            "weight": np.full(len(table), 100.0 / len(table))})
    return replace(result, studies=studies, subgroups=None, common_subgroups=None,
                   excluded=result.excluded.iloc[0:0], data=studies[["study"]])


def leave_one_out_plot(result: MetaResult, **options: Any) -> Figure:
    """Forest plot of the pooled result with each study left out in turn."""
    table = result.leave_one_out()
    rows = _rows_as_result(result, table, [f"Omitting {s}" for s in table["omitted"]])
    options.setdefault("show_weights", False)
    options.setdefault("show_pi", False)
    return forest_plot(rows, **options)


def cumulative_plot(result: MetaResult, order: Any = None, **options: Any) -> Figure:
    """Forest plot of the cumulative meta-analysis (studies added in ``order``)."""
    table = result.cumulative(order)
    rows = _rows_as_result(result, table, [f"+ {s} (k = {k})"
                                           for s, k in zip(table["added"], table["k"],
                                                           strict=True)])
    options.setdefault("show_weights", False)
    options.setdefault("show_pi", False)
    return forest_plot(rows, **options)
