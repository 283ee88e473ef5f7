"""Stage 1 on multiply imputed data: each study fitted in each imputation, Rubin's rules.

``stage1(..., imputation="imp")`` takes the data in long format - one copy of the
data per imputation stacked, numbered by the ``imputation`` column (R ``mice``'s
``complete(imp, "long")`` with ``.imp``, Stata's ``mi`` flong with ``_mi_m``);
rows numbered 0 (the original data with missing values, which both write when
asked) are left out - or ``imputation=[frame_1, frame_2, ...]``.  Each study is
fitted in every imputation and its estimates are combined by Rubin's rules
(:func:`ipdmeta.models.rubin.rubin`): the table's ``estimate`` is the mean, ``se``
the square root of the total variance, the interval uses the t distribution with
the Barnard-Rubin degrees of freedom (``df``; complete-data degrees of freedom
``n - k``, ``k`` coefficients, as ``mice::pool``; infinite for ``model=callable``),
``m`` is the number of imputations and ``fmi`` the fraction of missing information.
``n`` and ``events`` are the means over the imputations (rounded).  A study that
cannot be fitted in some imputation is a failure row naming the first such
imputation.

Example:
    >>> import pandas as pd
    >>> rows = [[{"study": "A", "estimate": 0.5, "se": 0.2, "n": 40, "status": "ok",
    ...           "reason": "", "_k": 2}],
    ...         [{"study": "A", "estimate": 0.7, "se": 0.25, "n": 40, "status": "ok",
    ...           "reason": "", "_k": 2}]]
    >>> out = combine_rows(rows, [1, 2], level=0.95)
    >>> round(out[0]["estimate"], 3), out[0]["m"], round(out[0]["df"], 2)
    (0.6, 2, 5.55)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.models.rubin import rubin


def imputed_frames(data: Any, imputation: str | Sequence[pd.DataFrame]
                   ) -> list[tuple[Any, pd.DataFrame]]:
    """``(label, frame)`` of each imputation, from a long-format column or a list."""
    if isinstance(imputation, str):
        if not isinstance(data, pd.DataFrame):
            data = pd.DataFrame(data)
        if imputation not in data.columns:
            raise InputError(f"imputation column {imputation!r} is not in the data; it "
                             "numbers the imputed datasets (mice's .imp, Stata's _mi_m)")
        codes = data[imputation]
        if codes.isna().any():
            raise InputError(f"imputation column {imputation!r} has missing values")
        labels = [v for v in sorted(pd.unique(codes)) if v != 0]
        out = [(v, data[codes == v]) for v in labels]
    else:
        frames = list(imputation)
        if not all(isinstance(f, pd.DataFrame) for f in frames):
            raise InputError("imputation= takes a column name or a list of DataFrames")
        out = list(enumerate(frames, start=1))
    if len(out) < 2:
        raise InputError(f"multiple imputation needs at least 2 imputed datasets, got "
                         f"{len(out)} (imputation 0, the original data, is left out)")
    return out


def _mean_count(rows: list[dict], key: str) -> int | None:
    vals = [r[key] for r in rows if r.get(key) is not None and not pd.isna(r.get(key))]
    return round(float(np.mean(vals))) if vals else None


def combine_rows(per_imputation: list[list[dict[str, Any]]], labels: Sequence[Any], *,
                 level: float) -> list[dict[str, Any]]:
    """One row per study from the rows of each imputation (in the same study order)."""
    by_study: dict[Any, list[tuple[Any, dict]]] = {}
    for label, rows in zip(labels, per_imputation, strict=True):
        for r in rows:
            by_study.setdefault(r["study"], []).append((label, r))
    out = []
    for pairs in by_study.values():
        rows = [r for _, r in pairs]
        first = dict(rows[0])
        for key in ("n", "events", "n_dropped", "n_0", "n_1", "events_0", "events_1"):
            if key in first:
                first[key] = _mean_count(rows, key)
        first.update(m=len(rows), df=np.nan, fmi=np.nan)
        failed = [(lab, r) for lab, r in pairs if r["status"] != "ok"]
        if len(rows) < len(labels):
            failed = failed or [(None, {"status": "no_complete_cases",
                                        "reason": "the study is absent from some imputations"})]
        if failed:
            lab, r = failed[0]
            more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
            where = f"in imputation {lab}{more}: " if lab is not None else ""
            first.update(estimate=np.nan, se=np.nan, ci_low=np.nan, ci_high=np.nan,
                         status=r["status"], reason=f"{where}{r['reason']}")
            out.append(first)
            continue
        ks = [r.get("_k") for r in rows]
        k0 = ks[0]
        dfcom = (float(np.mean([r["n"] for r in rows])) - float(k0)
                 if k0 is not None and all(k is not None for k in ks) else np.inf)
        res = rubin([r["estimate"] for r in rows], [r["se"] ** 2 for r in rows],
                    dfcom=max(dfcom, 1.0))
        est, se, df = float(res.estimate), float(np.sqrt(res.variance)), float(res.df)
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        first.update(estimate=est, se=se, ci_low=est - crit * se, ci_high=est + crit * se,
                     df=df, fmi=float(res.fmi))
        out.append(first)
    return out
