"""Mantel-Haenszel and Peto pooling of 2x2 tables, as metafor's ``rma.mh`` and ``rma.peto``.

Both are pure functions of the cells ``a`` (treatment events), ``b`` (treatment
non-events), ``c`` (control events), ``d`` (control non-events) and return a frozen
:class:`CountsPooled`.

* :func:`mantel_haenszel` — common-effect OR (Robins-Breslow-Greenland variance), RR and RD
  (Greenland-Robins variances) from the counts *without* any continuity correction; for the
  OR also the Cochran and Cochran-Mantel-Haenszel tests (``correct``: with the 1/2
  continuity correction of the test statistic) and Breslow-Day's test of homogeneity with
  Tarone's correction.
* :func:`peto` — Peto's one-step OR ``sum(O - E) / sum(V)`` and its Q statistic.

Heterogeneity (Q, I², H²) is computed as metafor does: for MH, from the per-study effect
sizes (escalc with ``add``/``to``/``drop00``, defaults 0.5, "only0", True) around the MH
estimate; for Peto, from ``sum((O-E)²/V) - sum(O-E)²/sum(V)``.  Tables with no
participants in an arm (or none at all) carry no comparison: they are left out of
everything, with a note.  Formulas and references: docs/methods/effect-sizes.md.

Example:
    >>> import numpy as np
    >>> a, b = np.array([4, 6, 3.0]), np.array([119, 300, 228.0])
    >>> c, d = np.array([11, 29, 11.0]), np.array([128, 274, 209.0])
    >>> r = mantel_haenszel(a, b, c, d, measure="OR")
    >>> round(float(np.exp(r.estimate)), 4), round(r.se, 4), r.k
    (0.2433, 0.3155, 3)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from ipdmeta.effects.binary import TWO_BY_TWO
from ipdmeta.effects.corrections import check_add, check_to, correct_tables, double_zero
from ipdmeta.errors import InputError

NAN = float("nan")
MH_MEASURES = ("OR", "RR", "RD")


@dataclass(frozen=True)
class CountsPooled:
    """A common-effect estimate pooled from 2x2 tables by Mantel-Haenszel or Peto.

    ``estimate`` is on the analysis scale (log OR, log RR, RD).  ``weights`` are percent
    per table (NaN for tables left out); ``yi``/``vi`` the per-study effect sizes used for
    Q.  Tests that do not apply are NaN (CMH and Breslow-Day: MH odds ratio only).
    """

    method: str
    measure: str
    level: float
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    z: float
    pvalue: float
    Q: float
    Q_df: int
    Q_pvalue: float
    I2: float
    H2: float
    cochran: float = NAN
    cochran_pvalue: float = NAN
    cmh: float = NAN
    cmh_pvalue: float = NAN
    breslow_day: float = NAN
    breslow_day_pvalue: float = NAN
    tarone: float = NAN
    tarone_pvalue: float = NAN
    breslow_day_df: int = 0
    correct: bool = True
    weights: np.ndarray = field(default_factory=lambda: np.empty(0))
    yi: np.ndarray = field(default_factory=lambda: np.empty(0))
    vi: np.ndarray = field(default_factory=lambda: np.empty(0))
    labels: tuple = ()
    settings: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python version of the result (arrays as lists)."""
        out = asdict(self)
        for key in ("weights", "yi", "vi"):
            out[key] = np.asarray(out[key]).tolist()
        out["labels"] = list(self.labels)
        return out

    def to_frame(self) -> pd.DataFrame:
        """Per-study table: study, estimate (yi), variance (vi) and weight (percent)."""
        return pd.DataFrame({"study": list(self.labels), "estimate": self.yi,
                             "variance": self.vi, "weight": self.weights})

    def summary(self) -> str:
        """The pooled estimate, tests and how zero cells were treated, in a few lines."""
        name = {"MH": "Mantel-Haenszel", "peto": "Peto"}[self.method]
        pct = f"{100 * self.level:g}%"
        lines = [f"{name} common-effect {self.measure} from {self.k} tables",
                 f"  estimate {self.estimate:.4f} (se {self.se:.4f}), {pct} CI "
                 f"{self.ci_low:.4f} to {self.ci_high:.4f}, z = {self.z:.3f}, "
                 f"p = {self.pvalue:.4g}",
                 f"  heterogeneity: Q = {self.Q:.3f} on {self.Q_df} df (p = "
                 f"{self.Q_pvalue:.4g}), I2 = {self.I2:.1f}%, H2 = {self.H2:.3f}"]
        if np.isfinite(self.cmh):
            cc = "with" if self.correct else "without"
            lines.append(f"  Cochran-Mantel-Haenszel test ({cc} continuity correction): "
                         f"{self.cmh:.3f} on 1 df (p = {self.cmh_pvalue:.4g})")
        if np.isfinite(self.breslow_day):
            lines.append(f"  Breslow-Day: {self.breslow_day:.3f}, Tarone-corrected "
                         f"{self.tarone:.3f} on {self.breslow_day_df} df (p = "
                         f"{self.breslow_day_pvalue:.4g}, {self.tarone_pvalue:.4g})")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"CountsPooled(method={self.method!r}, measure={self.measure!r}, k={self.k}, "
                f"estimate={self.estimate:.4g}, se={self.se:.4g})")


