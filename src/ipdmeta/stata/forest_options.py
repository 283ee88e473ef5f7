"""The forest-plot options (Stata's ``forestplot``), translated to ``forest()`` keywords.

They are accepted inside ``forestplot(...)`` / ``forest(...)`` of ipdmetan, metan and
ipdover, at the top level of those commands (as metan 3 allowed), and by the
``forestplot`` command on a results set.  :data:`FOREST_OPTIONS` lists every option of
``help forestplot`` with what it becomes or why it is refused; :func:`forest_option`
writes one option into the keyword dictionary of ``res.forest(...)``.

Example:
    >>> forest = {}
    >>> forest_options("xlab(0.5 1 2) boxsca(30) ciopts(rcap lcolor(navy)) textsize(120)",
    ...                forest)
    >>> forest["xticks"], forest["box_scale"], forest["ci_caps"], forest["colors"]
    ([0.5, 1, 2], 0.3, True, {'ci': 'navy'})
    >>> forest["font_size"]
    10.8
"""

from __future__ import annotations

import re
from typing import Any

from matplotlib.colors import is_color_like

from ipdmeta.stata.options import EFORM_MEASURES, OptionSpec, opt
from ipdmeta.stata.parse import (
    Option,
    StataSyntaxError,
    _check_args,
    _number,
    match,
    numlist,
    parse_options,
    split_top,
    unquote,
    words,
)

_TWOWAY = ("a twoway graph option: not translated; style the Figure that res.forest() "
           "returns (matplotlib)")
_LAYOUT = "(ipdmeta lays out the text columns itself)"

#: default font size of ipdmeta's forest plots (textsize(100))
FONT_SIZE = 9.0

FOREST_OPTIONS: tuple[OptionSpec, ...] = (
    opt("xtitle", 3, "required", help="xlabel= (axis title)"),
    opt("xlabel", 3, "required", help="xticks= (numlist; force: xlim=)"),
    opt("xtick", 5, "required", refused="minor ticks are not drawn; put the values in "
                                        "xlabel()"),
    opt("boxscale", 3, "required", "boxsca", help="box_scale= (percent / 100)"),
    opt("astext", 3, "required", help="text_fraction= (percent / 100)"),
    opt("spacing", 2, "required", help="spacing="),
    opt("textsize", 5, "required", help="font_size= (percent of 9 points)"),
    opt("dp", 2, "required", help="digits="),
    opt("lcols", 4, "required", help="left_columns="),
    opt("rcols", 4, "required", help="right_columns="),
    opt("favours", 3, "required", "favors", help="favours=(left, right), texts split by #"),
    opt("effect", 3, "required", help="effect= (estimate column header)"),
    opt("eform", 2, help="eform=True"),
    *(opt(k, help=f"eform=True ({v})") for k, v in EFORM_MEASURES.items()),
    opt("nooverall", 4, help="overall=False"),
    opt("nosubgroup", 4, help="subtotals=False"),
    opt("nohet", 5, help="show_heterogeneity=False"),
    opt("nostats", 6, help="show_estimates=False"),
    opt("nowt", 4, help="show_weights=False"),
    opt("nonull", 4, help="null_line=False"),
    opt("null", 2, "required", help="null= (position of the line of no effect)"),
    opt("nobox", 5, help="show_boxes=False"),
    opt("summaryonly", 7, help="show_studies=False"),
    opt("rfdist", 6, "optional", help="show_pi=True"),
    opt("plotid", 5, "required", help="plot_id= (with box#opts(mcolor()): group_colors=)"),
    opt("range", 2, "required", help="xlim="),
    opt("cirange", 4, "required", help="xlim="),
    opt("title", 2, "required", help="title="),
    opt("boxopts", 5, "required", "boxopt", help="colors={'box': mcolor}"),
    opt("ciopts", 5, "required", "ciopt", help="ci_caps= (rcap), colors={'ci': lcolor}"),
    opt("diamopts", 6, "required", "diamopt", help="colors={'diamond': color}"),
    opt("olineopts", 7, "required", "olineopt", help="pooled_line=True (lcolor: colors=)"),
    opt("nlineopts", 7, "required", "nlineopt", help="colors={'null': lcolor}"),
    opt("pointopts", 8, "required", "pointopt", refused="the point inside each box is not "
                                                        "drawn; boxes carry the estimate"),
    opt("ocilineopts", 9, "required", refused="lines at the pooled confidence limits are not "
                                              "drawn"),
    opt("rfopts", 6, "required", refused="the prediction interval is drawn on its own row; "
                                         "its style is not an option"),
    opt("rfcilineopts", 10, "required", refused="lines at the prediction limits are not drawn"),
    opt("hlineopts", 7, "required", refused="the rule under the headers has a fixed style"),
    opt("pciopts", 7, "required", refused="pooled results are drawn as diamonds"),
    opt("ppointopts", 8, "required", refused="pooled results are drawn as diamonds"),
    opt("nodiamonds", 6, refused="pooled results are drawn as diamonds"),
    opt("classic", 7, refused="metan 3's 'classic' style is not offered"),
    opt("interaction", 5, refused="the 'interaction' plot style is not offered"),
    opt("labels", 3, "required", refused="the left column is _LABELS of the results set"),
    opt("nonames", 4, refused="the study column is always shown"),
    opt("prefix", 6, "required", refused="results-set variables keep their names (_ES ...)"),
    opt("colsonly", 8, refused="compound plots: draw each with res.forest(ax=...) on one "
                               "matplotlib figure"),
    opt("dataid", 6, "required", refused="one results set is one plot"),
    opt("double", 6, refused="column texts stay on one line; use shorter labels"),
    opt("leftjustify", 5, help="(text columns are left-justified, numbers right-justified)"),
    opt("maxlines", 8, "required", help=f"{_LAYOUT}"),
    opt("maxwidth", 8, "required", help=f"{_LAYOUT}"),
    opt("noadjust", 5, help=f"{_LAYOUT}"),
    opt("savedims", 7, "required", refused="plot sizes are chosen per plot; give figsize="),
    opt("usedims", 7, "required", refused="plot sizes are chosen per plot; give figsize="),
    opt("useopts", 7, help="(the options of the first plot are not stored with the data)"),
    opt("usestrict", 9, help="(the results set is checked when it is read)"),
    opt("nokeepvars", 6, help="(ipdmeta never adds variables to the data)"),
    *(opt(name, min_len, "required", refused=_TWOWAY) for name, min_len in (
        ("subtitle", 3), ("note", 4), ("caption", 3), ("ytitle", 3), ("ylabel", 3),
        ("xscale", 6), ("yscale", 6), ("scheme", 3), ("graphregion", 8),
        ("plotregion", 8), ("xsize", 5), ("ysize", 5), ("name", 4), ("aspectratio", 6),
        ("legend", 3), ("text", 4))),
)

