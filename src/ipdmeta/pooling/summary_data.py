"""Pooling from summary data: ``pool(frame, events=..., n=..., measure=..., method=...)``.

Two routes:

* ``method="MH"`` or ``"peto"`` on 2x2 tables: :func:`~ipdmeta.pooling.mantel_haenszel.
  mantel_haenszel` / :func:`~ipdmeta.pooling.mantel_haenszel.peto` give a
  :class:`CountsMetaResult` (a ``MetaResult`` whose common-effect row is the MH or Peto
  estimate, with the per-study effect sizes, MH/Peto weights and the Breslow-Day,
  Tarone and Cochran-Mantel-Haenszel tests in ``tests``);
* any other method: the effect sizes of :func:`ipdmeta.effects.effect_sizes` pooled by
  inverse variance like any study table (metan's ``fixedi``/``random``).

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> t = pd.DataFrame({"trial": ["A", "B", "C"], "d1": [4, 6, 3], "n1": [123, 306, 231],
    ...                   "d0": [11, 29, 11], "n0": [139, 303, 220]})
    >>> m = ipd.pool(t, events=("d1", "d0"), n=("n1", "n0"), measure="OR", method="MH",
    ...              study="trial")
    >>> round(m.overall.estimate, 4), m.overall.method, round(m.breslow_day.statistic, 3)
    (-1.4135, 'MH', 0.952)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.effects import EffectSizes, compute, normalise_measure
from ipdmeta.effects.inputs import read_inputs, table_cells
from ipdmeta.effects.measures import MEASURES
from ipdmeta.errors import InputError, missing_column
from ipdmeta.pooling.estimate import NAN, Pooled, SubgroupResult, between_subgroups
from ipdmeta.pooling.input import read_study_table, study_column
from ipdmeta.pooling.mantel_haenszel import CountsPooled, mantel_haenszel, peto
from ipdmeta.pooling.options import PoolSpec, make_spec, normalise_level
from ipdmeta.pooling.results import MetaResult

SUMMARY_ARGS = ("events", "n", "nonevents", "means", "sds", "time", "cor")
COUNT_METHODS = {"MH": "MH", "MANTEL-HAENSZEL": "MH", "MANTELHAENSZEL": "MH",
                 "PETO": "peto"}


def count_method(method: str) -> str | None:
    """"MH" or "peto" when ``method`` names Mantel-Haenszel or Peto, else None."""
    return COUNT_METHODS.get(str(method).strip().upper().replace("_", "-"))


@dataclass(frozen=True)
class ChiSquareTest:
    """A chi-squared test: statistic, degrees of freedom and p-value."""

    name: str
    statistic: float
    df: int
    pvalue: float

    def __repr__(self) -> str:
        return f"{self.name}: chi2({self.df}) = {self.statistic:.4g}, p = {self.pvalue:.4g}"


@dataclass(frozen=True, eq=False, repr=False)
class CountsMetaResult(MetaResult):
    """A ``MetaResult`` pooled from 2x2 tables by Mantel-Haenszel or Peto.

    ``tables`` holds the cells a, b, c, d of the pooled studies (in the order of
    ``studies``); ``tests`` the homogeneity and association tests (Breslow-Day,
    Tarone, Cochran-Mantel-Haenszel with and without continuity correction; MH odds
    ratio only), also as ``breslow_day``, ``tarone`` and ``cmh``.
    """

    tables: pd.DataFrame = field(default_factory=pd.DataFrame)
    settings: dict[str, Any] = field(default_factory=dict)
    tests: dict[str, ChiSquareTest] = field(default_factory=dict)

    @property
    def breslow_day(self) -> ChiSquareTest | None:
        """Breslow-Day test of homogeneity of odds ratios (MH odds ratio only)."""
        return self.tests.get("breslow_day")

    @property
    def tarone(self) -> ChiSquareTest | None:
        """Breslow-Day test with Tarone's correction (MH odds ratio only)."""
        return self.tests.get("tarone")

    @property
    def cmh(self) -> ChiSquareTest | None:
        """Cochran-Mantel-Haenszel test of OR = 1, with continuity correction."""
        return self.tests.get("cmh")

    def __repr__(self) -> str:
        o = self.overall
        return (f"CountsMetaResult(method={o.method!r}, measure={self.measure!r}, k={o.k}, "
                f"estimate={o.estimate:.4g}, se={o.se:.4g})")

    def pooled_subset(self, idx: np.ndarray) -> Pooled:
        """The MH/Peto estimate of the studies ``idx`` (for leave-one-out, cumulative)."""
        cells = [self.tables[c].to_numpy()[idx] for c in "abcd"]
        return _as_pooled(_pool_cells(cells, self.spec.method, self.measure, self.settings),
                          self.spec)

    def _inverse_variance_only(self, what: str) -> InputError:
        return InputError(f"{what} is defined for inverse-variance pooling, not for "
                          f"method={self.spec.method!r}; pool these counts with "
                          "method='common' (or a random-effects method) for it")

    def influence(self) -> Any:
        """Not defined for Mantel-Haenszel/Peto (as metafor); refit by inverse variance."""
        raise self._inverse_variance_only("influence diagnostics")

    def trimfill(self, **options: Any) -> Any:
        """Not defined for Mantel-Haenszel/Peto (as metafor); refit by inverse variance."""
        raise self._inverse_variance_only("trim-and-fill")

    def egger(self, **options: Any) -> Any:
        """Not defined for Mantel-Haenszel/Peto (as metafor); refit by inverse variance."""
        raise self._inverse_variance_only("Egger's regression test")

    def to_dict(self) -> dict[str, Any]:
        """As ``MetaResult.to_dict`` plus the tests and the zero-cell settings."""
        out = super().to_dict()
        out["tests"] = {k: {"statistic": t.statistic, "df": t.df, "pvalue": t.pvalue}
                        for k, t in self.tests.items()}
        out["settings"] = dict(self.settings)
        return out


