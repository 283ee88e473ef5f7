"""Geometry of a forest plot: x range and ticks, column widths, figure size.

Everything is measured in inches (widths, heights) or points (offsets under the
axis).  Column widths come from the rendered extents of their text, so columns
fit whatever font and size is chosen.

Example:
    >>> nice_ticks(0.07, 6.5, log=True)
    [0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]
    >>> nice_ticks(-3.2, 1.4, log=False)
    [-4.0, -3.0, -2.0, -1.0, 0.0, 1.0, 2.0]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import cast

import numpy as np
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

from ipdmeta.errors import InputError
from ipdmeta.plots._forest_rows import Row, Table
from ipdmeta.plots._text import TextMeasurer, fmt_tick

MAX_TICKS = 8
#: tick positions a user may give (xticks=, Stata xlabel())
MAX_USER_TICKS = 50
#: the largest |log ratio| shown on a ratio axis (a ratio of about 7e10)
MAX_LOG_RATIO = 25.0


@dataclass(frozen=True)
class Fonts:
    """The font properties of a plot: regular, bold, small notes, title."""

    family: str
    size: float
    regular: FontProperties = field(init=False, compare=False)
    bold: FontProperties = field(init=False, compare=False)
    small: FontProperties = field(init=False, compare=False)
    note: FontProperties = field(init=False, compare=False)
    title: FontProperties = field(init=False, compare=False)

    def __post_init__(self) -> None:
        fam = [self.family, "DejaVu Sans"] if self.family != "DejaVu Sans" else [self.family]
        small = max(self.size - 1.0, 0.88 * self.size)
        props = {
            "regular": FontProperties(family=fam, size=self.size),
            "bold": FontProperties(family=fam, size=self.size, weight="bold"),
            "small": FontProperties(family=fam, size=small),
            "note": FontProperties(family=fam, size=small, style="italic"),
            "title": FontProperties(family=fam, size=self.size + 2, weight="bold"),
        }
        for name, prop in props.items():
            object.__setattr__(self, name, prop)

    def scaled(self, factor: float) -> Fonts:
        """The same fonts at ``factor`` times the size (not below 4 pt)."""
        return replace(self, size=max(4.0, self.size * factor))

    def for_row(self, row: Row) -> FontProperties:
        """Bold for headings and pooled rows, small for notes, regular otherwise."""
        if row.bold:
            return self.bold
        return self.small if row.kind == "note" else self.regular


@dataclass
class Layout:
    """Positions and sizes, in inches unless named ``*_top``/``*_line``/``tick_*`` (points)."""

    fonts: Fonts
    measure: Callable[[str, FontProperties], float]
    width: float
    height: float
    margin: float
    panel_x: float
    panel_w: float
    panel_h: float
    bottom: float
    row_h: float
    col_x: list[float]
    col_w: dict[str, float]
    part_right: dict[str, list[float]]
    tick_len: float
    tick_pad: float
    favours_top: float
    #: the favours texts as drawn: wrapped (with newlines) to fit beside the null line
    favours: tuple[str, str] | None
    xlabel_top: float
    footer_top: float
    footer_line: float
    title_y: float


# ---------------------------------------------------------------- x axis

def nice_ticks(lo: float, hi: float, log: bool, max_ticks: int = MAX_TICKS) -> list[float]:
    """Round tick values (display scale) enclosing [lo, hi]; 1-2-5 steps on a log axis."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError("the x range is not finite; give xlim= or xticks=")
    if hi <= lo:
        lo, hi = (lo / 2, hi * 2) if log else (lo - 1, hi + 1)
    if log and hi / lo >= 4:
        best: list[float] = []
        e_lo, e_hi = int(np.floor(np.log10(lo) + 1e-9)), int(np.ceil(np.log10(hi) - 1e-9))
        step = max(int(np.ceil((e_hi - e_lo) / max(max_ticks - 1, 1))), 1)
        families: tuple[tuple[int, ...] | str, ...] = ((1, 2, 5), "powers of 2", (1, 3), (1,),
                                                      "decades")
        for family in families:
            if family == "powers of 2":
                cand = [0.25, 0.5, 1.0, 2.0, 4.0]
            elif family == "decades":  # every step-th power of ten, through 1
                cand = [10.0**e for e in range(-step * 40, step * 40 + 1, step)]
            else:
                cand = sorted({m * 10.0**e for e in range(-8, 9)
                               for m in cast(tuple[int, ...], family)})
            lower = [c for c in cand if c <= lo * (1 + 1e-9)]
            upper = [c for c in cand if c >= hi * (1 - 1e-9)]
            if not lower or not upper:
                continue
            ticks = [float(f"{c:.10g}") for c in cand if lower[-1] <= c <= upper[0]]
            if len(ticks) > max_ticks:
                continue
            if not best or ticks[-1] / ticks[0] < best[-1] / best[0] * (1 - 1e-9):
                best = ticks
            if family in ((1, 3), "decades"):
                break  # coarser families only when nothing finer fits
        if best:
            return best
    nbins = max(min(5 if log else 6, max_ticks - 1), 1)
    raw = MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
    raw = [float(f"{t:.10g}") for t in raw if not log or t > 0]
    below = [t for t in raw if t <= lo + 1e-12]
    above = [t for t in raw if t >= hi - 1e-12]
    start = max(below) if below else raw[0]
    end = min(above) if above else raw[-1]
    return [0.0 if abs(t) < 1e-12 else t for t in raw if start <= t <= end]


