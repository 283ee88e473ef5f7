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
    _o("rflevel", 3, "required", help="pi_level= (level of the prediction interval)"),
    _o("rfdist", 3, help="(always on: the prediction interval is given)"),
    _o("isqparam", 4, help='I2="tau2" (I² from tau²; ipdmeta\'s default)'),
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

#: metan 4's options for 2x2 counts and means/SDs (also ipdmetan's Syntax 2)
SUMMARY_OPTIONS: tuple[OptionSpec, ...] = (
    _o("rd", help='measure="RD"'),
    _o("mhaenszel", 2, help='method="MH" (the default for 2x2 counts)'),
    _o("peto", 4, help='method="peto"'),
    _o("fixedi", 6, help='method="common" (metan 3)'),
    _o("randomi", 7, help='method="DL" (metan 3)'),
    _o("cc", 2, "optional", help="correction= (cc(#, opposite empirical allifzero): "
                                 "correction_type=, to=)"),
    _o("nocc", 4, help="correction=0"),
    _o("counts", 2, help="forest counts=True"),
    _o("group1", 6, "required", help="forest group_names= (treatment)"),
    _o("group2", 6, "required", help="forest group_names= (control)"),
    _o("breslow", 3, help="(Breslow-Day and Tarone are always reported with MH odds ratios)"),
    _o("tarone", 2, help="(Breslow-Day and Tarone are always reported with MH odds ratios)"),
    _o("cmh", 3, help="(the CMH test is always reported with MH odds ratios)"),
    _o("log", 3, help="eform=False"),
    _o("nointeger", 5, help="(non-integer counts are always allowed)"),
    _o("cohend", 3, "none", "cohen", help='measure="SMD_cohen" (the default for means)'),
    _o("hedgesg", 3, "none", "hedges", help='measure="SMD" (exact correction, as metafor)'),
    _o("glassd", 3, "none", "glass", help='measure="GLASS"'),
    _o("md", 2, help='measure="MD"'),
    _o("wmd", 3, help='measure="MD"'),
    _o("nostandard", 6, help='measure="MD"'),
)

METAN_OPTIONS: tuple[OptionSpec, ...] = (
    _o("study", 2, "required", help="study="),
    _o("label", 3, "required", help="study= (namevar=)"),
    *_POOLING,
    *FOREST_OPTIONS,
    *SUMMARY_OPTIONS,
)

#: ipdmetan's Syntax 2 (``ipdmetan outcome treat, study() or ...``): collapse, then metan
IPDMETAN2_OPTIONS: tuple[OptionSpec, ...] = (
    _o("study", 1, "required", help="study="),
    *_POOLING,
    *FOREST_OPTIONS,
    *SUMMARY_OPTIONS,
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
_VCE = _o("vce", 3, "required", help="vce(robust): robust=True; vce(cluster x): cluster=")
_CLUSTER = _o("cluster", 2, "required", help="cluster= (the old syntax of vce(cluster x))")
_EXPOSURE = (_o("exposure", 3, "required", help="exposure="),
             _o("offset", 3, "required", help="offset="))

#: the first-stage commands after ipdmetan's colon
STAGE1_COMMANDS: tuple[OptionSpec, ...] = (
    _cmd("regress", 3, "linear", _VCE, _CLUSTER),
    _cmd("logit", 5, "logistic", _o("or", help="(display only)"), _NOLOG, _VCE, _CLUSTER),
    _cmd("logistic", 8, "logistic", _NOLOG, _VCE, _CLUSTER),
    _cmd("firthlogit", 10, "logistic", _o("or", help="(display only)"), _NOLOG),
    _cmd("poisson", 4, "poisson", *_EXPOSURE, _o("irr", help="(display only)"), _NOLOG, _VCE,
         _CLUSTER),
    _cmd("stcox", 5, "cox", _o("efron", help='ties="efron"'),
         _o("breslow", help='ties="breslow" (the default, as Stata)'),
         _o("nohr", help="(display only)"), _NOLOG, _VCE, _CLUSTER),
    _cmd("ologit", 6, "ordinal", _o("or", help="(display only)"), _NOLOG, _VCE, _CLUSTER),
    _cmd("nbreg", 5, "negbin", *_EXPOSURE, _o("irr", help="(display only)"),
         _o("dispersion", 4, "required", help="dispersion(mean) only (NB2)"), _NOLOG, _VCE,
         _CLUSTER),
    _cmd("glm", 3, "linear", _o("family", 1, "required",
                                help="binomial, poisson or gaussian (with link())"),
         _o("link", 1, "required", help="binomial: log -> rr, identity -> rd, logit"),
         *_EXPOSURE, _o("eform", 2, help="(display only)"), _o("irls", help="(expected "
                                                                    "information, as here)"),
         _NOLOG, _VCE, _CLUSTER),
    _cmd("stcrreg", 7, "finegray", _o("compete", 4, "required",
                                      help="compete(status == 2): status coded 0/1/2"),
         _o("noshr", help="(display only)"), _NOLOG),
    _cmd("streg", 5, "weibull", _o("distribution", 1, "required",
                                   help="weibull or exponential"),
         _o("time", 4, help='scale="aft" (log time ratios)'),
         _o("nohr", help="(display only)"), _NOLOG, _VCE, _CLUSTER),
)

#: re(...) / model(...) models -> (method, ci or None)
RE_MODELS: dict[str, tuple[str, str | None]] = {
    "dl": ("DL", None), "random": ("DL", None), "re": ("DL", None), "reml": ("REML", None),
    "ml": ("ML", None), "pl": ("ML", "pl"), "pm": ("PM", None), "mp": ("PM", None),
    "eb": ("EB", None), "he": ("HE", None), "ho": ("HE", None), "sj": ("SJ", None),
    "hs": ("HS", None), "genq": ("GENQ", None), "fixed": ("common", None),
    "fe": ("common", None), "common": ("common", None), "iv": ("common", None),
    # metan 4's further estimators and models (issue 17)
    "bdl": ("BDL", None), "dlb": ("BDL", None), "hm": ("HM", None), "hmakambi": ("HM", None),
    "b0": ("B0", None), "bp": ("BP", None), "sj2s": ("SJ2S", None), "dk2s": ("DK2S", None),
    "hksj": ("DL", "hksj"), "kr": ("REML", "kr"), "kroger": ("REML", "kr"),
    "bt": ("BT", None), "btweedie": ("BT", None), "hc": ("DL", "hc"), "hcopas": ("DL", "hc"),
    "mu": ("mult", None), "mult": ("mult", None), "ivhet": ("IVhet", None),
}

#: sub-options of re(model, ...) / model(model, ...) -> ci (or None when they set another option)
RE_SUBOPTIONS: dict[str, str | None] = {
    "hksj": "hksj", "kh": "hksj", "knapphartung": "hksj", "t": "t", "z": "z", "kr": "kr",
    "kroger": "kr", "oim": "kr-oim", "eim": "kr", "bartlett": "pl-bartlett",
    "skovgaard": "pl-skovgaard", "truncate": None, "init": None, "reps": None,
}
