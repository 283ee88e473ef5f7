"""The stage-1 fitter of each model family, and of its Firth-penalised variant.

Every fitter has the call shape ``fit(y, X, *, names, **options) -> Fit``
(:mod:`ipdmeta.models`).  A new family adds its module to this folder and its
``fit`` here.

Example:
    >>> fitter("logistic").__module__, fitter("cox", firth=True).__module__
    ('ipdmeta.models.logistic', 'ipdmeta.models.cox_firth')
"""

from __future__ import annotations

from collections.abc import Callable

from ipdmeta.errors import SpecificationError
from ipdmeta.models import cox, cox_firth, firth, linear, logistic, poisson
from ipdmeta.models.base import Fit

FITTERS: dict[str, Callable[..., Fit]] = {
    "linear": linear.fit,
    "logistic": logistic.fit,
    "poisson": poisson.fit,
    "cox": cox.fit,
}
FIRTH_FITTERS: dict[str, Callable[..., Fit]] = {
    "logistic": firth.fit,
    "cox": cox_firth.fit,
}


def fitter(model: str, firth: bool = False) -> Callable[..., Fit]:
    """The fitting function of ``model`` (Firth's penalised likelihood when ``firth``)."""
    table = FIRTH_FITTERS if firth else FITTERS
    if model not in table:
        what = "Firth's penalised likelihood" if firth else "a fitter"
        raise SpecificationError(f"model={model!r} has no {what}; choose one of "
                                 f"{', '.join(table)}")
    return table[model]