def _pool_cells(cells: list[np.ndarray], method: str, measure: str | None,
                settings: dict[str, Any], labels: Any = None) -> CountsPooled:
    opts = {"add": settings["correction"], "to": settings["to"],
            "drop00": settings["drop_double_zero"], "level": settings["level"],
            "labels": labels}
    if method == "peto":
        return peto(*cells, **opts)
    return mantel_haenszel(*cells, measure=measure or "OR",
                           correction_type=settings["correction_type"], **opts)


def _as_pooled(r: CountsPooled, spec: PoolSpec) -> Pooled:
    return Pooled(
        model="common", method=spec.method, ci_method="z", level=r.level, k=r.k,
        estimate=r.estimate, se=r.se, ci_low=r.ci_low, ci_high=r.ci_high, z_or_t=r.z,
        pvalue=r.pvalue, df=None, tau2=0.0, tau2_ci=(NAN, NAN), tau=0.0, tau_ci=(NAN, NAN),
        I2=r.I2, I2_ci=(NAN, NAN), H2=r.H2, H2_ci=(NAN, NAN), Q=r.Q, Q_df=r.Q_df,
        Q_pvalue=r.Q_pvalue, pi_low=NAN, pi_high=NAN, pi_method=spec.pi,
        messages=tuple(note for note in r.notes if "undefined" in note))


def _tests(r: CountsPooled, cells: list[np.ndarray]) -> dict[str, ChiSquareTest]:
    if r.method != "MH" or r.measure != "OR":
        return {}
    uncorrected = mantel_haenszel(*cells, measure="OR", correct=False)
    return {
        "breslow_day": ChiSquareTest("Breslow-Day", r.breslow_day, r.breslow_day_df,
                                     r.breslow_day_pvalue),
        "tarone": ChiSquareTest("Breslow-Day-Tarone", r.tarone, r.breslow_day_df,
                                r.tarone_pvalue),
        "cmh": ChiSquareTest("Cochran-Mantel-Haenszel (continuity-corrected)", r.cmh, 1,
                             r.cmh_pvalue),
        "cmh_uncorrected": ChiSquareTest("Cochran-Mantel-Haenszel", uncorrected.cmh, 1,
                                         uncorrected.cmh_pvalue)}


