"""Log-rank (Peto) stage 1: O − E and V per study, the log hazard ratio (O − E)/V.

For two groups (the pooled 0/1 column; with any two values, the larger is group 1)
the log-rank statistic of group 1 is ``O − E`` with hypergeometric variance ``V``,
summed over the distinct event times ``t`` of each stratum and then over strata
(R's ``survival::survdiff``, Stata's ``sts test``)::

    E = sum_t d_t n1_t / n_t
    V = sum_t d_t (n1_t / n_t) (1 − n1_t / n_t) (n_t − d_t) / (n_t − 1)

with ``n_t`` at risk (``n1_t`` of them in group 1) and ``d_t`` events at ``t``;
participants censored at ``t`` are at risk at ``t``.  Peto's one-step estimate of
the log hazard ratio is ``(O − E)/V`` with variance ``1/V`` (Yusuf et al. 1985;
Simmonds et al. 2011): pooling these by inverse variance gives
``sum(O − E)/sum(V)``, the Peto fixed-effect estimate, and the heterogeneity
``Q = sum (O − E)²/V − (sum(O − E))²/sum(V)``.

:func:`fit` has the call shape of every stage-1 fitter (``fit(y, X, *, names,
**options) -> Fit``); ``X`` holds the one grouping column.  The per-study numbers
are in ``Fit.extra``: ``oe``, ``v``, ``observed`` and ``expected`` (of group 1) and
``chisq``.  Sorting is done once; the sums over event times are segment sums and
reverse cumulative sums (no loop over participants or times).  A study with no
events fails with ``no_events``, one whose variance is zero (every event happened
when only one group was at risk) with ``zero_variance``.

Example:
    >>> import numpy as np
    >>> y = np.array([[1.0, 1], [2, 1], [3, 0], [4, 1], [5, 1], [6, 0]])
    >>> f = fit(y, np.array([[0.0], [1], [0], [1], [0], [1]]), names=("treat",))
    >>> round(f.extra["oe"], 6), round(f.extra["v"], 6), round(f.estimate("treat"), 6)
    (-0.266667, 0.962222, -0.277136)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ipdmeta.errors import InputError
from ipdmeta.models.base import Fit, failed
from ipdmeta.models.cox import stratum_codes, survival_inputs


def _segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (k, n) over the segments beginning at ``starts``."""
    return np.add.reduceat(values, starts, axis=-1)


def logrank_sums(time: np.ndarray, event: np.ndarray, group: np.ndarray,
                 codes: np.ndarray | None = None) -> tuple[float, float, float]:
    """Observed and expected events of group 1 and the variance ``V`` of ``O − E``.

    ``group`` is 0/1; ``codes`` are stratum codes (None: one stratum).

    Example:
        >>> t = np.array([1.0, 2, 2, 3]); e = np.array([1.0, 1, 0, 1])
        >>> [round(v, 4) for v in logrank_sums(t, e, np.array([0.0, 1, 1, 0]))]
        [1.0, 1.1667, 0.4722]
    """
    n = time.size
    sid = np.zeros(n, dtype=np.intp) if codes is None else codes
    order = np.lexsort((time, sid))
    t, s = time[order], sid[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (t[1:] != t[:-1]) | (s[1:] != s[:-1])
    starts = np.flatnonzero(new)
    ev = event[order]
    g = group[order]
    # per distinct (stratum, time): rows, rows of group 1, events, events of group 1
    rows, rows1, d, d1 = _segment_sums(np.stack([np.ones(n), g, ev, ev * g]), starts)
    gs = s[starts]
    # at risk: reverse cumulative sums of the rows, restarted in each stratum
    tail = np.concatenate([np.cumsum(np.stack([rows, rows1])[:, ::-1], axis=1)[:, ::-1],
                           np.zeros((2, 1))], axis=1)
    last = np.searchsorted(gs, gs, side="right")   # first time group of the next stratum
    at_risk, at_risk1 = tail[:, :-1] - tail[:, last]
    hit = d > 0
    n_t, n1_t, d_t = at_risk[hit], at_risk1[hit], d[hit]
    p1 = n1_t / n_t
    expected = float(np.sum(d_t * p1))
    with np.errstate(invalid="ignore", divide="ignore"):
        ties = np.where(n_t > 1, (n_t - d_t) / (n_t - 1), 0.0)
    var = float(np.sum(d_t * p1 * (1.0 - p1) * ties))
    return float(d1.sum()), expected, var


def fit(y: np.ndarray, X: np.ndarray, *, names: Sequence[str], strata: np.ndarray | None = None,
        **_: Any) -> Fit:
    """Log-rank O − E and V of the one column of ``X``; coefficient ``(O − E)/V``.

    Args:
        y: ``(n, 2)``: follow-up time, event (1 event, 0 censored).
        X: ``(n, 1)``: the grouping column (0/1, or any two values: the larger is
            group 1); ``names`` its name.
        strata: optional ``n`` stratum codes: O, E and V are summed over strata
            (``strata()`` in ``survdiff``, ``strata()`` of Stata's ``sts test``).

    Returns:
        A :class:`~ipdmeta.models.base.Fit` with ``coef = [(O − E)/V]`` and
        ``cov = [[1/V]]``; ``extra`` holds ``oe``, ``v``, ``observed``,
        ``expected``, ``chisq`` (``(O − E)²/V``), ``group_value`` (the value
        coded as group 1) and ``strata`` (their number).  Failures: ``too_few_rows``
        (fewer than 2 participants), ``constant_poolvar`` (one group only),
        ``no_events``, ``zero_variance``.

    Example:
        >>> import numpy as np
        >>> y = np.array([[1.0, 1], [2, 0], [3, 1], [4, 0]])
        >>> fit(y, np.array([[0.0], [0], [1], [1]]), names=("treat",)).extra["observed"]
        1.0
    """
    time, event, X, names = survival_inputs(y, X, names)
    if X.shape[1] != 1:
        raise InputError(f"the log-rank test compares the two groups of one column; got "
                         f"{X.shape[1]} columns ({', '.join(names)}): use strata= for "
                         "stratification or model='cox' to adjust for covariates")
    codes = stratum_codes(strata, time.shape[0])
    n = time.shape[0]
    events = int(event.sum())
    common: dict[str, Any] = {"names": names, "n": n, "events": events}
    x = X[:, 0]
    values = np.unique(x)
    if values.size > 2:
        raise InputError(f"the log-rank test compares two groups, but '{names[0]}' takes "
                         f"{values.size} values: code it 0/1")
    if n < 2:
        return failed("too_few_rows", f"{n} participant{'s' * (n != 1)}: the log-rank "
                      "test needs two groups", **common)
    if values.size < 2:
        return failed("constant_poolvar", f"'{names[0]}' is {values[0]:g} for all {n} "
                      "participants: the log-rank test needs two groups", **common)
    if events == 0:
        return failed("no_events", f"no events among the {n} participants", **common)
    group = (x == values[1]).astype(float)
    observed, expected, var = logrank_sums(time, event, group, codes)
    oe = observed - expected
    extra = {"oe": oe, "v": var, "observed": observed, "expected": expected,
             "group_value": float(values[1]),
             "strata": 1 if codes is None else int(codes.max()) + 1}
    if not var > 0:
        return failed("zero_variance", "the log-rank variance V is 0: every event happened "
                      "when only one group was at risk", **common, extra=extra)
    extra["chisq"] = oe * oe / var
    return Fit(coef=np.array([oe / var]), cov=np.array([[1.0 / var]]), names=names, n=n,
               events=events, extra=extra)