def check_ratio_range(rows: Sequence[Row]) -> None:
    """Refuse estimates whose ratio a log axis cannot show (``|log ratio| >= 25``, a ratio
    beyond 7e10): they are almost always estimates that are not on the log scale."""
    for r in rows:
        if np.isfinite(r.est) and abs(r.est) >= MAX_LOG_RATIO:
            raise InputError(f"{r.label or 'a row'!r} has the log ratio {r.est:.4g}, too large "
                             "to show as a ratio (|log ratio| >= 25); check that the "
                             "estimates are on the log scale, or draw with eform=False")


def x_range(table: Table, eform: bool, xticks: Sequence[float] | None,
            xlim: tuple[float, float] | None, max_ticks: int = MAX_TICKS
            ) -> tuple[list[float], tuple[float, float]]:
    """Ticks and limits on the display scale (exponentiated when ``eform``)."""
    to_x = np.exp if eform else (lambda v: np.asarray(v, dtype=float))
    if xticks is not None:
        ticks = sorted(float(t) for t in xticks)
        if len(ticks) < 1:
            raise InputError("xticks is empty; give tick positions, e.g. [0.5, 1, 2]")
        if len(ticks) > MAX_USER_TICKS or not all(np.isfinite(ticks)):
            raise InputError(f"xticks has {len(ticks)} values; give at most "
                             f"{MAX_USER_TICKS} finite tick positions")
        if eform and ticks[0] <= 0:
            raise InputError(f"xticks must be positive on a ratio (log) axis; got "
                             f"{ticks[0]:g} (ticks are ratios, e.g. 0.5 1 2)")
    if xlim is not None:
        limits = (float(min(xlim)), float(max(xlim)))
        if eform and limits[0] <= 0:
            raise InputError(f"xlim must be positive on a ratio (log) axis; got "
                             f"{limits[0]:g}")
        if xticks is None:
            ticks = nice_ticks(*limits, log=eform, max_ticks=max_ticks)
        ticks = [t for t in ticks if limits[0] - 1e-12 <= t <= limits[1] + 1e-12]
        return ticks, limits
    if xticks is not None:
        lo, hi = ticks[0], ticks[-1]
        if lo == hi:
            lo, hi = (lo / 2, hi * 2) if eform else (lo - 1, hi + 1)
        return ticks, (lo, hi)
    studies = [r for r in table.rows if r.kind == "study"]
    pooled = [r for r in table.rows if r.kind in ("pooled", "pi")]
    if eform:
        check_ratio_range(studies + [r for r in pooled if r.kind == "pooled"])
    core = [r.est for r in studies] + [v for r in pooled for v in (r.lo, r.hi)] + [0.0]
    full = core + [v for r in studies for v in (r.lo, r.hi)]
    if eform:   # interval ends beyond the ratio range end in arrows
        core, full = (list(np.clip(core, -MAX_LOG_RATIO, MAX_LOG_RATIO)),
                      list(np.clip(full, -MAX_LOG_RATIO, MAX_LOG_RATIO)))
    core_a = np.array([v for v in core if np.isfinite(v)])
    full_a = np.array([v for v in full if np.isfinite(v)])
    c_lo, c_hi = core_a.min(), core_a.max()
    span = max(c_hi - c_lo, 0.5 if eform else 1e-9)
    if span <= 1e-9:
        span = max(abs(c_lo), 1.0)
    lo = max(full_a.min(), c_lo - 0.6 * span)
    hi = min(full_a.max(), c_hi + 0.6 * span)
    ticks = nice_ticks(float(to_x(lo)), float(to_x(hi)), log=eform, max_ticks=max_ticks)
    return ticks, (ticks[0], ticks[-1])


