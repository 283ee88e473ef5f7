"""Radial (Galbraith), normal Q-Q and Baujat plots of a stage-2 result.

They draw the numbers the result objects give (``result.radial_data()``,
``result.qq_data()``, ``result.influence().baujat``; see
:mod:`ipdmeta.pooling.diagnostics`); every function takes ``ax=`` (draw into an existing
Axes) and ``path=`` (save the figure, at ``dpi=``, 300 by default) and returns the Figure.

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
    >>> radial_plot(m).axes[0].get_xlabel()
    'x = 1/√(v + τ²)'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ipdmeta.plots._text import figure_axes, fmt_num, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


OFFSETS = ((4, 3), (4, -10), (4, 11), (4, -18), (4, 19), (-4, 3), (-4, -10))


def _annotate(ax: Axes, xs: Any, ys: Any, labels: Any) -> None:
    """Label points, moving a label to another offset when it would overlap one placed.

    Labels are placed greedily (from the top of the plot down) at the first of a few
    offsets whose box (estimated from the text length at x-small size) is clear.
    """
    to_display = ax.transData.transform
    placed: list[tuple[float, float, float, float]] = []
    size = 6.5 * ax.figure.dpi / 72  # x-small text: about 6.5 pt per line
    points = sorted(zip(xs, ys, labels, strict=True), key=lambda t: -t[1])
    for x, y, text in points:
        px, py = to_display((x, y))
        width = 0.55 * size * len(str(text))
        for dx, dy in OFFSETS:
            ox, oy = dx * ax.figure.dpi / 72, dy * ax.figure.dpi / 72
            left = px + ox if dx > 0 else px + ox - width
            box = (left, py + oy, left + width, py + oy + size)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
                       for b in placed):
                break
        placed.append(box)
        ax.annotate(str(text), (x, y), fontsize="x-small", xytext=(dx, dy),
                    textcoords="offset points", ha="left" if dx > 0 else "right")


def _arc_point(est: float, radius: float, aspect: float) -> tuple[float, float]:
    """Point on the effect arc for an estimate (slope) ``est``, in data coordinates.

    The arc is a circle in display space: ``aspect`` is the data-units-per-display-unit
    ratio of the y axis relative to the x axis.
    """
    x = radius / np.sqrt(1 + (est / aspect) ** 2)
    return x, x * est


def radial_plot(result: Any, *, level: float | None = None, eform: bool = False,
                labels: bool = False, arc_ticks: int = 7, title: str | None = None,
                ax: Axes | None = None, path: str | Path | None = None, dpi: int = 300,
                figsize: tuple[float, float] = (6.5, 5.0)) -> Figure:
    """Radial (Galbraith) plot: ``y/√(v+τ²)`` against ``1/√(v+τ²)`` with the pooled slope.

    The shaded band is the pooled line ± ``z_{1−α/2}``; the arc on the right reads the
    estimate of any point off the line from the origin through it (``eform`` labels
    it exponentiated), and the heavier arc segment is the pooled interval.
    """
    data = result.radial_data(level=level)
    fig, ax = figure_axes(ax, figsize)
    pts = data.points
    xmax = 1.3 * float(pts["x"].max())
    b, zc = data.estimate, data.zcrit
    ax.fill([0, xmax, xmax, 0], [zc, zc + xmax * b, -zc + xmax * b, -zc], color="0.9", lw=0,
            zorder=0)
    ax.plot([0, xmax], [0, xmax * b], color="0.2", lw=1.0)
    for s in (-zc, zc):
        ax.plot([0, xmax], [s, s + xmax * b], color="0.4", lw=0.8, ls=":")
    ax.axhline(0, color="0.75", lw=0.6)
    ax.scatter(pts["x"], pts["y"], s=22, color="black", zorder=3)
    ylo = min(-5.0, 1.1 * float(pts["y"].min()), -1.1 * zc + xmax * min(b, 0))
    yhi = max(5.0, 1.1 * float(pts["y"].max()), 1.1 * zc + xmax * max(b, 0))
    radius = 1.14 * xmax
    est = pts["y"] / pts["x"]
    ylo = min(ylo, 1.1 * radius * float(min(est.min(), data.ci_low, 0)))
    yhi = max(yhi, 1.1 * radius * float(max(est.max(), data.ci_high, 0)))
    ax.set_xlim(0, 1.45 * xmax)
    ax.set_ylim(ylo, yhi)
    bbox = ax.get_window_extent()
    aspect = ((yhi - ylo) / bbox.height) / ((1.45 * xmax) / bbox.width)
    grid = np.linspace(float(est.min()), float(est.max()), 200)
    ax.plot(*zip(*(_arc_point(e, radius, aspect) for e in grid), strict=True), color="0.2",
            lw=0.8, clip_on=False)
    for e in np.linspace(float(est.min()), float(est.max()), arc_ticks):
        x0, y0 = _arc_point(e, radius, aspect)
        x1, y1 = _arc_point(e, radius * 1.02, aspect)
        ax.plot([x0, x1], [y0, y1], color="0.2", lw=0.8, clip_on=False)
        ax.text(x1 * 1.01, y1, fmt_num(e, 2, eform), fontsize="x-small", va="center")
    ci = np.linspace(data.ci_low, data.ci_high, 50)
    ax.plot(*zip(*(_arc_point(e, radius * 0.985, aspect) for e in ci), strict=True),
            color="black", lw=2.5, solid_capstyle="butt", clip_on=False)
    if labels:
        _annotate(ax, pts["x"], pts["y"], pts["study"])
    ax.set_xlabel("x = 1/√v" if data.common else "x = 1/√(v + τ²)")
    ax.set_ylabel("z = y/√v" if data.common else "z = y/√(v + τ²)")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title:
        ax.set_title(title)
    save_figure(fig, path, dpi=dpi)
    return fig


def qq_plot(result: Any, *, envelope: bool = True, reps: int = 1000, seed: Any = None,
            level: float | None = None, labels: bool | int = False,
            title: str | None = None, ax: Axes | None = None,
            path: str | Path | None = None, dpi: int = 300,
            figsize: tuple[float, float] = (5.0, 5.0)) -> Figure:
    """Normal Q-Q plot of the standardised residuals with a simulated envelope.

    ``labels``: True labels every study, an integer n the n furthest from the line.
    """
    data = result.qq_data(envelope=envelope, reps=reps, level=level, seed=seed)
    fig, ax = figure_axes(ax, figsize)
    pts = data.points
    lim = 1.1 * float(max(np.abs(pts["theoretical"]).max(), np.abs(pts["z"]).max(), 2.0))
    ax.plot([-lim, lim], [-lim, lim], color="0.3", lw=0.9)
    if data.envelope is not None:
        env = data.envelope
        ax.plot(env["theoretical"], env["lower"], color="0.4", lw=0.9, ls=":")
        ax.plot(env["theoretical"], env["upper"], color="0.4", lw=0.9, ls=":",
                label=f"{round(100 * data.level)}% envelope")
        ax.legend(fontsize="small", frameon=False, loc="upper left")
    ax.scatter(pts["theoretical"], pts["z"], s=22, color="black", zorder=3)
    if labels:
        n = len(pts) if labels is True else int(labels)
        dev = np.abs(pts["z"] - pts["theoretical"])
        chosen = pts.loc[dev.sort_values(ascending=False).index[:n]]
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    if labels:
        _annotate(ax, chosen["theoretical"], chosen["z"], chosen["study"])
    ax.set_xlabel("Theoretical quantiles")
    ax.set_ylabel("Standardised residuals")
    if title:
        ax.set_title(title)
    save_figure(fig, path, dpi=dpi)
    return fig


def baujat_plot(result: Any, *, labels: bool = True, title: str | None = None,
                ax: Axes | None = None, path: str | Path | None = None, dpi: int = 300,
                figsize: tuple[float, float] = (6.0, 5.0)) -> Figure:
    """Baujat plot: each study's contribution to Q against its influence on the result."""
    frame = result.influence().baujat
    fig, ax = figure_axes(ax, figsize)
    ax.scatter(frame["x"], frame["y"], s=22, color="black", zorder=3)
    ax.set_xlabel("Contribution to overall heterogeneity (squared Pearson residual)")
    ax.set_ylabel("Influence on the overall result")
    xmax, ymax = float(frame["x"].max()), float(frame["y"].max())
    ax.set_xlim(-0.03 * xmax, 1.25 * xmax)  # room for the labels on the right
    ax.set_ylim(-0.10 * ymax, 1.08 * ymax)
    if labels:
        _annotate(ax, frame["x"], frame["y"], frame["study"])
    if title:
        ax.set_title(title)
    save_figure(fig, path, dpi=dpi)
    return fig