def _excluded(frame: pd.DataFrame, labels: list, status: tuple, reason: tuple,
              rows: np.ndarray, by: str | None) -> pd.DataFrame:
    out = pd.DataFrame({"study": [labels[i] for i in rows],
                        "status": [status[i] for i in rows],
                        "reason": [reason[i] for i in rows]})
    if by is not None:
        out[by] = frame[by].to_numpy()[rows]
    return out


def _labels(frame: pd.DataFrame, study: str | None) -> list:
    labels = (frame[study].tolist() if study is not None
              else [f"Study {i + 1}" for i in range(len(frame))])
    dup = pd.Series(labels)[pd.Series(labels).duplicated()].unique().tolist()
    if dup:
        raise InputError(f"study labels must be unique; duplicated in column {study!r}: "
                         f"{', '.join(map(repr, dup))}")
    return labels


def pool_counts(frame: pd.DataFrame, method: str, measure: str, spec: PoolSpec, *,
                events: Any, n: Any = None, nonevents: Any = None, study: str | None = None,
                by: str | None = None, correction: float | None = None, to: str = "only0",
                drop_double_zero: bool | None = None,
                correction_type: str = "constant") -> CountsMetaResult:
    """Mantel-Haenszel (``method="MH"``) or Peto pooling of the 2x2 tables of ``frame``."""
    key = normalise_measure(measure)
    study = study_column(frame, study)
    allowed = ("OR", "PETO") if method == "peto" else ("OR", "RR", "RD")
    if key not in allowed:
        raise InputError(f"method={'Peto' if method == 'peto' else 'MH'!r} pools "
                         f"{' or '.join(allowed)}, not measure {measure!r}")
    settings: dict[str, Any] = {"correction": 0.5 if correction is None else correction,
                                "to": to,
                "drop_double_zero": True if drop_double_zero is None else drop_double_zero,
                "level": spec.level, "correction_type": str(correction_type).lower()}
    es_measure = "PETO" if method == "peto" else key
    es = compute(frame, es_measure, events=events, n=n, nonevents=nonevents,
                 correction=settings["correction"], to=to,
                 drop_double_zero=settings["drop_double_zero"],
                 correction_type=settings["correction_type"], study=study)
    inputs = read_inputs(frame, "two_by_two", {"events": events, "n": n,
                                               "nonevents": nonevents}, study=study)
    cells = table_cells(inputs)
    labels = _labels(frame, study)
    stacked = np.vstack(cells)
    unusable = np.isnan(stacked).any(axis=0) | ((cells[0] + cells[1]) == 0) | (
        (cells[2] + cells[3]) == 0)
    keep = np.flatnonzero(~unusable)
    if keep.size == 0:
        raise InputError("no study can be pooled: " + "; ".join(sorted(set(es.reason))))
    kept = [x[keep] for x in cells]
    pooled = _pool_cells(kept, method, key if method == "MH" else "OR", settings,
                         [labels[i] for i in keep])
    data = frame.iloc[keep].reset_index(drop=True)
    studies = pd.DataFrame({"study": [labels[i] for i in keep], "estimate": pooled.yi,
                            "se": np.sqrt(pooled.vi)})
    crit = float(stats.norm.ppf(1 - (1 - spec.level) / 2))
    studies["ci_low"] = pooled.yi - crit * studies["se"]
    studies["ci_high"] = pooled.yi + crit * studies["se"]
    studies["weight"] = pooled.weights
    subgroups = None
    if by is not None:
        if by not in frame.columns:
            raise missing_column(by, frame, "by")
        studies[by] = data[by].to_numpy()
        subgroups = _subgroups(kept, studies[by].to_numpy(), method, key, settings, spec, by)
    overall = _as_pooled(pooled, spec)
    notes = tuple(es.notes) + pooled.notes
    return CountsMetaResult(
        overall=overall, common=overall, studies=studies, spec=spec, data=data,
        estimates=pooled.yi, variances=pooled.vi, subgroups=subgroups,
        common_subgroups=subgroups,
        excluded=_excluded(frame, labels, es.status, es.reason, np.flatnonzero(unusable), by),
        measure="OR" if key == "PETO" else key, messages=notes,
        summary_columns=dict(inputs.columns),
        tables=pd.DataFrame(dict(zip("abcd", kept, strict=True))), settings=settings,
        tests=_tests(pooled, kept))


