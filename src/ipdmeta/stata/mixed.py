"""Stata's one-stage mixed-model lines (``mixed``, ``melogit``, ``mepoisson``) -> ``ipd.onestage``.

The simple one-stage models of IPD meta-analysis translate (Riley, Tierney & Stewart 2021,
chapter 6; Stata's ``me`` manual), for a trial variable ``trial`` and treatment ``trt``:

* ``mixed y i.trial trt || trial: trt, nocons reml``: stratified intercepts, REML;
* ``mixed y i.trial trt age || trial: trt, nocons``: ML (Stata's default), common ``age``;
* ``mixed y i.trial i.trial#c.age trt || trial: trt, nocons``: ``covariates_by_study=True``;
* ``mixed y trt || trial: trt, cov(unstructured)``: ``intercepts="random"``;
* ``residuals(independent, by(trial))``: ``residual_variance="by_study"``;
* ``reml dfmethod(kroger)`` / ``dfmethod(satterthwaite)``: ``df=`` (Stata's default: z);
* ``melogit y i.trial trt || trial: trt, nocons``: logistic, ``nagq=7`` (Stata's default);
  ``intpoints(12)`` / ``intmethod(laplace)``: ``nagq=12`` / ``nagq=1``;
* ``mepoisson y i.trial trt || trial: trt, nocons exposure(t)``: Poisson, ``exposure="t"``.

Everything else is refused with its name: ``mestreg`` (parametric survival; the one-stage
Cox model is ``ipd.onestage(..., formula="Surv(time, event) ~ trt")``), nested levels,
random effects other than the treatment (and the intercept), independent random
intercepts and slopes (``cov(independent)``, Stata's default with two effects: write
``cov(unstructured)``), fixed and random trial intercepts together, interactions.

Stata's default integration, ``mvaghermite``, adapts the quadrature to the posterior mean
and variance of each trial's random effect; ipdmeta adapts to the mode and curvature
(Stata's ``mcaghermite``, lme4's ``nAGQ``).  Both converge to the maximum-likelihood
estimate as the points increase; with 7 points they agree to about 3 to 4 digits.

Example:
    >>> call, eform, notes = mixed_call("mixed y i.trial trt || trial: trt, nocons reml")
    >>> call  # doctest: +NORMALIZE_WHITESPACE
    {'study': 'trial', 'formula': 'y ~ trt', 'model': 'linear', 'intercepts': 'stratified',
     'method': 'REML', 'df': 'z'}
"""

from __future__ import annotations

import re
from typing import Any

from ipdmeta.stata.parse import (
    StataSyntaxError,
    fv_term,
    parse_command,
    split_top,
    words,
)

COMMANDS = {"mixed": "linear", "melogit": "logistic", "mepoisson": "poisson"}
REFUSED = {"mestreg": "mestreg fits parametric survival models; the one-stage Cox model "
                      "(stratified baselines, random treatment effect) is "
                      "ipd.onestage(data, study=..., formula='Surv(time, event) ~ trt')",
           "meqrlogit": "use melogit", "meqrpoisson": "use mepoisson",
           "xtmixed": "use mixed", "meglm": "use melogit or mepoisson",
           "mecloglog": "only logit and log links are available",
           "meprobit": "only logit and log links are available"}
_FACTOR = re.compile(r"^(?:i|ibn|ib\d+)\.([A-Za-z_]\w*)$")
_BY_TRIAL = re.compile(r"^(?:i|ibn)\.([A-Za-z_]\w*)#(?:c\.)?([A-Za-z_]\w*)$")


def is_mixed(name: str) -> bool:
    """True for the mixed-model commands this module translates or refuses."""
    return name.lower() in COMMANDS or name.lower() in REFUSED


def _opt_name(name: str, full: str, shortest: int) -> bool:
    return len(name) >= shortest and full.startswith(name.lower())


