"""Bubble plot of a meta-regression: estimates against a continuous moderator.

Reads :meth:`ipdmeta.pooling.metareg.MetaRegResult.bubble_data`: each study is a
circle with area proportional to its weight in the model, the fitted line is the
prediction over the moderator's range (other design columns at their means) with
its confidence band.

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import ipdmeta as ipd
    >>> from ipdmeta.pooling.metareg import metareg
    >>> bcg = ipd.datasets.load_bcg()
    >>> mr = metareg(bcg, "~ ablat", estimate="yi", variance="vi", study="trial")
    >>> bubble_plot(mr, "ablat").axes[0].get_xlabel()
    'ablat'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ipdmeta.plots._text import new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure



def bubble_plot(result: Any, moderator: str, *, eform: bool = False, labels: bool = False,
                band: bool = True, pi: bool = False, size: float = 900.0,
                xlabel: str | None = None, ylabel: str | None = None,
                title: str | None = None, ax: Axes | None = None,
                figsize: tuple[float, float] = (6.5, 4.5), path: str | Path | None = None,
                dpi: int = 300) -> Figure:
    """Draw the bubble plot of ``moderator`` for a ``MetaRegResult``.

    Args:
        result: the meta-regression.
        moderator: a column of the model (a continuous moderator).
        eform: exponentiate the y axis values (log scale kept).
        labels: write the study labels next to the bubbles.
        band: shade the confidence band of the fitted line; ``pi`` adds the
            prediction-interval lines.
        size: bubble area (points²) of a study with 100% weight.
        xlabel, ylabel, title, ax, figsize: labels, an existing Axes, the figure size.
        path, dpi: save the figure to this file (format from the suffix) at ``dpi``.
    """
    from matplotlib.ticker import FuncFormatter


    points, line = result.bubble_data(moderator)
    if ax is None:
        fig = new_figure(figsize=figsize)
        ax = fig.add_subplot()
    else:
        fig = ax.figure
    x = line[moderator]
    if band:
        ax.fill_between(x, line["ci_low"], line["ci_high"], color="tab:blue", alpha=0.15,
                        lw=0, label=f"{round(100 * result.spec.level)}% CI")
    if pi and line["pi_low"].notna().all():
        ax.plot(x, line["pi_low"], color="tab:blue", ls=":", lw=1)
        ax.plot(x, line["pi_high"], color="tab:blue", ls=":", lw=1, label="Prediction interval")
    ax.plot(x, line["pred"], color="tab:blue", lw=1.5, label="Fitted")
    ax.scatter(points[moderator], points["estimate"], s=size * points["weight"] / 100.0,
               facecolors="0.6", edgecolors="black", alpha=0.7, zorder=3)
    if labels:
        for label, xi, yi in zip(points["study"], points[moderator], points["estimate"],
                                 strict=True):
            ax.annotate(str(label), (xi, yi), fontsize="x-small", xytext=(4, 4),
                        textcoords="offset points")
    ax.axhline(0.0, color="0.6", lw=0.8, ls="--")
    if eform:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{np.exp(v):.3g}"))
    ax.set_xlabel(xlabel or moderator)
    ax.set_ylabel(ylabel or ((result.measure or "Estimate")
                             + (" (exponentiated)" if eform else "")))
    if title:
        ax.set_title(title)
    ax.legend(fontsize="small", frameon=False)
    save_figure(fig, path, dpi)
    return fig
