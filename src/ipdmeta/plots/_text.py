"""Number formatting and text measurement shared by the plots.

Plots print numbers the way journals set them: a true minus sign (U+2212),
fixed decimals for estimates, ``p < 0.001`` for small p-values.  Text extents
are measured with a renderer so that column widths fit the rendered text.

Example:
    >>> fmt_num(-0.5, 2), fmt_p(0.0004), fmt_p(0.394), fmt_tau2(0.31324)
    ('−0.50', 'p < 0.001', 'p = 0.39', '0.313')
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.backend_bases import RendererBase
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties

MINUS = "\u2212"


def minus(text: str) -> str:
    """Replace a leading or embedded hyphen-minus of numbers with the minus sign."""
    return text.replace("-", MINUS)


def fmt_num(x: float | None, digits: int, eform: bool = False) -> str:
    """A number with ``digits`` decimals (exponentiated when ``eform``); '' when missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return ""
    value = math.exp(x) if eform else float(x)
    if math.isinf(value):
        return "∞" if value > 0 else MINUS + "∞"
    text = f"{value:.{digits}f}"
    if float(text) == 0.0:  # no "-0.00"
        text = text.lstrip("-")
    return minus(text)


def fmt_p(p: float | None) -> str:
    """A p-value in words: 'p < 0.001', 'p = 0.004', 'p = 0.39'."""
    if p is None or not math.isfinite(p):
        return "p = ."
    if p < 0.001:
        return "p < 0.001"
    if p < 0.1:
        return f"p = {p:.3f}"
    return f"p = {p:.2f}"


def fmt_tau2(t: float) -> str:
    """τ² with a sensible number of digits for its size."""
    if not math.isfinite(t):
        return "."
    if t == 0:
        return "0"
    if t < 0.001:
        return f"{t:.1e}".replace("e-0", "e−").replace("e-", "e−")
    if t < 10:
        return f"{t:.3f}"
    if t < 100:
        return f"{t:.2f}"
    return f"{t:.1f}"


def fmt_value(v: Any, digits: int) -> str:
    """A table cell from a data column: integers as such, floats with ``digits``."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return minus(str(v))
    if isinstance(v, float) or hasattr(v, "dtype"):
        try:
            f = float(v)
        except (TypeError, ValueError):
            return str(v)
        if math.isnan(f):
            return ""
        if f.is_integer() and abs(f) < 1e15:
            return minus(str(int(f)))
        return minus(f"{f:.{digits}f}")
    return str(v)


def fmt_tick(v: float) -> str:
    """An axis tick label: shortest exact form, minus sign."""
    text = f"{round(v, 10):g}"
    return minus(text)


class TextMeasurer:
    """Measure rendered text widths in inches with an Agg renderer.

    The figure's own renderer is used when it renders at 300 dpi or more; otherwise
    an Agg renderer at 300 dpi (at screen resolutions hinting makes bold text measure
    like regular text, and columns would be too narrow for it).

    Example:
        >>> from matplotlib.font_manager import FontProperties
        >>> m = TextMeasurer(None)
        >>> m.width("abc", FontProperties(family="DejaVu Sans", size=9)) > 0
        True
    """

    MIN_DPI = 300.0

    def __init__(self, figure: Figure | None) -> None:
        renderer: RendererBase | None = None
        if figure is not None and figure.dpi >= self.MIN_DPI:
            get = getattr(figure.canvas, "get_renderer", None)
            if get is not None:
                try:
                    renderer = get()
                except (TypeError, AttributeError, RuntimeError):
                    renderer = None
        if renderer is None:
            renderer = RendererAgg(10, 10, self.MIN_DPI)
        self.dpi = float(renderer.dpi)
        self.renderer = renderer
        self._cache: dict[tuple[str, int], float] = {}

    def width(self, text: str, prop: FontProperties) -> float:
        """Width of ``text`` set in ``prop``, in inches."""
        if not text:
            return 0.0
        key = (text, hash(prop))
        if key not in self._cache:
            w, _, _ = self.renderer.get_text_width_height_descent(text, prop, ismath=False)
            self._cache[key] = w / self.dpi
        return self._cache[key]


def new_figure(**kwargs: Any) -> Figure:
    """A Figure with an Agg canvas, not registered with pyplot (nothing to close).

    Example:
        >>> new_figure(figsize=(2, 1)).canvas.get_renderer() is not None
        True
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path | None, dpi: int = 300) -> None:
    """Save ``fig`` to ``path`` (nothing when None); the format follows the suffix."""
    if path is not None:
        fig.savefig(path, dpi=dpi, format=Path(path).suffix.lstrip(".").lower() or None)