def _random_part(text: str) -> tuple[str, list[str], list]:
    """``trial: trt, nocons`` -> (level variable, effects, options)."""
    level, sep, rest = text.partition(":")
    if not sep or not level.strip():
        raise StataSyntaxError(f"the random part {text!r} needs 'levelvar: [varlist]'")
    cmd = parse_command("re " + rest.strip()) if rest.strip() else parse_command("re")
    return level.strip(), list(cmd.words), list(cmd.options)


def _fixed_terms(names: list[str], trial: str) -> tuple[bool, list[str], list[str], list[str]]:
    """(i.trial given, other plain terms, by-trial covariates, refused terms)."""
    stratified, plain, by_trial, bad = False, [], [], []
    for n in names:
        f, b = _FACTOR.match(n), _BY_TRIAL.match(n)
        if f and f.group(1) == trial:
            stratified = True
        elif b and b.group(1) == trial:
            by_trial.append(b.group(2))
        elif "#" in n:
            bad.append(n)
        else:
            plain.append(n)
    return stratified, plain, by_trial, bad


def _options(options: list, call: dict[str, Any], model: str, state: dict[str, Any]) -> None:
    """Global and random-part options into ``call`` / ``state``; unknown ones refused."""
    for opt in options:
        name, arg = opt.name.lower(), opt.args or ""
        if _opt_name(name, "noconstant", 4):
            state["nocons"] = True
        elif _opt_name(name, "covariance", 3):
            kind = words(arg)[0].lower() if arg else ""
            if not (_opt_name(kind, "unstructured", 2) or _opt_name(kind, "independent", 2)
                    or _opt_name(kind, "identity", 2)):
                raise StataSyntaxError(f"cov({arg}) is not available; use cov(unstructured)")
            state["cov"] = "unstructured" if _opt_name(kind, "unstructured", 2) else kind
        elif model == "linear" and name == "reml":
            call["method"] = "REML"
        elif name in ("mle", "ml"):
            call["method"] = "ML"
        elif model == "linear" and _opt_name(name, "dfmethod", 4):
            kind = words(arg)[0].lower() if arg else ""
            dfs = {"kroger": "kenward-roger", "satterthwaite": "satterthwaite"}
            key = next((k for k in dfs if _opt_name(kind, k, 2)), None)
            if key is None:
                raise StataSyntaxError(f"dfmethod({arg}) is not available; use kroger or "
                                       "satterthwaite")
            call["df"] = dfs[key]
        elif model == "linear" and _opt_name(name, "residuals", 3):
            parts = [p.strip() for p in split_top(arg, ",")]
            by = re.fullmatch(r"by\((\w+)\)", parts[1] if len(parts) > 1 else "")
            if not (parts and _opt_name(parts[0], "independent", 2) and by):
                raise StataSyntaxError(f"residuals({arg}) is not available; use "
                                       "residuals(independent, by(trialvar))")
            state["residual_by"] = by.group(1)
        elif model != "linear" and _opt_name(name, "intpoints", 6):
            call["nagq"] = int(words(arg)[0])
        elif model != "linear" and _opt_name(name, "intmethod", 7):
            kind = words(arg)[0].lower() if arg else ""
            if _opt_name(kind, "laplace", 3):
                call["nagq"] = 1
            elif not (_opt_name(kind, "mvaghermite", 2) or _opt_name(kind, "mcaghermite", 2)):
                raise StataSyntaxError(f"intmethod({arg}) is not available; use mcaghermite "
                                       "(adaptive quadrature) or laplace")
        elif model == "poisson" and name in ("exposure", "offset"):
            call[name] = words(arg)[0]
        elif name in ("or", "irr", "variance", "stddeviations", "nolog", "noheader",
                      "nofetable", "noretable"):
            state["eform"] = state.get("eform") or name in ("or", "irr")
        else:
            raise StataSyntaxError(f"option {opt.name!r} of this one-stage command is not "
                                   "available in ipd.onestage (see docs/stata.md)")


