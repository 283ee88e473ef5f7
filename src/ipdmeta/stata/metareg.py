"""``metareg`` (Harbord & Higgins 2008) -> ``ipd.metareg``: its options and their
translation.

metareg's defaults are REML and Knapp-Hartung t tests (``ci="hksj"``); rows with a
missing value in any variable of the command are left out, as Stata's ``marksample``
does (the translated Python drops them first, so the same rows are used).

Example:
    >>> from ipdmeta.stata.parse import parse_command
    >>> step = translate_metareg(parse_command(
    ...     "metareg _ES x if year > 1990, wsse(_seES) mm noconstant graph permute(1000, univ)"))
    >>> step.call["formula"], step.call["method"], step.call["ci"]
    ('~ x', 'DL', 'hksj')
    >>> step.call["intercept"], step.call["permutations"]
    (False, 1000)
    >>> step.forest, step.selection.stata
    ({'moderator': 'x', 'sizes': 'within'}, 'year > 1990')
"""

from __future__ import annotations

from ipdmeta.stata.forest_options import refuse
from ipdmeta.stata.metan import qualifiers
from ipdmeta.stata.options import OptionSpec, opt
from ipdmeta.stata.parse import (
    Command,
    Option,
    StataSyntaxError,
    _check_args,
    _number,
    fv_term,
    match,
    parse_options,
    split_top,
    words,
)
from ipdmeta.stata.shared import ordered
from ipdmeta.stata.step import Step

_MAXIMIZE = "(ipdmeta iterates REML/ML to a tolerance of 1e-12)"

METAREG_OPTIONS: tuple[OptionSpec, ...] = (
    opt("wsse", 4, "required", help="se="),
    opt("wsvar", 5, "required", help="variance="),
    opt("bsest", 5, "required", help="method= (reml, ml, eb, mm = DL)"),
    opt("reml", 4, help='method="REML" (the default)'),
    opt("ml", 2, help='method="ML"'),
    opt("eb", 2, help='method="EB"'),
    opt("mm", 2, help='method="DL" (method of moments)'),
    opt("noconstant", 5, help="intercept=False"),
    opt("z", 1, help='ci="z" (no Knapp-Hartung)'),
    opt("knapphartung", 4, help='ci="hksj" (the default)'),
    opt("eform", 2, help="summary(eform=True)"),
    opt("level", 3, "required", help="level="),
    opt("permute", 4, "required", help="permutations= (univariable: the unadjusted "
                                       "p-values, always given; joint(varlist): joint=[...])"),
    opt("graph", 2, help="res.bubble(moderator, sizes='within') (one moderator)"),
    opt("randomsize", 4, help="res.bubble(..., sizes='model')"),
    opt("tau2test", 4, refused="the likelihood-ratio test of tau² = 0 is not offered; the "
                               "test of residual heterogeneity QE is in the summary"),
    opt("log", 3, help="(no iteration log is printed)"),
    *(opt(name, min_len, "required", help=_MAXIMIZE) for name, min_len in (
        ("iterate", 4), ("tolerance", 3), ("ltolerance", 4), ("nrtolerance", 5))),
    opt("difficult", 9, help=_MAXIMIZE),
)

_METHODS = {"reml": "REML", "ml": "ML", "eb": "EB", "mm": "DL"}


def _permute(o: Option, step: Step) -> None:
    parts = split_top(o.args or "", ",")
    step.call["permutations"] = int(_number(Option("permute", parts[0]), "metareg"))
    for sub in parse_options(",".join(parts[1:])):
        s = sub.name.lower()
        if "univariable".startswith(s) and len(s) >= 4:
            step.notes.append("univariable: the unadjusted permutation p-values are "
                              "res.coef.pvalue_perm (the adjusted ones pvalue_perm_adj)")
        elif s == "nodots":
            continue
        elif s == "joint":
            step.call["joint"] = [fv_term(w) for w in words(sub.args or "")]
            step.notes.append("joint: the permutation p-value of the joint test of those "
                              "terms is res.permutation.joint_pvalue")
        else:
            raise StataSyntaxError(f"sub-option {sub} of permute() is not supported")
    step.notes.append("permute: give seed= to ipd.metareg in Python for a reproducible "
                      "p-value")


def translate_metareg(cmd: Command) -> Step:
    """``metareg ES x1 x2 [if] [in], wsse(seES)`` -> a Step calling ``ipd.metareg``."""
    step = Step(command=cmd.text, kind="metareg")
    if len(cmd.words) < 2:
        raise StataSyntaxError("metareg needs the effect variable and at least one covariate")
    step.call["estimate"] = cmd.words[0]
    step.call["formula"] = "~ " + " + ".join(fv_term(w) for w in cmd.words[1:])
    step.call.update(method="REML", ci="hksj")       # metareg's defaults (Knapp-Hartung)
    qualifiers(cmd, step)
    graph = sizes = None
    for o in cmd.options:
        spec = match(o.name, METAREG_OPTIONS, "metareg")
        refuse(o, spec, "metareg")
        _check_args(o, spec, "metareg")
        name, arg = spec.name, words(o.args or "")
        if name == "wsse":
            step.call["se"] = arg[0]
        elif name == "wsvar":
            step.call["variance"] = arg[0]
        elif name in ("bsest", *_METHODS):
            est = (arg[0] if name == "bsest" else name).lower()
            if est not in _METHODS:
                raise StataSyntaxError(f"bsest({arg[0]}) is not known; use reml, ml, eb or mm")
            step.call["method"] = _METHODS[est]
        elif name == "noconstant":
            step.call["intercept"] = False
        elif name == "z":
            step.call["ci"] = "z"
        elif name == "knapphartung":
            step.call["ci"] = "hksj"
        elif name == "eform":
            step.eform = True
        elif name == "level":
            step.call["level"] = _number(o, "metareg")
        elif name == "permute":
            _permute(o, step)
        elif name == "graph":
            graph = True
        elif name == "randomsize":
            sizes = "model"
        else:
            step.notes.append(f"{name}: {spec.help.strip('()')}")
    if "se" not in step.call and "variance" not in step.call:
        raise StataSyntaxError("metareg needs wsse(varname) or wsvar(varname)")
    if graph:
        if len(cmd.words) != 2 or "." in cmd.words[1] or "#" in cmd.words[1]:
            raise StataSyntaxError("metareg's graph needs exactly one continuous covariate")
        step.forest = {"moderator": cmd.words[1], "sizes": sizes or "within",
                       **({"eform": True} if step.eform else {})}
    step.call = ordered(step.call)
    return step
