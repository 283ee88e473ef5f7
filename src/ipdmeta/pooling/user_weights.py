"""User-defined study weights (Stata metan's ``wgt()``, metafor's ``rma(weights=)``).

With weights ``w_i`` chosen by the user (study size, a quality score ...) the pooled
estimate is the weighted mean and its variance follows from the study variances
``v_i`` and tau² (Stata ``help metan``, option ``wgt()``)::

    theta    = sum(w_i y_i) / sum(w_i)
    Var(theta) = sum(w_i² (v_i + tau²)) / sum(w_i)²        (tau² = 0: common effect)

tau² comes from the chosen estimator with the usual inverse-variance weights, so the
heterogeneity statistics (Q, I², tau² and its interval) are those of the unweighted
analysis; only the estimate, its standard error, interval, test and prediction
interval change.  metafor's ``rma(yi, vi, weights=w, method=...)`` gives the same
numbers for the common-effect model and every tau² estimator (it estimates tau² the
usual way, then fits with ``W = diag(w)``).  The scale of the weights is immaterial.

Intervals are Wald z (default) or t on k − 1 df; the Hartung-Knapp and
profile-likelihood intervals are defined for inverse-variance weights and are refused
(as metan does: ``hksj`` applies "in the absence of other re-weighting").

Example:
    >>> import numpy as np
    >>> from ipdmeta.pooling.options import make_spec
    >>> p = fit_user_weighted(np.array([0.1, 0.5, 0.3]), np.array([0.01, 0.02, 0.03]),
    ...                       np.array([1.0, 1.0, 2.0]), make_spec("common"))
    >>> round(p.estimate, 4), round(p.se, 5)
    (0.3, 0.09682)
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ipdmeta.errors import InputError
from ipdmeta.pooling.estimate import Pooled, fit_pooled
from ipdmeta.pooling.inference import prediction_interval, wald_inference
from ipdmeta.pooling.options import PoolSpec

#: interval methods defined with user weights
WEIGHTED_CIS = ("z", "t")


def check_user_weights(w: np.ndarray, labels: list, column: str) -> np.ndarray:
    """Refuse negative or non-finite weights and weights that are all zero.

    Example:
        >>> check_user_weights(np.array([1.0, -2.0]), ["A", "B"], "n")
        Traceback (most recent call last):
        ...
        ipdmeta.errors.InputError: weights column 'n' is negative or not finite for study ...
    """
    w = np.asarray(w, dtype=float)
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"weights column {column!r} is negative or not finite for study "
                         f"{labels[i]!r} ({w[i]!r}); user weights must be >= 0")
    if not np.any(w > 0):
        raise InputError(f"weights column {column!r} is zero for every study; give positive "
                         "weights")
    return w


def check_weighted_spec(spec: PoolSpec) -> None:
    """User weights go with the common-effect model or a tau² estimator and a z or t
    interval; GENQ uses its weights for tau² instead (see :func:`ipdmeta.pool`)."""
    if spec.is_alternative:
        raise InputError(f"method={spec.method!r}/ci={spec.ci!r} has its own weights; user "
                         "weights (weights=) go with the common effect or a tau² estimator")
    if spec.pi == "kr":
        raise InputError("pi='kr' (Kenward-Roger) is defined for inverse-variance weights; with "
                         "user weights (weights=) use pi='hts' or pi='metafor'")
    if spec.ci not in WEIGHTED_CIS:
        raise InputError(f"ci={spec.ci!r} is defined for inverse-variance weights; with user "
                         "weights (weights=) use ci='z' or ci='t' (Stata metan: hksj and pl "
                         "cannot be combined with wgt())")


def fit_user_weighted(y: np.ndarray, v: np.ndarray, w: np.ndarray, spec: PoolSpec) -> Pooled:
    """Pool ``y`` (variances ``v``) with user weights ``w`` under ``spec`` (z or t interval).

    The heterogeneity part (tau², Q, I², H² and their intervals) is that of the usual
    fit; the estimate, standard error, interval, test and prediction interval use
    ``w``.
    """
    check_weighted_spec(spec)
    base = fit_pooled(y, v, spec)
    total = float(np.sum(w))
    mu = float(np.sum(w * y) / total)
    se = float(np.sqrt(np.sum(w**2 * (v + base.tau2))) / total)
    inf = wald_inference(mu, se, spec.level, base.ci_method, len(y))
    pi_low, pi_high = base.pi_low, base.pi_high
    messages = [m for m in base.messages if "prediction interval" not in m]
    if base.model == "random":
        pi_low, pi_high, note = prediction_interval(mu, se, base.tau2, len(y),
                                                    spec.level, spec.pi, base.ci_method)
        if note:
            messages.append(note)
    messages.append("user-defined study weights (weights=): estimate sum(w y)/sum(w), "
                    "variance sum(w² (v + tau²))/sum(w)²")
    return replace(base, estimate=mu, se=float(inf.se), ci_low=float(inf.ci_low),
                   ci_high=float(inf.ci_high), z_or_t=float(inf.statistic),
                   pvalue=float(inf.pvalue), df=inf.df, pi_low=pi_low, pi_high=pi_high,
                   messages=tuple(messages))


def weight_percent(w: np.ndarray) -> np.ndarray:
    """User weights as percentages (they sum to 100)."""
    return 100.0 * np.asarray(w, dtype=float) / float(np.sum(w))
