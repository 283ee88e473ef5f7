"""Exception types of ipdmeta.

Every message names the column, row or study at fault and says what to do.

Example:
    >>> from ipdmeta.errors import InputError
    >>> raise InputError("column 'vi' has a non-positive variance in row 3 (study 'A')")
    Traceback (most recent call last):
    ...
    ipdmeta.errors.InputError: column 'vi' has a non-positive variance in row 3 (study 'A')
"""

from __future__ import annotations

import difflib
from typing import Any


class IpdMetaError(Exception):
    """Base class of all ipdmeta errors."""


class InputError(IpdMetaError, ValueError):
    """The data or an argument cannot be used as given (bad column, value or option)."""


class ConvergenceError(IpdMetaError, RuntimeError):
    """An iterative estimator did not converge and no result can be given."""


class SpecificationError(IpdMetaError, ValueError):
    """A model formula or specification is malformed or inconsistent."""


def missing_column(name: str, frame: Any, role: str) -> InputError:
    """The error for a ``role`` column ``name`` that ``frame`` lacks, listing its columns
    and the closest names.

    Example:
        >>> import pandas as pd
        >>> print(missing_column("trail", pd.DataFrame(columns=["trial", "y"]), "study"))
        study column 'trail' is not in the table (columns: trial, y); did you mean 'trial'?
    """
    columns = [str(c) for c in frame.columns]
    close = difflib.get_close_matches(str(name), columns, n=3, cutoff=0.4)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return InputError(f"{role} column {name!r} is not in the table (columns: "
                      f"{', '.join(columns)}){hint}")
