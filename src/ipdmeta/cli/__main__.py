"""``python -m ipdmeta.cli``: the ``ipdmeta`` command."""

import sys

from ipdmeta.cli.commands import main

sys.exit(main())
