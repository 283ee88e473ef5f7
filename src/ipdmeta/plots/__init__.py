"""Plots of result objects (matplotlib); they read results and compute no statistics.

Example:
    >>> from ipdmeta.plots import forest_plot
    >>> callable(forest_plot)
    True
"""

from __future__ import annotations

from ipdmeta.plots.bubble import bubble_plot
from ipdmeta.plots.compare import compare_plot
from ipdmeta.plots.diagnostics import baujat_plot, qq_plot, radial_plot
from ipdmeta.plots.forest import forest_axes, forest_plot
from ipdmeta.plots.funnel import funnel_plot
from ipdmeta.plots.gosh import gosh_plot
from ipdmeta.plots.labbe import labbe_plot
from ipdmeta.plots.profile import profile_plot
from ipdmeta.plots.results_forest import results_set_plot
from ipdmeta.plots.selection import selection_plot
from ipdmeta.plots.sensitivity import cumulative_plot, leave_one_out_plot

__all__ = ["baujat_plot", "bubble_plot", "compare_plot", "cumulative_plot", "forest_axes",
           "forest_plot", "funnel_plot", "gosh_plot", "labbe_plot", "leave_one_out_plot",
           "profile_plot", "qq_plot", "radial_plot", "results_set_plot", "selection_plot"]
