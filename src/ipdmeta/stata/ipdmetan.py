"""``ipdmetan`` -> ``ipd.ipdmeta`` (Syntax 1, ``: command``) or, for Syntax 2, the
log-rank (``ipdmetan treat, study() logrank`` after ``stset``) and the collapse to 2x2
tables or means per arm (``ipdmetan y treat, study() or``).

``lcols()``/``rcols()`` become ``left_columns``/``right_columns`` of ``ipd.ipdmeta`` (the
columns are carried from the IPD, collapse syntax included); ``ad()`` adds aggregate
data; ``wgt(e(N))`` weights the studies by their participants.

Example:
    >>> from ipdmeta.stata.parse import parse_command
    >>> step = translate_ipdmetan(
    ...     parse_command("ipdmetan, study(trial) lcols(region (mean) age) wgt(e(N)) hr"),
    ...     parse_command("stcox treat if age > 40, strata(sex)"), ("t", "d"))
    >>> step.call["left_columns"], step.call["pool_options"], step.call["strata"]
    ('region (mean) age', {'weights': 'n'}, ['sex'])
    >>> step.selection.code
    '(data["age"] > 40) | data["age"].isna()'
"""

from __future__ import annotations

import re
from typing import Any

from ipdmeta.stata.estimation import estimation_call
from ipdmeta.stata.expressions import if_mask, in_range
from ipdmeta.stata.forest_options import FOREST_OPTIONS, forest_or_plot_option
from ipdmeta.stata.metan import qualifiers, summary_data, summary_option
from ipdmeta.stata.options import IPDMETAN2_OPTIONS, IPDMETAN_OPTIONS
from ipdmeta.stata.parse import (
    Command,
    Option,
    StataSyntaxError,
    match_first,
    parse_options,
    split_qualifiers,
    split_top,
    stata_coefficient,
    unquote,
    words,
)
from ipdmeta.stata.shared import finish, pool_option, shared_option
from ipdmeta.stata.step import Step

_PLAIN = re.compile(r"^[A-Za-z_]\w*$")


def _study(o: Option, step: Step) -> None:
    parts = split_top(o.args or "", ",")
    step.call["study"] = words(parts[0])[0]
    for sub in words(",".join(parts[1:])):
        if len(sub) < 1 or not "missing".startswith(sub.lower()):
            raise StataSyntaxError(f"sub-option {sub!r} of study() is not supported (only "
                                   "missing)")
        step.call["missing_study"] = "group"      # missing ids pooled as one study


def _columns(forest: dict[str, Any], call: dict[str, Any]) -> None:
    """lcols()/rcols() -> left_columns/right_columns of ipd.ipdmeta (names as a list;
    collapse syntax as written)."""
    for key, target in (("lcols", "left_columns"), ("rcols", "right_columns")):
        text = forest.pop(key, None)
        extra = call.pop(f"_{target}", [])
        if text is None and not extra:
            continue
        items = words(text or "")
        plain = '"' not in (text or "") and all(_PLAIN.match(w) for w in [*items, *extra])
        call[target] = ([*items, *[e for e in extra if e not in items]] if plain
                        else " ".join([text or "", *extra]).strip())


def _wgt(args: str, step: Step) -> None:
    """``wgt(e(N))`` (participants) or ``wgt(var)`` (a study-level variable)."""
    text = args.replace(" ", "")
    if text in ("e(N)", "r(N)"):
        pool_option(step, "weights", "n")
    elif _PLAIN.match(text):
        pool_option(step, "weights", text)
    else:
        raise StataSyntaxError(f"wgt({args}) of ipdmetan: use wgt(e(N)) (participants) or "
                               "wgt(varname) (a study-level variable); other expressions "
                               "are not translated")


def _ad(o: Option, step: Step, study: str | None) -> None:
    """``ad(file [if] [in], vars(es se|es lci uci) [npts(n) byad logrank relabel])``."""
    parts = split_top(o.args or "", ",")
    head, if_exp, in_text = split_qualifiers(parts[0])
    if not head:
        raise StataSyntaxError("ad() without a file name (aggregate data in memory) is not "
                               "translated: save the aggregate rows to a file and name it")
    agg: dict[str, Any] = {"path": unquote(head),
                           "selection": if_mask(if_exp) if if_exp else None,
                           "rows": in_range(in_text) if in_text else None}
    columns: dict[str, str] = {}
    logrank = False
    for sub in parse_options(",".join(parts[1:])):
        s = sub.name.lower()
        if s == "vars" and sub.args:
            agg["vars"] = words(sub.args)
        elif s == "npts" and sub.args:
            columns["n"] = words(sub.args)[0]
        elif s == "byad":
            step.call["by"] = "source"
        elif "logrank".startswith(s) and len(s) >= 4:
            logrank = True
        elif "relabel".startswith(s) and len(s) >= 3:
            step.call["relabel"] = True
        else:
            raise StataSyntaxError(f"sub-option {sub} of ad() is not supported; use vars(), "
                                   "npts(), byad, logrank, relabel")
    names = agg.pop("vars", None)
    if not names or len(names) not in (2, 3) or (logrank and len(names) != 2):
        raise StataSyntaxError("ad() needs vars(ES seES) or vars(ES LCI UCI) on the analysis "
                               "(log) scale, or vars(OE V) with logrank")
    keys = (("oe", "v") if logrank else ("estimate", "se") if len(names) == 2
            else ("estimate", "ci_low", "ci_high"))
    columns.update(dict(zip(keys, names, strict=True)))
    if study is not None:
        columns = {"study": study, **columns}
    step.call["aggregate_columns"] = columns
    if not logrank:
        step.call["aggregate_scale"] = "log"
    step.aggregate = agg


def _own_option(o: Option, name: str, step: Step, forest: dict[str, Any],
                flags: dict[str, Any]) -> None:
    """ipdmetan's own options (``IPDMETAN_ONLY``) and label()/npts/plotid."""
    call = step.call
    if name == "study":
        _study(o, step)
    elif name == "poolvar":
        call["poolvar"] = stata_coefficient(unquote(o.args or ""))
    elif name == "interaction":
        flags["interaction"] = True
    elif name == "keep":
        call["keep"] = words(o.args or "")
    elif name in ("messages", "nototal"):
        step.notes.append(f"{name}: " + ("ipdmeta lists every study that could not be "
                                         "estimated, with the reason" if name == "messages"
                                         else "ipdmeta never fits the model to all the data"))
    elif name == "label":
        label = [v for v in re.findall(r"(?:namevar|yearvar)\s*=\s*(\w+)", o.args or "")]
        if not label:
            raise StataSyntaxError("label(): write label(namevar=var [, yearvar=var])")
        call["label"] = label[0] if len(label) == 1 else tuple(label)
    elif name == "npts":
        call.setdefault("_left_columns", []).append('npts=(e(N)) "No. pts"')
    elif name == "oev":
        forest["right_columns"] = ["oe", "v"]     # the stage-1 columns of the log-rank
    elif name == "wgt":
        _wgt(o.args or "", step)
    elif name == "strata":
        flags["strata"] = words(o.args or "")
    elif name == "logrank":
        flags["logrank"] = True
    elif name == "ad":
        flags["ad"] = o
    else:
        raise StataSyntaxError(f"option {o.name} is not supported in ipdmetan")


def _options(cmd: Command, step: Step, table: tuple, where: str, summary: bool = False
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    forest: dict[str, Any] = {}
    flags: dict[str, Any] = {}
    for o in cmd.options:
        if forest_or_plot_option(o, forest, where):
            continue
        spec = match_first(o.name, [table, FOREST_OPTIONS], where)
        if spec.name == "wgt":
            _wgt(o.args or "", step)
        elif ((summary and summary_option(o, spec, step, forest))
              or shared_option(o, spec, step, forest, where)):
            continue
        else:
            _own_option(o, spec.name, step, forest, flags)
    if "study" not in step.call:
        raise StataSyntaxError("ipdmetan needs study(varname)")
    if forest.get("plot_id") == "_BYAD":
        forest["plot_id"] = "source"
    if "ad" in flags:
        _ad(flags["ad"], step, step.call["study"])
    label = step.call.get("label")
    if label == step.call["study"] or (isinstance(label, tuple) and label[0] ==
                                        step.call["study"] and len(label) == 1):
        del step.call["label"]          # labelled by the study variable itself
    weights = step.call.get("pool_options", {}).get("weights")
    for column in (weights, step.order):                      # study-level variables
        if column in (None, "n", step.call["study"]) or column in step.call.get("keep", []):
            continue
        step.call.setdefault("keep", []).append(column)
    if step.order == step.call["study"]:
        step.order = "study"                # sortby(the study variable): the study column
    return forest, flags


def translate_ipdmetan(cmd: Command, stage1: Command,
                       stset: tuple[str, str] | None = None) -> Step:
    """``ipdmetan, options : command`` -> a Step calling ``ipd.ipdmeta``."""
    step = Step(command=cmd.text + " : " + stage1.text, kind="ipdmeta")
    if cmd.words:
        raise StataSyntaxError(f"ipdmetan exp_list {' '.join(cmd.words)!r} is not supported: "
                               "the pooled coefficient is chosen with poolvar()")
    forest, flags = _options(cmd, step, IPDMETAN_OPTIONS, "ipdmetan")
    for flag in ("logrank", "strata"):
        if flag in flags:
            raise StataSyntaxError(f"{flag} belongs to ipdmetan's Syntax 2 (ipdmetan treat, "
                                   "study() logrank, after stset); with ': stcox', write "
                                   "stcox's own strata()")
    qualifiers(stage1, step)
    estimation = estimation_call(stage1, stset, flags.get("interaction", False))
    terms = estimation.pop("_terms")
    step.call.update(estimation)
    if stset is not None and str(step.call.get("formula", "")).startswith("Surv("):
        step.stset_time = stset[0]
    if "poolvar" not in step.call and "interaction" not in step.call:
        step.call["poolvar"] = terms[0]
    _columns(forest, step.call)
    return finish(step, forest)


def translate_ipdmetan_syntax2(cmd: Command, stset: tuple[str, str] | None = None) -> Step:
    """``ipdmetan treat, study() [logrank] [strata()]`` after stset (log-rank O − E and V
    per trial, ``model="logrank"``) or ``ipdmetan y treat, study() or|rr|rd|md|cohen|
    hedges|glass`` (2x2 tables or means per arm, pooled as metan)."""
    if len(cmd.words) == 1:
        step = Step(command=cmd.text, kind="ipdmeta")
        forest, flags = _options(cmd, step, IPDMETAN2_OPTIONS, "ipdmetan (Syntax 2)")
        if stset is None:
            raise StataSyntaxError("ipdmetan with one variable is the log-rank (Syntax 2: the "
                                   "0/1 treatment, after 'stset time, failure(event)' or "
                                   "--stset); for a 0/1 or continuous outcome give the "
                                   "outcome and the 0/1 treatment: ipdmetan y treat, "
                                   "study() or")
        qualifiers(cmd, step)
        step.call.update(formula=f"Surv({stset[0]}, {stset[1]}) ~ {cmd.words[0]}",
                         model="logrank", poolvar=cmd.words[0])
        step.stset_time = stset[0]
        if "strata" in flags:
            step.call["strata"] = flags["strata"]
        step.measure = "HR"
        step.eform, forest["eform"] = True, True
        _columns(forest, step.call)
        return finish(step, forest)
    if len(cmd.words) != 2:
        raise StataSyntaxError("ipdmetan without ': command' (Syntax 2) takes the outcome and "
                               "the 0/1 treatment (ipdmetan y treat, study() or), or the "
                               "treatment alone after stset (log-rank)")
    step = Step(command=cmd.text, kind="arms")
    forest, flags = _options(cmd, step, IPDMETAN2_OPTIONS, "ipdmetan (Syntax 2)", True)
    if step.measure is None:
        raise StataSyntaxError("ipdmetan outcome treat (Syntax 2) needs the measure: or, rr, "
                               "rd (0/1 outcome) or md, cohen, hedges, glass (continuous)")
    binary = step.measure in ("OR", "RR", "RD")
    summary_data(step, 4 if binary else 6, "ipdmetan")
    qualifiers(cmd, step)
    step.arms = {"study": step.call["study"], "outcome": cmd.words[0],
                 "treatment": cmd.words[1], "kind": "binary" if binary else "continuous"}
    step.call.update({"events": ("events_1", "events_0"), "n": ("n_1", "n_0")} if binary
                     else {"means": ("mean_1", "mean_0"), "sds": ("sd_1", "sd_0"),
                           "n": ("n_1", "n_0")})
    for key, target in (("lcols", "left_columns"), ("rcols", "right_columns")):
        if key in forest:
            forest[target] = words(forest.pop(key))
    return finish(step, forest, counts=binary)
