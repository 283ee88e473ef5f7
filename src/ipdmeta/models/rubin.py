"""Rubin's rules: combine the fits of one study in ``m`` multiply imputed datasets.

With per-imputation estimates ``q_1..q_m`` and their variances ``u_1..u_m``
(Rubin 1987; as R's ``mice::pool``, Stata's ``mi estimate``):

* combined estimate ``qbar = mean(q)``; within-imputation variance ``ubar = mean(u)``;
  between-imputation variance ``b = var(q)`` (denominator ``m - 1``);
* total variance ``t = ubar + (1 + 1/m) b``;
* ``lambda = (1 + 1/m) b / t`` (proportion of the variance due to missingness; set to
  at least 1e-4 for the degrees of freedom, as ``mice``), ``riv = (1 + 1/m) b / ubar``
  (relative increase in variance), ``fmi = (riv + 2 / (df + 3)) / (riv + 1)``;
* degrees of freedom with the Barnard-Rubin (1999) small-sample correction:
  ``df_old = (m - 1) / lambda^2``; with the complete-data degrees of freedom
  ``dfcom`` finite, ``df_obs = (dfcom + 1) / (dfcom + 3) dfcom (1 - lambda)`` and
  ``df = df_old df_obs / (df_old + df_obs)``; with ``dfcom`` infinite, ``df = df_old``
  (``mice::pool`` takes ``dfcom`` from the model's residual degrees of freedom,
  ``n - p``; Stata's ``mi estimate`` uses the large-sample ``df_old`` unless
  ``dfadjust`` is given: pass ``dfcom=inf`` for that).

Vectorised: ``estimates`` and ``variances`` of shape ``(m,)`` or ``(m, k)`` give
``k`` combined values.

Example:
    >>> r = rubin([1.0, 1.2, 0.9], [0.04, 0.05, 0.045], dfcom=100)
    >>> round(float(r.estimate), 6), round(float(r.variance), 6), round(float(r.df), 4)
    (1.033333, 0.076111, 9.9216)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ipdmeta.errors import InputError

#: the floor of lambda in the degrees of freedom (``mice:::barnard.rubin``)
LAMBDA_MIN = 1e-4


@dataclass(frozen=True)
class RubinResult:
    """The combined estimate, its variance and the missing-information summaries."""

    estimate: np.ndarray
    variance: np.ndarray
    within: np.ndarray
    between: np.ndarray
    df: np.ndarray
    riv: np.ndarray
    lambda_: np.ndarray
    fmi: np.ndarray
    m: int
    dfcom: float

    @property
    def se(self) -> np.ndarray:
        """Standard error: the square root of the total variance."""
        return np.sqrt(self.variance)

    def to_dict(self) -> dict:
        """The fields as a dict (arrays as given)."""
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        """One row per combined value."""
        k = np.atleast_1d(self.estimate).shape
        d = {key: np.broadcast_to(v, k) for key, v in self.to_dict().items()}
        d["se"] = np.broadcast_to(self.se, k)
        return pd.DataFrame(d)

    def summary(self) -> str:
        """A short text table."""
        return (f"Rubin's rules over {self.m} imputations (dfcom={self.dfcom:g})\n"
                + self.to_frame().drop(columns=["m", "dfcom"]).to_string(index=False))

    def __repr__(self) -> str:
        est = np.round(np.atleast_1d(self.estimate), 4).tolist()
        return f"RubinResult(m={self.m}, estimate={est})"


def barnard_rubin(m: int, b: np.ndarray, t: np.ndarray, dfcom: float = np.inf) -> np.ndarray:
    """Degrees of freedom of the combined estimate (Barnard & Rubin 1999; ``mice``).

    Example:
        >>> float(barnard_rubin(5, 0.0, 1.0))   # no between-imputation variance
        400000000.0
    """
    lam = np.maximum((1 + 1 / m) * np.asarray(b, float) / np.asarray(t, float), LAMBDA_MIN)
    dfold = (m - 1) / lam**2
    if np.isinf(dfcom):
        return dfold
    dfobs = (dfcom + 1) / (dfcom + 3) * dfcom * (1 - lam)
    return dfold * dfobs / (dfold + dfobs)


def rubin(estimates: ArrayLike, variances: ArrayLike, *, dfcom: float = np.inf) -> RubinResult:
    """Combine per-imputation estimates and variances by Rubin's rules.

    Args:
        estimates, variances: ``(m,)`` or ``(m, k)``; ``m >= 2`` imputations, finite
            values, variances positive.
        dfcom: complete-data degrees of freedom (``n - p`` as ``mice::pool``;
            infinite for the large-sample degrees of freedom).

    Example:
        >>> float(rubin([0.5, 0.5], [0.1, 0.1]).between)
        0.0
    """
    q = np.asarray(estimates, dtype=float)
    u = np.asarray(variances, dtype=float)
    if q.shape != u.shape or q.ndim not in (1, 2):
        raise InputError(f"estimates {q.shape} and variances {u.shape} must have the same "
                         "shape, (m,) or (m, k)")
    m = q.shape[0]
    if m < 2:
        raise InputError(f"Rubin's rules need at least 2 imputations, got {m}")
    if not (np.all(np.isfinite(q)) and np.all(np.isfinite(u)) and np.all(u > 0)):
        raise InputError("every imputation needs a finite estimate and a positive finite "
                         "variance; leave out (or refit) the failed ones")
    dfcom = float(dfcom)
    if not dfcom > 0:
        raise InputError(f"dfcom must be positive (or inf), got {dfcom:g}")
    qbar = q.mean(axis=0)
    ubar = u.mean(axis=0)
    b = q.var(axis=0, ddof=1)
    t = ubar + (1 + 1 / m) * b
    df = barnard_rubin(m, b, t, dfcom)
    riv = (1 + 1 / m) * b / ubar
    return RubinResult(estimate=qbar, variance=t, within=ubar, between=b, df=df, riv=riv,
                       lambda_=(1 + 1 / m) * b / t, fmi=(riv + 2 / (df + 3)) / (riv + 1),
                       m=m, dfcom=dfcom)
