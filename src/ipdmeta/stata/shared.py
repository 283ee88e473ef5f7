"""Options that ipdmetan and metan share: the pooling models (``model_spec``) and
metan's main options (subgroups, levels, output, plot, saving).

:func:`shared_option` writes one such option into a :class:`~ipdmeta.stata.step.Step`
and the keyword dictionary of its forest plot; :func:`finish` puts the call in the
order a person would write it and applies Stata's defaults (common effect; no
prediction interval without ``rfdist``).

Example:
    >>> models_call("mh \\\\ reml, hksj truncate(one) \\\\ dl", "metan")
    ({'method': 'MH'}, [{'method': 'REML', 'ci': 'hksj-trunc'}, 'DL'])
"""

from __future__ import annotations

from typing import Any

from ipdmeta.stata.forest_options import FOREST_OPTIONS, forest_option, forest_options, refuse
from ipdmeta.stata.options import (
    EFORM_MEASURES,
    RE_MODELS,
    RE_SUBOPTIONS,
    REFUSED_MODELS,
    OptionSpec,
)
from ipdmeta.stata.parse import (
    Option,
    StataSyntaxError,
    _check_args,
    _number,
    parse_options,
    split_top,
    unquote,
    words,
)
from ipdmeta.stata.step import Step

#: hetinfo() statistics -> forest(het_stats=) names
HETINFO = {"isq": "I2", "h": "H", "h2m": "H2", "tausq": "tau2", "q": "Q", "pvalue": "p",
           "p": "p"}


def _model(text: str, where: str) -> dict[str, Any]:
    """One model of ``model(...)``: ``name [, options]`` -> pool() keywords (``reps`` and
    ``weights`` included; :func:`apply_model` routes them)."""
    parts = split_top(text, ",")
    head = words(parts[0])
    if len(head) != 1:
        raise StataSyntaxError(f"model {parts[0]!r} of {where}: a model is a name (reml, dl, "
                               "...); user-supplied estimates (ES lci uci) are not pooled "
                               "results: add them to the results set instead")
    name = head[0].lower()
    if name in REFUSED_MODELS:
        raise StataSyntaxError(f"random-effects model {head[0]!r} ({REFUSED_MODELS[name]}) "
                               f"of {where} is not translated; see docs/stata.md")
    if name not in RE_MODELS:
        raise StataSyntaxError(f"random-effects model {head[0]!r} of {where} is not known; "
                               f"use one of {', '.join(sorted(RE_MODELS))}")
    method, ci = RE_MODELS[name]
    out: dict[str, Any] = {"method": method}
    if ci:
        out["ci"] = ci
    truncate = None
    for sub in parse_options(",".join(parts[1:])):
        s = sub.name.lower()
        value = (sub.args or "").strip()
        if s not in RE_SUBOPTIONS:
            raise StataSyntaxError(f"sub-option {sub} of model {name} in {where} is not "
                                   f"supported; use {', '.join(RE_SUBOPTIONS)}")
        if s == "truncate":
            truncate = _truncate(value, where)
        elif s == "init":
            if method not in ("SJ2S", "DK2S") or value.lower() not in RE_MODELS:
                raise StataSyntaxError(f"{sub}: init() names the first step of sj2s or dk2s, "
                                       "e.g. re(sj2s, init(reml))")
            out["method"] = f"{method}-{RE_MODELS[value.lower()][0]}"
        elif s == "reps":
            out["reps"] = int(float(value))
        elif s == "wgt":
            out["weights"] = words(value)[0]
        elif s in ("eim", "oim") and out.get("ci") not in ("kr", "kr-oim"):
            raise StataSyntaxError(f"{sub} goes with the Kenward-Roger model: "
                                   f"re(reml, kr {sub})")
        elif s in ("bartlett", "skovgaard") and method != "ML":
            raise StataSyntaxError(f"{sub} corrects the profile likelihood: re(pl, {sub})")
        else:
            out["ci"] = RE_SUBOPTIONS[s]
    if truncate is not None:
        if out.get("ci") != "hksj":
            raise StataSyntaxError(f"truncate() goes with hksj: re({name}, hksj "
                                   "truncate(...))")
        out["ci"] = truncate
    return out


def _truncate(args: str, where: str) -> str:
    kind = words(args)[0].lower() if words(args) else ""
    if kind in ("one", "1"):
        return "hksj-trunc"
    if kind == "zovert":
        return "hksj-zovert"
    raise StataSyntaxError(f"truncate({args}) in {where}: use truncate(one) or "
                           "truncate(zovert)")


