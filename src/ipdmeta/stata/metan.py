"""``metan`` (aggregate data) -> ``ipd.pool``, and metan 4's options for 2x2 counts and
means/SDs (shared with ipdmetan's Syntax 2).

Example:
    >>> from ipdmeta.stata.parse import parse_command
    >>> step = translate_metan(parse_command("metan es se, label(namevar=author) wgt(n) "
    ...                                      "model(fe \\\\ reml) rfdist sortby(year)"))
    >>> step.call
    {'study': 'author', 'estimate': 'es', 'se': 'se', 'weights': 'n', 'method': 'common'}
    >>> step.models, step.forest["show_pi"], step.forest["sort_by"]
    (['REML'], True, 'year')
"""

from __future__ import annotations

import re
from typing import Any

from ipdmeta.stata.expressions import if_mask, in_range
from ipdmeta.stata.forest_options import FOREST_OPTIONS, forest_or_plot_option
from ipdmeta.stata.options import METAN_OPTIONS, OptionSpec
from ipdmeta.stata.parse import (
    Command,
    Option,
    StataSyntaxError,
    _number,
    match_first,
    split_top,
    unquote,
    words,
)
from ipdmeta.stata.shared import finish, shared_option
from ipdmeta.stata.step import Step

MEANS_MEASURES = {"cohend": "SMD_cohen", "hedgesg": "SMD", "glassd": "GLASS", "md": "MD",
                  "wmd": "MD", "nostandard": "MD"}
_NOTES = {
    "breslow": "breslow: the Breslow-Day test (and Tarone's) is in the MH odds-ratio summary",
    "tarone": "tarone: the Breslow-Day-Tarone test is in the MH odds-ratio summary",
    "cmh": "cmh: the Cochran-Mantel-Haenszel test is in the MH odds-ratio summary",
    "nointeger": "nointeger: non-integer counts are always accepted",
    "hedgesg": "hedges: Hedges' g with the exact small-sample correction (as metafor); "
               "metan's approximation is measure='SMD_metan'",
}


def _cc(o: Option, call: dict[str, Any]) -> None:
    parts = split_top(o.args or "", ",")
    value = words(parts[0])
    call["correction"] = _number(Option("cc", value[0]), "metan") if value else 0.5
    for sub in words(",".join(parts[1:])):
        s = sub.lower()
        if "opposite".startswith(s) and len(s) >= 3:
            call["correction_type"] = "opposite"
        elif "empirical".startswith(s) and len(s) >= 3:
            call["correction_type"] = "empirical"
        elif "allifzero".startswith(s) and len(s) >= 3:
            call["to"] = "if0all"
        else:
            raise StataSyntaxError(f"sub-option {sub!r} of cc() is not supported; use "
                                   "opposite, empirical or allifzero")


def summary_option(o: Option, spec: OptionSpec, step: Step, forest: dict[str, Any]) -> bool:
    """metan 4's options for counts and means; False when ``spec`` is not one of them."""
    name, call = spec.name, step.call
    if name == "rd":
        step.measure = "RD"
    elif name in MEANS_MEASURES:
        step.measure = MEANS_MEASURES[name]
    elif name == "mhaenszel":
        call["method"] = "MH"
    elif name == "peto":
        call["method"], step.measure = "peto", "OR"
    elif name == "nocc":
        call["correction"] = 0.0
    elif name == "cc":
        _cc(o, call)
    elif name == "counts":
        forest["counts"] = True
    elif name in ("group1", "group2"):
        names = list(forest.get("group_names", ("Treatment", "Control")))
        names[name == "group2"] = unquote(o.args or "")
        forest["group_names"] = tuple(names)
    elif name == "log":
        step.eform, forest["eform"] = False, False
    elif name not in _NOTES:
        return False
    if name in _NOTES:
        step.notes.append(_NOTES[name])
    return True


