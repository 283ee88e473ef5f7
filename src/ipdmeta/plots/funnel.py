"""Funnel plot: study estimates against their standard error (or precision).

Reads a ``MetaResult`` or a ``TrimFillResult`` through its ``funnel_data()`` method
(:func:`ipdmeta.pooling.bias.funnel_data`); the pooled line, the pseudo confidence
region ``center ± z·se`` and the optional contour-enhanced significance regions are
drawn from those numbers.  Filled studies of trim-and-fill are open circles.

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> fig = funnel_plot(ipd.pool(bcg, estimate="yi", variance="vi", study="trial"))
    >>> fig.axes[0].get_ylabel()
    'Standard error'
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

    from ipdmeta.pooling.bias import FunnelData


CONTOUR_SHADES = ("0.55", "0.70", "0.82", "0.91", "0.96")


def _shade_contours(ax: Axes, data: FunnelData, se: np.ndarray, ypos: np.ndarray) -> list:
    """Significance regions ``|estimate − null| > z_(1−α/2)·se``, darker for smaller p."""
    from matplotlib.patches import Patch

    alphas = sorted(a for a, _ in data.contours)
    crits = dict(data.contours)
    widest = crits[alphas[0]] * float(se.max())
    span = max(widest, float(np.max(np.abs(data.points["estimate"] - data.null))),
               abs(data.center - data.null) + data.crit * float(se.max())) * 1.1
    left, right = data.null - span, data.null + span
    shades = (*CONTOUR_SHADES[: len(alphas)], "white")
    ax.fill_betweenx(ypos, left, right, color=shades[0], lw=0, zorder=0)
    for j, alpha in enumerate(alphas):
        z = crits[alpha]
        ax.fill_betweenx(ypos, data.null - z * se, data.null + z * se, color=shades[j + 1],
                         lw=0, zorder=0)
    bounds = [0.0, *alphas]
    handles = [Patch(facecolor=shades[j], edgecolor="0.5",
                     label=(f"p < {alphas[0]:g}" if j == 0
                            else f"{bounds[j]:g} ≤ p < {bounds[j + 1]:g}"))
               for j in range(len(alphas))]
    handles.append(Patch(facecolor="white", edgecolor="0.5", label=f"p ≥ {alphas[-1]:g}"))
    ax.set_xlim(left, right)
    return handles


#: measures estimated on the log scale
RATIO_MEASURES = ("HR", "OR", "RR", "IRR", "ROM", "PETO", "RATIO")


def _place_legend(ax: Axes, x: Any, y: Any, corners: tuple[str, ...], **options: Any) -> None:
    """Draw the legend in the first of ``corners`` where it hides no study, measuring the
    drawn legend against the points; if every corner would hide one, where it covers the
    fewest, drawn beneath the study markers so that none is hidden."""
    ax.get_xlim(), ax.get_ylim()                 # settle the autoscaled limits first
    points = ax.transData.transform(np.column_stack([np.asarray(x, float),
                                                     np.asarray(y, float)]))
    renderer = ax.figure.canvas.get_renderer()
    hidden = {}
    for corner in corners:
        box = ax.legend(loc=corner, **options).get_window_extent(renderer).padded(6)
        hidden[corner] = int(np.sum((points[:, 0] >= box.x0) & (points[:, 0] <= box.x1)
                                    & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1)))
        if hidden[corner] == 0:
            return
    ax.legend(loc=min(corners, key=hidden.__getitem__), **options).set_zorder(2.5)


def axis_label(measure: str | None, eform: bool) -> str:
    """The x-axis title: what the axis shows, truthfully.

    Example:
        >>> axis_label("RR", False), axis_label("RR", True), axis_label("MD", False)
        ('log RR', 'RR (log scale)', 'MD')
    """
    name = measure or "Estimate"
    if (measure or "").upper() not in RATIO_MEASURES:
        return name + (" (exponentiated, log scale)" if eform else "")
    return f"{name} (log scale)" if eform else f"log {name}"


def funnel_plot(result: Any, *, yaxis: str = "se", contours: Any = None,
                level: float | None = None, null: float = 0.0, eform: bool = False,
                xlabel: str | None = None, title: str | None = None, ax: Axes | None = None,
                figsize: tuple[float, float] = (6.0, 5.0), path: str | Path | None = None,
                dpi: int = 300) -> Figure:
    """Draw a funnel plot.

    Args:
        result: ``MetaResult``, ``TrimFillResult`` or ``FunnelData``.
        yaxis: "se" (standard error, 0 at the top) or "precision" (1/se).
        contours: None (plain funnel with the pseudo-CI), True for the usual
            p < 0.10, 0.05, 0.01 regions, or a sequence of significance levels; the
            regions are centred on ``null`` and shaded, darker for smaller p.
        level: level of the pseudo confidence region (default: the result's).
        eform: label the x axis with exponentiated values (the axis stays on the
            analysis scale, so the funnel is symmetric); the axis title says which
            (``log RR`` on the analysis scale, ``RR (log scale)`` with ``eform``).
        xlabel, title, ax, figsize: labels, an existing Axes, the figure size.
        path, dpi: save the figure to this file (format from the suffix) at ``dpi``.
    """
    from matplotlib.ticker import FuncFormatter


    if yaxis not in ("se", "precision"):
        raise InputError(f"yaxis={yaxis!r}: use 'se' or 'precision'")
    if hasattr(result, "funnel_data"):
        levels = (0.10, 0.05, 0.01) if contours is True else (contours or ())
        data = result.funnel_data(level=level, contours=tuple(levels), null=null)
    else:   # already FunnelData
        data = result
    if ax is None:
        fig = new_figure(figsize=figsize)
        ax = fig.add_subplot()
    else:
        fig = figure_of(ax)
    top = data.se_max * 1.05
    if yaxis == "se":
        se = np.linspace(0.0, top, 200)
        ypos = se
    else:
        low = max(1e-12, float(data.points["se"].min()) * 0.9)
        se = np.linspace(low, top, 400)
        ypos = 1.0 / se
    extra = _shade_contours(ax, data, se, ypos) if data.contours else []
    ax.plot(data.center - data.crit * se, ypos, color="0.3", lw=0.9, ls="--")
    ax.plot(data.center + data.crit * se, ypos, color="0.3", lw=0.9, ls="--",
            label=f"{round(100 * data.level)}% pseudo-CI")
    ax.axvline(data.center, color="0.2", lw=1.0, label="Pooled estimate")
    pts = data.points
    observed = pts[~pts["filled"].astype(bool)]
    filled = pts[pts["filled"].astype(bool)]
    yval = (lambda s: s) if yaxis == "se" else (lambda s: 1.0 / s)
    ax.scatter(observed["estimate"], yval(observed["se"]), s=28, color="black", zorder=3,
               label="Studies")
    if len(filled):
        ax.scatter(filled["estimate"], yval(filled["se"]), s=28, facecolors="white",
                   edgecolors="black", zorder=3, label="Filled studies")
    if yaxis == "se":
        ax.set_ylim(top, 0.0)
        ax.set_ylabel("Standard error")
    else:
        ax.set_ylim(0.0, float(np.max(ypos)) * 1.02)
        ax.set_ylabel("Precision (1/se)")
    if eform:
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{np.exp(x):.3g}"))
    ax.set_xlabel(xlabel or axis_label(data.measure, eform))
    if title:
        ax.set_title(title)
    handles, names = ax.get_legend_handles_labels()
    corners = (("lower right", "upper right", "lower left", "upper left") if yaxis == "se"
               else ("upper right", "lower right", "upper left", "lower left"))
    _place_legend(ax, pts["estimate"], yval(pts["se"]), corners, handles=[*handles, *extra],
                  labels=[*names, *(h.get_label() for h in extra)], fontsize="small",
                  frameon=True, framealpha=0.9)
    save_figure(fig, path, dpi)
    return fig
