"""Translate Stata ``ipdmetan`` / ``metan`` / ``metareg`` command lines into ipdmeta calls.

A small Stata command-line parser (nested parentheses, ``"quoted"`` and compound
```"quoted"'`` strings, option abbreviations as Stata allows them) and a
translator that turns each command into the equivalent ipdmeta call, prints that
call as Python, and runs it.  Options that ipdmeta cannot honour are refused by
name; none is silently ignored.

Supported commands (see ``docs/stata.md`` for the full table):

* ``ipdmetan, study() [options] : regress|logit|logistic|poisson|stcox ...``
* ``metan ES seES [, options]`` and ``metan ES LCI UCI [, options]``
* ``metareg ES x1 x2 [, wsse(seES) | wsvar(varES)] [options]``
* helpers: ``use FILE [, clear]``, ``stset time, failure(event)``,
  ``tabulate VAR, generate(STUB)``

Example:
    >>> step = translate("ipdmetan, study(trial) re(reml, hksj) hr : stcox treat age",
    ...                  stset=("time", "event"))
    >>> step.call["formula"], step.call["method"], step.call["ci"]
    ('Surv(time, event) ~ treat + age', 'REML', 'hksj')
"""

from __future__ import annotations

from ipdmeta.stata.codegen import py, python_code
from ipdmeta.stata.parse import (
    Command,
    Option,
    StataSyntaxError,
    parse_command,
    parse_options,
    read_do_file,
    split_top,
)
from ipdmeta.stata.session import StataSession
from ipdmeta.stata.translate import Step, translate

__all__ = ["Command", "Option", "StataSession", "StataSyntaxError", "Step", "parse_command",
           "parse_options", "py", "python_code", "read_do_file", "split_top", "translate"]
