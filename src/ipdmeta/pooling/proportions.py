"""Pooled proportions shown as proportions: the display copy of a result pooled on the
PR, PLO (logit), PAS (arcsine) or PFT (Freeman-Tukey) scale, as Stata's ``metaprop``
and R's ``predict(res, transf=...)`` show them.

* :func:`proportion_ci` — study intervals on the proportion scale: ``"exact"``
  (Clopper-Pearson, metaprop's default ``cimethod(exact)``; R's ``binom.test``) or
  ``"wilson"`` (the score interval, metaprop's ``cimethod(wilson)``; R's
  ``prop.test(correct=FALSE)``).
* :func:`back_transformed` — a copy of the result for tables and plots: estimates,
  intervals and the prediction interval back-transformed (inverse logit, sin², or the
  inverse Freeman-Tukey of Miller 1978 with each study's size and, for pooled values, the
  harmonic mean of the sizes, as metafor's ``transf.ipft.hm``); standard errors are not
  defined on that scale (NaN); tests and heterogeneity stay those of the analysis scale.

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> d = pd.DataFrame({"x": [16, 10, 4, 43], "n": [17, 12, 8, 58]})
    >>> m = ipd.pool(d, events="x", n="n", measure="PFT", method="DL")
    >>> shown = back_transformed(m, study_ci="exact")
    >>> round(shown.overall.estimate, 4), shown.measure
    (0.7896, 'PR')
    >>> [round(float(v[0]), 4) for v in proportion_ci([4], [8], 0.95, "exact")]
    [0.157, 0.843]
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.effects.transforms import back_transform, harmonic_mean, pft_to_proportion
from ipdmeta.errors import InputError
from ipdmeta.pooling.estimate import NAN, Pooled
from ipdmeta.pooling.options import normalise_level

#: the proportion measures that are back-transformed
PROPORTIONS = ("PR", "PLO", "PAS", "PFT")
#: study intervals on the proportion scale
STUDY_CI = {"exact": "exact", "clopper-pearson": "exact", "wilson": "wilson",
            "score": "wilson", "transformed": "transformed"}


def proportion_ci(x: Any, n: Any, level: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Confidence limits of the proportions ``x/n``: ``"exact"`` (Clopper-Pearson) or
    ``"wilson"`` (score interval without continuity correction)."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    alpha = 1 - level
    if method == "exact":
        with np.errstate(invalid="ignore"):
            lo = np.where(x > 0, stats.beta.ppf(alpha / 2, x, n - x + 1), 0.0)
            hi = np.where(x < n, stats.beta.ppf(1 - alpha / 2, x + 1, n - x), 1.0)
        return lo, hi
    z = stats.norm.ppf(1 - alpha / 2)
    p = x / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def _pooled(p: Pooled, f: Any) -> Pooled:
    return replace(p, estimate=float(f(p.estimate)), se=NAN, ci_low=float(f(p.ci_low)),
                   ci_high=float(f(p.ci_high)), pi_low=float(f(p.pi_low)),
                   pi_high=float(f(p.pi_high)))


def _column(result: Any, key: str) -> np.ndarray:
    names = result.summary_columns.get(key, ())
    if len(names) != 1 or names[0] not in result.data.columns:
        raise InputError(f"the {key} of each study are not in the result: pool the "
                         "proportions from counts (events=, n=) to show them as proportions")
    return pd.to_numeric(result.data[names[0]], errors="coerce").to_numpy(dtype=float)


def back_transformed(result: Any, study_ci: str = "transformed",
                     level: float | None = None) -> Any:
    """A copy of ``result`` (pooled on a proportion scale) with estimates and intervals
    as proportions, for display (``summary()``, ``forest()``, ``results_set()``).

    ``study_ci``: "transformed" (the back-transformed Wald interval of the analysis
    scale, as metafor), "exact" (Clopper-Pearson) or "wilson" (score) intervals for the
    study rows, as metaprop's ``cimethod()``, at ``level`` (default: the result's level;
    metaprop's ``ilevel()``).  Keep the original result for further analyses: the
    copy's standard errors are NaN.
    """
    key = (result.measure or "").upper()
    if key not in PROPORTIONS:
        raise InputError(f"back_transformed() shows proportions pooled as "
                         f"{', '.join(PROPORTIONS)}; this result's measure is "
                         f"{result.measure!r}")
    ci = STUDY_CI.get(str(study_ci).strip().lower())
    if ci is None:
        raise InputError(f"study_ci={study_ci!r}: choose 'transformed', 'exact' or 'wilson'")
    sizes = _column(result, "n") if key == "PFT" or ci != "transformed" else None
    studies = result.studies.copy()
    if key == "PFT":
        assert sizes is not None
        for c in ("estimate", "ci_low", "ci_high"):
            studies[c] = pft_to_proportion(studies[c].to_numpy(dtype=float), sizes)
        pooled_n = harmonic_mean(sizes)

        def f(v: float) -> float:
            return float(pft_to_proportion(v, pooled_n))
    else:
        for c in ("estimate", "ci_low", "ci_high"):
            studies[c] = back_transform(studies[c].to_numpy(dtype=float), key)

        def f(v: float) -> float:
            return float(back_transform(v, key))
    if ci != "transformed":
        events = _column(result, "events")
        assert sizes is not None
        studies["estimate"] = events / sizes
        studies["ci_low"], studies["ci_high"] = proportion_ci(
            events, sizes, result.overall.level if level is None else normalise_level(level),
            ci)
    studies["se"] = NAN

    def subgroups_of(sub: Any) -> Any:
        if sub is None:
            return None
        pooled = {}
        for g, p in sub.pooled.items():
            if key == "PFT":
                assert sizes is not None
                n_g = harmonic_mean(sizes[(studies[sub.by] == g).to_numpy()])
                pooled[g] = _pooled(p, lambda v, n_g=n_g: float(pft_to_proportion(v, n_g)))
            else:
                pooled[g] = _pooled(p, f)
        return replace(sub, pooled=pooled)

    subgroups = subgroups_of(result.subgroups)
    common_subgroups = (subgroups if result.common_subgroups is result.subgroups
                        else subgroups_of(result.common_subgroups))
    note = (f"estimates and intervals back-transformed from {key} to proportions"
            + (f" (study intervals: {ci})" if ci != "transformed" else "")
            + "; tests and heterogeneity on the analysis scale")
    return replace(result, overall=_pooled(result.overall, f), common=_pooled(result.common, f),
                   studies=studies, subgroups=subgroups, common_subgroups=common_subgroups,
                   measure="PR", messages=(*result.messages, note),
                   models=tuple(_pooled(p, f) for p in result.models))
