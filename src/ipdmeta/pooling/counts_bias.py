"""Small-study tests for binary outcomes that need the 2×2 counts: Harbord and Peters.

With a_i events among n1_i treated and c_i events among n0_i controls (b_i, d_i the
non-events, N_i = n1_i + n0_i):

* Harbord, Egger & Sterne (2006) ("modified" test for log odds ratios; Stata's
  ``metabias, harbord``): the efficient score ``Z_i = a_i − (a_i + b_i)(a_i + c_i)/N_i``
  and its variance ``V_i = (a_i + b_i)(c_i + d_i)(a_i + c_i)(b_i + d_i)/(N_i² (N_i − 1))``;
  ordinary least squares of ``Z_i/√V_i`` on ``√V_i``; the intercept ("bias") is tested
  with t on k − 2 df.  Studies with V_i = 0 (no events or no non-events at all) carry
  no information and are left out.
* Peters et al. (2006): weighted least squares of the study estimates (log OR) on
  ``1/N_i`` with weights ``1/(1/(a_i + c_i) + 1/(b_i + d_i))``; the slope is tested with
  t on k − 2 df.  ``weights="vi"`` uses the inverse sampling variances instead, as
  metafor's ``regtest(model="lm", predictor="ninv")`` (then only the sample sizes are
  needed).

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> bcg["n1"], bcg["n0"] = bcg.tpos + bcg.tneg, bcg.cpos + bcg.cneg
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
    >>> h = harbord_test(m, events=("tpos", "cpos"), n=("n1", "n0"))
    >>> round(h.estimate, 4), h.df
    (-2.093, 11)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError
from ipdmeta.pooling.options import regression_spec
from ipdmeta.pooling.regression import fit_regression


@dataclass(frozen=True)
class CountsTestResult:
    """A regression test for small-study effects: the tested coefficient and its t test."""

    test: str
    coefficient: str
    estimate: float
    se: float
    statistic: float
    df: int
    pvalue: float
    k: int
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dictionary."""
        return dict(self.__dict__)

    def summary(self) -> str:
        """One paragraph: the coefficient, its t test and what was used."""
        text = (f"{self.test} test for small-study effects (k = {self.k})\n"
                f"  {self.coefficient}: {self.estimate:.4f} (se {self.se:.4f}), "
                f"t = {self.statistic:.3f} on {self.df} df, p = {self.pvalue:.4g}")
        return text + (f"\n  {self.note}" if self.note else "")

    def __repr__(self) -> str:
        return f"CountsTestResult({self.test}: t={self.statistic:.3f}, p={self.pvalue:.4g})"


def _column(frame: pd.DataFrame, name: str, role: str) -> np.ndarray:
    if name not in frame.columns:
        raise InputError(f"{role} column {name!r} is not in the data of the result (columns: "
                         f"{', '.join(map(str, frame.columns))})")
    values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise InputError(f"{role} column {name!r} has missing or negative counts")
    return values


