"""The result type every stage-1 fitter returns, and the failure codes.

Example:
    >>> import numpy as np
    >>> f = Fit(coef=np.array([0.5]), cov=np.array([[0.04]]), names=("treat",), n=100)
    >>> f.ok, round(f.se("treat"), 3)
    (True, 0.2)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: failure code -> short description; ``Fit.problem`` is one of these keys (or None).
FAILURE_CODES: dict[str, str] = {
    "too_few_rows": "too few participants to fit the model",
    "no_events": "no events in the study",
    "all_events": "every participant had the event",
    "constant_poolvar": "the pooled covariate does not vary within the study",
    "collinear": "a term is collinear with others (aliased)",
    "separation": "complete or quasi-complete separation / monotone likelihood (infinite estimate)",
    "not_converged": "the fitting algorithm did not converge",
    "runaway": "the estimate is implausibly large with an enormous standard error",
    "no_complete_cases": "no participant has complete data for the model",
    "perfect_fit": "the model reproduces the outcome exactly (zero residual variance)",
    "boundary": "the maximum-likelihood estimate is on the edge of the parameter space "
                "(a fitted risk of 0 or 1: log- and identity-binomial models)",
    "constant_outcome": "every participant has the same outcome category (ordinal model)",
    "model_error": "the user's model function (model=callable) raised an error",
    "zero_variance": "the log-rank variance is 0 (each event with one group only at risk)",
}


@dataclass(frozen=True)
class Fit:
    """Coefficients and covariance of one study's model, or the reason it failed."""

    coef: np.ndarray
    cov: np.ndarray
    names: tuple[str, ...]
    n: int
    events: int | None = None
    converged: bool = True
    iterations: int = 0
    loglik: float = float("nan")
    problem: str | None = None
    reason: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the fit can be used for pooling."""
        return self.problem is None

    def index(self, name: str) -> int:
        """Position of coefficient ``name``."""
        return self.names.index(name)

    def estimate(self, name: str) -> float:
        """Estimated coefficient ``name``."""
        return float(self.coef[self.index(name)])

    def se(self, name: str) -> float:
        """Standard error of coefficient ``name``."""
        i = self.index(name)
        return float(np.sqrt(self.cov[i, i]))


def failed(problem: str, reason: str, *, names: tuple[str, ...], n: int,
           events: int | None = None, **kwargs: Any) -> Fit:
    """A ``Fit`` that records a failure with a plain-words reason.

    Example:
        >>> failed("no_events", "no events among 12 participants", names=("treat",), n=12).ok
        False
    """
    p = len(names)
    nan_coef = np.full(p, np.nan)
    nan_cov = np.full((p, p), np.nan)
    return Fit(coef=kwargs.pop("coef", nan_coef), cov=kwargs.pop("cov", nan_cov), names=names,
               n=n, events=events, problem=problem, reason=reason, **kwargs)