def _null_position(limits: tuple[float, float], eform: bool, null: float | None = None
                   ) -> float:
    """Where the null line is, as a fraction of the panel (may be outside 0-1)."""
    f = (np.log if eform else float)
    value = (1.0 if eform else 0.0) if null is None else null
    return float((f(value) - f(limits[0])) / (f(limits[1]) - f(limits[0])))


def _greedy_lines(words: list[str], room: float, prop: FontProperties,
                  m: TextMeasurer) -> list[str]:
    lines, line = [], ""
    for word in words:
        trial = f"{line} {word}" if line else word
        if line and m.width(trial, prop) > room:
            lines.append(line)
            line = word
        else:
            line = trial
    return [*lines, line]


def wrap_text(text: str, room: float, prop: FontProperties, m: TextMeasurer) -> list[str]:
    """``text`` broken between words into as few lines no wider than ``room`` inches as
    possible, of even length (a word wider than ``room`` gets a line of its own);
    newlines in ``text`` are kept.

    Example:
        >>> from ipdmeta.plots._text import TextMeasurer
        >>> prop, m = FontProperties(size=10), TextMeasurer(None)
        >>> wrap_text("Favours the new treatment", m.width("Favours the new", prop), prop, m)
        ['Favours the', 'new treatment']
    """
    lines: list[str] = []
    for part in text.split("\n"):
        words = part.split()
        n = len(_greedy_lines(words, room, prop, m))
        lo = max([m.width(w, prop) for w in words], default=0.0)
        hi = max(room, lo)
        for _ in range(16 if n > 1 else 0):      # the narrowest width giving n lines
            mid = (lo + hi) / 2
            if len(_greedy_lines(words, mid, prop, m)) <= n:
                hi = mid
            else:
                lo = mid
        lines += _greedy_lines(words, hi, prop, m)
    return lines


def fit_favours(favours: tuple[str, str], room: tuple[float, float], prop: FontProperties,
                m: TextMeasurer) -> tuple[tuple[str, str], tuple[float, float], int]:
    """The favours texts wrapped to the room left and right of the null line (inches),
    how far their widest lines still overrun that room on each side, and the number of
    lines of the taller one."""
    wrapped, over, n = [], [], 1
    for text, space in zip(favours, room, strict=True):
        lines = wrap_text(text or "", max(space, 0.0), prop, m) if text else []
        wrapped.append("\n".join(lines))
        over.append(max([m.width(x, prop) for x in lines], default=0.0) - space)
        n = max(n, len(lines))
    return (wrapped[0], wrapped[1]), (max(over[0], 0.0), max(over[1], 0.0)), n


def _null_fraction(limits: tuple[float, float], eform: bool) -> float | None:
    null = 1.0 if eform else 0.0
    if not limits[0] <= null <= limits[1]:
        return None
    f = (np.log if eform else float)
    return float((f(null) - f(limits[0])) / (f(limits[1]) - f(limits[0])))


def ticks_fit(ticks: list[float], limits: tuple[float, float], eform: bool,
              panel_w: float, fonts: Fonts, m: TextMeasurer) -> bool:
    """True when neighbouring tick labels do not touch (with a gap of 0.8 em)."""
    if len(ticks) < 2:
        return True
    f = np.log if eform else (lambda v: np.asarray(v, dtype=float))
    pos = (f(np.array(ticks)) - f(limits[0])) / (f(limits[1]) - f(limits[0])) * panel_w
    half = np.array([m.width(fmt_tick(t), fonts.regular) / 2 for t in ticks])
    room = np.diff(pos) - (half[:-1] + half[1:])
    return bool(np.all(room >= 0.8 * fonts.size / 72))


