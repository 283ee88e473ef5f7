"""Translation of Stata command lines into ipdmeta calls: :func:`translate` reads a
line, finds the command and hands it to its translator (one module per command).

Example:
    >>> translate("metan es se, re(reml, hksj)").call
    {'estimate': 'es', 'se': 'se', 'method': 'REML', 'ci': 'hksj'}
"""

from __future__ import annotations

import re

from ipdmeta.stata.bias import BIAS_COMMANDS, translate_bias
from ipdmeta.stata.estimation import mi_prefix
from ipdmeta.stata.helpers import helper_name, translate_helper
from ipdmeta.stata.ipdmetan import translate_ipdmetan, translate_ipdmetan_syntax2
from ipdmeta.stata.metan import translate_metan
from ipdmeta.stata.metaprop import translate_metaprop
from ipdmeta.stata.metareg import translate_metareg
from ipdmeta.stata.mixed import is_mixed, mixed_call
from ipdmeta.stata.over import translate_forestplot, translate_ipdover
from ipdmeta.stata.parse import StataSyntaxError, _scan, parse_command
from ipdmeta.stata.step import Step

__all__ = ["COMMANDS", "Step", "translate"]

#: the commands translated (data commands: see :mod:`ipdmeta.stata.helpers`)
COMMANDS = ("ipdmetan", "metan", "metaprop", "metareg", "ipdover", "forestplot", "metabias",
            "metatrim", "metafunnel", "mixed", "melogit", "mepoisson", "use", "stset", "sort",
            "tabulate")


def _mi(line: str, stset: tuple[str, str] | None) -> Step:
    rest, _ = mi_prefix(line)
    if not rest.lower().startswith("ipdmetan"):
        raise StataSyntaxError("mi estimate is supported with ipdmetan: write "
                               "'mi estimate, post: ipdmetan, study(...) : command'")
    cmd_part, after_part = rest.split(":", 1)
    return translate(f"{cmd_part}: mi estimate, post: {after_part.strip()}", stset)


def translate(line: str, stset: tuple[str, str] | None = None) -> Step:
    """Translate one Stata command line into a :class:`Step` (without running it).

    ``stset`` is the survival time and event of a previous ``stset`` (for ``stcox``,
    ``streg``, ``stcrreg`` and the log-rank).

    Example:
        >>> translate("metareg _ES i.intervention, wsse(_seES) eform").call["formula"]
        '~ C(intervention)'
    """
    line = " ".join(line.strip().rstrip(";").split())
    if re.match(r"^mi\s+est(i(m(a(te?)?)?)?)?\b", line):     # mi estimate: ipdmetan ...
        return _mi(line, stset)
    if line and is_mixed(line.split()[0]):                  # one-stage: mixed, melogit ...
        call, eform, notes = mixed_call(line)
        return Step(command=line, kind="onestage", call=call, eform=eform, notes=notes)
    colons = [i for i, _ in _scan(line, ":")]
    prefix, after = (line[:colons[0]], line[colons[0] + 1:]) if colons else (line, None)
    cmd = parse_command(prefix)
    name = cmd.name.lower()
    if name in ("ipdmetan", "ipdover") and after is not None:
        after, imputed = mi_prefix(after)
        if name == "ipdover":
            return translate_ipdover(cmd, parse_command(after), stset)
        step = translate_ipdmetan(cmd, parse_command(after), stset)
        if imputed:
            step.call["imputation"] = "_mi_m"
            step.notes.append("mi estimate: the data must be in long (flong) form with the "
                              "imputation number in _mi_m (mi convert flong); imputation 0, "
                              "the original data, is left out")
        return step
    if name == "ipdmetan":
        if cmd.words:
            return translate_ipdmetan_syntax2(cmd, stset)
        raise StataSyntaxError("ipdmetan needs ': command' after its options (Syntax 1), "
                               "e.g. 'ipdmetan, study(trial) : regress y treat', or the "
                               "variables of Syntax 2: 'ipdmetan y treat, study(trial) or', "
                               "'ipdmetan treat, study(trial) logrank' (after stset)")
    if name == "ipdover":
        raise StataSyntaxError("ipdover needs ': command' after its options, e.g. 'ipdover, "
                               "over(sex) hr : stcox treat' (Syntax 2 is not translated)")
    if after is not None:
        raise StataSyntaxError(f"only ipdmetan and ipdover take a ': command' part, not "
                               f"{cmd.name}")
    if name == "metan":
        return translate_metan(cmd)
    if name == "metaprop":
        return translate_metaprop(cmd)
    if name == "metareg":
        return translate_metareg(cmd)
    if name == "forestplot":
        return translate_forestplot(cmd)
    if name in BIAS_COMMANDS:
        return translate_bias(cmd)
    if helper_name(name) is not None:
        return translate_helper(cmd)
    raise StataSyntaxError(f"command {cmd.name!r} is not supported; the translator knows "
                           f"{', '.join(COMMANDS)} (tabulate only with generate())")