def _tables(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, labels: Any
            ) -> tuple[np.ndarray, ...]:
    cells = [np.asarray(x, dtype=float).ravel() for x in (a, b, c, d)]
    k = cells[0].size
    if any(x.size != k for x in cells):
        raise InputError("a, b, c and d must have the same length (one value per table)")
    if k == 0:
        raise InputError("no tables to pool")
    for name, x in zip("abcd", cells, strict=True):
        if np.any(x < 0):
            i = int(np.flatnonzero(x < 0)[0])
            raise InputError(f"cell {name} is negative ({x[i]:g}) in table {i}; counts must "
                             "be zero or more")
    labels = tuple(range(1, k + 1)) if labels is None else tuple(labels)
    if len(labels) != k:
        raise InputError(f"labels has {len(labels)} entries for {k} tables")
    return (*cells, labels)


def _keep(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, labels: Any
          ) -> tuple[np.ndarray, list[str]]:
    """Tables used: complete, with participants in both arms; notes for the rest."""
    missing = np.isnan(a) | np.isnan(b) | np.isnan(c) | np.isnan(d)
    empty = ~missing & (((a + b) == 0) | ((c + d) == 0))
    notes = []
    for mask, why in ((missing, "a missing cell"),
                      (empty, "no participants in an arm (no comparison)")):
        if mask.any():
            names = ", ".join(str(labels[i]) for i in np.flatnonzero(mask))
            notes.append(f"{int(mask.sum())} table(s) left out, {why}: {names}")
    return ~(missing | empty), notes


def _escalc(measure: str, a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, add: float,
            to: str, drop00: bool, kind: str = "constant") -> tuple[np.ndarray, np.ndarray]:
    """Per-study effect sizes with metafor's correction rules; NaN where undefined."""
    if drop00:
        dz = double_zero(a, b, c, d)
        a, b, c, d = (np.where(dz, np.nan, x) for x in (a, b, c, d))
    fixed = correct_tables(a, b, c, d, add=add, to=to, kind=kind)
    y, v = TWO_BY_TWO[measure](*fixed.cells)
    return np.where(np.isfinite(y), y, np.nan), np.where(np.isfinite(v), v, np.nan)


def _wald(estimate: float, se: float, level: float) -> tuple[float, float, float, float]:
    crit = float(stats.norm.ppf(1 - (1 - level) / 2))
    z = estimate / se
    return estimate - crit * se, estimate + crit * se, z, float(2 * stats.norm.sf(abs(z)))