# ---------------------------------------------------------------- columns

def _measure_columns(table: Table, fonts: Fonts, m: TextMeasurer
                     ) -> tuple[dict[str, float], dict[str, list[float]]]:
    widths: dict[str, float] = {}
    rights: dict[str, list[float]] = {}
    sep = 0.8 * fonts.size / 72  # two spaces: bold digits of pooled rows run wide
    rows = [r for r in table.rows if r.kind != "note"]
    for col in table.columns:
        head = m.width(col.header, fonts.bold)
        if col.key == "study":
            widths[col.key] = max([head] + [m.width(r.label, fonts.for_row(r)) for r in rows])
            continue
        parts = [0.0] * col.parts
        for r in rows:
            for j, s in enumerate(r.cells.get(col.key, ())[: col.parts]):
                parts[j] = max(parts[j], m.width(s, fonts.for_row(r)))
        block = sum(parts) + sep * (col.parts - 1)
        widths[col.key] = max(head, block)
        # numbers flush right under a right-aligned header; the estimate (CI) block
        # centred under its header
        offset = (widths[col.key] - block) / (2 if col.parts > 1 else 1)
        edges, acc = [], offset
        for j, p in enumerate(parts):
            acc += p + (sep if j else 0.0)
            edges.append(acc)
        rights[col.key] = edges
    return widths, rights


