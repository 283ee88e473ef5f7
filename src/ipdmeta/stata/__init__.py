"""Translate Stata ``ipdmetan`` / ``metan`` / ``metareg`` / ``ipdover`` / ``forestplot``
command lines (and do-files) into ipdmeta calls.

A small Stata command-line parser (nested parentheses, ``"quoted"`` and compound
```"quoted"'`` strings, option abbreviations as Stata allows them, ``if``/``in``
qualifiers) and a translator that turns each command into the equivalent ipdmeta call,
prints that call as Python, and runs it.  Every option of the help files is either
translated or refused by name with the reason and what to do instead; none is
silently ignored.

Supported commands (see ``docs/stata.md`` for the full table), one module each:

* ``ipdmetan, study() [options] : command`` and Syntax 2 (``ipdmetan y treat, or``;
  ``ipdmetan treat, logrank`` after ``stset``): :mod:`ipdmeta.stata.ipdmetan`
  (the command after the colon: :mod:`ipdmeta.stata.estimation`)
* ``metan`` (ES seES, ES LCI UCI, 2x2 counts, means and SDs): :mod:`ipdmeta.stata.metan`
* ``metareg ES x1 x2, wsse(seES) | wsvar(varES)``: :mod:`ipdmeta.stata.metareg`
* ``ipdover, over() : command`` and ``forestplot`` (a results set): :mod:`ipdmeta.stata.over`
* data commands ``use``, ``stset``, ``sort``, ``tabulate ..., generate()``:
  :mod:`ipdmeta.stata.helpers`

The options shared by ipdmetan and metan are in :mod:`ipdmeta.stata.shared`, the
forest-plot options in :mod:`ipdmeta.stata.forest_options`, the option tables in
:mod:`ipdmeta.stata.options`; :class:`StataSession` runs the steps and
:mod:`ipdmeta.stata.codegen` writes the Python.

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
