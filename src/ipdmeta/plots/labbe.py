"""L'Abbé plot: the outcome in the treated arm against the control arm, study by study.

Draws ``result.labbe_data()`` (:func:`ipdmeta.pooling.diagnostics.labbe_data`; as
metafor's ``labbe``): points
sized by precision, the line of no effect and the line of the pooled effect.  On the
"measure" scale (log odds, log risk or risk) the pooled line is straight; on the
"probability" scale both axes are event risks and the pooled odds or risk ratio is a
curve.

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> bcg["n1"], bcg["n0"] = bcg.tpos + bcg.tneg, bcg.cpos + bcg.cneg
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial", measure="RR")
    >>> fig = labbe_plot(m, events=("tpos", "cpos"), n=("n1", "n0"))
    >>> fig.axes[0].get_xlabel()
    'Risk (control)'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ipdmeta.errors import InputError
from ipdmeta.plots._text import figure_axes, save_figure

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SCALE_NAMES = {"OR": "Log odds", "RR": "Log risk", "RD": "Risk"}


def _to_probability(values: np.ndarray, measure: str) -> np.ndarray:
    if measure == "OR":
        return 1 / (1 + np.exp(-values))
    if measure == "RR":
        return np.exp(values)
    return values


def labbe_plot(result: Any, events: Any = None, n: Any = None, *, measure: str | None = None,
               scale: str = "probability", labels: bool = False, title: str | None = None,
               ax: Axes | None = None, path: str | Path | None = None, dpi: int = 300,
               figsize: tuple[float, float] = (5.5, 5.5)) -> Figure:
    """Draw the L'Abbé plot of a pooled OR, RR or RD with arm-level counts.

    Args:
        result: a ``MetaResult`` whose data has the arm-level counts.
        events, n: (treated, control) column names of events and totals in the data.
        measure: "OR", "RR" or "RD" (default: the result's measure).
        scale: "probability" (event risks) or "measure" (metafor's axes).
        labels, title, ax, path, figsize: study labels, title, an existing Axes, a file
            to save to, the figure size.
        dpi: the resolution of a saved raster image (300).
    """
    if scale not in ("probability", "measure"):
        raise InputError(f"scale={scale!r}: use 'probability' or 'measure'")
    data = result.labbe_data(events=events, n=n, measure=measure)
    fig, ax = figure_axes(ax, figsize)
    pts, line = data.points, data.line
    conv = ((lambda a: _to_probability(np.asarray(a, dtype=float), data.measure))
            if scale == "probability" else (lambda a: np.asarray(a, dtype=float)))
    x, y = conv(pts["x"]), conv(pts["y"])
    lx, ly = conv(line["x"]), conv(line["y"])
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    pad = 0.05 * (hi - lo)
    if scale == "probability":
        lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)
    else:
        lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="0.3", lw=0.9, label="No effect")
    keep = (lx >= lo) & (lx <= hi) & (ly >= lo) & (ly <= hi)
    ax.plot(lx[keep], ly[keep], color="0.2", lw=1.0, ls="--", label="Pooled effect")
    order = np.argsort(-pts["size"].to_numpy())
    ax.scatter(x[order], y[order], s=30 * pts["size"].to_numpy()[order] ** 2, facecolor="0.6",
               edgecolor="black", alpha=0.8, zorder=3)
    if labels:
        for r, xi, yi in zip(pts.itertuples(), x, y, strict=True):
            ax.annotate(str(r.study), (xi, yi), fontsize="x-small", xytext=(4, 4),
                        textcoords="offset points")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    what = "Risk" if scale == "probability" else SCALE_NAMES[data.measure]
    ax.set_xlabel(f"{what} (control)")
    ax.set_ylabel(f"{what} (treated)")
    ax.legend(fontsize="small", frameon=False, loc="upper left")
    if title:
        ax.set_title(title)
    save_figure(fig, path, dpi=dpi)
    return fig
