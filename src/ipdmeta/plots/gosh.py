"""GOSH plot: the pooled estimate against I² in every fitted subset of studies.

Draws :class:`ipdmeta.pooling.gosh.GoshResult`: a scatter (translucent points, so
dense regions are dark) with the marginal distributions as histograms, as metafor's
``plot(gosh(...))`` for one coefficient.  Distinct clusters point to influential
studies or subgroups (Olkin, Dahabreh & Trikalinos 2012).

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import ipdmeta as ipd
    >>> from ipdmeta.pooling.gosh import gosh
    >>> bcg = ipd.datasets.load_bcg()
    >>> fig = gosh_plot(gosh(ipd.pool(bcg, estimate="yi", variance="vi", method="DL")))
    >>> len(fig.axes)
    3
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ipdmeta.errors import InputError
from ipdmeta.plots._text import figure_of, new_figure, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ipdmeta.pooling.gosh import GoshResult


def gosh_plot(result: GoshResult, *, x: str = "I2", y: str | None = None,
              highlight: Any = None, eform: bool = False, bins: int = 40,
              title: str | None = None, ax: Axes | None = None,
              path: str | Path | None = None, dpi: int = 300,
              figsize: tuple[float, float] = (6.0, 6.0)) -> Figure:
    """Scatter of a coefficient against a heterogeneity statistic over the subsets.

    Args:
        result: a ``GoshResult``.
        x: "I2" (default), "H2", "tau2" or "QE"; y: the coefficient (default the pooled
            estimate, or the first term of a meta-regression).
        highlight: a study label: subsets containing it are drawn in colour.
        eform: label the coefficient axis exponentiated.
        bins, title, path, figsize: histogram bins, title, a file to save to, size.
        dpi: the resolution of a saved raster image (300).
        ax: draw the scatter alone into this Axes (no marginal histograms).
    """
    from matplotlib.ticker import FuncFormatter

    table = result.table
    ycol = y or result.terms[0]
    for col in (x, ycol):
        if col not in table.columns:
            raise InputError(f"{col!r} is not a column of the GOSH table "
                             f"({', '.join(table.columns)})")
    ok = table[[x, ycol]].notna().all(axis=1).to_numpy()
    xs, ys = table[x].to_numpy()[ok], table[ycol].to_numpy()[ok]
    if ax is None:
        fig = new_figure(figsize=figsize)
        grid = fig.add_gridspec(2, 2, width_ratios=(4, 1), height_ratios=(1, 4), wspace=0.05,
                                hspace=0.05)
        ax = fig.add_subplot(grid[1, 0])
        top = fig.add_subplot(grid[0, 0], sharex=ax)
        right = fig.add_subplot(grid[1, 1], sharey=ax)
    else:
        fig, top, right = figure_of(ax), None, None
    alpha = float(np.clip(30 / np.sqrt(len(xs)), 0.02, 0.6))
    colour = np.full(len(xs), "0.2", dtype=object)
    if highlight is not None:
        if highlight not in result.studies:
            raise InputError(f"highlight={highlight!r} is not one of the studies")
        j = result.studies.index(highlight)
        colour = np.where(result.included[ok, j], "tab:red", "0.2")
    ax.scatter(xs, ys, s=4, c=list(colour), alpha=alpha, lw=0, rasterized=True)
    if top is not None and right is not None:
        top.hist(xs, bins=bins, color="0.5")
        right.hist(ys, bins=bins, color="0.5", orientation="horizontal")
        top.tick_params(labelbottom=False, left=False, labelleft=False)
        right.tick_params(labelleft=False, bottom=False, labelbottom=False)
        for a in (top, right):
            for side in ("top", "right", "left" if a is top else "bottom"):
                a.spines[side].set_visible(False)
    names = {"I2": "I² (%)", "H2": "H²", "tau2": "τ²", "QE": "Q"}
    ax.set_xlabel(names.get(x, x))
    ax.set_ylabel(("Estimate" if ycol == "estimate" else ycol)
                  + (" (exponentiated)" if eform else ""))
    if eform:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{np.exp(v):.3g}"))
    (top or ax).set_title(
        title or f"GOSH: {len(xs):,} {'' if result.exact else 'random '}subsets",
        fontsize="medium")
    save_figure(fig, path, dpi=dpi)
    return fig
