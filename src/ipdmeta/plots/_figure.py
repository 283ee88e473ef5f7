"""Shared set-up of the diagnostic plots: a figure (or the given Axes) and saving.

Example:
    >>> fig, ax = figure_axes(None, (3, 2))
    >>> finish(fig, None) is fig
    True
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ipdmeta.plots._text import new_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


def figure_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    """The Axes to draw on: ``ax`` when given, else one Axes on a new figure."""
    if ax is not None:
        return ax.figure, ax
    fig = new_figure(figsize=figsize)
    return fig, fig.add_subplot()


def finish(fig: Figure, path: str | Path | None, dpi: int = 150) -> Figure:
    """Save ``fig`` to ``path`` (format from the suffix) when given; return it."""
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig
