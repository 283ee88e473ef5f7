"""Translation of parsed Stata commands into ipdmeta calls (used by :mod:`ipdmeta.stata`).

Example:
    >>> translate("metan es se, re(reml, hksj)").call
    {'estimate': 'es', 'se': 'se', 'method': 'REML', 'ci': 'hksj'}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipdmeta.stata.codegen import python_code
from ipdmeta.stata.mixed import is_mixed, mixed_call
from ipdmeta.stata.options import (
    EFORM_MEASURES,
    FOREST_OPTIONS,
    IPDMETAN_OPTIONS,
    METAN_OPTIONS,
    METAREG_OPTIONS,
    RE_MODELS,
    STAGE1_COMMANDS,
    OptionSpec,
)
from ipdmeta.stata.parse import (
    Command,
    Option,
    StataSyntaxError,
    _check_args,
    _number,
    _scan,
    fv_term,
    match,
    numlist,
    parse_command,
    parse_options,
    split_top,
    stata_coefficient,
    unquote,
    words,
)


# ---------------------------------------------------------------------------- translation
@dataclass
class Step:
    """One translated command: what to call, with which arguments, and its result.

    ``kind`` is "ipdmeta", "pool", "metareg", "onestage", "use", "tabulate" or "stset";
    ``call`` the keyword arguments of the ipdmeta function, ``forest`` those of
    the forest plot (None: no plot), ``saving`` the file for the aggregate data.
    After :meth:`StataSession.run`, ``result`` holds the result object and
    ``output`` the printed summary.
    """

    command: str
    kind: str
    call: dict[str, Any] = field(default_factory=dict)
    forest: dict[str, Any] | None = None
    saving: str | None = None
    eform: bool | None = None
    measure: str | None = None
    notes: list[str] = field(default_factory=list)
    result: Any = None
    output: str = ""
    files: list[Path] = field(default_factory=list)

    @property
    def python(self) -> str:
        """The equivalent ipdmeta Python code (``data`` is the data in memory)."""
        return python_code(self)


def _forest_options(text: str, forest: dict[str, Any], where: str = "forest()") -> None:
    for opt in parse_options(text):
        _forest_option(opt, match(opt.name, FOREST_OPTIONS, where), forest, where)


def _forest_option(opt: Option, spec: OptionSpec, forest: dict[str, Any], where: str) -> None:
    _check_args(opt, spec, where)
    name, args = spec.name, opt.args or ""
    if name == "xtitle":
        forest["xlabel"] = unquote(split_top(args, ",")[0])
    elif name == "xlabel":
        forest["xticks"] = numlist(args)
    elif name == "boxscale":
        forest["box_scale"] = _number(opt, where) / 100.0
    elif name == "astext":
        forest["text_fraction"] = _number(opt, where) / 100.0
    elif name == "spacing":
        forest["spacing"] = _number(opt, where)
    elif name in ("lcols", "rcols"):
        cols = words(args)
        if any(c.startswith("(") or "=" in c for c in cols):
            raise StataSyntaxError(f"{name}() takes a list of variable names here; collapse "
                                   f"syntax ((stat), newname=) is not supported: {opt}")
        forest["left_columns" if name == "lcols" else "right_columns"] = cols
    elif name == "favours":
        sides = [unquote(s) for s in args.split("#")]
        if len(sides) != 2:
            raise StataSyntaxError(f"favours() needs two texts separated by '#': {opt}")
        forest["favours"] = (sides[0].strip(), sides[1].strip())
    elif name == "effect":
        forest["effect"] = unquote(args)
    elif name == "nooverall":
        forest["overall"] = False
    elif name == "nosubgroup":
        forest["subtotals"] = False
    elif name == "title":
        forest["title"] = unquote(split_top(args, ",")[0])
    elif name == "nowt":
        forest["show_weights"] = False
    elif name == "nostats":
        forest["show_estimates"] = False


def _random_effects(opt: Option, spec: OptionSpec, call: dict[str, Any], where: str) -> None:
    """re / random / re(model [, hksj]) / model(...) / fixed / common."""
    if spec.name in ("fixed", "common", "fe", "iv"):
        call["method"] = "common"
        return
    args = words(opt.args or "")
    if not args:
        if spec.name == "model":
            raise StataSyntaxError(f"model() of {where} needs a model, e.g. model(reml)")
        call["method"] = "DL"          # Stata's random effects default: DerSimonian-Laird
        return
    model = args[0].lower()
    if model not in RE_MODELS:
        raise StataSyntaxError(f"random-effects model {args[0]!r} in {opt} is not supported; "
                               f"use one of {', '.join(sorted(RE_MODELS))}")
    method, ci = RE_MODELS[model]
    call["method"] = method
    if ci:
        call["ci"] = ci
    for sub in args[1:]:
        s = sub.lower()
        if s in ("hksj", "kh", "knapphartung"):
            call["ci"] = "hksj"
        elif s == "t":
            call["ci"] = "t"
        else:
            raise StataSyntaxError(f"sub-option {sub!r} of {opt} is not supported; use hksj "
                                   "or t")


def _eform(spec: OptionSpec, step: Step, forest: dict[str, Any]) -> None:
    step.eform = True
    forest["eform"] = True
    step.measure = EFORM_MEASURES.get(spec.name, step.measure)


def _common_option(opt: Option, spec: OptionSpec, step: Step, forest: dict[str, Any],
                   where: str) -> bool:
    """Options shared by ipdmetan and metan; False when ``spec`` is not one of them."""
    name = spec.name
    if name in ("re", "random", "model", "fixed", "common", "fe", "iv"):
        _random_effects(opt, spec, step.call, where)
    elif name == "hksj":
        step.call["ci"] = "hksj"
    elif name in EFORM_MEASURES or name == "eform":
        _eform(spec, step, forest)
    elif name == "by":
        step.call["by"] = words(opt.args or "")[0]
    elif name == "level":
        step.call["level"] = _number(opt, where)
    elif name == "nograph":
        step.forest = None
        step.notes.append("nograph: no forest plot is drawn")
        forest["__nograph__"] = True
    elif name in ("forest", "forestplot"):
        _forest_options(opt.args or "", forest)
    elif name == "saving":
        parts = split_top(opt.args or "", ",")
        step.saving = unquote(parts[0])
        for sub in words(",".join(parts[1:])):
            if sub.lower() not in ("replace", "stacklabel"):
                raise StataSyntaxError(f"sub-option {sub!r} of saving() is not supported; "
                                       "use replace")
    elif any(s.name == name for s in FOREST_OPTIONS):
        _forest_option(opt, spec, forest, where)
    else:
        return False
    return True


_ORDER = ("study", "estimate", "se", "variance", "ci_low", "ci_high", "formula", "model",
          "poolvar", "interaction", "firth", "ties", "exposure", "offset", "keep", "by",
          "method", "ci", "level", "permutations")


def _ordered(call: dict[str, Any]) -> dict[str, Any]:
    """The call's keyword arguments in the order a person would write them."""
    rank = {k: i for i, k in enumerate(_ORDER)}
    return dict(sorted(call.items(), key=lambda kv: rank.get(kv[0], len(rank))))


