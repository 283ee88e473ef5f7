"""Profile-likelihood plots of tau² and of the pooled effect.

Draws :class:`ipdmeta.pooling.profile.ProfileResult` as metafor's ``plot(profile(res))``:
the (restricted) log-likelihood over the profiled values, the maximum (dotted), the
fitted value, and the level ``max − χ²_{1,level}/2`` whose crossings are the likelihood
interval (dashed).

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import ipdmeta as ipd
    >>> from ipdmeta.pooling.profile import profile_tau2
    >>> bcg = ipd.datasets.load_bcg()
    >>> fig = profile_plot(profile_tau2(ipd.pool(bcg, estimate="yi", variance="vi")))
    >>> fig.axes[0].get_xlabel()
    'τ²'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ipdmeta.plots._text import figure_axes, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ipdmeta.pooling.profile import ProfileResult


def profile_plot(profile: ProfileResult, *, interval: bool = True, eform: bool = False,
                 title: str | None = None, ax: Axes | None = None,
                 path: str | Path | None = None, dpi: int = 300,
                 figsize: tuple[float, float] = (6.0, 4.5)) -> Figure:
    """Plot a profiled log-likelihood (``interval`` marks the likelihood interval)."""
    from matplotlib.ticker import FuncFormatter

    fig, ax = figure_axes(ax, figsize)
    t = profile.table
    x = t[profile.parameter]
    ax.plot(x, t["loglik"], color="black", lw=1.2, marker="o", ms=3.5)
    ax.axhline(profile.maxll, color="0.4", lw=0.8, ls=":")
    ax.axvline(profile.estimate, color="0.4", lw=0.8, ls=":")
    if interval and np.all(np.isfinite(profile.ci)):
        cut = profile.cutoff
        ax.axhline(cut, color="0.4", lw=0.8, ls="--",
                   label=f"{round(100 * profile.level)}% likelihood interval")
        for bound in profile.ci:
            if x.min() <= bound <= x.max():
                ax.plot([bound, bound], [ax.get_ylim()[0], cut], color="0.4", lw=0.8, ls="--")
        ax.legend(fontsize="small", frameon=False, loc="lower center")
    ax.set_xlabel("τ²" if profile.parameter == "tau2" else "μ (pooled effect)")
    kind = "Restricted log-likelihood" if profile.reml else "Log-likelihood"
    ax.set_ylabel(kind)
    if eform and profile.parameter == "mu":
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{np.exp(v):.3g}"))
    ax.set_title(title or ("Profile likelihood of τ²" if profile.parameter == "tau2"
                           else "Profile likelihood of μ"), fontsize="medium")
    save_figure(fig, path, dpi=dpi)
    return fig
