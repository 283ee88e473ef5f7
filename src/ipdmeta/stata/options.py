"""The Stata options and commands that :mod:`ipdmeta.stata` translates, with abbreviations.

Each option has its full name and the shortest abbreviation Stata accepts
(``min``): ``OptionSpec("boxscale", 6)`` accepts ``boxsca``, ``boxscal`` and
``boxscale``.  Options that ipdmeta cannot honour are listed too, with the reason
and what to do instead (``refused``); an option in no table is refused by name.
The forest-plot options are in :mod:`ipdmeta.stata.forest_options`, metareg's in
:mod:`ipdmeta.stata.metareg`.

Example:
    >>> [s.name for s in IPDMETAN_OPTIONS][:3]
    ['study', 'poolvar', 'interaction']
    >>> next(s for s in MAIN_OPTIONS if s.name == "altwt").refused[:24]
    'the cumulative/influence'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OptionSpec:
    """An option (or a stage-1 command): name, minimal abbreviation, argument kind.

    ``args`` is "none", "required" or "optional"; for a stage-1 command ``model``
    is the ipdmeta model and ``options`` its own options.  ``refused`` is the reason
    an option is not translated and what to do instead ("" for a translated option).
    """

    name: str
    min: int
    args: str = "none"
    aliases: tuple[str, ...] = ()
    model: str | None = None
    options: tuple[OptionSpec, ...] = ()
    help: str = ""
    refused: str = ""


def opt(name: str, min_len: int | None = None, args: str = "none", *aliases: str,
        help: str = "", refused: str = "") -> OptionSpec:
    """An :class:`OptionSpec` (``min_len`` defaults to the full name)."""
    return OptionSpec(name, min_len or len(name), args, tuple(aliases), help=help,
                      refused=refused)


_o = opt
#: eform options -> the measure they name
EFORM_MEASURES: dict[str, str] = {"hr": "HR", "or": "OR", "rr": "RR", "irr": "IRR",
                                  "rrr": "RRR", "shr": "SHR", "tr": "TR"}

_NOTHING_ADDED = "ipdmeta never adds variables to the data in memory"
_CONVERGENCE = ("ipdmeta iterates every estimator to a tolerance of 1e-12 (up to 1,000 "
                "iterations) and reports what did not converge")

#: metan's model_spec (also ipdmetan's): the pooling models and their options
MODEL_OPTIONS: tuple[OptionSpec, ...] = (
    _o("model", 5, "required", help="method=, ci=; 'model(a \\ b)': res.with_models(...)"),
    _o("re", 2, "optional", help="method= (re alone: DL; re(reml, hksj): REML + HKSJ)"),
    _o("random", 2, "optional", help='method="DL" (random(model) as re())'),
    _o("randomi", 7, help='method="DL" (metan 3)'),
    _o("fixed", 3, help='method="common" (2x2 counts: MH)'),
    _o("fixedi", 6, help='method="common" (metan 3)'),
    _o("common", 6, help='method="common"'),
    _o("fe", 2, help='method="common"'),
    _o("iv", 2, "none", "ivcommon", help='method="common"'),
    _o("hksj", 2, "none", "kh", help='ci="hksj"'),
    _o("truncate", 3, "required", help='truncate(one): ci="hksj-trunc"'),
    _o("second", 3, "required", help="res.with_models(...) (metan 3's second model)"),
    _o("wgt", 3, "required", help="weights= (user weights; ipdmetan: pool_options=)"),
    _o("z", 1, help='ci="z"'),
    _o("t", 1, help='ci="t"'),
    _o("isqparam", 4, help='I2="tau2" (I² from tau²; ipdmeta\'s default)'),
    _o("cochranq", 4, help="(Cochran's Q is always the heterogeneity test of IV models)"),
    _o("chi2", 4, refused="a chi-squared test of the pooled effect is not offered; ipdmeta "
                          "gives z or t (ci='z'/'t'), or 'pl' for the likelihood ratio"),
    _o("hlevel", 2, "required", refused="the intervals of tau², I² and H² use level(); "
                                        "give level() for both"),
    _o("testbased", 5, refused="test-based intervals for H are not offered; ipdmeta gives "
                               "Q-profile intervals of tau², I² and H²"),
    _o("robust", 2, refused="Sidik-Jonkman's robust variance is a variance computed after "
                            "the fit: res.robust(adjust=False) (each study its own cluster)"),
    _o("init", 4, "required", help='method="SJ2S-M" / "DK2S-M" (the first step)'),
    _o("isq", 3, "required", refused="a sensitivity analysis with fixed I² (model sa) is not "
                                     "offered; see ipdmeta.tau2_sensitivity"),
    _o("tausq", 4, "required", refused="a sensitivity analysis with fixed tau² (model sa) is "
                                       "not offered; see ipdmeta.tau2_sensitivity"),
    _o("hetpooled", 4, refused="tau² pooled across subgroups is not offered; fit "
                               "ipd.metareg(res.aggregate, '~ C(group)') instead"),
    _o("bartlett", 2, help='ci="pl-bartlett"'),
    _o("skovgaard", 2, help='ci="pl-skovgaard"'),
    _o("kr", 2, help='ci="kr" (Kenward-Roger)'),
    _o("eim", 3, help='ci="kr"'),
    _o("oim", 3, help='ci="kr-oim"'),
    _o("qwt", 3, "required", refused="the quality-effects model is not offered"),
    _o("itol", 4, "required", help=f"(ignored: {_CONVERGENCE})"),
    _o("maxiter", 5, "required", help=f"(ignored: {_CONVERGENCE})"),
    _o("maxtausq", 5, "required", help=f"(ignored: {_CONVERGENCE})"),
    _o("difficult", 9, help=f"(ignored: {_CONVERGENCE})"),
    _o("technique", 9, "required", help=f"(ignored: {_CONVERGENCE})"),
    _o("quadpts", 7, "required", help="(ipdmeta's integrals are adaptive, to 1e-12)"),
    _o("reps", 4, "required", help="reps= (bootstrap DerSimonian-Laird)"),
    _o("nomodellabels", 9, refused="ipdmeta labels every pooled row with its model"),
    _o("extralabel", 6, "required", refused="user text on pooled rows is not offered; edit "
                                            "the results set (res.results_set()) instead"),
    _o("first", 5, "required", refused="user-supplied pooled estimates are not pooled "
                                       "results; add a row to the results set and draw it "
                                       "with ipd.forest_from_results"),
    _o("firststats", 6, "required", refused="see first(): edit the results set instead"),
    _o("secondstats", 7, "required", refused="see first(): edit the results set instead"),
)

#: metan's options_main (also ipdmetan's): labels, subgroups, output, plot and saving (its
#: forest-plot options — nooverall, nosubgroup, nohet, rfdist, summaryonly, plotid, lcols,
#: rcols ... — are in :data:`ipdmeta.stata.forest_options.FOREST_OPTIONS`)
MAIN_OPTIONS: tuple[OptionSpec, ...] = (
    _o("label", 3, "required", help="study= (namevar=); ipdmetan: label=(name, year)"),
    _o("by", 2, "required", help="by="),
    _o("cumulative", 5, help="res.meta.cumulative(order=) and .cumulative_forest()"),
    _o("influence", 3, help="res.meta.leave_one_out() and .leave_one_out_forest()"),
    _o("altwt", 4, refused="the cumulative/influence plots show each re-fit's own weights; "
                           "the weights of the full analysis are in res.meta.studies"),
    _o("citype", 2, "required", help="normal (the default) only"),
    _o("level", 3, "required", help="level="),
    _o("ilevel", 2, "required", help="res.with_study_level(#) (study intervals)"),
    _o("olevel", 2, "required", help="level= (pooled results)"),
    _o("eform", 2, help="eform=True"),
    *(_o(k, help=f"eform=True ({v})") for k, v in EFORM_MEASURES.items()),
    _o("keepall", 5, help="(always: the studies not estimable are listed with the reason)"),
    _o("keeporder", 5, help="forest(sort_by=...) in the order of the stage-1 table"),
    _o("nograph", 4, help="no forest plot"),
    _o("notable", 5, help="the results are not printed"),
    _o("nokeepvars", 6, help=f"({_NOTHING_ADDED})"),
    _o("norsample", 4, help=f"({_NOTHING_ADDED})"),
    _o("nosecsub", 5, help="(further models are shown for the overall result only)"),
    _o("ovwt", 4, help="(the weights shown are always those of the overall analysis)"),
    _o("sgwt", 4, refused="weights within subgroups are not shown; the weights are those of "
                          "the overall analysis (res.meta.studies.weight)"),
    _o("sortby", 5, "required", help="forest(sort_by=); cumulative(order=)"),
    _o("hetinfo", 4, "required", help="forest(het_stats=[...])"),
    _o("extraline", 6, "required", help="(heterogeneity is printed under the axis)"),
    _o("rflevel", 5, "required", help="pi_level= (ipdmetan: pool_options=)"),
    _o("saving", 2, "required", help="res.save(FILE) (the results set)"),
    _o("clear", 5, help="data = res.results_set().to_frame()"),
    _o("nowarning", 6, help="(ipdmeta prints no such warning)"),
    _o("forestplot", 6, "required", "forest", help="forest-plot options"),
    _o("npts", 4, "optional", help="left_columns += n (metan: npts(var))"),
)

#: ipdmetan's own options (Syntax 1 and 2)
IPDMETAN_ONLY: tuple[OptionSpec, ...] = (
    _o("study", 1, "required", help="study="),
    _o("poolvar", 4, "required", help="poolvar= (1.treat -> C(treat)[T.1])"),
    _o("interaction", 5, help="interaction= the first a#b term"),
    _o("messages", 2, help="(ipdmeta always lists failed fits with their reason)"),
    _o("nototal", 5, help="(ipdmeta never fits the model to all the data)"),
    _o("strata", 6, "required", help="strata= (log-rank, Syntax 2)"),
    _o("logrank", 4, help='model="logrank" (Syntax 2 after stset)'),
    _o("oev", 3, help="right_columns oe, v (log-rank O-E and V)"),
    _o("ad", 2, "required", help="aggregate=, aggregate_columns= (byad: by='source')"),
    _o("keep", 4, "required", help="keep= (ipdmeta's own option: study-level columns)"),
)

IPDMETAN_OPTIONS: tuple[OptionSpec, ...] = (*IPDMETAN_ONLY, *MODEL_OPTIONS, *MAIN_OPTIONS)

#: metan 4's options for 2x2 counts and means/SDs (also ipdmetan's Syntax 2)
SUMMARY_OPTIONS: tuple[OptionSpec, ...] = (
    _o("rd", help='measure="RD"'),
    _o("mhaenszel", 2, help='method="MH" (the default for 2x2 counts)'),
    _o("peto", 4, help='method="peto"'),
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
    _o("efficacy", 4, refused="vaccine efficacy is not shown; it is 1 − RR (or 1 − OR) of "
                              "the pooled result"),
    _o("proportion", 2, refused="single-group proportions are pooled with "
                                "ipd.pool(frame, events=..., n=..., measure='PLO')"),
    _o("oev", 3, refused="O − E and V are shown for ipdmetan's log-rank; for 2x2 counts "
                         "pool with peto and see res.to_frame()"),
)

#: metan: its own options before the shared tables
METAN_OPTIONS: tuple[OptionSpec, ...] = (
    _o("study", 2, "required", help="study="),
    *MODEL_OPTIONS, *MAIN_OPTIONS, *SUMMARY_OPTIONS,
)

#: ipdmetan's Syntax 2 (``ipdmetan outcome treat, study() or ...``): collapse, then metan
IPDMETAN2_OPTIONS: tuple[OptionSpec, ...] = (
    *IPDMETAN_ONLY, *MODEL_OPTIONS, *MAIN_OPTIONS, *SUMMARY_OPTIONS,
)

#: ipdover: over() (once or twice) and the options of ipdmetan that concern no pooling
IPDOVER_OPTIONS: tuple[OptionSpec, ...] = (
    _o("over", 4, "required", help="over= (first), by= (second)"),
    _o("poolvar", 4, "required", help="poolvar="),
    _o("level", 3, "required", help="level="),
    _o("eform", 2, help="eform=True"),
    *(_o(k, help=f"eform=True ({v})") for k, v in EFORM_MEASURES.items()),
    _o("nograph", 4, help="no forest plot"),
    _o("notable", 5, help="the results are not printed"),
    _o("nooverall", 4, help="overall=False"),
    _o("nosubgroup", 4, help="(no pooled rows are shown)"),
    _o("saving", 2, "required", help="res.save(FILE)"),
    _o("forestplot", 6, "required", "forest", help="forest-plot options"),
    _o("messages", 2, help="(failed fits are always listed)"),
    _o("plotid", 5, "required", refused="ipdover's plot groups (_BY, _OVER, _LEVEL) are not "
                                        "translated; colour the figure afterwards"),
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
         _o("strata", 6, "required", help="strata= (stratified baseline hazards)"),
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

#: model names of re(...) / model(...) / second() -> (method, ci or None); metan 4's names
#: and their abbreviations, and metan 3's / admetan's
RE_MODELS: dict[str, tuple[str, str | None]] = {
    **dict.fromkeys(("mhaenszel", "mh"), ("MH", None)),
    "fixed": ("fixed", None),        # MH for 2x2 counts, else the common (IV) effect
    "peto": ("peto", None),
    **dict.fromkeys(("ivcommon", "iv", "fe", "fixedi", "common"), ("common", None)),
    **dict.fromkeys(("random", "re", "dlaird", "dl", "randomi"), ("DL", None)),
    **dict.fromkeys(("hedges", "he", "ho"), ("HE", None)),
    **dict.fromkeys(("mpaule", "mp", "pm"), ("PM", None)),
    **dict.fromkeys(("ebayes", "eb"), ("EB", None)),
    "pmm": ("PMM", None),
    **dict.fromkeys(("mle", "ml"), ("ML", None)),
    "reml": ("REML", None),
    "sj": ("SJ", None), "sj2s": ("SJ2S", None), "dk2s": ("DK2S", None),
    "hs": ("HS", None), "genq": ("GENQ", None),
    **dict.fromkeys(("hksj", "kh"), ("DL", "hksj")),
    "pl": ("ML", "pl"),
    **dict.fromkeys(("bdl", "dlb"), ("BDL", None)),
    **dict.fromkeys(("hmakambi", "hm"), ("HM", None)),
    "b0": ("B0", None), "bp": ("BP", None),
    **dict.fromkeys(("kroger", "kr"), ("REML", "kr")),
    **dict.fromkeys(("btweedie", "bt"), ("BT", None)),
    **dict.fromkeys(("hcopas", "hc"), ("DL", "hc")),
    **dict.fromkeys(("mult", "mu"), ("mult", None)),
    "ivhet": ("IVhet", None),
}
#: model names ipdmeta does not translate -> what they are
REFUSED_MODELS: dict[str, str] = {
    "sa": "the sensitivity analysis with fixed I² or tau² (see ipdmeta.tau2_sensitivity)",
    "qe": "the quality-effects model",
}
#: sub-options of a model in re(model, ...) / model(model, ...) -> ci (None: another option)
RE_SUBOPTIONS: dict[str, str | None] = {
    "hksj": "hksj", "kh": "hksj", "knapphartung": "hksj", "t": "t", "z": "z", "kr": "kr",
    "kroger": "kr", "oim": "kr-oim", "eim": "kr", "bartlett": "pl-bartlett",
    "skovgaard": "pl-skovgaard", "truncate": None, "init": None, "reps": None, "wgt": None,
}
