"""The ``ipdmeta`` command (``parser``: its arguments; ``commands``: one function per
subcommand; ``demo``: the bundled example analyses).

Example:
    >>> from ipdmeta.cli import main
    >>> callable(main)
    True
"""

from ipdmeta.cli.commands import main
from ipdmeta.cli.helpers import jsonable

__all__ = ["jsonable", "main"]
