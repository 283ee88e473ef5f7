"""Exception types of ipdmeta.

Every message names the column, row or study at fault and says what to do.
``IpdMetaError`` is the base of all of them; ``InputError`` (data, arguments, files),
``SpecificationError`` (formulas, model options) and ``EstimationError`` (nothing
left to estimate) are also ``ValueError`` (``ConvergenceError`` is a ``RuntimeError``).
docs/errors.md lists them with examples.

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


class EstimationError(InputError):
    """The input is valid but nothing can be estimated from it (for example, every study
    was excluded in stage 1, so there is nothing to pool)."""


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


def check_unique_columns(frame: Any, what: str = "the table") -> None:
    """Refuse a table that names a column twice (pandas would return two columns where
    one is expected).

    Example:
        >>> import pandas as pd
        >>> check_unique_columns(pd.DataFrame([[1, 2]], columns=["yi", "yi"]))
        Traceback (most recent call last):
        ...
        ipdmeta.errors.InputError: the table has more than one column named 'yi'; rename ...
    """
    columns = list(frame.columns)
    twice = list(dict.fromkeys(c for c in columns if columns.count(c) > 1))
    if twice:
        raise InputError(f"{what} has more than one column named "
                         f"{', '.join(map(repr, twice))}; rename or drop the copies")
