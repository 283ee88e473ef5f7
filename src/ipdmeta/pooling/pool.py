"""``pool()``: common-effect and random-effects pooling of study estimates.

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> frame = pd.DataFrame({"study": ["A", "B", "C"], "yi": [0.1, 0.5, 0.3],
    ...                       "vi": [0.01, 0.02, 0.03]})
    >>> m = ipd.pool(frame, estimate="yi", variance="vi", method="DL", ci="hksj")
    >>> round(m.overall.estimate, 4), m.overall.k
    (0.2844, 3)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ipdmeta.errors import InputError
from ipdmeta.pooling.estimate import fit_pooled
from ipdmeta.pooling.input import StudyTable, read_study_table
from ipdmeta.pooling.options import (
    METHODS,
    PoolSpec,
    make_spec,
    normalise_level,
    normalise_method,
)
from ipdmeta.pooling.results import MetaResult
from ipdmeta.pooling.summary_data import count_method, pool_summary_data
from ipdmeta.pooling.user_weights import check_user_weights, check_weighted_spec

__all__ = ["METHODS", "PoolSpec", "fit_pooled", "make_spec", "normalise_level",
           "normalise_method", "pool", "pool_table"]


def pool_table(table: StudyTable, spec: PoolSpec, measure: str | None = None) -> MetaResult:
    """Pool a validated ``StudyTable``; ``pool()`` without the input handling."""
    return MetaResult.from_table(table, spec, measure)


def pool(data: Any, *, estimate: str | None = None, se: str | None = None,
         variance: str | None = None, study: str | None = None, by: str | None = None,
         method: str = "REML", ci: str = "z", level: float = 0.95, pi: str = "hts",
         tau2_ci: str = "qp", weights: str | None = None,
         measure: str | None = None, events: Any = None, n: Any = None,
         nonevents: Any = None, means: Any = None, sds: Any = None, time: Any = None,
         cor: Any = None, correction: float | None = None, to: str = "only0",
         drop_double_zero: bool | None = None,
         correction_type: str = "constant", npts: str | None = None,
         pi_level: float | None = None, I2: str = "tau2", reps: int = 1000,
         seed: int | None = None) -> MetaResult:
    """Pool study estimates: common effect or random effects, with subgroups.

    Summary data (counts, means and SDs, proportions, rates, correlations) are pooled
    too: give the columns (``events=``, ``n=``, ``means=`` ...) and ``measure=`` instead
    of ``estimate=``/``se=``.  The effect sizes are those of
    :func:`ipdmeta.effects.effect_sizes`; ``method="MH"`` (Mantel-Haenszel: OR, RR, RD)
    and ``method="peto"`` (OR) pool 2x2 tables directly, as metafor's ``rma.mh`` and
    ``rma.peto`` (see docs/methods/effect-sizes.md).

    Args:
        data: a DataFrame with one row per study, or stage 1's ``AggregateData``
            (only rows with ``status == "ok"`` are pooled; the others are listed in
            ``result.excluded``).
        estimate, se, variance, study, by: column names; ``estimate`` and one of
            ``se``/``variance`` are found automatically when named like
            ``estimate``/``yi``/``_ES`` and ``se``/``sei``/``_seES`` or ``vi``.
        method: "common" (aliases "FE", "EE", "IV"); a tau² estimator: "DL",
            "REML" (default, as metafor), "ML", "PM", "PMM", "EB", "HE", "SJ", "HS",
            "GENQ" (weights from the ``weights`` column, default 1/variance), "HM"
            (Hartung-Makambi), "BP"/"B0" (Rukhin; B0 needs study sizes, ``n``),
            "DK2S"/"SJ2S" (two-step; "DK2S-DL", "SJ2S-REML", ... name the first step),
            "BDL" (bootstrap DerSimonian-Laird, ``reps``/``seed``); or a model with its
            own variance: "mult" (multiplicative heterogeneity), "IVhet", "BT"
            (Biggerstaff-Tweedie), "t" or "mixture" (robust random effects, as metaplus;
            ``m.outlier_probabilities()``, ``m.outlier_test()``).
        weights: a column of user-defined study weights (Stata metan's ``wgt()``):
            with GENQ they define its generalised Q; with a tau² estimator or the
            common effect the estimate is ``sum(w y)/sum(w)`` with variance
            ``sum(w² (v + tau²))/sum(w)²``, tau² from ``method`` (see
            :mod:`ipdmeta.pooling.user_weights`; ci "z" or "t").
        ci: "z" (default, as metafor), "t", "hksj", "hksj-trunc", "hksj-zovert", "pl",
            "pl-bartlett", "pl-skovgaard", "kr" (Kenward-Roger; "kr-oim" with the observed
            information) or "hc" (Henmi-Copas).
        level: confidence level (0.95 or 95).
        pi: prediction interval: "hts" (t with k − 2 df, Higgins et al. 2009, as
            Stata's metan), "metafor" (metafor's ``predict()``) or "kr" (Kenward-Roger,
            Partlett & Riley 2017: t with df_KR − 1, as R meta's ``method.predict="KR"``).
        tau2_ci: "qp" (Q-profile) or "pl" (profile likelihood; ML/REML only).
        measure: the effect measure ("HR", "OR", "RR", "MD", ...), used for display; with
            summary data, the measure to compute (``ipdmeta.effects.MEASURES``).
        events, n, nonevents, means, sds, time, cor: summary-data columns, each a pair
            ``(treatment, control)`` for two-group measures or one name (see
            ``effect_sizes``).  ``method`` may then also be "MH" or "peto".
        correction, to, correction_type: continuity correction of zero counts (amount,
            which studies, constant/"opposite"/"empirical"), as ``effect_sizes``; with
            MH/Peto they shape only the per-study effect sizes and Q, not the pooled
            estimate.
        drop_double_zero: leave out 2x2 tables without events (or only events) in both
            arms from the effect sizes; default False, but True with MH/Peto (metafor's
            defaults).
        npts: column of study sizes (participants) for Rukhin's B0 (metan ``npts()``;
            default: a column named ``n`` or ``_NN``).
        pi_level: level of the prediction interval (default ``level``; metan ``rflevel()``).
        I2: "tau2" (I² from tau², as metafor) or "q" (from Cochran's Q, as metan).
        reps, seed: bootstrap replicates and seed of method "BDL".

    Returns:
        MetaResult (a ``CountsMetaResult`` with ``breslow_day``, ``tarone``, ``cmh`` for
        MH/Peto).

    Example:
        >>> import pandas as pd, ipdmeta as ipd
        >>> df = pd.DataFrame({"yi": [0.2, 0.4, 0.1, 0.6], "sei": [0.1, 0.2, 0.15, 0.3]})
        >>> round(ipd.pool(df, method="common").overall.estimate, 4)
        0.2277
    """
    spec_options: dict[str, Any] = {"pi_level": pi_level, "I2": I2, "reps": reps, "seed": seed}
    summary = {"events": events, "n": n, "nonevents": nonevents, "means": means, "sds": sds,
               "time": time, "cor": cor}
    if any(v is not None for v in summary.values()):
        if estimate is not None or se is not None or variance is not None:
            raise InputError("give either summary-data columns (events=, n=, means= ...) or "
                             "estimate= with se=/variance=, not both")
        return pool_summary_data(data, measure=measure, method=method, ci=ci, level=level,
                                 pi=pi, tau2_ci=tau2_ci, study=study, by=by,
                                 spec_options=spec_options,
                                 correction=correction, to=to,
                                 drop_double_zero=drop_double_zero,
                                 correction_type=correction_type,
                                 inputs={k: v for k, v in summary.items() if v is not None})
    if count_method(method) is not None:
        raise InputError(f"method={method!r} pools 2x2 tables: give events=(treatment, "
                         "control) and n=(treatment, control) with measure='OR', 'RR' or 'RD'")
    spec = make_spec(method, ci, level, pi, tau2_ci, **spec_options)
    user = weights is not None and spec.method != "GENQ"
    if user:
        check_weighted_spec(spec)
    table = read_study_table(data, estimate=estimate, se=se, variance=variance, study=study,
                             by=by, weights=weights, n=npts)
    if user and table.genq_weights is not None:  # weights= was read into genq_weights
        w = check_user_weights(table.genq_weights, table.labels, str(weights))
        table = replace(table, genq_weights=None, user_weights=w)
    return pool_table(table, spec, measure)
