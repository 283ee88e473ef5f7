"""The estimated selection function of a selection model (metafor's ``plot(sel)``).

Draws :meth:`ipdmeta.pooling.selection.SelectionModelResult.weight_function`: the
relative likelihood of publication against the p-value, with the studies' p-values as
a rug.

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import ipdmeta as ipd
    >>> from ipdmeta.pooling.selection import selection_model
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", method="ML")
    >>> fig = selection_plot(selection_model(m, "stepfun", steps=[0.025], alternative="less"))
    >>> fig.axes[0].get_xlabel()
    'p-value'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ipdmeta.plots._text import figure_axes, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ipdmeta.pooling.selection import SelectionModelResult


def selection_plot(result: SelectionModelResult, *, rug: bool = True, title: str | None = None,
                   ax: Axes | None = None, path: str | Path | None = None, dpi: int = 300,
                   figsize: tuple[float, float] = (6.0, 4.0)) -> Figure:
    """Plot the selection function w(p) (scaled as estimated) and the studies' p-values."""
    fig, ax = figure_axes(ax, figsize)
    wf = result.weight_function()
    ax.plot(wf["p"], wf["weight"], color="black", lw=1.6,
            drawstyle="steps-post" if result.type == "stepfun" else "default")
    if rug:
        top = float(wf["weight"].max())
        ax.plot(result.pvalues, [-0.03 * top] * len(result.pvalues), "|", color="0.3", ms=10)
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=-0.06 * float(wf["weight"].max()))
    ax.set_xlabel("p-value")
    ax.set_ylabel("Relative likelihood of selection")
    ax.set_title(title or f"Selection function ({result.type})", fontsize="medium")
    save_figure(fig, path, dpi=dpi)
    return fig