def models_call(text: str, where: str) -> tuple[dict[str, Any], list[Any]]:
    """``model(a [, opts] \\ b [, opts] ...)`` -> (the pool() keywords of the first model,
    the further models for ``res.with_models``: a name or a dict of options)."""
    specs = [_model(part, where) for part in text.split("\\") if part.strip()]
    if not specs:
        raise StataSyntaxError(f"model() of {where} needs a model, e.g. model(reml)")
    extra = [s["method"] if set(s) == {"method"} else s for s in specs[1:]]
    for s in specs[1:]:
        if set(s) - {"method", "ci"} or s["method"] in ("MH", "peto", "fixed"):
            raise StataSyntaxError(f"the further models of model() in {where} are "
                                   "inverse-variance models with a method and an interval; "
                                   "put MH, peto, wgt() or reps() in the first model")
    return specs[0], extra


def pool_option(step: Step, key: str, value: Any) -> None:
    """A pool() option beyond method/ci/level: in ``pool_options`` of an ipdmeta() call."""
    if step.kind == "ipdmeta":
        step.call.setdefault("pool_options", {})[key] = value
    else:
        step.call[key] = value


def apply_model(step: Step, model: dict[str, Any]) -> None:
    """The first model's keywords into the step (``reps``/``weights`` as pool options)."""
    for key, value in model.items():
        if key in ("reps", "weights"):
            pool_option(step, key, value)
        else:
            step.call[key] = value


def _method_name(step: Step) -> str:
    """The model name of the step's method so far (for a top-level init())."""
    method = str(step.call.get("method", "")).split("-")[0].lower()
    if method not in ("sj2s", "dk2s"):
        raise StataSyntaxError("init() names the first step of sj2s or dk2s: model(sj2s, "
                               "init(reml))")
    return method


def _hetinfo(args: str) -> list[str]:
    out = []
    for w in words(args):
        if w.startswith("%"):
            continue                       # display formats: ipdmeta formats the numbers
        key = w.lower()
        if key not in HETINFO and not any(k.startswith(key) for k in ("pvalue",)):
            raise StataSyntaxError(f"hetinfo({args}): {w!r} is not known; use isq, h, h2m, "
                                   "tausq, q, pvalue")
        out.append(HETINFO.get(key, "p"))
    return out


def _by(o: Option, step: Step) -> None:
    parts = split_top(o.args or "", ",")
    step.call["by"] = words(parts[0])[0]
    if len(parts) > 1 and words(parts[1]):
        raise StataSyntaxError(f"by({o.args}): the missing sub-option is not translated; give "
                               "the rows a subgroup first, e.g. data[by] = "
                               "data[by].fillna('Missing')")


def _saving(o: Option, step: Step) -> None:
    parts = split_top(o.args or "", ",")
    step.saving = unquote(parts[0])
    for sub in words(",".join(parts[1:])):
        s = sub.lower()
        if s == "replace":
            step.replace = True
        elif s == "stacklabel":
            step.notes.append("stacklabel: the column headers are kept as the variable labels "
                              "of the .dta file")
        else:
            raise StataSyntaxError(f"sub-option {sub!r} of saving() is not supported; use "
                                   "replace")


def _level(step: Step, key: str, value: float) -> None:
    if key in ("level", "olevel"):
        step.call["level"] = value
    else:
        step.study_level = value


_NOTES = {"cochranq": "cochranq: Cochran's Q is ipdmeta's test of heterogeneity",
          "keepall": "keepall: the studies that could not be estimated are listed with the "
                     "reason", "nosecsub": "nosecsub: further models are shown for the "
                     "overall result only", "ovwt": "ovwt: the weights shown are those of "
                     "the overall analysis"}


