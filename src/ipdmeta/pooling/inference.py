"""Intervals and tests for the pooled effect, and the prediction interval.

CI methods (``ci=``):

* ``"z"``: Wald interval with normal quantiles.
* ``"t"``: Wald interval with t quantiles on k − 1 degrees of freedom.
* ``"hksj"``: Hartung-Knapp-Sidik-Jonkman: the variance is multiplied by
  ``q = Σ w*(y − μ)²/(k − 1)`` (w* = 1/(v + tau²)) and t quantiles on k − 1 df
  are used (Knapp & Hartung 2003; metafor ``test="knha"``).
* ``"hksj-trunc"``: the same with ``q`` truncated below at 1, so the interval is
  never narrower than the Wald-type interval with t quantiles (Knapp & Hartung
  2003; Jackson et al. 2017; metafor ``test="adhoc"``).
* ``"hksj-zovert"``: the same with ``q`` truncated below at ``(z/t)²``, so the
  interval is never narrower than the Wald z interval (van Aert & Jackson 2019; metan
  ``hksj, truncate(zovert)``).
* ``"pl"``: profile-likelihood interval (Hardy & Thompson 1996) from the ML
  likelihood with tau² profiled out, as Stata's ``metan, model(pl)``;
  ``"pl-bartlett"`` and ``"pl-skovgaard"`` with the small-sample corrections of
  :mod:`ipdmeta.pooling.profile_corrections`.
* ``"kr"``, ``"kr-oim"``: Kenward-Roger variance and t degrees of freedom (expected or
  observed information; :func:`ipdmeta.pooling.corrections.kenward_roger`).
* ``"hc"``: the Henmi-Copas interval (:mod:`ipdmeta.pooling.henmi_copas`).

Example:
    >>> lo, hi = wald_bounds(0.5, 0.1, 0.95, df=None)
    >>> round(lo, 4), round(hi, 4)
    (0.304, 0.696)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.projection import Projection

CI_METHODS = ("z", "t", "hksj", "hksj-trunc", "hksj-zovert", "pl", "pl-bartlett",
              "pl-skovgaard", "kr", "kr-oim", "hc")
PI_METHODS = ("hts", "metafor", "kr")


@dataclass(frozen=True)
class Inference:
    """Standard error, interval and test of one pooled coefficient."""

    se: float
    ci_low: float
    ci_high: float
    statistic: float
    pvalue: float
    df: float | None
    scale: float = 1.0  # the HKSJ variance multiplier that was applied


def critical_value(level: float, df: float | None) -> float:
    """Two-sided critical value: normal when ``df`` is None, else t."""
    upper = 1 - (1 - level) / 2
    return float(stats.norm.ppf(upper) if df is None else stats.t.ppf(upper, df))


def wald_bounds(estimate: float, se: float, level: float, df: float | None
                ) -> tuple[float, float]:
    """``estimate ± crit × se``."""
    crit = critical_value(level, df)
    return estimate - crit * se, estimate + crit * se


def two_sided_p(statistic: float, df: float | None) -> float:
    """Two-sided p-value of a z (df None) or t statistic."""
    if df is None:
        return float(2 * stats.norm.sf(abs(statistic)))
    return float(2 * stats.t.sf(abs(statistic), df))


def hksj_scale(y: np.ndarray, v: np.ndarray, tau2: float, X: np.ndarray) -> float:
    """Knapp-Hartung variance multiplier ``Σ w*(y − Xb)²/(k − p)``."""
    k, p = X.shape
    q = Projection(1.0 / (v + tau2), X).quad(y) / (k - p)
    return 0.0 if q <= np.finfo(float).eps else q


def hksj_factor(scale: float, ci: str, level: float, df: float) -> float:
    """The HKSJ variance factor used by ``ci``: q ("hksj"), max(1, q) ("hksj-trunc"),
    max((z/t)², q) ("hksj-zovert"), 1 for the other intervals."""
    if ci == "hksj-trunc":
        return max(1.0, scale)
    if ci == "hksj-zovert":
        return max(scale, (critical_value(level, None) / critical_value(level, df)) ** 2)
    return scale if ci == "hksj" else 1.0


def wald_inference(estimate: float, se: float, level: float, ci: str, k: int,
                   scale: float = 1.0) -> Inference:
    """Interval and test for ``ci`` in z, t, hksj, hksj-trunc, hksj-zovert given the model se."""
    df = None if ci == "z" else k - 1
    scale = hksj_factor(scale, ci, level, k - 1)
    se_adj = se * np.sqrt(scale)
    lo, hi = wald_bounds(estimate, se_adj, level, df)
    stat = estimate / se_adj if se_adj > 0 else float("inf") * np.sign(estimate)
    return Inference(se_adj, lo, hi, stat, two_sided_p(stat, df), df, scale)


def prediction_interval(estimate: float, se: float, tau2: float, k: int, level: float,
                        kind: str, ci: str, kr: tuple[float, float] | None = None
                        ) -> tuple[float, float, str | None]:
    """Prediction interval for the effect in a new study.

    ``kind="hts"``: Higgins, Thompson & Spiegelhalter (2009), t with k − 2 df (as
    Stata's metan ``rfdist``).  ``kind="metafor"``: metafor's ``predict()``: normal
    quantiles for ``ci="z"``, t with k − 1 df otherwise.  Both use
    ``sqrt(se² + tau²)`` with the se of the chosen interval method.  ``kind="kr"``:
    Partlett & Riley (2017), ``sqrt(se_KR² + tau²)`` with t on ``df_KR − 1`` df, from
    ``kr = (se_KR, df_KR)`` (R meta's ``method.predict="KR"``).  Returns the bounds and
    a message when the interval is not given (k < 3, or ``df_KR ≤ 1``).
    """
    if kind not in PI_METHODS:
        raise InputError(f"pi={kind!r} is not a prediction-interval method; use one of "
                         f"{', '.join(PI_METHODS)}")
    if k < 3:
        return float("nan"), float("nan"), (
            f"no prediction interval with k = {k} studies (at least 3 are needed)")
    if kind == "kr":
        if kr is None:
            raise InputError("pi='kr' (Kenward-Roger prediction interval) goes with a tau² "
                             "estimator and inverse-variance weights; use pi='hts' here")
        se, kr_df = kr
        if not kr_df > 1:
            return float("nan"), float("nan"), (
                f"no Kenward-Roger prediction interval: its df ({kr_df:.3g}) is not above 1")
        df: float | None = kr_df - 1
    elif kind == "hts":
        df = k - 2
    else:
        df = None if ci in ("z", "hc") or ci.startswith("pl") else k - 1
    lo, hi = wald_bounds(estimate, float(np.sqrt(se**2 + tau2)), level, df)
    return lo, hi, None
