"""Logistic regression by maximum likelihood (as R's ``glm(family = binomial)``).

The fit is Newton-Raphson (= IRLS for the canonical logit link) in
:mod:`ipdmeta.models._newton`; standard errors come from the inverse of the
Fisher information ``X'WX`` at the estimate.  A study whose likelihood has no
maximum (complete or quasi-complete separation) is reported as failed with the
term that separates, found with the linear-programming check of Konis (2007);
Firth's penalised likelihood, for which separation is no failure, is
:mod:`ipdmeta.models.firth` (the stage-1 option ``firth=True``).

Example:
    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 0, 1, 1, 0, 1, 1, 1.0])
    >>> X = np.column_stack([np.ones(10), [0, 0, 0, 0, 0, 1, 1, 1, 1, 1.0]])
    >>> f = fit(y, X, names=("Intercept", "treat"))
    >>> round(f.estimate("treat"), 6), round(f.se("treat"), 6), f.events
    (1.791759, 1.443376, 6)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.special import expit

from ipdmeta.models._newton import (
    _fmt,
    column_scale,
    explain_direction,
    glm_fit,
    people,
    recession_direction,
    strictly_separable,
    term_list,
)
from ipdmeta.models.base import Fit


class LogisticFamily:
    """Binary outcome, logit link (see :class:`ipdmeta.models._newton.Family`)."""

    name = "logistic"
    label = "logistic"
    outcome_rule = "coded 0/1"

    def valid_outcome(self, y: np.ndarray) -> np.ndarray:
        """0 or 1."""
        return (y == 0) | (y == 1)

    def events_status(self, events: np.ndarray, n: np.ndarray) -> np.ndarray:
        """``no_events`` / ``all_events`` when the outcome does not vary."""
        return np.where(events == 0, "no_events", np.where(events == n, "all_events", ""))

    def start_eta(self, y: np.ndarray, offset: np.ndarray, starts: np.ndarray,
                  counts: np.ndarray) -> np.ndarray:
        """Log-odds of each study's event rate."""
        m = np.add.reduceat(y, starts) / counts
        return np.log(m / (1 - m))

    def moments(self, eta: np.ndarray, y: np.ndarray
                ) -> tuple[float, np.ndarray, np.ndarray] | None:
        """Log-likelihood, ``y - mu`` (accurate for fitted probabilities near 0/1), weights."""
        p = expit(eta)
        q = expit(-eta)
        resid = y * q - (1 - y) * p
        ll = float(np.sum(y * eta - np.logaddexp(0.0, eta)))
        return ll, resid, p * q

    def separation_reason(self, X: np.ndarray, y: np.ndarray, names: tuple[str, ...]
                          ) -> str | None:
        """Plain words naming the separating term(s), or None when there is no separation."""
        A = (2 * y - 1)[:, None] * (X / column_scale(X))
        found = explain_direction(lambda cols: recession_direction(A[:, cols]), X)
        if found is None:
            return None
        idx, b = found
        kind = "complete" if strictly_separable(A) else "quasi-complete"
        if not idx:
            return f"{kind} separation: the outcome is perfectly predicted"
        if len(idx) > 1:
            k = int(np.sum(A @ b > 1e-8))
            detail = f"for {k} of the {people(y.size)}"
        else:
            detail = _single_term_detail(X[:, idx[0]], y, names[idx[0]], b[idx[0]] > 0)
        return (f"{kind} separation: {term_list(idx, names)} perfectly predicts the outcome "
                f"({detail})")


def _single_term_detail(x: np.ndarray, y: np.ndarray, name: str, up: bool) -> str:
    """Events by level of a binary term, or the threshold of a continuous one."""
    levels = np.unique(x)
    if levels.size == 2:
        return "; ".join(f"{int(y[x == v].sum())} of {int(np.sum(x == v))} with "
                         f"{name}={_fmt(v)} had the event" for v in levels)
    if up:   # the event probability rises with x: events at x >= hi, non-events at x <= lo
        lo, hi = x[y == 0].max(), x[y == 1].min()
        more, less = ">", "<"
    else:
        lo, hi = x[y == 0].min(), x[y == 1].max()
        more, less = "<", ">"
    if lo == hi:
        return (f"everyone with {name} {more} {_fmt(lo)} had the event and nobody with "
                f"{name} {less} {_fmt(lo)}")
    return (f"everyone with {name} {more}= {_fmt(hi)} had the event and nobody with "
            f"{name} {less}= {_fmt(lo)}")


LOGISTIC = LogisticFamily()


def fit(y, X, *, names: Sequence[str], maxiter: int = 100, tol: float = 1e-10, **_) -> Fit:
    """Logistic regression of a 0/1 outcome ``y`` on the design ``X`` (intercept included).

    Returns a :class:`~ipdmeta.models.base.Fit` with log odds ratios and their
    covariance (as R's ``glm(binomial)``), ``events = sum(y)``; or a failed Fit
    (``too_few_rows``, ``no_events``, ``all_events``, ``collinear``, ``separation``,
    ``not_converged``, ``runaway``).  Firth's penalised estimates:
    :func:`ipdmeta.models.firth.fit`.

    Example:
        >>> import numpy as np
        >>> y = np.array([0, 0, 0, 1, 1, 1.0]); X = np.column_stack([np.ones(6), y])
        >>> f = fit(y, X, names=("Intercept", "treat"))
        >>> f.problem
        'separation'
        >>> print(f.reason)  # doctest: +NORMALIZE_WHITESPACE
        complete separation: 'treat' perfectly predicts the outcome (0 of 3 with treat=0 had
        the event; 3 of 3 with treat=1 had the event)
    """
    return glm_fit(LOGISTIC, y, X, names=names, maxiter=maxiter, tol=tol)