def compute_layout(table: Table, fonts: Fonts, m: TextMeasurer, *, ticks: list[float],
                   limits: tuple[float, float], eform: bool,
                   favours: tuple[str, str] | None, xlabel: str, title: str | None,
                   spacing: float, text_fraction: float | None,
                   figsize: tuple[float, float] | None,
                   frame: tuple[float, float] | None, null: float | None = None,
                   _depth: int = 0) -> Layout:
    """Fit columns, panel and rows into a figure of the natural size or a given size.

    The favours texts are wrapped between words to the room either side of the null
    line; a word that still does not fit widens a figure of natural size, and shrinks
    the fonts of a figure of given size."""
    fs = fonts.size
    widths, rights = _measure_columns(table, fonts, m)
    gap = 1.4 * fs / 72
    margin = 0.6 * fs / 72
    left = [c for c in table.columns if c.side == "left"]
    right = [c for c in table.columns if c.side == "right"]
    notes = [m.width(r.label, fonts.small) for r in table.rows if r.kind == "note"]
    left_w = sum(widths[c.key] for c in left) + gap * (len(left) - 1)
    if notes and max(notes) > left_w:
        widths["study"] += max(notes) - left_w
        left_w = max(notes)
    right_w = sum(widths[c.key] for c in right) + gap * max(len(right) - 1, 0)
    tick_w = [m.width(fmt_tick(t), fonts.regular) for t in ticks] or [0.0]
    gap_l = max(gap, tick_w[0] / 2 + 0.5 * gap)
    gap_r = max(gap, tick_w[-1] / 2 + 0.5 * gap) if right else tick_w[-1] / 2 + 0.05
    text_w = left_w + right_w
    fixed = 2 * margin + gap_l + gap_r
    size = frame or figsize
    n_gaps = max(len(left) - 1, 0) + max(len(right) - 1, 0) + 2
    extra = 0.0
    if size is None:
        s = fs / 9
        panel_w = (text_w * (1 - text_fraction) / text_fraction if text_fraction
                   else float(np.clip(0.75 * text_w, 2.6 * s, 4.0 * s)))
        width = fixed + text_w + panel_w
    else:
        width = float(size[0])
        avail = width - fixed
        target = text_fraction * avail if text_fraction else max(text_w, 0.0)
        if not text_fraction and avail - text_w < 0.3 * avail:
            target = 0.7 * avail
        if text_w > target * 1.001 and _depth < 3 and fs > 4:
            return compute_layout(table, fonts.scaled(target / text_w), m, ticks=ticks,
                                  limits=limits, eform=eform, favours=favours,
                                  xlabel=xlabel, title=title, spacing=spacing,
                                  text_fraction=text_fraction, figsize=figsize, frame=frame,
                                  null=null, _depth=_depth + 1)
        extra = max(target - text_w, 0.0) / n_gaps if text_fraction else 0.0
        panel_w = max(avail - max(target, text_w), 0.5)
    # x positions
    col_x, x = [], margin
    for c in left:
        col_x.append(x)
        x += widths[c.key] + gap + extra
    left_end = x - gap - extra
    panel_x = left_end + gap_l + extra
    x = panel_x + panel_w + gap_r + extra
    for c in right:
        col_x.append(x)
        x += widths[c.key] + gap + extra
    n_favours, asked = 1, favours
    if favours:
        null_x = panel_x + _null_position(limits, eform, null) * panel_w
        fav_gap = 0.35 * fs / 72
        room = (null_x - fav_gap - margin, width - margin - null_x - fav_gap)
        favours, over, n_favours = fit_favours(favours, room, fonts.regular, m)
        if size is not None and max(over) > 0 and _depth < 3 and fs > 4:
            factor = min(r / (r + o) if r > 0 else 0.8
                         for r, o in zip(room, over, strict=True) if o > 0)
            return compute_layout(table, fonts.scaled(factor), m,
                                  ticks=ticks, limits=limits, eform=eform, favours=asked,
                                  xlabel=xlabel, title=title, spacing=spacing,
                                  text_fraction=text_fraction, figsize=figsize, frame=frame,
                                  null=null, _depth=_depth + 1)
        if size is None:       # a word wider than the room widens the figure
            col_x = [cx + over[0] for cx in col_x]
            panel_x, left_end = panel_x + over[0], left_end + over[0]
            width += over[0] + over[1]
    # vertical (points under the axis)
    tick_len, tick_pad = 0.4 * fs, 0.3 * fs
    line = 1.25 * fs
    tick_top = tick_len + tick_pad
    favours_top = tick_top + line + 0.15 * fs
    favours_end = favours_top + line + (n_favours - 1) * 1.45 * fs   # matplotlib's leading
    xlabel_top = favours_end + 0.1 * fs if favours else tick_top + line + 0.3 * fs
    axis_end = (xlabel_top + line if xlabel else
                favours_end if favours else tick_top + line)
    footer_line = 1.35 * fonts.small.get_size_in_points()
    footer_w = max([m.width(s, fonts.small) for s in table.footer], default=0.0)
    # under the axis, left of the first tick label, when there is room for it
    in_band = margin + footer_w <= panel_x - tick_w[0] / 2 - 1.5 * fs / 72
    if in_band and favours and favours[0] and len(table.footer) > 1:
        f = _null_fraction(limits, eform)
        fav_start = (panel_x + (f or 0) * panel_w - 0.35 * fs / 72
                     - max(m.width(x, fonts.regular) for x in favours[0].split("\n")))
        in_band = fav_start >= left_end
    footer_top = tick_top if in_band else axis_end + 0.5 * fs
    footer_end = footer_top + len(table.footer) * footer_line if table.footer else 0.0
    bottom = (max(axis_end, footer_end) + 0.7 * fs) / 72
    title_y = 0.6 * fs / 72
    top = title_y + ((fonts.title.get_size_in_points() * 1.7) / 72 if title else 0.0)
    units = table.bottom - table.top
    if size is None:
        row_h = spacing * 1.85 * fs / 72
        height = top + units * row_h + bottom
    else:
        height = float(size[1])
        row_h = max((height - top - bottom) / units, 0.02)
    return Layout(fonts=fonts, measure=m.width, width=width, height=height, margin=margin,
                  panel_x=panel_x, panel_w=panel_w, panel_h=units * row_h, bottom=bottom,
                  row_h=row_h, col_x=col_x, col_w=widths, part_right=rights,
                  tick_len=tick_len, tick_pad=tick_pad, favours_top=favours_top,
                  favours=favours, xlabel_top=xlabel_top, footer_top=footer_top,
                  footer_line=footer_line, title_y=title_y)