def study_counts(result: Any, events: Any, n: Any, test: str
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Events and totals per arm (treated, control) from the columns of ``result.data``.

    Without ``events``/``n``, the columns the result was pooled from are used (a result
    of ``pool(..., events=, n=)`` or ``events=, nonevents=``).
    """
    columns = getattr(result, "summary_columns", None) or {}
    frame = result.data
    if events is None and n is None and "events" in columns:
        events = columns["events"]
        if "n" in columns:
            n = columns["n"]
        elif "nonevents" in columns:
            a, c = (_column(frame, col, "events") for col in events)
            b, d = (_column(frame, col, "nonevents") for col in columns["nonevents"])
            return a, a + b, c, c + d
    if events is None or n is None:
        raise InputError(f"{test} needs the 2x2 counts of each study: give "
                         "events=(treated, control) and n=(treated, control), the column "
                         "names of the events and totals in the data that was pooled")
    a, c = (_column(frame, col, "events") for col in events)
    n1, n0 = (_column(frame, col, "n") for col in n)
    if np.any(a > n1) or np.any(c > n0):
        raise InputError("events exceed the number of participants in some arm; check "
                         "events= and n=")
    if len(a) != len(np.asarray(result.estimates)):
        raise InputError("the counts do not line up with the pooled studies")
    return a, n1, c, n0


def _ols_t(y: np.ndarray, v: np.ndarray, X: np.ndarray,
           j: int) -> tuple[float, float, float, int, float]:
    """Weighted least squares (weights 1/v) with the t test of coefficient j on k − p df."""
    fit = fit_regression(y, v, X, regression_spec("common", "hksj"), btt=np.array([j]))
    # the t test's df is k − p, which is QE_df (fit.df is typed None for z tests)
    return (float(fit.beta[j]), float(fit.se[j]), float(fit.statistic[j]), fit.QE_df,
            float(fit.pvalue[j]))


def harbord_test(result: Any, events: Any = None, n: Any = None) -> CountsTestResult:
    """Harbord's modified test for small-study effects in log odds ratios.

    Args:
        result: a ``MetaResult`` whose data has the counts.
        events, n: (treated, control) column names of the events and totals.
    """
    a, n1, c, n0 = study_counts(result, events, n, "Harbord's test")
    b, d = n1 - a, n0 - c
    N = n1 + n0
    Z = a - n1 * (a + c) / N
    V = n1 * n0 * (a + c) * (b + d) / (N**2 * (N - 1))
    keep = V > 0
    k = int(keep.sum())
    if k < 3:
        raise InputError("Harbord's test needs at least 3 studies with events and non-events")
    sv = np.sqrt(V[keep])
    est, se, t, df, p = _ols_t(Z[keep] / sv, np.ones(k), np.column_stack([np.ones(k), sv]), 0)
    note = "" if k == len(a) else f"{len(a) - k} studies without information left out"
    return CountsTestResult("Harbord", "bias (intercept)", float(est), float(se), float(t),
                            int(df), float(p), k, note)


def peters_test(result: Any, events: Any = None, n: Any = None, weights: str = "peters"
                ) -> CountsTestResult:
    """Peters' regression test: the study estimates on 1/(total sample size).

    Args:
        result: a ``MetaResult`` of log odds ratios.
        events, n: (treated, control) column names of events and totals; with
            ``weights="vi"`` only ``n`` is needed.
        weights: "peters" (``1/(1/(a + c) + 1/(b + d))``, Peters et al. 2006) or "vi"
            (inverse sampling variances, metafor's ``regtest(model="lm",
            predictor="ninv")``).

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> bcg["n1"], bcg["n0"] = bcg.tpos + bcg.tneg, bcg.cpos + bcg.cneg
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
        >>> round(peters_test(m, ("tpos", "cpos"), ("n1", "n0")).pvalue, 4)
        0.2302
    """
    if weights not in ("peters", "vi"):
        raise InputError(f"weights={weights!r}: use 'peters' or 'vi'")
    y = np.asarray(result.estimates, dtype=float)
    v = np.asarray(result.variances, dtype=float)
    if weights == "vi":
        if n is None and "n" not in (getattr(result, "summary_columns", None) or {}):
            raise InputError("Peters' test needs the sample sizes: give n=(treated, control) "
                             "column names")
        n = n or result.summary_columns["n"]
        N = _column(result.data, n[0], "n") + _column(result.data, n[1], "n")
        wv = v
        note = "weights 1/v (metafor's regtest, predictor 'ninv')"
    else:
        a, n1, c, n0 = study_counts(result, events, n, "Peters' test")
        N = n1 + n0
        if np.any(a + c == 0) or np.any(a + c == N):
            raise InputError("Peters' weights need events and non-events in every study; a "
                             "study has none of one kind (use weights='vi')")
        wv = 1 / (a + c) + 1 / (N - a - c)
        note = "weights 1/(1/(a + c) + 1/(b + d)) (Peters et al. 2006)"
    k = len(y)
    if k < 3:
        raise InputError("Peters' test needs at least 3 studies")
    est, se, t, df, p = _ols_t(y, wv, np.column_stack([np.ones(k), 1 / N]), 1)
    return CountsTestResult("Peters", "slope on 1/n", float(est), float(se), float(t), int(df),
                            float(p), k, note)
