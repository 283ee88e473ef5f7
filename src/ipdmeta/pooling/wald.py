"""Wald tests of coefficient subsets and linear hypotheses, BLUPs and random effects.

* :func:`wald_test` (metafor's ``anova(res, btt=)`` and ``anova(res, X=, rhs=)``): for a
  subset of coefficients ``b_m``, ``Q_M = (b_m − r)' V_m⁻¹ (b_m − r)`` on m df (chi²), or
  ``F = Q_M/m`` on (m, k − p) df for the t-type tests ("t", "hksj", "hksj-trunc", whose
  covariance V includes the Knapp-Hartung factor).  For a hypothesis matrix L (m × p),
  each row ``l'b − r`` is tested with ``se = sqrt(l'Vl)`` (z, or t on k − p df) and,
  when L has full row rank, jointly with ``Q_M = (Lb − r)'(LVL')⁻¹(Lb − r)``.
* :func:`blup` (``blup.rma.uni``): the best linear unbiased prediction of each
  study's true effect, ``λ_i y_i + (1 − λ_i) x_i'b`` with ``λ_i = tau²/(tau² + v_i)`` and
  variance ``λ_i v_i + (1 − λ_i)² x_i'Vx_i``; :func:`ranef` (``ranef.rma.uni``): the
  predicted random effect ``λ_i (y_i − x_i'b)``, variance ``λ_i v_i + λ_i² x_i'Vx_i``.
  Intervals are ``± crit·se`` with the model's critical value (normal, or t on k − p df).

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> mr = ipd.metareg(bcg, "~ ablat + year", estimate="yi", variance="vi", ci="z")
    >>> w = wald_test(mr, ["ablat", "year"])
    >>> w.df, round(w.statistic, 4)
    ((2, None), 12.2045)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.inference import critical_value, two_sided_p
from ipdmeta.pooling.influence import model_parts
from ipdmeta.pooling.options import regression_spec


@dataclass(frozen=True, eq=False)
class WaldTestResult:
    """A Wald test of coefficients or linear combinations of them.

    ``hypotheses`` has one row per tested combination (label, estimate ``l'b``, rhs,
    se, statistic ``(l'b − rhs)/se``, pvalue); ``statistic`` with ``df`` (m, None) is
    chi², with (m, k − p) an F statistic; NaN when L is not of full row rank.
    """

    hypotheses: pd.DataFrame
    statistic: float
    df: tuple[int, int | None]
    pvalue: float
    terms: tuple[str, ...]
    ci: str

    def to_frame(self) -> pd.DataFrame:
        """The per-hypothesis table."""
        return self.hypotheses.copy()

    def to_dict(self) -> dict[str, Any]:
        """The joint test and the per-hypothesis rows."""
        return {"statistic": self.statistic, "df": list(self.df), "pvalue": self.pvalue,
                "hypotheses": self.hypotheses.to_dict(orient="records"), "ci": self.ci}

    def _joint_text(self) -> str:
        m, d2 = self.df
        stat = f"chi²({m})" if d2 is None else f"F({m}, {d2})"
        return f"{stat} = {self.statistic:.4f}, p = {self.pvalue:.4g}"

    def summary(self) -> str:
        """The hypotheses tested and the joint test."""
        lines = ["Wald test of " + ("the linear hypotheses" if len(self.hypotheses) > 1
                                    else "the hypothesis")]
        for r in self.hypotheses.itertuples():
            lines.append(f"  {r.hypothesis}: estimate {r.estimate:.4f} (se {r.se:.4f}), "
                         f"statistic {r.statistic:.3f}, p = {r.pvalue:.4g}")
        lines.append("Joint test: " + self._joint_text())
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"WaldTestResult({self._joint_text()})"


def resolve_terms(selection: Any, terms: list[str]) -> np.ndarray:
    """Column indices of ``selection``: term names, integer positions or a name pattern.

    A name that is not a term selects every term containing it (as metafor's
    ``btt="alloc"``).
    """
    items = [selection] if isinstance(selection, str | int | np.integer) else list(selection)
    picked: list[int] = []
    for item in items:
        if isinstance(item, int | np.integer):
            if not 0 <= int(item) < len(terms):
                raise InputError(f"coefficient {item} does not exist (the model has "
                                 f"{len(terms)}: {', '.join(terms)})")
            picked.append(int(item))
        elif item in terms:
            picked.append(terms.index(item))
        else:
            matches = [j for j, t in enumerate(terms) if str(item) in t]
            if not matches:
                raise InputError(f"no coefficient matches {item!r}; the terms are "
                                 f"{', '.join(terms)}")
            picked.extend(matches)
    return np.array(sorted(set(picked)), dtype=int)


def _label(row: np.ndarray, terms: list[str], rhs: float) -> str:
    parts = []
    for c, t in zip(row, terms, strict=True):
        if c == 0:
            continue
        coef = "" if abs(c) == 1 else f"{abs(c):g}*"
        sign = "-" if c < 0 else "+"
        parts.append((sign, coef + t))
    if not parts:
        return f"0 = {rhs:g}"
    text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
    for sign, piece in parts[1:]:
        text += f" {sign} {piece}"
    return f"{text} = {rhs:g}"


def wald_test(result: Any, terms: Any = None, *, L: Any = None, rhs: Any = 0.0
              ) -> WaldTestResult:
    """Wald test of a subset of coefficients or of linear hypotheses ``L b = rhs``.

    Args:
        result: a ``MetaRegResult`` (or ``MetaResult``, whose one coefficient is the
            pooled effect).
        terms: coefficient names (or positions, or a pattern matching several names,
            e.g. "C(alloc)") tested jointly against ``rhs`` (metafor's ``btt=``).
        L: instead of ``terms``, a matrix (or one row) of coefficients of linear
            combinations, one column per model coefficient (metafor's ``X=``); when it
            has one column fewer and the model has an intercept, a leading 1 is added.
        rhs: the hypothesised value(s): a scalar or one per tested term / row of L.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> mr = ipd.metareg(bcg, "~ ablat + year", estimate="yi", variance="vi")
        >>> w = wald_test(mr, L=[[0, 1, -1]])
        >>> w.hypotheses["hypothesis"].iloc[0]
        'ablat - year = 0'
    """
    parts = model_parts(result)
    fit, names = parts.fit, list(parts.terms)
    p = len(names)
    if (terms is None) == (L is None):
        raise InputError("give either terms= (coefficients tested jointly) or L= (a matrix of "
                         "linear combinations), not both or neither")
    if terms is not None:
        idx = resolve_terms(terms, names)
        Lm = np.eye(p)[idx]
    else:
        Lm = np.atleast_2d(np.asarray(L, dtype=float))
        has_intercept = bool(np.all(parts.X[:, 0] == 1.0))
        if Lm.shape[1] == p - 1 and has_intercept:
            Lm = np.column_stack([np.ones(len(Lm)), Lm])
        if Lm.shape[1] != p:
            raise InputError(f"L has {Lm.shape[1]} columns but the model has {p} coefficients "
                             f"({', '.join(names)})")
    m = Lm.shape[0]
    r = np.broadcast_to(np.asarray(rhs, dtype=float), (m,)).copy() if np.ndim(rhs) == 0 \
        else np.asarray(rhs, dtype=float)
    if r.shape != (m,):
        raise InputError(f"rhs has {r.size} values but {m} hypotheses are tested")
    est = Lm @ fit.beta
    V = Lm @ fit.vcov @ Lm.T
    se = np.sqrt(np.diag(V))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = (est - r) / se
    df = fit.df
    table = pd.DataFrame({"hypothesis": [_label(row, names, ri) for row, ri in zip(Lm, r,
                                                                                 strict=True)],
                          "estimate": est, "rhs": r, "se": se, "statistic": stat,
                          "pvalue": [two_sided_p(s, df) for s in stat]})
    qm, qp = float("nan"), float("nan")
    if np.linalg.matrix_rank(Lm) == m:
        d = est - r
        qm = float(d @ np.linalg.solve(V, d))
        if df is None:
            qp = float(stats.chi2.sf(qm, m))
        else:
            qm /= m
            qp = float(stats.f.sf(qm, m, df))
    return WaldTestResult(hypotheses=table, statistic=qm, df=(m, df), pvalue=qp,
                          terms=tuple(names), ci=parts.spec.ci)


# ---------------------------------------------------------------- BLUPs and random effects
def _prediction_frame(result: Any, level: float | None, random_only: bool) -> pd.DataFrame:
    parts = model_parts(result)
    fit, X, y, v = parts.fit, parts.X, parts.y, parts.v
    lev = parts.spec.level if level is None else regression_spec(level=level).level
    crit = critical_value(lev, fit.df)
    lam = fit.tau2 / (fit.tau2 + v)
    xb = X @ fit.beta
    xvx = np.einsum("ij,jk,ik->i", X, fit.vcov, X)
    if random_only:
        pred = lam * (y - xb)
        var = lam * v + lam**2 * xvx
    else:
        pred = lam * y + (1 - lam) * xb
        var = lam * v + (1 - lam) ** 2 * xvx
    se = np.sqrt(var)
    return pd.DataFrame({"study": parts.labels, "pred": pred, "se": se,
                         "pi_low": pred - crit * se, "pi_high": pred + crit * se})


def blup(result: Any, level: float | None = None) -> pd.DataFrame:
    """Best linear unbiased predictions of the studies' true effects (``blup.rma.uni``).

    Returns study, pred, se, pi_low, pi_high (the prediction interval at ``level``,
    default the model's).  For the common-effect model the predictions are the fitted
    values.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
        >>> round(float(blup(m)["pred"].iloc[0]), 4)
        -0.8002
    """
    return _prediction_frame(result, level, random_only=False)


def ranef(result: Any, level: float | None = None) -> pd.DataFrame:
    """Predicted random effects ``u_i`` with se and interval (``ranef.rma.uni``).

    Zero (with zero se) for the common-effect model.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
        >>> round(float(ranef(m)["pred"].iloc[0]), 4)
        -0.0857
    """
    return _prediction_frame(result, level, random_only=True)