def summary_data(step: Step, n_words: int, where: str) -> None:
    """Check the measure of 2x2 (``n_words`` 4) or means/SD (6) data."""
    measure = step.measure
    if n_words == 4:
        measure = measure or "RR"                  # metan's default for counts
        if measure not in ("OR", "RR", "RD"):
            raise StataSyntaxError(f"{where} with 2x2 counts pools or, rr or rd, not "
                                   f"{measure}")
    else:
        if step.call.get("method") in ("MH", "peto"):
            raise StataSyntaxError(f"{where}: mhaenszel and peto pool 2x2 counts, not means")
        measure = measure or "SMD_cohen"           # metan's default for means: Cohen's d
        if measure not in MEANS_MEASURES.values():
            raise StataSyntaxError(f"{where} with means and SDs pools md, cohen, hedges or "
                                   f"glass, not {measure}")
    step.measure = measure


def qualifiers(cmd: Command, step: Step) -> None:
    """The ``if``/``in`` qualifiers of ``cmd`` as the step's row selection."""
    if cmd.if_exp is not None:
        step.selection = if_mask(cmd.if_exp)
    if cmd.in_range is not None:
        step.rows = in_range(cmd.in_range)


def label_columns(args: str) -> str | tuple[str, str]:
    """``label(namevar=x, yearvar=y)`` -> "x" or ("x", "y")."""
    name = re.search(r"namevar\s*=\s*(\w+)", args)
    year = re.search(r"yearvar\s*=\s*(\w+)", args)
    if name is None and year is None:
        raise StataSyntaxError(f"label({args}): write label(namevar=var [, yearvar=var])")
    if name and year:
        return (name.group(1), year.group(1))
    return (name or year).group(1)


def translate_metan(cmd: Command) -> Step:
    """``metan ES seES``, ``metan ES LCI UCI``, ``metan a b c d`` (events and non-events of
    the treatment and control arms) or ``metan n1 m1 sd1 n0 m0 sd0`` -> ``ipd.pool``."""
    step = Step(command=cmd.text, kind="pool")
    w = cmd.words
    if len(w) == 2:
        step.call.update(estimate=w[0], se=w[1])
    elif len(w) == 3:
        step.call.update(estimate=w[0], ci_low=w[1], ci_high=w[2])
    elif len(w) == 4:
        step.call.update(events=(w[0], w[2]), nonevents=(w[1], w[3]))
    elif len(w) == 6:
        step.call.update(means=(w[1], w[4]), sds=(w[2], w[5]), n=(w[0], w[3]))
    else:
        raise StataSyntaxError("metan takes ES seES, ES LCI UCI, 2x2 counts (events and "
                               "non-events: a b c d) or n1 mean1 sd1 n0 mean0 sd0")
    qualifiers(cmd, step)
    forest: dict[str, Any] = {}
    for o in cmd.options:
        if forest_or_plot_option(o, forest, "metan"):
            continue
        spec = match_first(o.name, [METAN_OPTIONS, FOREST_OPTIONS], "metan")
        if len(w) in (4, 6) and summary_option(o, spec, step, forest):
            continue
        if shared_option(o, spec, step, forest, "metan"):
            continue
        if spec.name in ("study", "label"):
            label = label_columns(o.args or "") if spec.name == "label" else words(o.args or "")[0]
            if isinstance(label, str):
                step.call["study"] = label
            else:                              # "name (year)" in a column _label
                step.call["study"], step.label = "_label", label
        elif spec.name == "npts":
            if not o.args:
                raise StataSyntaxError("npts of metan: name the variable of participant "
                                       "numbers, npts(varname) (or use counts)")
            forest["lcols"] = f"{o.args} {forest.get('lcols', '')}".strip()
        else:
            raise StataSyntaxError(f"option {o.name} of metan applies to 2x2 counts or "
                                   "means/SDs, not to ES seES input")
    if len(w) in (4, 6):
        summary_data(step, len(w), "metan")
    columns(forest, step)
    return finish(step, forest, counts=len(w) == 4)


def columns(forest: dict[str, Any], step: Step) -> None:
    """metan's lcols()/rcols(): variables of the data, shown beside the plot."""
    for key, target in (("lcols", "left_columns"), ("rcols", "right_columns")):
        if key in forest:
            names = words(forest.pop(key))
            if any(n.startswith("(") or "=" in n for n in names):
                raise StataSyntaxError(f"{key}() of metan takes variable names; the collapse "
                                       "syntax ((stat) var) is ipdmetan's")
            if names:
                forest[target] = names
