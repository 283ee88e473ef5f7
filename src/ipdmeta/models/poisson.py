"""Poisson regression by maximum likelihood (as R's ``glm(family = poisson)``).

Log link, optional offset (log exposure).  A count model whose likelihood has
no maximum (for instance a covariate level in which nobody had an event, so
its rate ratio runs off to zero) is reported as ``separation`` naming the term,
found with a linear-programming check of the recession directions.

Example:
    >>> import numpy as np
    >>> y = np.array([2, 3, 6, 7, 8, 9.0]); x = np.array([0, 0, 0, 1, 1, 1.0])
    >>> X = np.column_stack([np.ones(6), x])
    >>> f = fit(y, X, names=("Intercept", "x"), offset=np.log([10, 10, 10, 12, 12, 12.0]))
    >>> round(f.estimate("x"), 6), round(f.se("x"), 6), f.events
    (0.597837, 0.36411, 35)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import gammaln

from ipdmeta.models._newton import (
    _fmt,
    column_scale,
    explain_direction,
    glm_fit,
    people,
    recession_direction,
    term_list,
)
from ipdmeta.models.base import Fit

#: a linear predictor above this overflows exp(): the step is rejected (halved)
_ETA_MAX = 700.0


class PoissonFamily:
    """Count outcome, log link (see :class:`ipdmeta.models._newton.Family`)."""

    name = "poisson"
    label = "Poisson"
    outcome_rule = "a non-negative count"

    def valid_outcome(self, y: np.ndarray) -> np.ndarray:
        """Non-negative."""
        return y >= 0

    def events_status(self, events: np.ndarray, n: np.ndarray) -> np.ndarray:
        """``no_events`` when every count is zero."""
        return np.where(events > 0, "", "no_events")

    def start_eta(self, y: np.ndarray, offset: np.ndarray, starts: np.ndarray,
                  counts: np.ndarray) -> np.ndarray:
        """Log of each study's event rate (events per unit exposure)."""
        top = np.maximum.reduceat(offset, starts)
        lse = top + np.log(np.add.reduceat(np.exp(offset - np.repeat(top, counts)), starts))
        return np.log(np.add.reduceat(y, starts)) - lse

    def moments(self, eta: np.ndarray, y: np.ndarray
                ) -> tuple[float, np.ndarray, np.ndarray] | None:
        """Log-likelihood (R's ``logLik``), ``y - mu`` and the weights ``mu``."""
        if eta.max(initial=-np.inf) > _ETA_MAX:
            return None
        mu = np.exp(eta)
        ll = float(np.sum(y * eta - mu - gammaln(y + 1)))
        return ll, y - mu, mu

    def separation_reason(self, X: np.ndarray, y: np.ndarray, names: tuple[str, ...]
                          ) -> str | None:
        """Plain words naming the term(s) whose estimate diverges, or None."""
        Xs = X / column_scale(X)
        zero = y == 0
        Az, Ae = -Xs[zero], Xs[~zero]
        found = explain_direction(lambda cols: recession_direction(Az[:, cols], Ae[:, cols]), X)
        if found is None:
            return None
        idx, b = found
        driven = np.flatnonzero(zero)[Az @ b > 1e-8]
        what = term_list(idx, names) if idx else "the intercept"
        if len(idx) == 1:
            est = f"the estimate of '{names[idx[0]]}' diverges to " \
                  f"{'+' if b[idx[0]] > 0 else '-'}infinity"
        else:
            est = "the estimates of " + ", ".join(f"'{names[j]}'" for j in idx) + " diverge"
        pattern = X[np.ix_(driven, idx)]
        if idx and np.all(pattern == pattern[0]):
            same = np.all(X[:, idx] == pattern[0], axis=1)
            cells = ", ".join(f"{names[j]}={_fmt(v)}" for j, v in zip(idx, pattern[0],
                                                                       strict=True))
            return (f"zero counts: no events among the {people(int(same.sum()))} with {cells}, "
                    f"so {est}")
        return (f"monotone likelihood: {what} drives the fitted rate of "
                f"{people(driven.size)} with no events to zero, so {est}")


POISSON = PoissonFamily()


def fit(y, X, *, names: Sequence[str], offset=None, maxiter: int = 100, tol: float = 1e-10,
        **_) -> Fit:
    """Poisson regression of counts ``y`` on the design ``X``, with optional ``offset``.

    Returns log rate ratios and their covariance (as R's ``glm(poisson)`` with
    ``offset=``), ``events = sum(y)``; or a failed Fit (``too_few_rows``,
    ``no_events``, ``collinear``, ``separation``, ``not_converged``, ``runaway``).

    Example:
        >>> import numpy as np
        >>> f = fit(np.zeros(5), np.ones((5, 1)), names=("Intercept",))
        >>> f.problem, f.reason
        ('no_events', 'no events among the 5 participants')
    """
    return glm_fit(POISSON, y, X, names=names, offset=offset, maxiter=maxiter, tol=tol)
