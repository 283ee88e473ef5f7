"""The data commands of a do-file: ``use``, ``stset``, ``sort``, ``tabulate ..., generate()``.

Example:
    >>> from ipdmeta.stata.parse import parse_command
    >>> translate_helper(parse_command("sort intervention study_name")).call
    {'columns': ['intervention', 'study_name']}
    >>> translate_helper(parse_command("tab intervention, gen(int_type)")).call
    {'variable': 'intervention', 'stub': 'int_type'}
"""

from __future__ import annotations

from ipdmeta.stata.parse import Command, StataSyntaxError, words
from ipdmeta.stata.step import Step

#: the data commands and the shortest abbreviation Stata accepts
HELPERS = {"use": 3, "stset": 5, "sort": 3, "tabulate": 2}


def helper_name(name: str) -> str | None:
    """The data command ``name`` abbreviates (``tab`` -> ``tabulate``), or None."""
    low = name.lower()
    return next((full for full, n in HELPERS.items() if full.startswith(low) and len(low) >= n),
                None)


def _no_qualifiers(cmd: Command) -> None:
    if cmd.if_exp is not None or cmd.in_range is not None:
        raise StataSyntaxError(f"{cmd.name}: if/in qualifiers are not translated for this "
                               "command; select the rows in the analysis command instead")


def translate_helper(cmd: Command) -> Step:
    """A Step for ``use``, ``stset``, ``sort`` or ``tabulate ..., generate()``."""
    name = helper_name(cmd.name)
    _no_qualifiers(cmd)
    if name == "use":
        for o in cmd.options:
            if o.name.lower() != "clear":
                raise StataSyntaxError(f"option {o.name!r} of use is not supported; use clear")
        if len(cmd.words) != 1:
            raise StataSyntaxError("use takes one file name (use FILE [, clear])")
        return Step(command=cmd.text, kind="use", call={"path": cmd.words[0]})
    if name == "stset":
        fail = [o for o in cmd.options if len(o.name) >= 1 and "failure".startswith(o.name.lower())]
        others = [o for o in cmd.options if o not in fail]
        if others:
            raise StataSyntaxError(f"option {others[0].name!r} of stset is not supported; "
                                   "use stset time, failure(event)")
        if len(cmd.words) != 1 or len(fail) != 1:
            raise StataSyntaxError("write stset TIME, failure(EVENT)")
        event = words(fail[0].args or "")
        if len(event) != 1:
            raise StataSyntaxError("failure() takes the event variable (coded 0/1): "
                                   "failure(event); failure(var == value) is not translated")
        return Step(command=cmd.text, kind="stset", call={"time": cmd.words[0],
                                                           "event": event[0]})
    if name == "sort":
        if cmd.options and [o.name.lower() for o in cmd.options] != ["stable"]:
            raise StataSyntaxError("sort takes variable names (and stable)")
        if not cmd.words:
            raise StataSyntaxError("sort needs the variables to sort by")
        return Step(command=cmd.text, kind="sort", call={"columns": list(cmd.words)})
    if name == "tabulate":
        gen = [o for o in cmd.options if len(o.name) >= 3 and "generate".startswith(o.name)]
        others = [o for o in cmd.options if o not in gen]
        if others or len(gen) != 1 or len(cmd.words) != 1:
            bad = f"option {others[0].name!r} is not supported; " if others else ""
            raise StataSyntaxError(f"{bad}write tabulate VAR, generate(STUB) to make dummies")
        return Step(command=cmd.text, kind="tabulate",
                    call={"variable": cmd.words[0], "stub": words(gen[0].args or "")[0]})
    raise StataSyntaxError(f"{cmd.name!r} is not a data command")
