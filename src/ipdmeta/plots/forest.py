"""Forest plot of a ``MetaResult`` (Stata's ``forest``/``metan``, R's ``forest.meta``).

One row per study: a square with area proportional to the study's weight and
its confidence interval; diamonds for the pooled results; the prediction
interval on its own row; aligned text columns on either side; subgroup blocks
with their own diamonds and heterogeneity; excluded studies listed in grey.
The plot reads the result object only: it computes no statistics.

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import ipdmeta as ipd
    >>> from ipdmeta import datasets
    >>> bcg = datasets.load_bcg()
    >>> bcg["label"] = bcg["author"] + ", " + bcg["year"].astype(str)
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="label", measure="RR")
    >>> fig = forest_plot(m, xlabel="Risk ratio", favours=("Favours BCG", "Favours control"))
    >>> forest_axes(fig).get_xscale()
    'log'

Artists carry a ``gid`` so that they can be found again: "forest-panel" (the
axes with the x axis), "forest-boxes", "forest-ci", "forest-arrows",
"forest-diamond-<role>" (role: overall, common, subgroup, subgroup-common, model),
"forest-pi", "forest-null", "forest-pooled-line".
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
from matplotlib import transforms
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Polygon
from matplotlib.path import Path as MplPath
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from ipdmeta.errors import InputError
from ipdmeta.plots._forest_layout import (
    MAX_TICKS,
    Fonts,
    Layout,
    compute_layout,
    ticks_fit,
    x_range,
)
from ipdmeta.plots._forest_rows import Row, Table, TableOptions, build_table
from ipdmeta.plots._text import TextMeasurer, figure_of, fmt_tick, new_figure, save_figure

if TYPE_CHECKING:
    from ipdmeta.pooling.results import MetaResult

RATIO_MEASURES = {"HR", "OR", "RR", "IRR", "RATIO", "ROM", "SHR", "TR"}
AXIS_TITLES = {"HR": "Hazard ratio", "OR": "Odds ratio", "RR": "Risk ratio",
               "IRR": "Rate ratio", "MD": "Mean difference", "SMD": "Standardised mean difference",
               "RD": "Risk difference", "ROM": "Ratio of means",
               "SHR": "Subdistribution hazard ratio", "TR": "Time ratio"}
DEFAULT_COLORS: dict[str, str] = {
    "box": "#3d6a96",            # study squares
    "ci": "#1f1f1f",             # study confidence intervals and arrows
    "diamond": "#1f1f1f",        # pooled diamonds (the chosen model)
    "diamond_common": "#ffffff",  # fill of the common-effect diamond shown beside random
    "pi": "#1f1f1f",             # prediction interval
    "null": "#4d4d4d",           # line of no effect
    "pooled_line": "#7f7f7f",    # dashed line at the pooled estimate
    "text": "#1a1a1a",
    "heterogeneity": "#404040",
    "excluded": "#8c8c8c",
    "rule": "#1a1a1a",
}
BASE_RC: dict[str, Any] = {
    "font.family": "DejaVu Sans", "axes.unicode_minus": True, "pdf.fonttype": 42,
    "ps.fonttype": 42, "svg.fonttype": "path", "text.usetex": False,
    "axes.linewidth": 0.8, "lines.solid_capstyle": "butt", "figure.facecolor": "white",
    "savefig.facecolor": "white", "savefig.transparent": False, "savefig.bbox": None,
}
# an arrow head whose tip is at the data point, pointing right (rotated for the left)
_ARROW = MplPath([(0, 0), (-1.0, 0.45), (-1.0, -0.45), (0, 0)],
                 [MplPath.MOVETO, MplPath.LINETO, MplPath.LINETO, MplPath.CLOSEPOLY])
_ARROW_LEFT = MplPath(np.asarray(_ARROW.vertices) * [-1, 1], _ARROW.codes)


def _resolve_colors(colors: Mapping[str, str] | None) -> dict[str, str]:
    out = dict(DEFAULT_COLORS)
    if colors:
        unknown = set(colors) - set(out)
        if unknown:
            raise InputError(f"colors: unknown key(s) {sorted(unknown)}; "
                             f"use {', '.join(sorted(out))}")
        out.update(colors)
    return out


def _headers(left_headers: Sequence[str] | Mapping[str, str] | None,
             left_columns: Sequence[str]) -> dict[str, str]:
    if left_headers is None:
        return {}
    if isinstance(left_headers, Mapping):
        return {str(k): str(v) for k, v in left_headers.items()}
    keys = ["study", *left_columns]
    if len(left_headers) != len(keys):
        raise InputError(f"left_headers has {len(left_headers)} entries; give one per left "
                         f"column ({', '.join(keys)}), or a dict column -> header")
    return dict(zip(keys, map(str, left_headers), strict=True))


def forest_plot(
    result: MetaResult, *, eform: bool | None = None, measure: str | None = None,
    effect: str | None = None, xlabel: str | None = None,
    xticks: Sequence[float] | None = None, xlim: tuple[float, float] | None = None,
    left_columns: Sequence[str] | None = None, right_columns: Sequence[str] | None = None,
    left_headers: Sequence[str] | Mapping[str, str] | None = None,
    show_weights: bool = True, show_estimates: bool = True, box_scale: float = 1.0,
    text_fraction: float | None = None, spacing: float = 1.0,
    favours: tuple[str, str] | None = None, null_line: bool = True,
    pooled_line: bool = False, show_common: bool | None = None, show_random: bool = True,
    show_pi: bool = True, show_heterogeneity: bool = True, show_excluded: bool = True,
    subgroup_tests: bool = True, subtotals: bool = True, overall: bool = True,
    title: str | None = None, font_size: float = 9, font_family: str | None = None,
    colors: Mapping[str, str] | None = None, figsize: tuple[float, float] | None = None,
    ax: Axes | None = None, path: str | Path | None = None, dpi: int = 300,
    digits: int = 2, counts: bool = False,
    group_names: tuple[str, str] = ("Treatment", "Control"), show_studies: bool = True,
    sort_by: str | Sequence[Any] | None = None, het_stats: Sequence[str] | None = None,
    show_boxes: bool = True, null: float | None = None, ci_caps: bool = False,
    plot_id: str | None = None, group_colors: Mapping[Any, str] | None = None,
) -> Figure:
    """Draw a forest plot of a pooled result; options mirror Stata's ``forest``.

    Args:
        result: a ``MetaResult`` (``ipd.pool()``), or an object with ``.meta``.
        eform: show exponentiated estimates on a log axis (default
            ``result.eform_default``, or True when ``measure`` is a ratio).
        measure: the effect measure ("HR", "OR", "RR", "MD", ...) for the labels;
            default ``result.measure``.
        effect: header of the estimate column, default "<measure> (95% CI)"; as Stata's
            ``effect()``, "(95% CI)" is appended unless the text mentions a CI.
        xlabel: axis title (``xtitle``); default from the measure ("Hazard ratio"); ""
            for none.
        xticks: tick positions on the display scale, e.g. ``[0.2, 0.5, 1, 2]``
            (``xlabel()`` in Stata); they also set the x range unless ``xlim`` is given.
        xlim: x range on the display scale.  Intervals running off it end in arrows.
        left_columns, right_columns: columns of ``result.data`` printed left of the
            plot (after the study label) or right of it (``lcols``/``rcols``).
        left_headers: headers of the left columns: a list for [study, *left_columns]
            or a dict column -> header (any column, including "study", "effect",
            "weight" and right columns).
        show_weights, show_estimates: the "Weight (%)" and estimate (CI) columns.  The
            weights are those of the chosen model (``result.studies.weight``); subtotal
            rows show the sum over their studies.
        box_scale: scales the squares (``boxsca``); area stays proportional to weight.
        text_fraction: share of the width given to text, a fraction or a percent
            (``astext``); default: the text takes what it needs.
        spacing: row spacing factor (``spacing``).
        favours: (left, right) texts printed under the axis either side of the null;
            a long text is wrapped between words to the room on its side (a natural-size
            figure widens for a single word that does not fit).
        null_line, pooled_line: vertical line of no effect; dashed line at the
            pooled estimate.
        show_common, show_random: which pooled diamonds to show.  By default only
            the chosen model's; ``show_common=True`` adds the common-effect diamond
            beside the random-effects one.
        show_pi: the prediction interval, on its own row under the diamond.
        show_heterogeneity: I², τ², p under each subtotal and under the axis.
        show_excluded: list studies that were not estimable, greyed with the reason.
        subgroup_tests: the test for subgroup differences under the axis.
        subtotals: the per-subgroup diamonds (``nosubgroup`` is ``subtotals=False``).
        overall: the overall diamond (``nooverall`` is ``overall=False``).
        title: a title above the table.
        font_size, font_family: text size in points and family (default DejaVu Sans).
        colors: overrides of ``DEFAULT_COLORS`` keys ("box", "diamond", "ci",
            "excluded", ...).
        figsize: (width, height) in inches; default from the text and the rows.
        ax: draw into this axes' area instead of a new figure (the axes is used as
            a frame: its own spines and ticks are hidden and the plot axes is added
            inside it).
        path: save to this file; the format follows the suffix (png, pdf, svg, ...).
        dpi: resolution of saved raster images.
        digits: decimals of the estimates and intervals (``dp()``).
        counts: for a result pooled from summary data, show each study's data per arm
            left of the plot: events/N (counts), events/time (rates) or N, mean (SD)
            (metan's ``counts``).
        group_names: the arm names heading those columns (metan's ``group1()``,
            ``group2()``).
        show_studies: the study rows; False shows the pooled rows only
            (``summaryonly``).
        sort_by: order of the studies: a column of ``result.data`` (``sortby()``), or
            the study labels in the order wanted, which may place the studies that
            were not estimable among the others (``keeporder``).
        het_stats: the heterogeneity statistics shown and their order (``hetinfo()``):
            any of "I2", "tau2", "Q", "p", "H", "H2".
        show_boxes: weighted boxes; False draws a small marker for each estimate
            (``nobox``).
        null: position of the line of no effect on the display scale (``null(#)``);
            default 1 for ratios, else 0.
        ci_caps: caps at the ends of the study intervals (``ciopts(rcap)``).
        plot_id, group_colors: colour the boxes and intervals of the studies by the
            groups of column ``plot_id`` (``plotid()`` with ``box#opts(mcolor())``):
            ``group_colors`` maps a value of the column, or its number 1, 2, ... in
            sorted order, to a colour (groups not named keep the default colour;
            without group_colors, a palette).

    Returns:
        The matplotlib Figure.

    Example:
        >>> import pandas as pd, ipdmeta as ipd
        >>> m = ipd.pool(pd.DataFrame({"study": ["A", "B", "C"], "yi": [-0.3, -0.1, -0.4],
        ...                            "sei": [0.1, 0.2, 0.15]}), measure="HR")
        >>> fig = forest_plot(m, xticks=[0.5, 1, 2])
        >>> [t.get_text() for t in forest_axes(fig).get_xticklabels()]
        ['0.5', '1', '2']
    """
    inner = getattr(result, "meta", None)  # the result of ipdmeta(): both stages
    if inner is not None and hasattr(inner, "studies"):
        result = inner
    measure = (measure or result.measure or "").strip() or None
    if eform is None:
        eform = (measure.upper() in RATIO_MEASURES) if measure else result.eform_default
    if show_common is None:
        show_common = result.overall.model == "common" or not show_random
    left_columns, right_columns = list(left_columns or ()), list(right_columns or ())
    pct = f"{100 * result.overall.level:g}"
    if effect is None:
        effect = f"{measure or 'Estimate'} ({pct}% CI)"
    elif "CI" not in effect:  # as metan: effect(HR) heads the column "HR (95% CI)"
        effect = f"{effect} ({pct}% CI)"
    if xlabel is None:
        xlabel = AXIS_TITLES.get((measure or "").upper(), "")
    options = TableOptions(
        eform=bool(eform), effect=effect, digits=digits, left_columns=left_columns,
        right_columns=right_columns, headers=_headers(left_headers, left_columns),
        show_weights=show_weights, show_estimates=show_estimates,
        show_common=bool(show_common), show_random=show_random, show_pi=show_pi,
        show_heterogeneity=show_heterogeneity, show_excluded=show_excluded,
        subgroup_tests=subgroup_tests, subtotals=subtotals, overall=overall,
        counts=tuple(group_names) if counts else None, show_studies=show_studies,
        sort_by=sort_by, het_stats=het_stats, plot_id=plot_id, group_colors=group_colors)
    table = build_table(result, options)
    return render_table(table, eform=bool(eform), xlabel=xlabel, xticks=xticks, xlim=xlim,
                        favours=favours, null_line=null_line,
                        pooled_at=result.overall.estimate if pooled_line and overall else None,
                        box_scale=box_scale, text_fraction=text_fraction, spacing=spacing,
                        title=title, font_size=font_size, font_family=font_family,
                        colors=colors, figsize=figsize, ax=ax, path=path, dpi=dpi,
                        show_boxes=show_boxes, null=null, ci_caps=ci_caps)


def render_table(table: Table, *, eform: bool, xlabel: str = "",
                 xticks: Sequence[float] | None = None,
                 xlim: tuple[float, float] | None = None,
                 favours: tuple[str, str] | None = None, null_line: bool = True,
                 pooled_at: float | None = None, box_scale: float = 1.0,
                 text_fraction: float | None = None, spacing: float = 1.0,
                 title: str | None = None, font_size: float = 9,
                 font_family: str | None = None, colors: Mapping[str, str] | None = None,
                 figsize: tuple[float, float] | None = None, ax: Axes | None = None,
                 path: str | Path | None = None, dpi: int = 300, show_boxes: bool = True,
                 null: float | None = None, ci_caps: bool = False) -> Figure:
    """Draw the rows and columns of a forest plot (a :class:`~ipdmeta.plots._forest_rows.Table`).

    The drawing behind :func:`forest_plot` and the results-set and ``ipdover`` plots
    (:mod:`ipdmeta.plots.results_forest`); the options are those of
    :func:`forest_plot`, ``pooled_at`` the estimate (analysis scale) of the dashed
    pooled line (None: no line).
    """
    if text_fraction is not None:
        text_fraction = float(text_fraction) / (100.0 if text_fraction > 1 else 1.0)
        if not 0.05 <= text_fraction <= 0.95:
            raise InputError(f"text_fraction={text_fraction:g} must be between 5% and 95% "
                             "(0.05 and 0.95)")
    if figsize is not None and ax is not None:
        raise InputError("give figsize or ax, not both (the plot fills the given axes)")
    for name, value in (("box_scale", box_scale), ("spacing", spacing)):
        if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
            raise InputError(f"{name}={value!r} must be a positive number (1 is the "
                             "default size)")
    if null is not None and eform and not float(null) > 0:
        raise InputError(f"null={null!r}: on a ratio scale the line of no effect must be > 0")
    x_range(table, eform, xticks, xlim)  # checks the axis options before drawing
    pal = _resolve_colors(colors)
    rc: dict[Any, Any] = {**BASE_RC, "font.family": [font_family or "DejaVu Sans", "DejaVu Sans"],
          "font.size": font_size}
    with mpl.rc_context(rc):
        fig = figure_of(ax) if ax is not None else new_figure()
        measurer = TextMeasurer(fig)
        fonts = Fonts(font_family or "DejaVu Sans", font_size)
        frame = None if ax is None else _axes_size(ax)
        for max_ticks in range(MAX_TICKS, 2, -1):
            ticks, limits = x_range(table, eform, xticks, xlim, max_ticks)
            layout = compute_layout(table, fonts, measurer, ticks=ticks, limits=limits,
                                    eform=eform, favours=favours, xlabel=xlabel,
                                    title=title, spacing=spacing, text_fraction=text_fraction,
                                    figsize=figsize, frame=frame, null=null)
            if xticks is not None or ticks_fit(ticks, limits, eform, layout.panel_w,
                                               layout.fonts, measurer):
                break
        if ax is None:
            fig.set_size_inches(layout.width, layout.height)
            container = fig.add_axes((0, 0, 1, 1))
        else:
            container = ax
        _draw(container, table, layout, ticks, limits, eform, pal, xlabel=xlabel, title=title,
              null_line=null_line, pooled_at=pooled_at,
              box_scale=box_scale if show_boxes else 0.0, null=null, ci_caps=ci_caps)
        save_figure(fig, path, dpi)
    return fig


def forest_axes(fig: Figure) -> Axes:
    """The axes of a forest plot that holds the x axis, boxes and diamonds.

    The text columns are drawn around it; with several forest plots in one figure
    the first is returned.

    Example:
        >>> import pandas as pd, ipdmeta as ipd
        >>> m = ipd.pool(pd.DataFrame({"yi": [0.1, 0.3], "sei": [0.1, 0.2]}), measure="OR")
        >>> forest_axes(forest_plot(m)).get_gid()
        'forest-panel'
    """
    found = fig.findobj(lambda o: getattr(o, "get_gid", None) is not None
                        and o.get_gid() == "forest-panel")
    if not found or not isinstance(found[0], Axes):
        raise ValueError("this figure holds no forest plot")
    return found[0]


def _axes_size(ax: Axes) -> tuple[float, float]:
    fig = figure_of(ax)
    pos = ax.get_position()
    return pos.width * fig.get_figwidth(), pos.height * fig.get_figheight()


def _draw(container: Axes, table: Table, lay: Layout, ticks: list[float],
          limits: tuple[float, float], eform: bool, pal: dict[str, str], *,
          xlabel: str, title: str | None, null_line: bool,
          pooled_at: float | None, box_scale: float, null: float | None = None,
          ci_caps: bool = False) -> None:
    fonts = lay.fonts
    container.set_axis_off()
    panel = container.inset_axes(
        (lay.panel_x / lay.width, lay.bottom / lay.height, lay.panel_w / lay.width,
         lay.panel_h / lay.height), zorder=2)
    panel.set_gid("forest-panel")
    panel.patch.set_visible(False)
    if eform:
        panel.set_xscale("log")
    panel.set_xlim(*limits)
    panel.set_ylim(table.bottom, table.top)
    for side in ("top", "left", "right"):
        panel.spines[side].set_visible(False)
    panel.spines["bottom"].set_linewidth(0.8)
    panel.spines["bottom"].set_color(pal["text"])
    panel.yaxis.set_visible(False)
    panel.xaxis.set_major_locator(FixedLocator(ticks))
    panel.xaxis.set_major_formatter(FixedFormatter([fmt_tick(t) for t in ticks]))
    panel.xaxis.set_minor_locator(NullLocator())
    panel.tick_params(axis="x", which="major", direction="out", length=lay.tick_len,
                      width=0.8, pad=lay.tick_pad, labelsize=fonts.size, colors=pal["text"])
    with contextlib.suppress(TypeError, ValueError, AttributeError):
        # matplotlib >= 3.8: also the family of tick labels created later
        panel.tick_params(axis="x", labelfontfamily=fonts.regular.get_family())
    for label in panel.get_xticklabels():
        label.set_fontproperties(fonts.regular)

    to_x = (lambda v: np.exp(v)) if eform else (lambda v: v)
    # x in inches from the container's left edge, y in row units
    x_in = transforms.Affine2D().scale(1.0 / lay.width, 1.0) + container.transAxes
    row_tr = transforms.blended_transform_factory(x_in, panel.transData)

    def text(x: float, y: float, s: str, prop: FontProperties, color: str,
             ha: str = "left", **kw: Any) -> None:
        panel.text(x, y, s, transform=row_tr, ha=ha, va="center_baseline",
                   fontproperties=prop, color=color, clip_on=False, parse_math=False, **kw)

    # header and its rule
    for col, cx in zip(table.columns, lay.col_x, strict=True):
        w = lay.col_w[col.key]
        if col.parts > 1:
            text(cx + w / 2, 0.0, col.header, fonts.bold, pal["text"], ha="center")
        elif col.numeric:
            text(cx + w, 0.0, col.header, fonts.bold, pal["text"], ha="right")
        else:
            text(cx, 0.0, col.header, fonts.bold, pal["text"])
    panel.plot([lay.margin, lay.width - lay.margin], [table.rule, table.rule],
               transform=row_tr, color=pal["rule"], lw=0.8, clip_on=False,
               solid_capstyle="butt")
    if title:
        container.text(lay.margin / lay.width, 1 - lay.title_y / lay.height, title,
                       transform=container.transAxes, ha="left", va="top",
                       fontproperties=fonts.title, color=pal["text"], parse_math=False)

    # text cells
    for row in table.rows:
        color = pal["excluded"] if row.kind == "excluded" else (
            pal["heterogeneity"] if row.kind == "note" else pal["text"])
        prop = fonts.bold if row.bold else (fonts.small if row.kind == "note" else fonts.regular)
        for col, cx in zip(table.columns, lay.col_x, strict=True):
            if col.key == "study":
                text(cx, row.y, row.label, prop, color)
                continue
            parts = row.cells.get(col.key)
            if not parts:
                continue
            if not (col.numeric or col.parts > 1):
                text(cx, row.y, parts[0], prop, color)
                continue
            for s, right in zip(parts, lay.part_right[col.key], strict=False):
                if s:
                    text(cx + right, row.y, s, prop, color, ha="right")

    # graphics
    studies = [r for r in table.rows if r.kind == "study"]
    # symbols keep the size of a row at spacing 1: wider spacing spreads the rows, it
    # does not stretch boxes, arrowheads and diamonds
    base_h = min(lay.row_h, 1.85 * fonts.size / 72)
    _draw_studies(panel, studies, to_x, limits, pal, base_h * 72.0, box_scale, ci_caps)
    for row in table.rows:
        if row.kind == "pooled":
            _draw_diamond(panel, row, to_x, pal, 0.36 * base_h / lay.row_h)
        elif row.kind == "pi":
            _draw_pi(panel, row, to_x, pal, limits)
    _draw_excluded_notes(panel, [r for r in table.rows if r.kind == "excluded"], lay, pal,
                         row_tr)
    graphic = [r.y for r in table.rows if r.kind in ("study", "pooled", "pi", "excluded")]
    y_top, y_bottom = table.rule, table.bottom
    null = float(null) if null is not None else (1.0 if eform else 0.0)
    if null_line and limits[0] <= null <= limits[1] and graphic:
        panel.plot([null, null], [y_top, y_bottom], color=pal["null"], lw=0.8, zorder=1,
                   gid="forest-null", solid_capstyle="butt")
    if pooled_at is not None and graphic:
        est = to_x(pooled_at)
        panel.plot([est, est], [y_top, y_bottom], color=pal["pooled_line"], lw=0.8,
                   ls=(0, (4, 3)), zorder=1, gid="forest-pooled-line")
    _draw_axis_texts(panel, container, lay, pal, null, lay.favours, xlabel, table.footer)


def _clip(lo: float, hi: float, limits: tuple[float, float]) -> tuple[float, float, bool, bool]:
    return max(lo, limits[0]), min(hi, limits[1]), lo < limits[0], hi > limits[1]


def _draw_studies(panel: Axes, rows: list[Row], to_x: Any, limits: tuple[float, float],
                  pal: dict[str, str], row_pt: float, box_scale: float,
                  ci_caps: bool = False) -> None:
    """Boxes (``box_scale`` 0: small markers only), intervals (with caps) and arrows."""
    if not rows:
        return
    x = np.array([to_x(r.est) for r in rows], dtype=float)
    y = np.array([r.y for r in rows], dtype=float)
    w = np.array([r.weight for r in rows], dtype=float)
    wmax = np.nanmax(w) if np.any(np.isfinite(w)) and np.nanmax(w) > 0 else 1.0
    side = 0.78 * row_pt * box_scale * np.sqrt(np.clip(np.nan_to_num(w), 0, None) / wmax)
    side = np.maximum(side, 2.0 if box_scale > 0 else 0.22 * row_pt)  # visible boxes/points
    inside = (x >= limits[0]) & (x <= limits[1])
    box_colors = np.array([r.color or pal["box"] for r in rows], dtype=object)
    panel.scatter(x[inside], y[inside], s=side[inside] ** 2,
                  marker="s" if box_scale > 0 else "D", color=list(box_colors[inside]),
                  linewidths=0, zorder=3, gid="forest-boxes")
    segs, seg_colors, left, right = [], [], [], []
    cap_h = 0.18   # caps reach this far (row units) above and below the line
    for r in rows:
        lo, hi, off_lo, off_hi = _clip(to_x(r.lo), to_x(r.hi), limits)
        color = r.color or pal["ci"]
        if lo <= hi:
            segs.append([(lo, r.y), (hi, r.y)])
            seg_colors.append(color)
            for end, off in ((lo, off_lo), (hi, off_hi)):
                if ci_caps and not off:
                    segs.append([(end, r.y - cap_h), (end, r.y + cap_h)])
                    seg_colors.append(color)
        if off_lo:
            left.append((limits[0], r.y))
        if off_hi:
            right.append((limits[1], r.y))
    panel.add_collection(LineCollection(segs, colors=seg_colors, linewidths=1.0, zorder=4,
                                        gid="forest-ci", capstyle="butt"), autolim=False)
    size = max(6.0, 0.42 * row_pt)  # the head is half the marker size long
    for pts, marker in ((left, _ARROW_LEFT), (right, _ARROW)):
        if pts:
            xs, ys = zip(*pts, strict=True)
            panel.plot(xs, ys, ls="none", marker=marker, markersize=size, color=pal["ci"],
                       markeredgewidth=0, clip_on=False, zorder=4, gid="forest-arrows")


def _draw_diamond(panel: Axes, row: Row, to_x: Any, pal: dict[str, str], h: float) -> None:
    """The diamond of a pooled row, ``h`` row units above and below its centre."""
    if not np.isfinite(row.est):
        return
    lo, est, hi = to_x(row.lo), to_x(row.est), to_x(row.hi)
    face = pal["diamond_common"] if row.hollow else pal["diamond"]
    poly = Polygon([(lo, row.y), (est, row.y - h), (hi, row.y), (est, row.y + h)],
                   closed=True, facecolor=face, edgecolor=pal["diamond"], linewidth=0.9,
                   joinstyle="miter", zorder=4, gid=f"forest-diamond-{row.role}")
    panel.add_patch(poly)


def _draw_pi(panel: Axes, row: Row, to_x: Any, pal: dict[str, str],
             limits: tuple[float, float]) -> None:
    lo, hi, _, _ = _clip(to_x(row.lo), to_x(row.hi), limits)
    h = 0.22
    segs = [[(lo, row.y), (hi, row.y)]]
    if to_x(row.lo) >= limits[0]:
        segs.append([(lo, row.y - h), (lo, row.y + h)])
    if to_x(row.hi) <= limits[1]:
        segs.append([(hi, row.y - h), (hi, row.y + h)])
    panel.add_collection(LineCollection(segs, colors=pal["pi"], linewidths=1.2, zorder=4,
                                        gid="forest-pi", capstyle="butt"), autolim=False)


def _fit_note(text: str, room: float, lay: Layout) -> str:
    """``text`` shortened to ``room`` inches: drop a parenthesis or a second clause
    first, then cut at a word with an ellipsis."""
    def fits(s: str) -> bool:
        return lay.measure(s, lay.fonts.note) <= room

    for candidate in (text, text.split(" (")[0], text.split("; ")[0]):
        if fits(candidate):
            return candidate
    words = text.split(" ")
    while len(words) > 1 and not fits(" ".join(words) + "…"):
        words.pop()
    return " ".join(words).rstrip(",;:") + "…"


def _draw_excluded_notes(panel: Axes, rows: list[Row], lay: Layout, pal: dict[str, str],
                         row_tr: transforms.Transform) -> None:
    """'not estimable: reason' across the plot area, centred when all notes fit in it."""
    if not rows:
        return
    # 5% spare: at screen resolutions hinted text runs a little wider than measured
    room = 0.95 * (lay.width - lay.margin - lay.panel_x - 0.04)
    notes = [_fit_note(r.note, room, lay) for r in rows]
    centred = all(lay.measure(n, lay.fonts.note) + 0.1 <= lay.panel_w for n in notes)
    x, ha = ((lay.panel_x + lay.panel_w / 2, "center") if centred
             else (lay.panel_x + 0.04, "left"))
    bg = panel.figure.get_facecolor()
    for row, note in zip(rows, notes, strict=True):
        panel.text(x, row.y, note, transform=row_tr, ha=ha, va="center_baseline",
                   fontproperties=lay.fonts.note, color=pal["excluded"], clip_on=False,
                   parse_math=False, zorder=3,
                   bbox={"boxstyle": "square,pad=0.15", "facecolor": bg, "edgecolor": "none"})


def _draw_axis_texts(panel: Axes, container: Axes, lay: Layout, pal: dict[str, str],
                     null: float, favours: tuple[str, str] | None, xlabel: str,
                     footer: list[str]) -> None:
    fonts = lay.fonts
    if favours:
        xform = transforms.blended_transform_factory(panel.transData, panel.transAxes)
        gap = 0.35 * fonts.size
        for s, sign, ha in ((favours[0], -1, "right"), (favours[1], 1, "left")):
            if s:
                panel.annotate(s, xy=(null, 0), xycoords=xform, xytext=(sign * gap,
                               -lay.favours_top), textcoords="offset points", ha=ha, va="top",
                               fontproperties=fonts.regular, color=pal["text"],
                               annotation_clip=False, parse_math=False)
    if xlabel:
        panel.annotate(xlabel, xy=(0.5, 0), xycoords="axes fraction",
                       xytext=(0, -lay.xlabel_top), textcoords="offset points", ha="center",
                       va="top", fontproperties=fonts.regular, color=pal["text"],
                       annotation_clip=False, parse_math=False)
    for i, s in enumerate(footer):
        y_in = lay.bottom - (lay.footer_top + i * lay.footer_line) / 72.0
        container.text(lay.margin / lay.width, y_in / lay.height, s,
                       transform=container.transAxes, ha="left", va="top",
                       fontproperties=fonts.small, color=pal["heterogeneity"],
                       parse_math=False)