def shared_option(o: Option, spec: OptionSpec, step: Step, forest: dict[str, Any],
                  where: str) -> bool:
    """Translate one option of the model_spec or of metan's main options; False when
    ``spec`` is neither (the command handles it)."""
    refuse(o, spec, where)
    _check_args(o, spec, where)
    name, args = spec.name, o.args or ""
    if name == "model":
        first, extra = models_call(args, where)
        apply_model(step, first)
        step.models += extra
    elif name in ("re", "random"):
        apply_model(step, _model(args, where) if args else {"method": "DL"})
    elif name == "randomi":
        step.call["method"] = "DL"
    elif name in ("fixed", "fixedi", "common", "fe", "iv"):
        step.call["method"] = "fixed" if name == "fixed" else "common"
    elif name == "hksj":
        step.call["ci"] = "hksj"
    elif name == "truncate":
        step.call["ci"] = _truncate(args, where)
    elif name == "second":
        _, extra = models_call(f"fe \\ {args}", where)
        step.models += extra
    elif name == "wgt":
        pool_option(step, "weights", words(args)[0])
    elif name == "init":
        apply_model(step, _model(f"{_method_name(step)}, init({args})", where))
    elif name == "reps":
        pool_option(step, "reps", int(_number(o, where)))
    elif name in ("bartlett", "skovgaard", "eim", "oim", "kr"):
        step.call["ci"] = RE_SUBOPTIONS[name]
    elif name in ("z", "t"):
        step.call["ci"] = name
    elif name in ("by",):
        _by(o, step)
    elif name in ("cumulative", "influence"):
        step.analysis = name
    elif name == "citype":
        if words(args)[0].lower() not in ("normal", "z"):
            raise StataSyntaxError(f"citype({args}) of {where} is not translated: study "
                                   "intervals are normal (Wald) intervals")
    elif name in ("level", "ilevel", "olevel"):
        _level(step, name, _number(o, where))
    elif name == "rflevel":
        pool_option(step, "pi_level", _number(o, where))
    elif name == "isqparam":
        pool_option(step, "I2", "tau2")
    elif name == "eform" or name in EFORM_MEASURES:
        step.eform, forest["eform"] = True, True
        step.measure = EFORM_MEASURES.get(name, step.measure)
    elif name == "keeporder":
        forest["__keeporder__"] = True
    elif name == "nograph":
        forest["__nograph__"] = True
    elif name == "notable":
        step.quiet = True
    elif name == "sortby":
        column = words(args)[0]
        if column != "_n":
            step.order = column
    elif name == "hetinfo":
        forest["het_stats"] = _hetinfo(args)
    elif name == "saving":
        _saving(o, step)
    elif name == "clear":
        step.clear = True
    elif name == "forestplot":
        forest_options(args, forest, f"forestplot() of {where}")
    elif name in _NOTES:
        step.notes.append(_NOTES[name])
    elif name in ("nokeepvars", "norsample", "nowarning", "extraline", "itol", "maxiter",
                  "maxtausq", "difficult", "technique", "quadpts"):
        step.notes.append(f"{name}: {spec.help.strip('()')}")
    elif any(spec is s for s in FOREST_OPTIONS):
        forest_option(o, spec, forest, where)
    else:
        return False
    return True


_ORDER = ("study", "estimate", "se", "variance", "ci_low", "ci_high", "events", "nonevents",
          "means", "sds", "n", "formula", "model", "poolvar", "interaction", "firth", "ties",
          "strata", "exposure", "offset", "keep", "by", "label", "left_columns",
          "right_columns", "weights", "method", "ci", "level", "correction",
          "correction_type", "to", "aggregate", "aggregate_columns", "aggregate_scale",
          "permutations")

_FOREST_ORDER = ("eform", "counts", "group_names", "effect", "xlabel", "xticks", "xlim",
                 "box_scale", "text_fraction", "spacing", "font_size", "digits",
                 "left_columns", "right_columns", "favours", "overall", "subtotals",
                 "show_pi", "show_heterogeneity", "het_stats", "sort_by")


def ordered(call: dict[str, Any], order: tuple[str, ...] = _ORDER) -> dict[str, Any]:
    """``call`` in the order a person would write the keywords."""
    rank = {k: i for i, k in enumerate(order)}
    return dict(sorted(call.items(), key=lambda kv: rank.get(kv[0], len(rank))))


def finish(step: Step, forest: dict[str, Any], counts: bool = False) -> Step:
    """Stata's defaults and the final form of the call and the forest options.

    The common (fixed) effect unless a model was chosen (Mantel-Haenszel for 2x2
    ``counts``); no prediction interval in the plot unless ``rfdist``.
    """
    nograph = forest.pop("__nograph__", False)
    step.notes += forest.pop("__notes__", [])
    call = step.call
    if call.get("method") == "fixed":
        call["method"] = "MH" if counts else "common"
    call.setdefault("method", "MH" if counts else "common")
    forest.setdefault("show_pi", False)
    if step.order is not None and step.analysis is None:
        forest.setdefault("sort_by", step.order)
    step.forest = None if nograph else ordered(forest, _FOREST_ORDER)
    step.call = ordered(call)
    return step
