"""Study labels: the one rule by which two labels name the same study.

Study labels travel through files of different types (an integer column in one
site's data, text in another's; a CSV that a spreadsheet re-saved with spaces),
so wherever studies are matched -- duplicate labels in stage 1 or in a table to
pool, the same trial in two site files, published aggregate data whose label
clashes with an IPD study, ``relabel`` -- labels are compared by their *key*:

* text is compared as written, without leading and trailing whitespace
  (``" A "`` is ``"A"``; ``"001"`` and ``"1"`` are different labels, and so are
  ``"1.0"`` and ``"1"``: text is never read as a number);
* a number is compared as its shortest text: integral values as integers (``1``,
  ``1.0`` and ``numpy.int64(1)`` are ``"1"``), others as Python writes them
  (``2.5`` is ``"2.5"``);
* so the integer ``1`` and the text ``"1"`` (or ``" 1"``) are the same study.

Two different labels with one key are refused (never merged silently), naming both.

Example:
    >>> study_key(1), study_key("1 "), study_key(1.0), study_key("001"), study_key(2.5)
    ('1', '1', '1', '001', '2.5')
    >>> check_unique([1, "2", " 1"], "column 'trial'")
    Traceback (most recent call last):
    ...
    ipdmeta.errors.InputError: column 'trial' has duplicated study labels: 1 and ' 1' (study ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Integral, Real
from typing import Any

from ipdmeta.errors import InputError

RULE = ("study labels are compared as text without surrounding spaces, so 1 and '1' are the "
        "same study")


def study_key(label: Any) -> str:
    """The text by which ``label`` is matched with other study labels (see the module)."""
    if isinstance(label, bool):
        return str(label)
    if isinstance(label, Integral):
        return str(int(label))
    if isinstance(label, Real):
        value = float(label)
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    return str(label).strip()


def clashes(labels: Iterable[Any]) -> list[tuple[Any, Any]]:
    """Pairs of labels (first seen, later) that have the same key, in order of the later."""
    seen: dict[str, Any] = {}
    out = []
    for label in labels:
        key = study_key(label)
        if key in seen:
            out.append((seen[key], label))
        else:
            seen[key] = label
    return out


def check_unique(labels: Iterable[Any], where: str, what: str = "rename one of them") -> None:
    """Refuse labels that name one study twice (:class:`~ipdmeta.errors.InputError`)."""
    found = clashes(labels)
    if found:
        pairs = "; ".join(f"{a!r} and {b!r}" if a != b else f"{a!r} (twice)"
                          for a, b in found[:5])
        more = f" (and {len(found) - 5} more)" if len(found) > 5 else ""
        raise InputError(f"{where} has duplicated study labels: {pairs}{more} ({RULE}); {what}")
