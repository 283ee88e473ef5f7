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
from ipdmeta.stata.estimation import estimation_call, mi_prefix
from ipdmeta.stata.options import (
    EFORM_MEASURES,
    FOREST_OPTIONS,
    IPDMETAN2_OPTIONS,
    IPDMETAN_OPTIONS,
    METAN_OPTIONS,
    METAREG_OPTIONS,
    RE_MODELS,
    RE_SUBOPTIONS,
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

    ``kind`` is "ipdmeta", "pool", "arms" (ipdmetan's Syntax 2: collapse the IPD to
    summary data per study and arm with ``arms``, then pool), "metareg", "use",
    "tabulate" or "stset"; ``call`` the keyword arguments of the ipdmeta function,
    ``forest`` those of the forest plot (None: no plot), ``saving`` the file for the
    aggregate data (``replace``: its ``replace`` sub-option), ``stset_time`` the
    survival time of a survival model under ``stset`` (records with time <= 0 are
    excluded, as Stata's ``stset`` does).
    After :meth:`StataSession.run`, ``result`` holds the result object and
    ``output`` the printed summary.
    """

    command: str
    kind: str
    call: dict[str, Any] = field(default_factory=dict)
    forest: dict[str, Any] | None = None
    saving: str | None = None
    replace: bool = False
    stset_time: str | None = None
    eform: bool | None = None
    measure: str | None = None
    notes: list[str] = field(default_factory=list)
    result: Any = None
    output: str = ""
    files: list[Path] = field(default_factory=list)
    arms: dict[str, str] | None = None

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


def _pool_option(step: Step, key: str, value: Any) -> None:
    """A pool() option beyond method/ci/level: in ``pool_options`` of an ipdmeta() call."""
    if step.kind == "ipdmeta":
        step.call.setdefault("pool_options", {})[key] = value
    else:
        step.call[key] = value


def _random_effects(opt: Option, spec: OptionSpec, step: Step, where: str) -> None:
    """re / random / re(model [, sub-options]) / model(...) / fixed / common.

    Sub-options: hksj [truncate(one | zovert)], t, z, kr [eim | oim], bartlett, skovgaard
    (with pl), init(model) (with sj2s and dk2s), reps(#) (with bdl).
    """
    call = step.call
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
    truncate = None
    for sub in args[1:]:
        m = re.fullmatch(r"(\w+)(?:\((.*)\))?", sub.strip())
        name = m.group(1).lower() if m else sub
        value = (m.group(2) or "").strip().lower() if m else ""
        if name not in RE_SUBOPTIONS:
            raise StataSyntaxError(f"sub-option {sub!r} of {opt} is not supported; use "
                                   f"{', '.join(RE_SUBOPTIONS)}")
        if name == "truncate":
            truncate = {"one": "hksj-trunc", "1": "hksj-trunc", "zovert": "hksj-zovert"}.get(
                value)
            if truncate is None:
                raise StataSyntaxError(f"{sub!r}: use truncate(one) or truncate(zovert)")
        elif name == "init":
            if method not in ("SJ2S", "DK2S") or value not in RE_MODELS:
                raise StataSyntaxError(f"{sub!r}: init() names the first step of sj2s or dk2s, "
                                       "e.g. re(sj2s, init(reml))")
            call["method"] = f"{method}-{RE_MODELS[value][0]}"
        elif name == "reps":
            _pool_option(step, "reps", int(value))
        elif name in ("eim", "oim") and call.get("ci") not in ("kr", "kr-oim"):
            raise StataSyntaxError(f"{sub!r} goes with the Kenward-Roger model: re(reml, kr {sub})")
        elif name in ("bartlett", "skovgaard") and method != "ML":
            raise StataSyntaxError(f"{sub!r} corrects the profile likelihood: re(pl, {sub})")
        else:
            call["ci"] = RE_SUBOPTIONS[name]
    if truncate is not None:
        if call.get("ci") != "hksj":
            raise StataSyntaxError(f"truncate() goes with hksj: re({model}, hksj truncate(...))")
        call["ci"] = truncate


def _eform(spec: OptionSpec, step: Step, forest: dict[str, Any]) -> None:
    step.eform = True
    forest["eform"] = True
    step.measure = EFORM_MEASURES.get(spec.name, step.measure)


def _common_option(opt: Option, spec: OptionSpec, step: Step, forest: dict[str, Any],
                   where: str) -> bool:
    """Options shared by ipdmetan and metan; False when ``spec`` is not one of them."""
    name = spec.name
    if name in ("re", "random", "model", "fixed", "common", "fe", "iv"):
        _random_effects(opt, spec, step, where)
    elif name == "hksj":
        step.call["ci"] = "hksj"
    elif name in EFORM_MEASURES or name == "eform":
        _eform(spec, step, forest)
    elif name == "by":
        step.call["by"] = words(opt.args or "")[0]
    elif name == "level":
        step.call["level"] = _number(opt, where)
    elif name == "rflevel":
        _pool_option(step, "pi_level", _number(opt, where))
    elif name == "rfdist":
        step.notes.append("rfdist: the prediction interval is always given")
    elif name == "isqparam":
        _pool_option(step, "I2", "tau2")
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
            step.replace = step.replace or sub.lower() == "replace"
    elif any(s.name == name for s in FOREST_OPTIONS):
        _forest_option(opt, spec, forest, where)
    else:
        return False
    return True


_MEANS_MEASURES = {"cohend": "SMD_cohen", "hedgesg": "SMD", "glassd": "GLASS", "md": "MD",
                   "wmd": "MD", "nostandard": "MD"}
_NOTES = {
    "breslow": "breslow: the Breslow-Day test (and Tarone's) is in the MH odds-ratio summary",
    "tarone": "tarone: the Breslow-Day-Tarone test is in the MH odds-ratio summary",
    "cmh": "cmh: the Cochran-Mantel-Haenszel test is in the MH odds-ratio summary",
    "nointeger": "nointeger: non-integer counts are always accepted",
    "hedgesg": "hedges: Hedges' g with the exact small-sample correction (as metafor); "
               "metan's approximation is measure='SMD_metan'",
}


def _summary_option(opt: Option, spec: OptionSpec, step: Step, forest: dict[str, Any]
                    ) -> bool:
    """metan 4's options for counts and means; False when ``spec`` is not one of them."""
    name, call = spec.name, step.call
    if name == "rd":
        step.measure = "RD"
    elif name in _MEANS_MEASURES:
        step.measure = _MEANS_MEASURES[name]
    elif name == "mhaenszel":
        call["method"] = "MH"
    elif name == "peto":
        call["method"], step.measure = "peto", "OR"
    elif name == "fixedi":
        call["method"] = "common"
    elif name == "randomi":
        call["method"] = "DL"
    elif name == "nocc":
        call["correction"] = 0.0
    elif name == "cc":
        parts = split_top(opt.args or "", ",")
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
    elif name == "counts":
        forest["counts"] = True
    elif name in ("group1", "group2"):
        names = list(forest.get("group_names", ("Treatment", "Control")))
        names[name == "group2"] = unquote(opt.args or "")
        forest["group_names"] = tuple(names)
    elif name == "log":
        step.eform, forest["eform"] = False, False
    elif name in _NOTES:
        pass
    else:
        return False
    if name in _NOTES:
        step.notes.append(_NOTES[name])
    return True


def _summary_data(step: Step, n_words: int, where: str) -> None:
    """Check the measure of 2x2 (``n_words`` 4) or means/SD (6) data; MH by default."""
    measure = step.measure
    if n_words == 4:
        measure = measure or "RR"                  # metan's default for counts
        if measure not in ("OR", "RR", "RD"):
            raise StataSyntaxError(f"{where} with 2x2 counts pools or, rr or rd, not "
                                   f"{measure}")
        step.call.setdefault("method", "MH")       # metan's default model for counts
    else:
        if step.call.get("method") in ("MH", "peto"):
            raise StataSyntaxError(f"{where}: mhaenszel and peto pool 2x2 counts, not means")
        measure = measure or "SMD_cohen"           # metan's default for means: Cohen's d
        if measure not in _MEANS_MEASURES.values():
            raise StataSyntaxError(f"{where} with means and SDs pools md, cohen, hedges or "
                                   f"glass, not {measure}")
    step.measure = measure


_ORDER = ("study", "estimate", "se", "variance", "ci_low", "ci_high", "events", "nonevents",
          "means", "sds", "n", "formula", "model",
          "poolvar", "interaction", "firth", "ties", "exposure", "offset", "keep", "by",
          "method", "ci", "level", "correction", "correction_type", "to", "permutations")


def _ordered(call: dict[str, Any]) -> dict[str, Any]:
    """The call's keyword arguments in the order a person would write them."""
    rank = {k: i for i, k in enumerate(_ORDER)}
    return dict(sorted(call.items(), key=lambda kv: rank.get(kv[0], len(rank))))


_FOREST_ORDER = ("eform", "counts", "group_names", "effect", "xlabel", "xticks", "box_scale",
                 "text_fraction", "spacing", "left_columns", "right_columns", "favours",
                 "overall", "subtotals")


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
            for sub in words(",".join(parts[1:])):
                if sub.lower() not in ("missing", "missin", "missi", "miss"):
                    raise StataSyntaxError(f"sub-option {sub!r} of study() is not supported "
                                           f"(only missing): {opt}")
                step.call["missing_study"] = "group"   # missing ids are one study
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
    step.call.update(estimation_call(stage1, stset, interaction))
    if stset is not None and str(step.call.get("formula", "")).startswith("Surv("):
        step.stset_time = stset[0]
    terms = step.call.pop("_terms")
    if "poolvar" not in step.call and "interaction" not in step.call:
        step.call["poolvar"] = terms[0]
    return _finish(step, forest)


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
    forest: dict[str, Any] = {}
    for opt in cmd.options:
        spec = match(opt.name, METAN_OPTIONS, "metan")
        _check_args(opt, spec, "metan")
        if len(w) in (4, 6) and _summary_option(opt, spec, step, forest):
            continue
        if _common_option(opt, spec, step, forest, "metan"):
            continue
        if spec.name in ("study", "label"):
            arg = opt.args or ""
            m = re.search(r"namevar\s*=\s*(\w+)", arg)
            step.call["study"] = m.group(1) if m else words(arg)[0]
        else:
            raise StataSyntaxError(f"option {opt.name} of metan applies to 2x2 counts or "
                                   "means/SDs, not to ES seES input")
    if len(w) in (4, 6):
        _summary_data(step, len(w), "metan")
    return _finish(step, forest)


def translate_ipdmetan_arms(cmd: Command) -> Step:
    """``ipdmetan outcome treat, study(s) or|rr|rd|md|cohen|hedges|glass ...`` (Syntax 2):
    collapse the IPD to a 2x2 table (or means and SDs) per study, then pool as metan."""
    step = Step(command=cmd.text, kind="arms")
    if len(cmd.words) != 2:
        raise StataSyntaxError("ipdmetan without ': command' (Syntax 2) takes the outcome and "
                               "the 0/1 treatment: ipdmetan outcome treat, study(trial) or")
    forest: dict[str, Any] = {}
    for opt in cmd.options:
        spec = match(opt.name, IPDMETAN2_OPTIONS, "ipdmetan (Syntax 2)")
        _check_args(opt, spec, "ipdmetan")
        if _summary_option(opt, spec, step, forest) or _common_option(
                opt, spec, step, forest, "ipdmetan"):
            continue
        if spec.name == "study":
            step.call["study"] = words(split_top(opt.args or "", ",")[0])[0]
    if "study" not in step.call:
        raise StataSyntaxError("ipdmetan needs study(varname)")
    if step.measure is None:
        raise StataSyntaxError("ipdmetan outcome treat (Syntax 2) needs the measure: or, rr, "
                               "rd (0/1 outcome) or md, cohen, hedges, glass (continuous)")
    binary = step.measure in ("OR", "RR", "RD")
    _summary_data(step, 4 if binary else 6, "ipdmetan")
    step.arms = {"study": step.call["study"], "outcome": cmd.words[0],
                 "treatment": cmd.words[1], "kind": "binary" if binary else "continuous"}
    step.call.update({"events": ("events_1", "events_0"), "n": ("n_1", "n_0")} if binary
                     else {"means": ("mean_1", "mean_0"), "sds": ("sd_1", "sd_0"),
                           "n": ("n_1", "n_0")})
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
    if re.match(r"^mi\s+est(i(m(a(te?)?)?)?)?\b", line):     # mi estimate: ipdmetan ...
        rest, _ = mi_prefix(line)
        if not rest.lower().startswith("ipdmetan"):
            raise StataSyntaxError("mi estimate is supported with ipdmetan: write "
                                   "'mi estimate, post: ipdmetan, study(...) : command'")
        cmd_part, after_part = rest.split(":", 1)
        return translate(f"{cmd_part}: mi estimate, post: {after_part.strip()}", stset)
    colons = [i for i, _ in _scan(line, ":")]
    prefix, after = (line[:colons[0]], line[colons[0] + 1:]) if colons else (line, None)
    cmd = parse_command(prefix)
    name = cmd.name.lower()
    if name == "ipdmetan":
        if after is None:
            if cmd.words:
                return translate_ipdmetan_arms(cmd)
            raise StataSyntaxError("ipdmetan needs ': command' after its options (Syntax 1), "
                                   "e.g. 'ipdmetan, study(trial) : regress y treat', or an "
                                   "outcome and treatment (Syntax 2): 'ipdmetan y treat, "
                                   "study(trial) or'")
        after, imputed = mi_prefix(after)
        step = translate_ipdmetan(cmd, parse_command(after), stset)
        if imputed:
            step.call["imputation"] = "_mi_m"
            step.notes.append("mi estimate: the data must be in long (flong) form with the "
                              "imputation number in _mi_m (mi convert flong); imputation 0, "
                              "the original data, is left out")
        return step
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
                           "metareg, use, stset or tabulate ... generate()")
