"""The demo analyses run by ``ipdmeta demo`` on the bundled example data.

Example:
    >>> from pathlib import Path; import tempfile
    >>> run_demo(Path(tempfile.mkdtemp()), quiet=True)  # doctest: +ELLIPSIS
    [...]
"""

from __future__ import annotations

from pathlib import Path

import ipdmeta as ipd
from ipdmeta.datasets import load_bcg


def run_demo(out: Path, quiet: bool = False) -> list[Path]:
    """Run the example analyses, print their summaries, write outputs to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    bcg = load_bcg()
    result = ipd.pool(bcg, estimate="yi", variance="vi", study="author", by="alloc",
                      method="REML", ci="hksj", measure="RR")
    text = result.summary()
    path = out / "bcg_summary.txt"
    path.write_text(text + "\n")
    if not quiet:
        print("BCG vaccine trials (aggregate data), REML + HKSJ, risk ratio\n")
        print(text)
    return [path]
