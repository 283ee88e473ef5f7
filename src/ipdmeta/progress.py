"""Progress bars of long runs: one rule for the whole package.

Every function that can run long (stage 1 over many studies, permutation tests,
bootstraps, one-stage fits) takes ``progress=`` and draws its bar with
:func:`progress_bar`.  Whether a bar is shown:

1. ``progress=True`` / ``progress=False``: as asked;
2. else the setting of an enclosing :func:`progress_default` block (the command
   line's ``--quiet`` uses it);
3. else the environment variable ``IPDMETA_PROGRESS``: ``1`` (also ``true``, ``yes``,
   ``on``) always, ``0`` (``false``, ``no``, ``off``) never;
4. else only when standard error is an interactive terminal, the run has more than
   ``minimum`` steps and lasts longer than half a second — so notebooks, CI logs and
   redirected output stay silent unless asked.

Bars go to standard error (tqdm).  Messages of the library go through
:mod:`logging` (one logger per module, named after it; the library adds no handler).

Example:
    >>> import os
    >>> show_progress(True), show_progress(False)
    (True, False)
    >>> with progress_default(False):
    ...     show_progress(None), show_progress(True)
    (False, True)
    >>> os.environ[ENV_VAR] = "1"; show_progress(None, total=3, minimum=20)
    True
    >>> del os.environ[ENV_VAR]
    >>> with progress_bar(False, total=3, desc="demo") as bar:
    ...     bar.update(3)
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from contextvars import ContextVar

from tqdm import tqdm

from ipdmeta.errors import InputError

#: the environment variable that switches bars on (1) or off (0) when ``progress=None``
ENV_VAR = "IPDMETA_PROGRESS"
#: seconds a run must last before an automatic bar appears (asked-for bars show at once)
AUTO_DELAY = 0.5
_ON = frozenset({"1", "true", "yes", "on"})
_OFF = frozenset({"0", "false", "no", "off"})
_DEFAULT: ContextVar[bool | None] = ContextVar("ipdmeta_progress_default", default=None)


def _from_environment() -> bool | None:
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if not value:
        return None
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise InputError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not understood: set it to 1 "
                     "(always show progress bars) or 0 (never), or unset it")


def _interactive_terminal() -> bool:
    """Standard error is a terminal a person watches (not a pipe, file, notebook or CI)."""
    stream = sys.stderr
    try:
        tty = stream is not None and stream.isatty()
    except (AttributeError, ValueError):          # closed or replaced streams
        return False
    return bool(tty) and os.environ.get("TERM") != "dumb" and not os.environ.get("CI")


def _asked(progress: bool | None) -> bool | None:
    if progress is not None:
        return bool(progress)
    default = _DEFAULT.get()
    return default if default is not None else _from_environment()


def show_progress(progress: bool | None = None, total: int | None = None,
                  minimum: int = 0) -> bool:
    """Whether a run of ``total`` steps shows a bar (the rule in the module docstring).

    Args:
        progress: the caller's ``progress=`` (True, False, or None for automatic).
        total: the number of steps, if known.
        minimum: automatic bars only for runs of more than this many steps.
    """
    asked = _asked(progress)
    if asked is not None:
        return asked
    return (total is None or total > minimum) and _interactive_terminal()


def progress_bar(progress: bool | None, total: int | None, *, desc: str, unit: str = "it",
                 minimum: int = 0) -> tqdm:
    """A tqdm bar on standard error, disabled unless :func:`show_progress` says so.

    Use as a context manager and call ``bar.update(n)`` after each piece of work.

    Args:
        progress, total, minimum: as :func:`show_progress`.
        desc: what runs (``"stage 1"``, ``"permutations"``...), printed before the bar.
        unit: what a step is (``"study"``, ``"permutation"``...).
    """
    asked = _asked(progress) is not None
    return tqdm(total=total, file=sys.stderr, unit=unit, desc=desc, dynamic_ncols=True,
                delay=0 if asked else AUTO_DELAY,
                disable=not show_progress(progress, total, minimum))


@contextlib.contextmanager
def progress_default(progress: bool | None) -> Iterator[None]:
    """Within the block, ``progress=None`` means ``progress`` (None: back to automatic).

    The command line runs with ``progress_default(False)`` under ``--quiet`` or
    ``--json``.  An explicit ``progress=True/False`` still wins.
    """
    token = _DEFAULT.set(progress)
    try:
        yield
    finally:
        _DEFAULT.reset(token)
