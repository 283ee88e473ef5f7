"""Stage-1 fitters, one module per family, all with the same call shape.

Every fitter is ``fit(y, X, *, names, **options) -> Fit`` where ``y`` is the
outcome (for Cox a ``(n, 2)`` array of time and event), ``X`` the ``(n, p)``
design matrix without intercept handling beyond what the family needs, and
``names`` the column names of ``X``.  A fitter never raises for a study that
cannot be fitted: it returns a ``Fit`` whose ``problem`` is a failure code and
whose ``reason`` says in plain words what went wrong.

Example:
    >>> from ipdmeta.models import FAILURE_CODES
    >>> "separation" in FAILURE_CODES
    True
"""

from __future__ import annotations

from ipdmeta.models.base import FAILURE_CODES, Fit

__all__ = ["FAILURE_CODES", "Fit"]
