"""The small-study and publication-bias commands: ``metabias`` (Harbord, Harris & Sterne
2009), ``metatrim`` (Steichen 2000), ``metafunnel`` (Sterne 2003) and ``confunnel``
(Palmer et al. 2008) -> ``ipd.pool`` and the bias method of the pooled result.

Each becomes a step of kind "bias": ``call`` pools the studies (the common-effect model
unless ``reffect``), ``bias`` names the method of the result that runs the test
(``{"method": "egger", "options": {...}}``; None for ``metafunnel``) and ``plot`` what is
drawn (``{"target": "res", "method": "radial"}``) with the keywords in ``forest``.

* ``metabias y se, egger`` -> ``res.egger(model="lm")``: Egger's weighted regression of
  the estimates on their standard errors, the slope ("bias") tested with t on k - 2 df;
  ``begg`` -> ``ipd.rank_test(res, exact=False)`` (Kendall's score, normal approximation);
  ``harbord`` and ``peters`` need the 2x2 counts ``d1 h1 d0 h0`` (log odds ratios):
  ``res.harbord()``, ``res.peters()``.
* ``metatrim y se`` -> ``res.trimfill(side="left", estimator="L0")``: metatrim assumes
  the missing studies have small effects (``flip``: large, side "right").
* ``metafunnel y se`` -> ``res.funnel()`` centred on the common-effect estimate;
  ``confunnel y se, contours(1 5 10)`` -> ``res.funnel(contours=[0.01, 0.05, 0.1])``
  (significance regions around the null).

Example:
    >>> from ipdmeta.stata.parse import parse_command
    >>> step = translate_bias(parse_command("metabias logor selogor, egger graph"))
    >>> step.call, step.bias
    ({'estimate': 'logor', 'se': 'selogor', 'method': 'common'}, {'method': 'egger', \
'options': {'model': 'lm'}})
    >>> translate_bias(parse_command("metatrim y v, var reffect flip funnel")).bias
    {'method': 'trimfill', 'options': {'side': 'right', 'estimator': 'L0'}}
"""

from __future__ import annotations

from typing import Any

from ipdmeta.stata.forest_options import refuse
from ipdmeta.stata.metan import qualifiers
from ipdmeta.stata.options import OptionSpec, opt
from ipdmeta.stata.parse import (
    Command,
    StataSyntaxError,
    _check_args,
    _number,
    match,
    numlist,
    words,
)
from ipdmeta.stata.shared import ordered
from ipdmeta.stata.step import Step

_ADDED = "ipdmeta never adds variables to the data in memory"
_TWOWAY = ("a twoway graph option: not translated; style the Figure that the plot method "
           "returns (matplotlib)")
_CI_INPUT = ("exp(theta) ll ul input is not translated; give the log estimate and its "
             "standard error (gen lnes = ln(es), se = (ln(ul) - ln(ll))/(2*invnormal(.975)))")

METABIAS_OPTIONS: tuple[OptionSpec, ...] = (
    opt("egger", 3, help='res.egger(model="lm") (the slope on the se, t on k - 2 df)'),
    opt("harbord", 3, help="res.harbord() (2x2 counts d1 h1 d0 h0; log odds ratios)"),
    opt("peters", 3, help="res.peters() (2x2 counts; the slope on 1/n)"),
    opt("begg", 3, help="ipd.rank_test(res, exact=False) (Kendall's score, normal p)"),
    opt("graph", 1, help="egger: res.radial() (Galbraith plot); begg: res.funnel()"),
    opt("or", 2, help='measure="OR" (the default for 2x2 counts)'),
    opt("rr", 2, help='measure="RR" (egger and begg on log risk ratios)'),
    opt("level", 1, "required", help="level="),
    opt("nofit", 3, refused="the radial plot always draws the fitted line and its band"),
    opt("z", 1, "required", refused=_ADDED + "; the scores are computed inside res.harbord()"),
    opt("v", 1, "required", refused=_ADDED + "; the variances are computed inside "
                                             "res.harbord()"),
    opt("mlabel", 4, "required", refused=_TWOWAY),
)