def _heterogeneity(q: float, k_yi: int) -> tuple[float, int, float, float, float]:
    """Q, df, p, I² (percent), H² as metafor: Q = 0, p = 1 with fewer than two studies."""
    if k_yi <= 1 or not np.isfinite(q):
        return (0.0, max(k_yi - 1, 0), 1.0, 0.0, 1.0) if k_yi <= 1 else (q, k_yi - 1, NAN,
                                                                         NAN, NAN)
    df = k_yi - 1
    with np.errstate(divide="ignore", invalid="ignore"):
        i2 = max(0.0, 100 * (q - df) / q) if q > 0 else 0.0
    return q, df, float(stats.chi2.sf(q, df)), i2, q / df


def _mh_odds_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray
                   ) -> tuple[float, float, np.ndarray]:
    n = a + b + c + d
    r_i, s_i = a * d / n, b * c / n
    r, s = r_i.sum(), s_i.sum()
    if r == 0 or s == 0:
        return NAN, NAN, s_i
    p_i, q_i = (a + d) / n, (b + c) / n
    var = 0.5 * (np.sum(p_i * r_i) / r**2 + np.sum(p_i * s_i + q_i * r_i) / (r * s)
                 + np.sum(q_i * s_i) / s**2)
    return float(np.log(r / s)), float(np.sqrt(var)), s_i


def _mh_risk_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray
                   ) -> tuple[float, float, np.ndarray]:
    n1, n2 = a + b, c + d
    n = n1 + n2
    r, s = np.sum(a * n2 / n), np.sum(c * n1 / n)
    if a.sum() == 0 or c.sum() == 0:
        return NAN, NAN, c * n1 / n
    var = np.sum(n1 * n2 * (a + c) / n**2 - a * c / n) / (r * s)
    return float(np.log(r / s)), float(np.sqrt(var)), c * n1 / n


def _mh_risk_difference(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray
                        ) -> tuple[float, float, np.ndarray]:
    n1, n2 = a + b, c + d
    n = n1 + n2
    w = n1 * n2 / n
    beta = float(np.sum(a * n2 / n - c * n1 / n) / w.sum())
    num = (beta * np.sum(c * (n1 / n) ** 2 - a * (n2 / n) ** 2 + (n1 / n) * (n2 / n)
                         * (n2 - n1) / 2)
           + np.sum(a * (n2 - c) / n + c * (n1 - a) / n) / 2)
    return beta, float(np.sqrt(num / w.sum() ** 2)), w


MH_ESTIMATORS = {"OR": _mh_odds_ratio, "RR": _mh_risk_ratio, "RD": _mh_risk_difference}


def cmh_tests(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray,
              correct: bool = True) -> tuple[float, float, float, float]:
    """Cochran's test (variance with N) and the Cochran-Mantel-Haenszel test (N - 1).

    Returns ``(cochran, p, cmh, p)``; ``correct`` subtracts 1/2 from ``|sum(O - E)|``.
    """
    n1, n2 = a + b, c + d
    n = n1 + n2
    events, nonevents = a + c, b + d
    if events.sum() == 0 or nonevents.sum() == 0:
        return NAN, NAN, NAN, NAN
    num = (abs(np.sum(a - n1 / n * events)) - (0.5 if correct else 0.0)) ** 2
    cochran = float(num / np.sum(n1 / n * n2 / n * events * nonevents / n))
    cmh = float(num / np.sum(n1 / n * n2 / n * events * nonevents / (n - 1)))
    return cochran, float(stats.chi2.sf(cochran, 1)), cmh, float(stats.chi2.sf(cmh, 1))