def _subgroups(cells: list[np.ndarray], groups: np.ndarray, method: str, measure: str,
               settings: dict[str, Any], spec: PoolSpec, by: str) -> SubgroupResult:
    pooled = {}
    for g in pd.unique(pd.Series(groups)):
        idx = np.flatnonzero(groups == g)
        pooled[g] = _as_pooled(_pool_cells([x[idx] for x in cells], method, measure,
                                           settings), spec)
    q, df, p = between_subgroups(pooled)
    return SubgroupResult(by=by, pooled=pooled, Q_between=q, Q_between_df=df,
                          Q_between_pvalue=p)


def pool_summary_data(frame: Any, *, measure: str | None, method: str, ci: str, level: float,
                      pi: str, tau2_ci: str, study: str | None, by: str | None,
                      correction: float | None, to: str, drop_double_zero: bool | None,
                      correction_type: str, inputs: dict[str, Any],
                      spec_options: dict[str, Any] | None = None) -> MetaResult:
    """``pool()`` on summary data: effect sizes then pooling, or MH/Peto on 2x2 tables."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError("summary data (events=, means=, ...) need a DataFrame with one row "
                         f"per study, not {type(frame).__name__}")
    if measure is None:
        raise InputError("give measure= with summary data, e.g. measure='OR' (counts), "
                         "'SMD' (means and SDs), 'PLO' (proportions); see "
                         "ipdmeta.effects.MEASURES")
    key = normalise_measure(measure)
    counts = count_method(method)
    if counts is not None:
        if MEASURES[key].family != "two_by_two":
            raise InputError(f"method={method!r} pools 2x2 tables (events= and n=), not "
                             f"measure {key!r}")
        spec = PoolSpec(counts, "z", normalise_level(level), make_spec(pi=pi).pi, "qp")
        return pool_counts(frame, counts, key, spec, events=inputs.get("events"),
                           n=inputs.get("n"), nonevents=inputs.get("nonevents"), study=study,
                           by=by, correction=correction, to=to,
                           drop_double_zero=drop_double_zero,
                           correction_type=correction_type)
    spec = make_spec(method, ci, level, pi, tau2_ci, **(spec_options or {}))
    table_frame, es = effect_size_table(frame, key, inputs, correction=correction, to=to,
                                        drop_double_zero=drop_double_zero,
                                        correction_type=correction_type, study=study,
                                        level=spec.level)
    table = read_study_table(table_frame, estimate="estimate", variance="variance",
                             study=study, by=by)
    result = MetaResult.from_table(table, spec, key)
    return replace(result, messages=tuple(es.notes) + result.messages,
                   summary_columns=dict(es.settings["columns"]))


def effect_size_table(frame: Any, measure: str, inputs: dict[str, Any], *,
                      correction: float | None = None, to: str = "only0",
                      drop_double_zero: bool | None = None, correction_type: str = "constant",
                      study: str | None = None, level: float = 0.95
                      ) -> tuple[pd.DataFrame, EffectSizes]:
    """``frame`` with the effect-size columns (estimate, variance, status ...) added, and
    the :class:`~ipdmeta.effects.EffectSizes` behind them (for its notes)."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError("summary data (events=, means=, ...) need a DataFrame with one row "
                         f"per study, not {type(frame).__name__}")
    es = compute(frame, measure, correction=correction, to=to,
                 drop_double_zero=bool(drop_double_zero), correction_type=correction_type,
                 study=study_column(frame, study), **inputs)
    out = frame.copy()
    for name, values in es.to_frame(level).items():
        out[name] = values.to_numpy()
    return out, es
