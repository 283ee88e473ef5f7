"""Where the command's messages go: the library's log records and progress bars.

The library only creates loggers (``logging.getLogger(__name__)`` in each module that
logs) and never adds handlers; the command line does, on standard error, for the
duration of one command: warnings by default, errors only with ``--quiet`` (which
also turns progress bars off), everything with ``--debug``.

Example:
    >>> import argparse, logging
    >>> with command_output(argparse.Namespace(quiet=False, debug=True)):
    ...     logging.getLogger("ipdmeta").getEffectiveLevel() == logging.DEBUG
    True
    >>> logging.getLogger("ipdmeta").handlers
    []
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

from ipdmeta.progress import progress_default

FORMAT = "ipdmeta: %(message)s"
DEBUG_FORMAT = "ipdmeta: %(levelname)s %(name)s: %(message)s"


def log_level(args: argparse.Namespace) -> int:
    """DEBUG with ``--debug``, ERROR with ``--quiet``, else WARNING."""
    if getattr(args, "debug", False):
        return logging.DEBUG
    return logging.ERROR if getattr(args, "quiet", False) else logging.WARNING


@contextlib.contextmanager
def command_output(args: argparse.Namespace) -> Iterator[None]:
    """Within the block, ``ipdmeta`` log records at the command's level go to standard
    error, and ``--quiet`` turns automatic progress bars off."""
    logger = logging.getLogger("ipdmeta")
    handler = logging.StreamHandler(sys.stderr)
    debug = getattr(args, "debug", False)
    handler.setFormatter(logging.Formatter(DEBUG_FORMAT if debug else FORMAT))
    before = logger.level
    logger.setLevel(log_level(args))
    logger.addHandler(handler)
    try:
        with progress_default(False if getattr(args, "quiet", False) else None):
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(before)