_FOREST_ORDER = ("eform", "effect", "xlabel", "xticks", "box_scale", "text_fraction", "spacing",
                 "left_columns", "right_columns", "favours", "overall", "subtotals")


def _finish(step: Step, forest: dict[str, Any]) -> Step:
    nograph = forest.pop("__nograph__", False)
    rank = {k: i for i, k in enumerate(_FOREST_ORDER)}
    forest = dict(sorted(forest.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    step.forest = None if nograph else forest
    step.call.setdefault("method", "common")   # Stata's default: fixed (common) effect
    step.call = _ordered(step.call)
    return step


def translate_ipdmetan(cmd: Command, stage1: Command,
                       stset: tuple[str, str] | None = None) -> Step:
    """``ipdmetan, options : command`` -> a Step calling ``ipd.ipdmeta``."""
    step = Step(command=cmd.text + " : " + stage1.text, kind="ipdmeta")
    forest: dict[str, Any] = {}
    if cmd.words:
        raise StataSyntaxError(f"ipdmetan exp_list {' '.join(cmd.words)!r} is not supported: "
                               "the pooled coefficient is chosen with poolvar()")
    interaction = False
    for opt in cmd.options:
        spec = match(opt.name, IPDMETAN_OPTIONS, "ipdmetan")
        _check_args(opt, spec, "ipdmetan")
        if _common_option(opt, spec, step, forest, "ipdmetan"):
            continue
        if spec.name == "study":
            parts = split_top(opt.args or "", ",")
            step.call["study"] = words(parts[0])[0]
            if len(parts) > 1:
                raise StataSyntaxError(f"sub-options of study() are not supported: {opt}")
        elif spec.name == "poolvar":
            step.call["poolvar"] = stata_coefficient(unquote(opt.args or ""))
        elif spec.name == "interaction":
            interaction = True
        elif spec.name == "keep":
            step.call["keep"] = words(opt.args or "")
        elif spec.name == "keepall":
            step.notes.append("keepall: ipdmeta always lists the studies it could not "
                              "estimate, with their reason")
    if "study" not in step.call:
        raise StataSyntaxError("ipdmetan needs study(varname)")
    step.call.update(_stage1(stage1, stset, interaction))
    terms = step.call.pop("_terms")
    if "poolvar" not in step.call and "interaction" not in step.call:
        step.call["poolvar"] = terms[0]
    return _finish(step, forest)


def _split_interaction(names: list[str]) -> tuple[list[str], tuple[str, str]]:
    """For ``interaction``: the first ``a#b``/``a##b`` becomes stage 1's interaction=."""
    first = next((n for n in names if "#" in n), None)
    if first is None:
        raise StataSyntaxError("interaction: the command has no interaction term (write it "
                               "as a#b or a##b, e.g. i.treat##c.age)")
    parts = [re.sub(r"^(i|c|ib\d+|ibn)\.", "", p) for p in re.split("##?", first)]
    if len(parts) != 2:
        raise StataSyntaxError(f"interaction: {first!r} must join two variables")
    a, b = parts
    out = []
    for n in names:
        if n == first:
            out += [a, b] if "##" in n else []
        elif re.sub(r"^(i|c)\.", "", n) in (a, b) and "#" not in n:
            out.append(re.sub(r"^(i|c)\.", "", n))   # main effects as numeric columns
        else:
            out.append(n)
    return list(dict.fromkeys(out)), (a, b)


def _stage1(cmd: Command, stset: tuple[str, str] | None,
            interaction: bool = False) -> dict[str, Any]:
    """The stage-1 command after the colon: formula, model, ties, exposure."""
    spec = match(cmd.name, STAGE1_COMMANDS, "ipdmetan (after the colon)", what="command")
    out: dict[str, Any] = {"model": spec.model}
    if spec.name == "firthlogit":
        out["firth"] = True                    # Firth's penalised logistic regression
    names = list(cmd.words)
    if spec.name == "stcox":
        if stset is None:
            raise StataSyntaxError("stcox needs survival data: give --stset TIME EVENT or run "
                                   "'stset time, failure(event)' first")
        if not names:
            raise StataSyntaxError("stcox needs at least one covariate")
        lhs = f"Surv({stset[0]}, {stset[1]})"
        out["ties"] = "breslow"                # Stata's stcox default
    else:
        if len(names) < 2:
            raise StataSyntaxError(f"{cmd.name} needs an outcome and at least one covariate")
        lhs, names = fv_term(names[0]), names[1:]
    if interaction:
        names, out["interaction"] = _split_interaction(names)
    terms = [fv_term(n) for n in names]
    if not terms:
        terms = ["1"]
    for opt in cmd.options:
        o = match(opt.name, spec.options, cmd.name)
        _check_args(opt, o, cmd.name)
        if o.name in ("efron", "breslow"):
            out["ties"] = o.name
        elif o.name in ("exposure", "offset"):
            var = words(opt.args or "")[0]
            out["exposure" if o.name == "exposure" else "offset"] = var
        # or / irr / hr / nohr / nolog only change Stata's display of stage 1
    out["formula"] = f"{lhs} ~ {' + '.join(terms)}"
    out["_terms"] = terms
    return out


def translate_metan(cmd: Command) -> Step:
    """``metan ES seES`` or ``metan ES LCI UCI`` -> a Step calling ``ipd.pool``."""
    step = Step(command=cmd.text, kind="pool")
    if len(cmd.words) == 2:
        step.call.update(estimate=cmd.words[0], se=cmd.words[1])
    elif len(cmd.words) == 3:
        step.call.update(estimate=cmd.words[0], ci_low=cmd.words[1], ci_high=cmd.words[2])
    else:
        raise StataSyntaxError("metan takes ES seES or ES LCI UCI (analysis scale, e.g. log "
                               "HR); 2x2 counts and means/SDs are not supported")
    forest: dict[str, Any] = {}
    for opt in cmd.options:
        spec = match(opt.name, METAN_OPTIONS, "metan")
        _check_args(opt, spec, "metan")
        if _common_option(opt, spec, step, forest, "metan"):
            continue
        if spec.name in ("study", "label"):
            arg = opt.args or ""
            m = re.search(r"namevar\s*=\s*(\w+)", arg)
            step.call["study"] = m.group(1) if m else words(arg)[0]
    return _finish(step, forest)


def translate_metareg(cmd: Command) -> Step:
    """``metareg ES x1 x2, wsse(seES)`` -> a Step calling ``ipd.metareg``."""
    step = Step(command=cmd.text, kind="metareg")
    if len(cmd.words) < 2:
        raise StataSyntaxError("metareg needs the effect variable and at least one covariate")
    step.call["estimate"] = cmd.words[0]
    step.call["formula"] = "~ " + " + ".join(fv_term(w) for w in cmd.words[1:])
    step.call.update(method="REML", ci="hksj")       # metareg's defaults (Knapp-Hartung)
    for opt in cmd.options:
        spec = match(opt.name, METAREG_OPTIONS, "metareg")
        _check_args(opt, spec, "metareg")
        arg = words(opt.args or "")
        if spec.name == "wsse":
            step.call["se"] = arg[0]
        elif spec.name == "wsvar":
            step.call["variance"] = arg[0]
        elif spec.name == "bsest":
            est = arg[0].lower()
            methods = {"reml": "REML", "ml": "ML", "eb": "EB", "mm": "DL"}
            if est not in methods:
                raise StataSyntaxError(f"bsest({arg[0]}) is not known; use reml, ml, eb or mm")
            step.call["method"] = methods[est]
        elif spec.name == "z":
            step.call["ci"] = "z"
        elif spec.name == "knapphartung":
            step.call["ci"] = "hksj"
        elif spec.name == "eform":
            step.eform = True
        elif spec.name == "level":
            step.call["level"] = _number(opt, "metareg")
        elif spec.name == "permute":
            step.call["permutations"] = int(_number(Option("permute",
                                                           split_top(opt.args or "", ",")[0]),
                                                    "metareg"))
    if "se" not in step.call and "variance" not in step.call:
        raise StataSyntaxError("metareg needs wsse(varname) or wsvar(varname)")
    step.call = _ordered(step.call)
    return step


def translate(line: str, stset: tuple[str, str] | None = None) -> Step:
    """Translate one Stata command line into a :class:`Step` (without running it).

    Example:
        >>> translate("metareg _ES i.intervention, wsse(_seES) eform").call["formula"]
        '~ C(intervention)'
    """
    line = " ".join(line.strip().rstrip(";").split())
    if line and is_mixed(line.split()[0]):
        call, eform, notes = mixed_call(line)
        return Step(command=line, kind="onestage", call=call, eform=eform, notes=notes)
    colons = [i for i, _ in _scan(line, ":")]
    prefix, after = (line[:colons[0]], line[colons[0] + 1:]) if colons else (line, None)
    cmd = parse_command(prefix)
    name = cmd.name.lower()
    if name == "ipdmetan":
        if after is None:
            raise StataSyntaxError("ipdmetan needs ': command' after its options (Syntax 1), "
                                   "e.g. 'ipdmetan, study(trial) : regress y treat'")
        return translate_ipdmetan(cmd, parse_command(after), stset)
    if after is not None:
        raise StataSyntaxError(f"only ipdmetan takes a ': command' part, not {cmd.name}")
    if name == "metan":
        return translate_metan(cmd)
    if name == "metareg":
        return translate_metareg(cmd)
    if name == "use":
        for opt in cmd.options:
            if opt.name.lower() != "clear":
                raise StataSyntaxError(f"option {opt.name!r} of use is not supported; use clear")
        if len(cmd.words) != 1:
            raise StataSyntaxError("use takes one file name")
        return Step(command=line, kind="use", call={"path": cmd.words[0]})
    if name == "stset":
        fail = [o for o in cmd.options if "failure".startswith(o.name.lower())]
        others = [o for o in cmd.options if o not in fail]
        if others:
            raise StataSyntaxError(f"option {others[0].name!r} of stset is not supported; "
                                   "use stset time, failure(event)")
        if len(cmd.words) != 1 or len(fail) != 1:
            raise StataSyntaxError("write stset TIME, failure(EVENT)")
        return Step(command=line, kind="stset",
                    call={"time": cmd.words[0], "event": words(fail[0].args or "")[0]})
    if len(name) >= 2 and "tabulate".startswith(name):
        gen = [o for o in cmd.options if len(o.name) >= 3 and "generate".startswith(o.name)]
        others = [o for o in cmd.options if o not in gen]
        if others or len(gen) != 1 or len(cmd.words) != 1:
            bad = f"option {others[0].name!r} is not supported; " if others else ""
            raise StataSyntaxError(f"{bad}write tabulate VAR, generate(STUB) to make dummies")
        return Step(command=line, kind="tabulate",
                    call={"variable": cmd.words[0], "stub": words(gen[0].args or "")[0]})
    raise StataSyntaxError(f"command {cmd.name!r} is not supported; use ipdmetan, metan, "
                           "metareg, mixed, melogit, mepoisson, use, stset or tabulate ... "
                           "generate()")