METATRIM_OPTIONS: tuple[OptionSpec, ...] = (
    opt("var", 1, help="variance= (the second variable holds variances)"),
    opt("ci", 2, refused=_CI_INPUT),
    opt("reffect", 2, help='method="DL" (the random-effects model throughout)'),
    opt("print", 2, help="(the study estimates and weights are in res.summary())"),
    opt("estimator", 3, "required", help="estimator= (run R0, linear L0, quadratic Q0)"),
    opt("eform", 2, help="summary(eform=True)"),
    opt("funnel", 1, help="tf.funnel() (the filled studies as open circles)"),
    opt("level", 1, "required", help="level="),
    opt("graph", 1, help="tf.result.forest() (the analysis with the filled studies)"),
    opt("idvar", 2, "required", help="study="),
    opt("save", 2, "required", refused="the filled data are tf.filled, a DataFrame: write "
                                       "it with tf.filled.to_csv()"),
    opt("flip", 4, help='side="right" (missing studies with large effects)'),
    opt("mixed", 5, refused="ipdmeta estimates the number of missing studies with the model "
                            "of the analysis (common or random effects), not a mix"),
)

METAFUNNEL_OPTIONS: tuple[OptionSpec, ...] = (
    opt("var", 1, help="variance="),
    opt("ci", 2, refused=_CI_INPUT),
    opt("eform", 2, help="res.funnel(eform=True)"),
    opt("noline", 3, "none", "nolines", refused="the pseudo-confidence lines are always "
                                                "drawn"),
    opt("reverse", 3, refused="the standard-error axis has 0 at the top (Stata's default); "
                              "res.funnel(yaxis='precision') draws precision instead"),
    opt("forcenull", 4, refused="the funnel is centred on the pooled estimate; "
                                "res.funnel(contours=True) adds significance regions "
                                "around the null"),
    opt("by", 2, "required", refused="subgroups are not marked in the funnel plot; draw "
                                     "one funnel per subgroup (if by == ...)"),
)

_STYLE = ("a graph styling option: not translated; style the Figure that res.funnel() "
          "returns (matplotlib)")
#: confunnel (Palmer et al. 2008); abbreviations are not accepted (full names only)
CONFUNNEL_OPTIONS: tuple[OptionSpec, ...] = (
    opt("contours", 8, "required", help="res.funnel(contours=[...]) (percent -> levels; "
                                        "default 1 5 10)"),
    opt("metric", 6, "required", help="se (default): yaxis='se'; invse: yaxis='precision'"),
    opt("shadedcontours", 14, help="(the contour regions are always shaded)"),
    opt("solidcontours", 13, help="(the contour regions are always shaded)"),
    opt("onesided", 8, "required", refused="one-sided contours are not drawn; the regions "
                                           "are two-sided (p < level)"),
    *(opt(name, len(name), "required", refused=_STYLE)
      for name in ("contcolor", "scatteropts", "twowayopts", "legendopts", "legendlabels",
                   "extraplot", "functionlowopts", "functionuppopts")),
)

#: the commands of this module and their option tables
BIAS_COMMANDS = {"metabias": METABIAS_OPTIONS, "metatrim": METATRIM_OPTIONS,
                 "metafunnel": METAFUNNEL_OPTIONS, "confunnel": CONFUNNEL_OPTIONS}
_TESTS = {"egger": ("egger", {"model": "lm"}), "harbord": ("harbord", {}),
          "peters": ("peters", {}), "begg": ("rank_test", {"exact": False})}
_ESTIMATORS = {"run": "R0", "linear": "L0", "quadratic": "Q0"}


def _inputs(cmd: Command, name: str, step: Step, variance: bool) -> None:
    w = cmd.words
    if len(w) == 2:
        step.call.update(estimate=w[0], **{"variance" if variance else "se": w[1]})
    elif len(w) == 4 and name == "metabias":
        step.call.update(events=(w[0], w[2]), nonevents=(w[1], w[3]))
        step.measure = "OR"
    else:
        counts = " or the 2x2 counts d1 h1 d0 h0" if name == "metabias" else ""
        raise StataSyntaxError(f"{name} takes the estimate and its standard error (theta "
                               f"se_theta){counts}, not {len(w)} variables")


