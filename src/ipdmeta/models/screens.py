"""The outcome screens of every family, run on all the studies of a block at once.

Before iterating, each per-study fitter refuses a study whose outcome cannot give an
estimate: no events or all events (logistic, log- and identity-binomial), no events
(Poisson, negative binomial, Weibull and exponential: the event column; Fine-Gray: no
event of interest), one outcome category (ordinal: ``constant_outcome``), and for
logistic models a threshold on one term that separates the outcome.  The batched
stage-1 path (:mod:`ipdmeta.stage1.blocks`) finds these studies for the whole block
with :func:`screened_failures` (one pass of segment sums over the study-sorted rows)
and writes their rows without fitting; the statuses and reasons are the ones the
per-study fitters write (the same templates), for exactly the studies where nothing
comes before those screens in the per-study path: more rows than coefficients, a
valid finite outcome and design, and columns clearly not aliased
(:func:`ipdmeta.models.batched.full_rank`).  Every other study is left to the
per-study path.

Example:
    >>> X = np.column_stack([np.ones(8), np.tile([0.0, 1], 4)])
    >>> y = np.r_[np.zeros(4), 0, 1, 0, 1]
    >>> screened_failures("rr", y, X, np.array([0, 4]), ("Intercept", "treat"))
    {0: ('no_events', 'no events among the 4 participants')}
    >>> t = np.column_stack([np.arange(1.0, 9), [0, 2, 0, 2, 1, 0, 1, 2]])
    >>> screened_failures("finegray", t, X[:, 1:], np.array([0, 4]), ("treat",))
    {0: ('no_events', 'no events of interest among the 4 participants')}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ipdmeta.models._newton import EVENT_REASONS, Family
from ipdmeta.models.batched import FAMILIES, full_rank
from ipdmeta.models.finegray import NO_EVENTS_REASON
from ipdmeta.models.logistic import LOGISTIC
from ipdmeta.models.ordinal import CONSTANT_OUTCOME_REASON, INTERCEPT_NAMES
from ipdmeta.models.padded import counts_of, segment_all, segment_ptp
from ipdmeta.models.poisson import POISSON

#: the family whose events screen each model's fitter applies to its event column
EVENT_FAMILIES: dict[str, Family] = {"logistic": LOGISTIC, "poisson": POISSON,
                                     "rr": LOGISTIC, "rd": LOGISTIC, "negbin": POISSON,
                                     "weibull": POISSON, "exponential": POISSON}
#: models whose design has no intercept column (the baseline hazard takes its place)
NO_INTERCEPT = ("finegray",)
#: every model with screens here
SCREENED_MODELS = (*EVENT_FAMILIES, "ordinal", *NO_INTERCEPT)

Screen = tuple[np.ndarray, np.ndarray, Callable[[int], str]]


def outcome_screen(model: str, y: np.ndarray, starts: np.ndarray, counts: np.ndarray
                   ) -> Screen:
    """Per study: is the outcome valid (else the per-study fitter raises), its status
    ("" when none) and the reason of study ``i``'s status.

    Example:
        >>> ok, status, reason = outcome_screen("ordinal", np.array([2.0, 2, 1, 3]),
        ...                                     np.array([0, 2]), np.array([2, 2]))
        >>> ok.tolist(), status.tolist(), reason(0)
        ([True, True], ['constant_outcome', ''], 'all 2 participants have the outcome 2')
    """
    finite = np.all(np.isfinite(y.reshape(y.shape[0], -1)), axis=1)
    if model == "ordinal":
        status = np.where(segment_ptp(y, starts) == 0, "constant_outcome", "")
        return (segment_all(finite, starts), status,
                lambda i: CONSTANT_OUTCOME_REASON.format(n=int(counts[i]),
                                                         value=float(y[starts[i]])))
    if model == "finegray":
        valid = finite & np.isin(y[:, 1], (0, 1, 2))
        events = np.add.reduceat((y[:, 1] == 1).astype(float), starts)
        return (segment_all(valid, starts), np.where(events > 0, "", "no_events"),
                lambda i: NO_EVENTS_REASON.format(n=int(counts[i])))
    family = EVENT_FAMILIES[model]
    if y.ndim == 2:   # Weibull, exponential: the exponential fit (Poisson) of the events
        valid = finite & (y[:, 0] > 0) & ((y[:, 1] == 0) | (y[:, 1] == 1))
        y = y[:, 1]
    else:
        valid = finite & family.valid_outcome(y)
    status = family.events_status(np.add.reduceat(y, starts), counts)
    return (segment_all(valid, starts), status,
            lambda i: EVENT_REASONS[str(status[i])].format(n=int(counts[i])))


def screened_failures(model: str, y: np.ndarray, X: np.ndarray, starts: np.ndarray,
                      names: Sequence[str], use: np.ndarray | None = None
                      ) -> dict[int, tuple[str, str]]:
    """Studies whose per-study fit fails before any iteration, found at once: (status,
    reason) by study position (see the module docstring).  Linear and Cox models have
    none here (Cox studies are screened by :mod:`ipdmeta.models.batched_cox`).
    """
    if model not in SCREENED_MODELS or X.shape[0] == 0:
        return {}
    k, p = starts.size, X.shape[1]
    counts = counts_of(starts, X.shape[0])
    ones = np.flatnonzero(np.all(X == 1.0, axis=0))
    if ones.size != (0 if model in NO_INTERCEPT else 1):
        return {}
    if model == "ordinal" and names[int(ones[0])] not in INTERCEPT_NAMES:
        return {}   # the fitter keeps a constant column not named as the intercept
    cand = (np.ones(k, bool) if use is None else np.asarray(use, bool)) & (counts > p)
    valid, status, reason = outcome_screen(model, y, starts, counts)
    cand &= valid & segment_all(np.all(np.isfinite(X), axis=1), starts)
    one_term = (FAMILIES[model].separated_by_one_term(X, y, starts) if model == "logistic"
                else np.zeros(k, bool))
    cand &= (status != "") | one_term
    if not cand.any():
        return {}
    cand &= full_rank(X, starts, np.arange(k), k, center=True, skip=ones.tolist())
    out = {}
    for i in np.flatnonzero(cand).tolist():
        if status[i]:
            out[i] = (str(status[i]), reason(i))
        else:
            rows = slice(int(starts[i]), int(starts[i] + counts[i]))
            out[i] = ("separation", LOGISTIC.separation_reason(X[rows], y[rows], tuple(names))
                      or "separation")
    return out