#: colour sub-options of the plot options (Stata names them by object)
_COLOR_SUBOPTIONS = ("color", "colour", "mcolor", "mcolour", "lcolor", "lcolour", "fcolor",
                     "fcolour", "mfcolor", "mlcolor")


def forest_options(text: str, forest: dict[str, Any], where: str = "forest()") -> None:
    """Translate the options ``text`` of ``forestplot(...)`` into ``forest``."""
    for o in parse_options(text):
        forest_option(o, match(o.name, FOREST_OPTIONS, where), forest, where)


def refuse(o: Option, spec: OptionSpec, where: str) -> None:
    """Raise for an option listed as refused (its reason and what to do instead)."""
    if spec.refused:
        name = repr(o.name) if o.name == spec.name else f"{o.name!r} ({spec.name})"
        raise StataSyntaxError(f"option {name} is not supported in {where}: {spec.refused} "
                               "(see docs/stata.md)")


def _color(value: str, where: str) -> str:
    """A Stata colour name as matplotlib's (forest_green -> forestgreen)."""
    name = unquote(value).strip().lower().replace("_", "")
    name = {"dknavy": "#1a476f", "ltblue": "#add8e6", "dkgreen": "#006400",
            "dkorange": "#ff8c00", "ltgreen": "#90ee90"}.get(name, name)
    if not is_color_like(name):
        raise StataSyntaxError(f"colour {value!r} in {where} is not known; use a colour name "
                               "such as red, navy, forest_green or an RGB code '#1a476f'")
    return name


def plot_colors(o: Option, where: str, allowed: tuple[str, ...] = ()) -> tuple[str | None,
                                                                                set[str]]:
    """The colour set by a plot option (``boxopts(mcolor(red))``) and the names of the
    other sub-options in ``allowed`` that were given; any other sub-option is refused."""
    color, flags = None, set()
    for sub in parse_options(o.args or ""):
        name = sub.name.lower()
        if name in _COLOR_SUBOPTIONS and sub.args:
            color = _color(words(sub.args)[0], f"{o.name}()")
        elif name in allowed and sub.args is None:
            flags.add(name)
        else:
            raise StataSyntaxError(f"sub-option {sub} of {o.name}() in {where} is not "
                                   f"supported; only a colour (mcolor(), lcolor(), color())"
                                   + (f" and {', '.join(allowed)}" if allowed else ""))
    return color, flags


def _group_color(o: Option, forest: dict[str, Any], where: str) -> bool:
    """``box2opts(mcolor(red))`` / ``ci2opts(lcolor(red))``: the colour of plotid group 2."""
    m = re.fullmatch(r"(box|ci|diam|oline|point|rf|pci|ppoint)(\d+)opts?", o.name.lower())
    if m is None:
        return False
    if m.group(1) not in ("box", "ci"):
        raise StataSyntaxError(f"option {o.name} of {where} is not supported: per-group styles "
                               "are the colours of boxes and intervals (box#opts(mcolor()), "
                               "ci#opts(lcolor()))")
    color, _ = plot_colors(o, where, ("rcap",) if m.group(1) == "ci" else ())
    if color is not None:
        forest.setdefault("group_colors", {})[int(m.group(2))] = color
    return True