def mixed_call(line: str) -> tuple[dict[str, Any], bool | None, list[str]]:
    """The ``ipd.onestage`` keyword arguments of a ``mixed``/``melogit``/``mepoisson`` line
    (see the module docstring), whether to show exponentiated estimates, and notes."""
    parts = [p.strip() for p in re.split(r"\|\|", line)]
    fixed = parse_command(parts[0])
    name = fixed.name.lower()
    if name in REFUSED:
        raise StataSyntaxError(f"{fixed.name} is not translated: {REFUSED[name]}")
    model = COMMANDS[name]
    if len(parts) != 2:
        raise StataSyntaxError(f"{fixed.name} needs exactly one random part '|| trial: trt' "
                               "(nested or crossed levels are not available)")
    trial, effects, re_options = _random_part(parts[1])
    names = list(fixed.words)
    if len(names) < 2:
        raise StataSyntaxError(f"{fixed.name} needs an outcome and the treatment")
    outcome, terms = fv_term(names[0]), names[1:]
    stratified, plain, by_trial, bad = _fixed_terms(terms, trial)
    if bad:
        raise StataSyntaxError(f"the term {bad[0]!r} is not translated; for a within-trial "
                               "interaction use ipd.onestage(..., interaction=(a, b))")
    if len(effects) != 1 or effects[0] not in plain:
        raise StataSyntaxError(f"the random part must name one variable that is also a fixed "
                               f"effect (the treatment, e.g. '|| {trial}: trt'); got "
                               f"{' '.join(effects) or 'none'}")
    treat = effects[0]
    call: dict[str, Any] = {}
    state: dict[str, Any] = {}
    _options([*fixed.options, *re_options], call, model, state)
    random_cons = not state.get("nocons")
    if stratified and random_cons:
        raise StataSyntaxError("fixed trial intercepts (i.trial) and random ones together are "
                               "not identifiable: add nocons to the random part")
    if not stratified and not random_cons:
        raise StataSyntaxError("a common intercept with only a random treatment effect is not "
                               f"available: add i.{trial} (stratified intercepts) or drop nocons")
    if random_cons and state.get("cov") != "unstructured":
        raise StataSyntaxError("random intercepts and treatment effects are correlated in "
                               "ipd.onestage: add cov(unstructured) (Stata's default for two "
                               "random effects is cov(independent))")
    covariates = [fv_term(t) for t in plain if t != treat]
    if by_trial and covariates:
        raise StataSyntaxError("some covariates by trial (i.trial#c.x) and others common is "
                               "not available: stratify all or none")
    if state.get("residual_by") not in (None, trial):
        raise StataSyntaxError(f"residuals(..., by({state['residual_by']})): the residual "
                               f"variances can differ by the trial variable {trial!r} only")
    rhs = [treat, *covariates, *by_trial]
    out: dict[str, Any] = {"study": trial, "formula": f"{outcome} ~ {' + '.join(rhs)}",
                           "model": model,
                           "intercepts": "stratified" if stratified else "random"}
    if by_trial:
        out["covariates_by_study"] = True
    if model == "linear":
        out["method"] = call.pop("method", "ML")           # Stata's mixed default: ML
        out["df"] = call.pop("df", "z")                     # and large-sample z tests
        if state.get("residual_by"):
            out["residual_variance"] = "by_study"
    else:
        call.pop("method", None)
        out["nagq"] = call.pop("nagq", 7 if stratified else 1)
        if not stratified and out["nagq"] > 1:
            raise StataSyntaxError("with random intercepts (two random effects) use "
                                   "intmethod(laplace): adaptive quadrature is available for "
                                   "one random effect")
    out.update(call)
    notes = []
    if model != "linear" and out["nagq"] > 1:
        notes.append("Stata's default mvaghermite quadrature adapts to the posterior mean and "
                     "variance; ipdmeta adapts to the mode and curvature (mcaghermite): "
                     "estimates agree to about 3-4 digits")
    return out, state.get("eform"), notes
