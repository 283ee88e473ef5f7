"""The estimation command after ipdmetan's colon: a Stata command line -> stage-1 options.

``regress``, ``logit``/``logistic``, ``firthlogit``, ``poisson``, ``stcox``, ``ologit``,
``nbreg``, ``glm ..., family() link()``, ``streg ..., dist()`` and ``stcrreg ...,
compete()``, with ``vce(robust)`` / ``vce(cluster x)``; and the ``mi estimate, post:``
prefix (:func:`mi_prefix`).

Example:
    >>> from ipdmeta.stata.parse import parse_command
    >>> call = estimation_call(parse_command("nbreg n treat, exposure(py) vce(cluster ward)"),
    ...                        None)
    >>> call["model"], call["formula"], call["cluster"]
    ('negbin', 'n ~ treat', 'ward')
    >>> mi_prefix("mi estimate, post: logit y x")
    ('logit y x', True)
"""

from __future__ import annotations

import re
from typing import Any

from ipdmeta.stata.options import STAGE1_COMMANDS, OptionSpec
from ipdmeta.stata.parse import (
    Command,
    Option,
    StataSyntaxError,
    _check_args,
    fv_term,
    match,
    words,
)


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


#: glm family(binomial) link(...) -> model
_GLM_BINOMIAL_LINKS = {"log": "rr", "identity": "rd", "logit": "logistic"}
#: glm family -> model (binomial: by link)
_GLM_FAMILIES = {"poisson": "poisson", "gaussian": "linear", "normal": "linear"}


def _glm_model(cmd: Command, spec: OptionSpec) -> str:
    """The model of ``glm ..., family() link()``."""
    opts = {match(o.name, spec.options, cmd.name).name: words(o.args or "")
            for o in cmd.options}
    fam = (opts.get("family") or ["gaussian"])[0].lower()
    links = opts.get("link")
    link = links[0] if links else None
    if "binomial".startswith(fam):
        link = (link or "logit").lower()
        if link not in _GLM_BINOMIAL_LINKS:
            raise StataSyntaxError(f"glm, family(binomial) link({link}) is not supported; use "
                                   "link(log) (risk ratio), link(identity) (risk difference) "
                                   "or link(logit)")
        return _GLM_BINOMIAL_LINKS[link]
    model = next((m for f, m in _GLM_FAMILIES.items() if f.startswith(fam)), None)
    if model is None or (link is not None and link.lower() not in ("log", "identity")):
        raise StataSyntaxError(f"glm, family({fam}) is not supported; use family(binomial) "
                               "with link(log), link(identity) or link(logit), family(poisson) "
                               "or family(gaussian)")
    return model


def _compete(args: str, stset: tuple[str, str] | None) -> None:
    """Check ``compete(var == 2)`` against the stset failure variable coded 0/1/2."""
    m = re.fullmatch(r"\s*(\w+)\s*==\s*(\d+)\s*", args)
    if m is None or stset is None or m.group(1) != stset[1] or m.group(2) != "2":
        event = stset[1] if stset else "status"
        raise StataSyntaxError(f"stcrreg, compete({args}): ipdmeta's Fine-Gray model reads one "
                               f"status variable coded 0 (censored), 1 (event of interest), 2 "
                               f"(competing event); recode it, stset time, failure({event}) "
                               f"and write compete({event} == 2)")


def _vce(opt: Option, out: dict[str, Any]) -> None:
    """``vce(robust)`` / ``vce(cluster x)`` / ``cluster(x)`` -> robust= / cluster=."""
    parts = words(opt.args or "")
    if opt.name.lower().startswith("cl"):
        parts = ["cluster", *parts]
    kind = parts[0].lower() if parts else ""
    if kind and "robust".startswith(kind) and len(kind) >= 1:
        out["robust"] = True
    elif kind and "cluster".startswith(kind) and len(kind) >= 2 and len(parts) == 2:
        out["cluster"] = parts[1]
    elif kind not in ("oim", "eim", "opg"):
        raise StataSyntaxError(f"vce({opt.args}) is not supported; use vce(robust) or "
                               "vce(cluster varname)")


def estimation_call(cmd: Command, stset: tuple[str, str] | None,
            interaction: bool = False) -> dict[str, Any]:
    """The stage-1 command after the colon: formula, model, ties, exposure, vce."""
    spec = match(cmd.name, STAGE1_COMMANDS, "ipdmetan (after the colon)", what="command")
    out: dict[str, Any] = {"model": _glm_model(cmd, spec) if spec.name == "glm" else spec.model}
    if spec.name == "firthlogit":
        out["firth"] = True                    # Firth's penalised logistic regression
    names = list(cmd.words)
    if spec.name in ("stcox", "streg", "stcrreg"):
        if stset is None:
            raise StataSyntaxError(f"{spec.name} needs survival data: give --stset TIME EVENT "
                                   "or run 'stset time, failure(event)' first")
        if not names:
            raise StataSyntaxError(f"{spec.name} needs at least one covariate")
        lhs = f"Surv({stset[0]}, {stset[1]})"
        if spec.name == "stcox":
            out["ties"] = "breslow"            # Stata's stcox default
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
        elif o.name == "strata":
            out["strata"] = words(opt.args or "")
        elif o.name in ("vce", "cluster"):
            _vce(opt, out)
        elif o.name == "distribution":
            dist = words(opt.args or "")[0].lower()
            match_dist = [d for d in ("weibull", "exponential") if d.startswith(dist)]
            if not match_dist:
                raise StataSyntaxError(f"streg, dist({dist}) is not supported; use "
                                       "dist(weibull) or dist(exponential)")
            out["model"] = match_dist[0]
        elif o.name == "time":
            out["scale"] = "aft"
        elif o.name == "compete":
            _compete(opt.args or "", stset)
        elif o.name == "dispersion" and not "mean".startswith(words(opt.args or "")[0].lower()):
            raise StataSyntaxError("nbreg, dispersion(constant) (NB1) is not supported; "
                                   "ipdmeta's negative binomial is NB2, dispersion(mean)")
        # or / irr / hr / nohr / nolog / eform / irls only change Stata's display
    if spec.name == "stcrreg" and "compete" not in {
            match(o.name, spec.options, cmd.name).name for o in cmd.options}:
        raise StataSyntaxError("stcrreg needs compete(status == 2)")
    if spec.name == "streg" and "distribution" not in {
            match(o.name, spec.options, cmd.name).name for o in cmd.options}:
        raise StataSyntaxError("streg needs dist(weibull) or dist(exponential)")
    out["formula"] = f"{lhs} ~ {' + '.join(terms)}"
    out["_terms"] = terms
    return out


def mi_prefix(text: str) -> tuple[str, bool]:
    """``mi estimate[, post]: command`` -> (command, True); other text -> (text, False)."""
    m = re.match(r"^\s*mi\s+est(?:i(?:m(?:a(?:te?)?)?)?)?\b\s*(,[^:]*)?:\s*(.*)$", text)
    if m is None:
        return text, False
    return m.group(2), True
