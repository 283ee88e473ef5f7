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


class IpdMetaError(Exception):
    """Base class of all ipdmeta errors."""


class InputError(IpdMetaError, ValueError):
    """The data or an argument cannot be used as given (bad column, value or option)."""


class ConvergenceError(IpdMetaError, RuntimeError):
    """An iterative estimator did not converge and no result can be given."""


class SpecificationError(IpdMetaError, ValueError):
    """A model formula or specification is malformed or inconsistent."""