def breslow_day(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray,
                odds_ratio: float) -> tuple[float, float, float, float, int]:
    """Breslow-Day statistic and Tarone's corrected version at the MH odds ratio.

    Returns ``(BD, p, Tarone, p, df)``; tables without events or non-events are skipped
    and ``df`` is the number of informative tables minus one (as metafor).
    """
    if not np.isfinite(odds_ratio):
        return NAN, NAN, NAN, NAN, 0
    n1, n2 = a + b, c + d
    n = n1 + n2
    events, nonevents = a + c, b + d
    psi = np.exp(odds_ratio)
    if psi == 1:
        fitted = n1 * events / n
    else:
        big_a = psi * (n1 + events) + (n2 - events)
        root = np.sqrt(big_a**2 - 4 * n1 * events * psi * (psi - 1))
        fitted = (big_a - root) / (2 * (psi - 1))
    pos = (fitted > 0) & (events > 0) & (nonevents > 0)
    f11 = fitted[pos]
    f12, f21 = n1[pos] - f11, events[pos] - f11
    f22 = f11 - n1[pos] - events[pos] + n[pos]
    inv = 1 / f11 + 1 / f12 + 1 / f21 + 1 / f22
    dev = a[pos] - f11
    bd = max(0.0, float(np.sum(dev**2 * inv)))
    ta = max(0.0, bd - float(np.sum(dev) ** 2 / np.sum(1 / inv)))
    df = int(pos.sum()) - 1
    if df < 1:
        return bd, NAN, ta, NAN, max(df, 0)
    return bd, float(stats.chi2.sf(bd, df)), ta, float(stats.chi2.sf(ta, df)), df


def _settings(add: float, to: str, drop00: bool, correct: bool | None = None
              ) -> dict[str, Any]:
    out = {"correction": check_add(add), "to": check_to(to), "drop_double_zero": bool(drop00)}
    if correct is not None:
        out["correct"] = bool(correct)
    return out


