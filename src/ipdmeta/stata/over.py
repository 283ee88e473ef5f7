"""``ipdover`` -> ``ipd.ipdover`` and ``forestplot`` (on a results set) ->
``ipd.forest_from_results``: the two commands whose plots are drawn from results sets.

Example:
    >>> from ipdmeta.stata.parse import parse_command
    >>> step = translate_ipdover(parse_command("ipdover, over(sex agegrp) over(trial) hr"),
    ...                          parse_command("stcox treat"), ("t", "d"))
    >>> step.call["over"], step.call["by"], step.call["formula"]
    (['sex', 'agegrp'], 'trial', 'Surv(t, d) ~ treat')
"""

from __future__ import annotations

from typing import Any

from ipdmeta.stata.estimation import estimation_call
from ipdmeta.stata.forest_options import (
    FOREST_OPTIONS,
    forest_option,
    forest_options,
    refuse,
)
from ipdmeta.stata.metan import qualifiers
from ipdmeta.stata.options import EFORM_MEASURES, IPDOVER_OPTIONS
from ipdmeta.stata.parse import (
    Command,
    StataSyntaxError,
    _check_args,
    _number,
    match,
    match_first,
    split_top,
    stata_coefficient,
    unquote,
    words,
)
from ipdmeta.stata.step import Step

#: the forest keywords a results-set plot takes (ipdover, forestplot)
RESULTS_FOREST = ("eform", "effect", "xlabel", "xticks", "xlim", "left_columns",
                  "right_columns", "show_weights", "show_estimates", "show_pi", "digits",
                  "favours", "box_scale", "text_fraction", "spacing", "null_line", "title",
                  "font_size", "colors", "show_boxes", "null", "ci_caps")


def _results_forest(forest: dict[str, Any], where: str) -> dict[str, Any]:
    """Check that a results-set plot can honour ``forest`` (lcols/rcols become the
    columns of the set)."""
    for key, target in (("lcols", "left_columns"), ("rcols", "right_columns")):
        if key in forest:
            forest[target] = words(forest.pop(key))
    bad = [k for k in forest if k not in RESULTS_FOREST and not k.startswith("__")]
    if bad:
        raise StataSyntaxError(f"{where}: the plot of a results set does not take "
                               f"{', '.join(bad)} (these concern pooled analyses); see "
                               "docs/stata.md")
    return forest


def translate_ipdover(cmd: Command, stage1: Command,
                      stset: tuple[str, str] | None = None) -> Step:
    """``ipdover, over(vars [, missing]) [over(var)] [options] : command`` ->
    ``ipd.ipdover(data, over=[...], by=..., formula=..., model=...)``."""
    step = Step(command=cmd.text + " : " + stage1.text, kind="ipdover")
    forest: dict[str, Any] = {}
    overs: list[list[str]] = []
    for o in cmd.options:
        spec = match_first(o.name, [IPDOVER_OPTIONS, FOREST_OPTIONS], "ipdover")
        refuse(o, spec, "ipdover")
        _check_args(o, spec, "ipdover")
        name = spec.name
        if name == "over":
            parts = split_top(o.args or "", ",")
            overs.append(words(parts[0]))
            for sub in words(",".join(parts[1:])):
                if not "missing".startswith(sub.lower()):
                    raise StataSyntaxError(f"sub-option {sub!r} of over() is not supported")
                step.call["missing"] = True
        elif name == "poolvar":
            step.call["poolvar"] = stata_coefficient(unquote(o.args or ""))
        elif name == "level":
            step.call["level"] = _number(o, "ipdover")
        elif name == "eform" or name in EFORM_MEASURES:
            step.eform, forest["eform"] = True, True
        elif name == "nograph":
            forest["__nograph__"] = True
        elif name == "notable":
            step.quiet = True
        elif name == "nooverall":
            step.call["overall"] = False
        elif name in ("nosubgroup", "messages"):
            step.notes.append(f"{name}: {spec.help.strip('()')}")
        elif name == "saving":
            parts = split_top(o.args or "", ",")
            step.saving = unquote(parts[0])
            step.replace = "replace" in [w.lower() for w in words(",".join(parts[1:]))]
        elif name == "forestplot":
            forest_options(o.args or "", forest, "forestplot() of ipdover")
        else:
            forest_option(o, spec, forest, "ipdover")
    if not overs or len(overs) > 2 or (len(overs) == 2 and len(overs[1]) != 1):
        raise StataSyntaxError("ipdover needs over(varlist) and at most a second over(varname)")
    step.call["over"] = overs[0]
    if len(overs) == 2:
        step.call["by"] = overs[1][0]
    qualifiers(stage1, step)
    estimation = estimation_call(stage1, stset)
    terms = estimation.pop("_terms")
    step.call.update(estimation)
    if stset is not None and str(step.call.get("formula", "")).startswith("Surv("):
        step.stset_time = stset[0]
    step.call.setdefault("poolvar", terms[0])
    nograph = forest.pop("__nograph__", False)
    step.notes += forest.pop("__notes__", [])
    step.forest = None if nograph else _results_forest(forest, "ipdover")
    return step


def translate_forestplot(cmd: Command) -> Step:
    """``forestplot [ES lci uci] [if] [in] [, options]`` on a results set in memory ->
    ``ipd.forest_from_results(data, ...)``."""
    step = Step(command=cmd.text, kind="forestplot")
    if cmd.words and [w.upper() for w in cmd.words] != ["_ES", "_LCI", "_UCI"]:
        raise StataSyntaxError("forestplot draws a results set (_USE, _ES, _LCI, _UCI ...); "
                               "other variables are not translated: rename them first")
    qualifiers(cmd, step)
    forest: dict[str, Any] = {}
    for o in cmd.options:
        spec = match(o.name, FOREST_OPTIONS, "forestplot")
        forest_option(o, spec, forest, "forestplot")
    step.notes += forest.pop("__notes__", [])
    step.forest = _results_forest(forest, "forestplot")
    return step