def _metabias(step: Step, given: dict[str, Any]) -> None:
    tests = [t for t in _TESTS if t in given]
    if len(tests) != 1:
        raise StataSyntaxError("metabias needs exactly one of egger, harbord, peters or begg "
                               f"(given: {', '.join(tests) or 'none'})")
    test = tests[0]
    counts = "events" in step.call
    if test in ("harbord", "peters") and not counts:
        raise StataSyntaxError(f"metabias, {test} needs the 2x2 counts: metabias d1 h1 d0 h0, "
                               f"{test} (events and non-events of the treated, then control)")
    if "rr" in given:
        if test in ("harbord", "peters"):
            raise StataSyntaxError(f"metabias, {test} rr: ipdmeta's {test} test is for log "
                                   "odds ratios only; drop rr")
        if not counts:
            raise StataSyntaxError("metabias, rr applies to 2x2 counts; with theta se_theta "
                                   "the estimates are used as given")
        step.measure = "RR"
    method, options = _TESTS[test]
    step.bias = {"method": method, "options": dict(options)}
    if test == "begg":
        step.notes.append("begg: the p-value is the normal one without continuity correction "
                          "(Stata prints both)")
    if "graph" in given:
        if test not in ("egger", "begg"):
            raise StataSyntaxError(f"metabias, {test} graph: the modified Galbraith plot is "
                                   "not drawn; use egger graph (res.radial()) or "
                                   "res.funnel()")
        step.plot = {"target": "res", "method": "radial" if test == "egger" else "funnel"}
        step.forest = {}


def _metatrim(step: Step, given: dict[str, Any]) -> None:
    estimator = "L0"
    if "estimator" in given:
        arg = words(given["estimator"] or "")[0].lower()
        full = [k for k in _ESTIMATORS if k.startswith(arg)]
        if not arg or len(full) != 1:
            raise StataSyntaxError(f"estimator({arg}) of metatrim is not known; use run, "
                                   "linear or quadratic")
        estimator = _ESTIMATORS[full[0]]
    step.bias = {"method": "trimfill",
                 "options": {"side": "right" if "flip" in given else "left",
                             "estimator": estimator}}
    if "funnel" in given and "graph" in given:
        raise StataSyntaxError("metatrim: give funnel or graph (one plot per command)")
    if "funnel" in given:
        step.plot = {"target": "tf", "method": "funnel"}
    elif "graph" in given:
        step.plot = {"target": "tf.result", "method": "forest"}
    if step.plot is not None:
        step.forest = {"eform": True} if step.eform else {}


def _confunnel(step: Step, given: dict[str, Any]) -> None:
    levels = numlist(given["contours"]) if "contours" in given else [1, 5, 10]
    if not levels or any(not 0 < p < 100 for p in levels):
        raise StataSyntaxError("contours() of confunnel takes significance levels in "
                               "percent between 0 and 100, e.g. contours(1 5 10)")
    step.forest = {"contours": [p / 100 for p in levels]}
    metric = words(given.get("metric") or "se")[0].lower()
    if metric not in ("se", "invse"):
        raise StataSyntaxError(f"metric({metric}) of confunnel: ipdmeta draws se or invse "
                               "(precision) on the vertical axis, not variances")
    if metric == "invse":
        step.forest["yaxis"] = "precision"


def translate_bias(cmd: Command) -> Step:
    """``metabias``, ``metatrim``, ``metafunnel`` or ``confunnel`` -> a Step of kind
    "bias"."""
    name = cmd.name.lower()
    specs = BIAS_COMMANDS[name]
    step = Step(command=cmd.text, kind="bias")
    given: dict[str, Any] = {}
    for o in cmd.options:
        spec = match(o.name, specs, name)
        refuse(o, spec, name)
        _check_args(o, spec, name)
        given[spec.name] = o.args
        if spec.name == "level":
            step.call["level"] = _number(o, name)
        elif spec.name == "idvar":
            step.call["study"] = words(o.args or "")[0]
        elif spec.name == "eform":
            step.eform = True
        elif spec.name == "print":
            step.notes.append("print: " + spec.help.strip("()"))
    _inputs(cmd, name, step, variance="var" in given)
    qualifiers(cmd, step)
    step.call["method"] = "DL" if "reffect" in given else "common"
    if name == "metabias":
        _metabias(step, given)
    elif name == "metatrim":
        _metatrim(step, given)
    else:
        step.plot, step.forest = {"target": "res", "method": "funnel"}, {}
        if name == "confunnel":
            _confunnel(step, given)
        if step.eform:
            step.forest["eform"] = True
    step.call = ordered(step.call)
    return step