def _spread(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
    full = np.full(keep.size, np.nan)
    full[keep] = values
    return full


WHICH_TABLES = {"only0": "tables with a zero cell", "all": "every table",
                "if0all": "every table if any has a zero cell", "none": "no table"}


def _q_note(settings: dict[str, Any], cells: tuple[np.ndarray, ...]) -> str:
    """How zero cells were treated: the estimate uncorrected, Q from corrected tables."""
    a, b, c, d = cells
    zero, dz = np.vstack(cells) == 0, double_zero(a, b, c, d)
    if not zero.any() and settings["to"] not in ("all",):
        return ("the pooled estimate and Q use the counts as they are (no table has a zero "
                "cell)")
    parts = []
    if settings["drop_double_zero"] and dz.any():
        parts.append(f"{int(dz.sum())} double-zero table(s) left out of it")
    if settings["to"] != "none" and settings["correction"] > 0:
        parts.append(f"{settings['correction']:g} added to the cells of "
                     f"{WHICH_TABLES[settings['to']]}")
    how = f" ({'; '.join(parts)})" if parts else ""
    return ("the pooled estimate uses the counts without continuity correction; Q uses the "
            f"per-study effect sizes{how}")


def mantel_haenszel(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, *,
                    measure: str = "OR", correct: bool = True,
                    level: float = 0.95, add: float = 0.5, to: str = "only0",
                    drop00: bool = True, labels: Any = None,
                    correction_type: str = "constant") -> CountsPooled:
    """Mantel-Haenszel common-effect OR, RR or RD of 2x2 tables, as metafor's rma.mh.

    ``add``/``to``/``drop00`` (and ``correction_type``, Sweeting's arm-specific amounts as
    metan's ``cc(, opposite empirical)``) apply to the per-study effect sizes behind Q
    only; the MH estimate itself uses the counts as they are.  An undefined estimate (an
    MH OR with no events in one arm of every table, say) is NaN with a note, as metafor's
    NA.
    """
    key = str(measure).upper()
    if key not in MH_MEASURES:
        raise InputError(f"measure={measure!r}: Mantel-Haenszel pools OR, RR or RD")
    settings = _settings(add, to, drop00, correct)
    a, b, c, d, labels = _tables(a, b, c, d, labels)
    keep, notes = _keep(a, b, c, d, labels)
    if not keep.any():
        raise InputError("no table can be pooled: " + "; ".join(notes))
    ka, kb, kc, kd = (x[keep] for x in (a, b, c, d))
    estimate, se, w = MH_ESTIMATORS[key](ka, kb, kc, kd)
    if not np.isfinite(estimate):
        notes.append(f"the Mantel-Haenszel {key} is undefined: no events in one arm of "
                     "every table (or no non-events)")
    ci_low, ci_high, z, p = _wald(estimate, se, level)
    yi, vi = _escalc(key, ka, kb, kc, kd, settings["correction"], settings["to"],
                     settings["drop_double_zero"], correction_type)
    used = np.isfinite(yi) & np.isfinite(vi)
    q = max(0.0, float(np.sum((yi[used] - estimate) ** 2 / vi[used])))
    q, df, q_p, i2, h2 = _heterogeneity(q, int(used.sum()))
    tests: dict[str, Any] = {}
    if key == "OR":
        co, co_p, cmh, cmh_p = cmh_tests(ka, kb, kc, kd, correct)
        bd, bd_p, ta, ta_p, bd_df = breslow_day(ka, kb, kc, kd, estimate)
        tests = {"cochran": co, "cochran_pvalue": co_p, "cmh": cmh, "cmh_pvalue": cmh_p,
                 "breslow_day": bd, "breslow_day_pvalue": bd_p, "tarone": ta,
                 "tarone_pvalue": ta_p, "breslow_day_df": bd_df}
    notes.append(_q_note(settings, (ka, kb, kc, kd)))
    return CountsPooled(
        method="MH", measure=key, level=level, k=int(keep.sum()), estimate=estimate, se=se,
        ci_low=ci_low, ci_high=ci_high, z=z, pvalue=p, Q=q, Q_df=df, Q_pvalue=q_p, I2=i2,
        H2=h2, correct=bool(correct), weights=_spread(100 * w / w.sum(), keep),
        yi=_spread(yi, keep), vi=_spread(vi, keep), labels=labels, settings=settings,
        notes=tuple(notes), **tests)


def peto(a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike, *, level: float = 0.95,
         add: float = 0.5, to: str = "only0", drop00: bool = True, labels: Any = None
         ) -> CountsPooled:
    """Peto's one-step common-effect log odds ratio of 2x2 tables, as metafor's rma.peto.

    The estimate, its variance and Q use the counts as they are; ``add``/``to``/``drop00``
    only shape the per-study Peto log odds ratios reported (and the df of Q, which counts
    the studies with one).
    """
    settings = _settings(add, to, drop00)
    a, b, c, d, labels = _tables(a, b, c, d, labels)
    keep, notes = _keep(a, b, c, d, labels)
    if not keep.any():
        raise InputError("no table can be pooled: " + "; ".join(notes))
    ka, kb, kc, kd = (x[keep] for x in (a, b, c, d))
    n1, n2 = ka + kb, kc + kd
    n = n1 + n2
    events, nonevents = ka + kc, kb + kd
    expected = events * n1 / n
    var = events * nonevents * (n1 / n) * (n2 / n) / (n - 1)
    if var.sum() == 0:
        raise InputError("Peto's method needs events and non-events: one of the two outcomes "
                         "never occurred in any table")
    oe = ka - expected
    estimate, se = float(oe.sum() / var.sum()), float(1 / np.sqrt(var.sum()))
    ci_low, ci_high, z, p = _wald(estimate, se, level)
    pos = var > 0
    q = max(0.0, float(np.sum(oe[pos] ** 2 / var[pos]) - oe.sum() ** 2 / var.sum()))
    yi, vi = _escalc("PETO", ka, kb, kc, kd, settings["correction"], settings["to"],
                     settings["drop_double_zero"])
    k_yi = int((np.isfinite(yi) & np.isfinite(vi)).sum())
    q, df, q_p, i2, h2 = (_heterogeneity(q, k_yi) if pos.sum() > 1
                          else (q, max(k_yi - 1, 0), 1.0, 0.0, 1.0))
    notes.append("the pooled estimate and Q use the counts as they are (O - E and V); "
                 "tables with no events or no non-events carry no weight")
    return CountsPooled(
        method="peto", measure="OR", level=level, k=int(keep.sum()), estimate=estimate,
        se=se, ci_low=ci_low, ci_high=ci_high, z=z, pvalue=p, Q=q, Q_df=df, Q_pvalue=q_p,
        I2=i2, H2=h2, weights=_spread(100 * var / var.sum(), keep), yi=_spread(yi, keep),
        vi=_spread(vi, keep), labels=labels, settings=settings, notes=tuple(notes))
