"""The Stata options and commands that :mod:`ipdmeta.stata` translates, with abbreviations.

Each option has its full name and the shortest abbreviation Stata accepts
(``min``): ``OptionSpec("boxscale", 6)`` accepts ``boxsca``, ``boxscal`` and
``boxscale``.  An option not in these tables is refused by name.

Example:
    >>> [s.name for s in FOREST_OPTIONS][:3]
    ['xtitle', 'xlabel', 'boxscale']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OptionSpec:
    """An option (or a stage-1 command): name, minimal abbreviation, argument kind.

    ``args`` is "none", "required" or "optional"; for a stage-1 command ``model``
    is the ipdmeta model and ``options`` its own options.
    """

    name: str
    min: int
    args: str = "none"
    aliases: tuple[str, ...] = ()
    model: str | None = None
    options: tuple[OptionSpec, ...] = ()
    help: str = ""


def _o(name: str, min_len: int | None = None, args: str = "none", *aliases: str,
       help: str = "") -> OptionSpec:
    return OptionSpec(name, min_len or len(name), args, tuple(aliases), help=help)


#: forest-plot options, accepted inside forest(...) and at the top level of ipdmetan/metan
FOREST_OPTIONS: tuple[OptionSpec, ...] = (
    _o("xtitle", 3, "required", help="xlabel= (axis title)"),
    _o("xlabel", 3, "required", help="xticks= (numlist)"),
    _o("boxscale", 6, "required", "boxsca", help="box_scale= (percent / 100)"),
    _o("astext", 3, "required", help="text_fraction= (percent / 100)"),
    _o("spacing", 2, "required", help="spacing="),
    _o("lcols", 4, "required", help="left_columns= (variable names)"),
    _o("rcols", 4, "required", help="right_columns= (variable names)"),
    _o("favours", 3, "required", "favors", help="favours=(left, right), texts split by #"),
    _o("effect", 3, "required", help="effect= (estimate column header)"),
    _o("nooverall", 4, help="overall=False"),
    _o("nosubgroup", 4, help="subtotals=False"),
    _o("title", 2, "required", help="title="),
    _o("nowt", 4, help="show_weights=False"),
    _o("nostats", 6, help="show_estimates=False"),
)

#: eform options -> the measure they name
EFORM_MEASURES: dict[str, str] = {"hr": "HR", "or": "OR", "rr": "RR", "irr": "IRR",
                                  "rrr": "RRR", "shr": "SHR", "tr": "TR"}

_POOLING: tuple[OptionSpec, ...] = (
    _o("re", 2, "optional", help="method= (re alone: DL; re(reml, hksj): REML + HKSJ)"),
    _o("random", 2, "optional", help="method= (random alone: DL)"),
    _o("model", 5, "required", help="method= and ci="),
    _o("fixed", 3, help='method="common"'),
    _o("common", 6, help='method="common"'),
    _o("fe", 2, help='method="common"'),
    _o("iv", 2, help='method="common"'),
    _o("hksj", 4, "none", "kh", help='ci="hksj"'),
    _o("eform", 2, help="eform=True"),
    *(_o(k, help=f"eform=True ({v})") for k, v in EFORM_MEASURES.items()),
    _o("level", 3, "required", help="level="),
    _o("by", 2, "required", help="by="),
    _o("nograph", 4, help="no forest plot"),
    _o("forest", 6, "required", "forestplot", help="forest-plot options (below)"),
    _o("saving", 6, "required", help='aggregate.save(FILE, names="ipdmetan") / results'),
)

IPDMETAN_OPTIONS: tuple[OptionSpec, ...] = (
    _o("study", 1, "required", help="study="),
    _o("poolvar", 4, "required", help="poolvar= (1.treat -> C(treat)[T.1])"),
    _o("interaction", 5, help="poolvar= the first interaction term (a:b)"),
    _o("keep", 4, "required", help="keep= (study-level covariates)"),
    _o("keepall", 7, help="(always on: failed studies are listed with reasons)"),
    *_POOLING,
    *FOREST_OPTIONS,
)

METAN_OPTIONS: tuple[OptionSpec, ...] = (
    _o("study", 2, "required", help="study="),
    _o("label", 3, "required", help="study= (namevar=)"),
    *_POOLING,
    *FOREST_OPTIONS,
)

METAREG_OPTIONS: tuple[OptionSpec, ...] = (
    _o("wsse", 4, "required", help="se="),
    _o("wsvar", 5, "required", help="variance="),
    _o("bsest", 5, "required", help="method= (reml, ml, eb, mm = DL)"),
    _o("z", 1, help='ci="z" (no Knapp-Hartung)'),
    _o("knapphartung", 4, help='ci="hksj" (the default)'),
    _o("eform", 2, help="eform=True"),
    _o("level", 3, "required", help="level="),
    _o("permute", 4, "required", help="permutations="),
)


def _cmd(name: str, min_len: int, model: str, *options: OptionSpec) -> OptionSpec:
    return OptionSpec(name, min_len, model=model, options=tuple(options))


_NOLOG = _o("nolog", 5, help="(display only)")

#: the first-stage commands after ipdmetan's colon
STAGE1_COMMANDS: tuple[OptionSpec, ...] = (
    _cmd("regress", 3, "linear"),
    _cmd("logit", 5, "logistic", _o("or", help="(display only)"), _NOLOG),
    _cmd("logistic", 8, "logistic", _NOLOG),
    _cmd("firthlogit", 10, "logistic", _o("or", help="(display only)"), _NOLOG),
    _cmd("poisson", 4, "poisson", _o("exposure", 3, "required", help="exposure="),
         _o("offset", 3, "required", help="offset="), _o("irr", help="(display only)"),
         _NOLOG),
    _cmd("stcox", 5, "cox", _o("efron", help='ties="efron"'),
         _o("breslow", help='ties="breslow" (the default, as Stata)'),
         _o("nohr", help="(display only)"), _NOLOG),
)

#: re(...) / model(...) models -> (method, ci or None)
RE_MODELS: dict[str, tuple[str, str | None]] = {
    "dl": ("DL", None), "random": ("DL", None), "re": ("DL", None), "reml": ("REML", None),
    "ml": ("ML", None), "pl": ("ML", "pl"), "pm": ("PM", None), "mp": ("PM", None),
    "eb": ("EB", None), "he": ("HE", None), "ho": ("HE", None), "sj": ("SJ", None),
    "hs": ("HS", None), "genq": ("GENQ", None), "fixed": ("common", None),
    "fe": ("common", None), "common": ("common", None), "iv": ("common", None),
}
