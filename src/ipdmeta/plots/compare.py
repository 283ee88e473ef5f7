"""Forest-style plot of a one-stage versus two-stage comparison.

Reads a :class:`~ipdmeta.onestage.compare.Comparison` (its ``table`` and ``studies``):
per trial, the trial's own (two-stage, stage-1) estimate as a square and the one-stage
trial-specific effect (fixed effect + BLUP) as a circle, each with its interval; below,
one diamond per approach for the pooled estimate, with tau² printed beside it.

Example:
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import ipdmeta as ipd
    >>> from ipdmeta.onestage import onestage
    >>> wg = ipd.datasets.load("weight_gain")
    >>> one = onestage(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
    ...                model="linear", tau2_ci=False)
    >>> two = ipd.ipdmeta(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
    ...                   model="linear")
    >>> fig = compare_plot(one.compare(two))
    >>> fig.axes[0].get_xlabel()
    'MD (trt)'
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.ticker import NullFormatter

from ipdmeta.plots._text import (
    figure_of,
    fmt_num,
    fmt_tau2,
    fmt_tick,
    new_figure,
    save_figure,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

TWO = "#1f4e79"
ONE = "#c0504d"


def _interval(lo: float, hi: float, eform: bool, digits: int) -> str:
    return f"[{fmt_num(lo, digits, eform)}, {fmt_num(hi, digits, eform)}]"


def compare_plot(comparison: Any, *, eform: bool | None = None, xlabel: str | None = None,
                 title: str | None = None, digits: int = 2, ax: Axes | None = None,
                 figsize: tuple[float, float] | None = None, path: str | Path | None = None,
                 dpi: int = 300) -> Figure:
    """Draw the comparison (see the module docstring).

    Args:
        comparison: a ``Comparison`` (``OneStageResult.compare(two_stage)``).
        eform: exponentiated axis and numbers (default: for ratio measures).
        xlabel, title: axis label (default: the measure and term) and title.
        digits: decimals of the printed estimates.
        ax: draw into this Axes (its figure is returned); figsize: a new figure's size.
        path, dpi: save to this file (format from the suffix).
    """
    eform = comparison.eform_default if eform is None else eform
    studies = comparison.studies
    table = comparison.table
    k = len(studies)
    rows = k + 4
    if ax is None:
        fig = new_figure(figsize=figsize or (9.5, 0.32 * rows + 1.4))
        ax = fig.add_axes((0.18, 2.1 / (rows + 3), 0.42, 1 - 3.0 / (rows + 3)))
    else:
        fig = figure_of(ax)
    f = np.exp if eform else (lambda v: v)
    y_two = np.arange(k, 0, -1) + 3.0
    tr = ax.get_yaxis_transform()
    for i, r in enumerate(studies.itertuples()):
        y = y_two[i]
        ax.text(-0.03, y, str(r.study), transform=tr, ha="right", va="center", fontsize=8)
        if np.isfinite(r.two_stage):
            ax.plot([f(r.two_stage_ci_low), f(r.two_stage_ci_high)], [y + 0.15] * 2, color=TWO,
                    lw=1)
            ax.plot(f(r.two_stage), y + 0.15, "s", color=TWO, ms=4)
            ax.text(1.03, y, f"{fmt_num(r.two_stage, digits, eform)} "
                    f"{_interval(r.two_stage_ci_low, r.two_stage_ci_high, eform, digits)}",
                    transform=tr, ha="left", va="center", fontsize=7.5, color=TWO)
        if np.isfinite(r.one_stage):
            ax.plot([f(r.one_stage_ci_low), f(r.one_stage_ci_high)], [y - 0.15] * 2, color=ONE,
                    lw=1)
            ax.plot(f(r.one_stage), y - 0.15, "o", color=ONE, ms=4)
            ax.text(1.40, y, f"{fmt_num(r.one_stage, digits, eform)} "
                    f"{_interval(r.one_stage_ci_low, r.one_stage_ci_high, eform, digits)}",
                    transform=tr, ha="left", va="center", fontsize=7.5, color=ONE)
    ax.axhline(2.7, color="0.6", lw=0.6)
    for y, r, color, x in ((2.0, table.iloc[0], TWO, 1.03), (1.0, table.iloc[1], ONE, 1.40)):
        xs = [f(r.ci_low), f(r.estimate), f(r.ci_high), f(r.estimate)]
        ax.fill(xs, [y, y + 0.25, y, y - 0.25], color=color)
        ax.text(-0.03, y, f"{r.approach.capitalize()} pooled", transform=tr, ha="right",
                va="center", fontsize=8.5, fontweight="bold", color=color)
        ax.text(x, y + 0.12, f"{fmt_num(r.estimate, digits, eform)} "
                f"{_interval(r.ci_low, r.ci_high, eform, digits)}", transform=tr, ha="left",
                va="center", fontsize=8, fontweight="bold", color=color)
        ax.text(x, y - 0.3, f"τ² = {fmt_tau2(r.tau2)}", transform=tr, ha="left",
                va="center", fontsize=7.5, color=color)
    top = rows - 0.3
    ax.text(1.03, top, "Two-stage\n(trial's own model)", transform=tr, ha="left",
            va="center", fontsize=8, fontweight="bold", color=TWO)
    ax.text(1.40, top, "One-stage\n(fixed + BLUP)", transform=tr, ha="left", va="center",
            fontsize=8, fontweight="bold", color=ONE)
    ax.text(-0.03, top, "Trial", transform=tr, ha="right", va="center", fontsize=8.5,
            fontweight="bold")
    models = "; ".join(f"{r.approach}: {r.model}" for r in table.itertuples())
    fig.text(0.02, 0.005, models, ha="left", va="bottom", fontsize=6.5, color="0.35")
    null = 1.0 if eform else 0.0
    ax.axvline(null, color="0.3", lw=0.8)
    pooled = table["estimate"].iloc[1]
    ax.axvline(f(pooled), color=ONE, lw=0.6, ls=":")
    if eform:
        ax.set_xscale("log")
        lo, hi = ax.get_xlim()
        ticks = [t for t in (0.1, 0.2, 0.3, 0.5, 0.7, 1, 1.5, 2, 3, 5, 10) if lo <= t <= hi]
        ax.set_xticks(ticks, [fmt_tick(t) for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0.3, rows)
    ax.set_yticks([])
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    ax.set_xlabel(xlabel or f"{comparison.measure} ({comparison.poolvar})")
    if title:
        ax.set_title(title)
    save_figure(fig, path, dpi)
    return fig
