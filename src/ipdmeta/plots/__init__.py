"""Plots of result objects (matplotlib); they read results and compute no statistics.

Example:
    >>> from ipdmeta.plots import forest_plot
    >>> callable(forest_plot)
    True
"""

from __future__ import annotations

from ipdmeta.plots.forest import forest_axes, forest_plot

__all__ = ["forest_axes", "forest_plot"]
