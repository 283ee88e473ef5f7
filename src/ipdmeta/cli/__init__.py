"""The ``ipdmeta`` command (``parser``: its arguments; ``commands``: one function per
subcommand; ``demo``: the bundled example analyses).

Example:
    >>> from ipdmeta.cli import main
    >>> callable(main)
    True
"""

from ipdmeta.cli.commands import jsonable, main

__all__ = ["jsonable", "main"]