def _xlabel(o: Option, forest: dict[str, Any], where: str) -> None:
    parts = split_top(o.args or "", ",")
    ticks = numlist(parts[0])
    forest["xticks"] = ticks
    for sub in words(",".join(parts[1:])):
        if sub.lower() == "force" and ticks:
            forest["xlim"] = (min(ticks), max(ticks))
        else:
            raise StataSyntaxError(f"sub-option {sub!r} of xlabel() in {where} is not "
                                   "supported; use force (or none)")


def _favours(o: Option, forest: dict[str, Any]) -> None:
    parts = split_top(o.args or "", ",")
    if len(parts) > 1 and parts[1].strip():
        raise StataSyntaxError(f"sub-options of favours() ({parts[1].strip()}) are not "
                               "supported: the texts are placed either side of the null line")
    sides = [" ".join(words(s)) for s in parts[0].split("#")]
    if len(sides) != 2:
        raise StataSyntaxError(f"favours() needs two texts separated by '#': {o}")
    forest["favours"] = (sides[0].strip(), sides[1].strip())


def _range(o: Option, where: str) -> tuple[float, float]:
    values = numlist(o.args or "")
    if len(values) != 2:
        raise StataSyntaxError(f"{o.name}() of {where} takes two numbers (min and max are "
                               "not supported): {o}")
    return float(values[0]), float(values[1])


_SIMPLE = {"nooverall": ("overall", False), "nosubgroup": ("subtotals", False),
           "nohet": ("show_heterogeneity", False), "nostats": ("show_estimates", False),
           "nowt": ("show_weights", False), "nonull": ("null_line", False),
           "nobox": ("show_boxes", False), "summaryonly": ("show_studies", False)}


def forest_option(o: Option, spec: OptionSpec, forest: dict[str, Any], where: str) -> None:
    """Write the forest keyword(s) of one option into ``forest``.

    ``lcols``/``rcols`` are kept as written (``forest["lcols"]``, ``forest["rcols"]``):
    ipdmetan carries them from the IPD, metan shows columns of its data.  Options
    without an effect on ipdmeta's plot add a line to ``forest["__notes__"]``.
    """
    refuse(o, spec, where)
    _check_args(o, spec, where)
    name, args = spec.name, o.args or ""
    if name == "xtitle":
        forest["xlabel"] = unquote(split_top(args, ",")[0])
    elif name == "xlabel":
        _xlabel(o, forest, where)
    elif name == "boxscale":
        forest["box_scale"] = _number(o, where) / 100.0
    elif name == "astext":
        forest["text_fraction"] = _number(o, where) / 100.0
    elif name == "spacing":
        forest["spacing"] = _number(o, where)
    elif name == "textsize":
        forest["font_size"] = round(FONT_SIZE * _number(o, where) / 100.0, 4)
    elif name == "dp":
        forest["digits"] = int(_number(o, where))
    elif name in ("lcols", "rcols"):
        forest[name] = args
    elif name == "favours":
        _favours(o, forest)
    elif name == "effect":
        forest["effect"] = unquote(args)
    elif name == "eform" or name in EFORM_MEASURES:
        forest["eform"] = True
    elif name in _SIMPLE:
        key, value = _SIMPLE[name]
        forest[key] = value
    elif name == "null":
        forest["null"] = _number(o, where)
    elif name == "rfdist":
        forest["show_pi"] = True
    elif name == "plotid":
        parts = split_top(args, ",")
        if len(parts) > 1 and parts[1].strip():
            raise StataSyntaxError(f"sub-options of plotid() ({parts[1].strip()}) are not "
                                   "supported")
        forest["plot_id"] = words(parts[0])[0]
    elif name in ("range", "cirange"):
        forest["xlim"] = _range(o, where)
    elif name == "title":
        forest["title"] = unquote(split_top(args, ",")[0])
    elif name in ("boxopts", "ciopts", "diamopts", "olineopts", "nlineopts"):
        key = {"boxopts": "box", "ciopts": "ci", "diamopts": "diamond",
               "olineopts": "pooled_line", "nlineopts": "null"}[name]
        color, flags = plot_colors(o, where, ("rcap",) if name == "ciopts" else ())
        if color is not None:
            forest.setdefault("colors", {})[key] = color
        if "rcap" in flags:
            forest["ci_caps"] = True
        if name == "olineopts":
            forest["pooled_line"] = True
    else:                       # options with nothing to do in ipdmeta: a note
        forest.setdefault("__notes__", []).append(f"{name}: {spec.help.strip('()')}")


def forest_or_plot_option(o: Option, forest: dict[str, Any], where: str) -> bool:
    """``box2opts()``/``ci2opts()`` (plot options of a plotid group), which no table can
    list; True when ``o`` was one."""
    return _group_color(o, forest, where)
