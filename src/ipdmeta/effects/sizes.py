"""``effect_sizes()``: study effect sizes and variances from summary data, as metafor's escalc.

The result is the input frame plus ``estimate``, ``se``, ``variance``, ``ci_low``,
``ci_high`` (Wald interval on the analysis scale), ``status`` and ``reason``.  A row that
cannot give an effect size (a missing value, a double-zero table set aside, a zero cell
without continuity correction, n ≤ 3 for a correlation ...) keeps NaN there, with a
status other than ``"ok"`` and the reason in words, so ``ipd.pool()`` leaves it out and
says why.  The measure is recorded in ``frame.attrs["measure"]`` and the settings
(correction, ``to``, double zeros, which rows were corrected) in
``frame.attrs["effect_sizes"]``; pandas keeps ``attrs`` through copies but not through a
CSV file.

Example:
    >>> import pandas as pd, ipdmeta.effects as fx
    >>> trials = pd.DataFrame({"trial": ["A", "B"], "d1": [4, 0], "n1": [123, 50],
    ...                        "d0": [11, 3], "n0": [139, 48]})
    >>> es = fx.effect_sizes(trials, measure="OR", events=("d1", "d0"), n=("n1", "n0"))
    >>> es[["estimate", "variance"]].round(4).values.tolist()
    [[-0.9387, 0.3571], [-2.0502, 2.3275]]
    >>> es.attrs["measure"], es.attrs["effect_sizes"]["corrected"]
    ('OR', [False, True])
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.effects.binary import TWO_BY_TWO
from ipdmeta.effects.continuous import MEANS
from ipdmeta.effects.corrections import (
    KINDS,
    check_add,
    check_to,
    correct_counts,
    correct_tables,
    describe_correction,
    double_zero,
)
from ipdmeta.effects.correlation import CORRELATIONS
from ipdmeta.effects.inputs import (
    Inputs,
    check_counts,
    check_events_within,
    read_inputs,
    refuse,
    table_cells,
)
from ipdmeta.effects.measures import MEASURES, Measure, normalise_measure
from ipdmeta.effects.single_group import PROPORTIONS, RATES, log_rate_ratio
from ipdmeta.errors import InputError

OUTPUT_COLUMNS = ("estimate", "se", "variance", "ci_low", "ci_high", "status", "reason")


class _Status:
    """Per-row status codes and reasons while the effect sizes are computed."""

    def __init__(self, k: int):
        self.code = np.full(k, "ok", dtype=object)
        self.reason = np.full(k, "", dtype=object)

    @property
    def ok(self) -> np.ndarray:
        return self.code == "ok"

    def set(self, rows: np.ndarray, code: str, reason: str | list[str]) -> None:
        rows = np.asarray(rows, dtype=bool) & self.ok
        texts = reason if isinstance(reason, list) else [reason] * len(rows)
        for i in np.flatnonzero(rows):
            self.code[i] = code
            self.reason[i] = texts[i]


@dataclass(frozen=True)
class EffectSizes:
    """Effect sizes of a set of studies: estimates, variances, status and what was done."""

    measure: str
    estimate: np.ndarray
    variance: np.ndarray
    status: tuple[str, ...]
    reason: tuple[str, ...]
    corrected: np.ndarray
    settings: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def se(self) -> np.ndarray:
        """Standard errors ``sqrt(variance)``."""
        return np.sqrt(self.variance)

    @property
    def ok(self) -> np.ndarray:
        """Rows with a usable effect size."""
        return np.asarray(self.status) == "ok"

    def to_frame(self, level: float = 0.95) -> pd.DataFrame:
        """The output columns (estimate, se, variance, Wald CI at ``level``, status, reason)."""
        crit = float(stats.norm.ppf(1 - (1 - level) / 2))
        se = self.se
        return pd.DataFrame({"estimate": self.estimate, "se": se, "variance": self.variance,
                             "ci_low": self.estimate - crit * se,
                             "ci_high": self.estimate + crit * se,
                             "status": list(self.status), "reason": list(self.reason)})

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python version (lists) of the result."""
        return {"measure": self.measure, "estimate": self.estimate.tolist(),
                "variance": self.variance.tolist(), "status": list(self.status),
                "reason": list(self.reason), "corrected": self.corrected.tolist(),
                "settings": dict(self.settings), "notes": list(self.notes)}

    def summary(self) -> str:
        """A few lines: measure, how many studies are usable, corrections and exclusions."""
        ok = int(self.ok.sum())
        lines = [f"Effect sizes: {MEASURES[self.measure].label} ({self.measure}); "
                 f"{ok} of {len(self.status)} studies usable"]
        lines += [f"  {note}" for note in self.notes]
        for s, r in zip(self.status, self.reason, strict=True):
            if s != "ok":
                lines.append(f"  not usable ({s}): {r}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"EffectSizes(measure={self.measure!r}, k={len(self.status)}, "
                f"usable={int(self.ok.sum())})")


def _finish(y: np.ndarray, v: np.ndarray, status: _Status, why: np.ndarray,
            label: str) -> tuple[np.ndarray, np.ndarray]:
    """NaN for non-finite values (as metafor), and a reason for rows that gave none.

    Finite values stay when the row is not usable (a zero variance, as escalc), except in
    rows with a missing input or set aside as double zero.
    """
    y = np.where(np.isfinite(y), y, np.nan)
    v = np.where(np.isfinite(v), v, np.nan)
    bad = ~np.isfinite(y) | ~np.isfinite(v) | ~(v > 0)
    generic = np.where(v == 0, f"the variance of the {label} is zero",
                       f"the {label} cannot be computed from these values")
    texts = [str(w) if w else str(g) for w, g in zip(why, generic, strict=True)]
    status.set(bad, "not_estimable", texts)
    unused = np.isin(status.code, ("missing", "double_zero"))
    return np.where(unused, np.nan, y), np.where(unused, np.nan, v)


def _zero_reason(zero_uncorrected: np.ndarray, label: str) -> np.ndarray:
    text = (f"a zero count and no continuity correction (to='none' or correction=0): the "
            f"{label} is infinite or its variance zero")
    return np.where(zero_uncorrected, text, "")


def _two_by_two(inputs: Inputs, measure: Measure, status: _Status, opts: dict) -> tuple:
    a, b, c, d = table_cells(inputs)
    empty = ((a + b) == 0) | ((c + d) == 0)
    status.set(empty, "not_estimable", "an arm with no participants")
    if opts["drop_double_zero"]:
        status.set(double_zero(a, b, c, d), "double_zero",
                   "no events in either arm (or only events): set aside (drop_double_zero)")
    cells = [np.where(status.ok, x, np.nan) for x in (a, b, c, d)]
    if opts["kind"] == "empirical" and measure.name != "OR":
        raise InputError("correction_type='empirical' is defined for the odds ratio only "
                         "(Sweeting et al. 2004); use 'opposite' or 'constant'")
    fix = correct_tables(*cells, add=opts["add"], to=opts["to"], kind=opts["kind"])
    y, v = TWO_BY_TWO[measure.name](*fix.cells)
    zero = np.any(np.vstack(fix.cells) == 0, axis=0)
    why = _zero_reason(zero, measure.label)
    return y, v, fix.corrected, why


def _means(inputs: Inputs, measure: Measure, status: _Status, opts: dict) -> tuple:
    m1, m2 = inputs.values["means"]
    s1, s2 = inputs.values["sds"]
    n1, n2 = inputs.values["n"]
    check_counts(inputs, "n", positive=True)
    check_counts(inputs, "sds")
    y, v = MEANS[measure.name](m1, m2, s1, s2, n1, n2)
    why = np.full(len(y), "", dtype=object)
    if measure.name == "ROM":
        why[(m1 <= 0) | (m2 <= 0)] = "the ratio of means needs positive means in both groups"
    elif measure.name != "MD":
        sd = s2 if measure.name == "GLASS" else np.hypot(s1, s2)
        why[sd == 0] = "a standard deviation of zero: the standardised difference is undefined"
        why[(n1 + n2 <= 3) & (sd > 0)] = "too few participants (n1 + n2 <= 3)"
    return y, v, np.zeros(len(y), dtype=bool), why


def _proportion(inputs: Inputs, measure: Measure, status: _Status, opts: dict) -> tuple:
    (x,) = inputs.values["events"]
    check_counts(inputs, "events")
    if "n" in inputs.values:
        check_counts(inputs, "n", positive=True)
        check_events_within(inputs)
        m = inputs.values["n"][0] - x
    else:
        check_counts(inputs, "nonevents")
        (m,) = inputs.values["nonevents"]
        refuse(x + m <= 0, "events + nonevents must be positive", inputs)
    cells = tuple(np.where(status.ok, c, np.nan) for c in (x, m))
    fix = correct_counts(cells, add=opts["add"], to=opts["to"])
    y, v = PROPORTIONS[measure.name](*fix.cells)
    zero = (fix.cells[0] == 0) | (fix.cells[1] == 0)
    return y, v, fix.corrected, _zero_reason(zero, measure.label)


def _rate(inputs: Inputs, measure: Measure, status: _Status, opts: dict) -> tuple:
    check_counts(inputs, "events")
    check_counts(inputs, "time", positive=True)
    (x,) = inputs.values["events"]
    (t,) = inputs.values["time"]
    fix = correct_counts((np.where(status.ok, x, np.nan),), add=opts["add"], to=opts["to"])
    y, v = RATES[measure.name](fix.cells[0], t)
    return y, v, fix.corrected, _zero_reason(fix.cells[0] == 0, measure.label)


def _rate_ratio(inputs: Inputs, measure: Measure, status: _Status, opts: dict) -> tuple:
    check_counts(inputs, "events")
    check_counts(inputs, "time", positive=True)
    x1, x2 = inputs.values["events"]
    t1, t2 = inputs.values["time"]
    if opts["drop_double_zero"]:
        status.set((x1 == 0) & (x2 == 0), "double_zero",
                   "no events in either group: set aside (drop_double_zero)")
    cells = tuple(np.where(status.ok, x, np.nan) for x in (x1, x2))
    fix = correct_counts(cells, add=opts["add"], to=opts["to"])
    y, v = log_rate_ratio(fix.cells[0], t1, fix.cells[1], t2)
    zero = (fix.cells[0] == 0) | (fix.cells[1] == 0)
    return y, v, fix.corrected, _zero_reason(zero, measure.label)


def _correlation(inputs: Inputs, measure: Measure, status: _Status, opts: dict) -> tuple:
    (r,) = inputs.values["cor"]
    (n,) = inputs.values["n"]
    refuse(np.abs(r) > 1, f"correlation {inputs.columns['cor'][0]!r} is outside [-1, 1]",
           inputs, r)
    check_counts(inputs, "n", positive=True)
    y, v = CORRELATIONS[measure.name](r, n)
    why = np.full(len(y), "", dtype=object)
    why[np.abs(r) == 1] = "a correlation of exactly -1 or 1"
    why[n <= 3] = "a sample size of 3 or less: the variance is undefined"
    return y, v, np.zeros(len(y), dtype=bool), why


FAMILIES = {"two_by_two": _two_by_two, "means": _means, "proportion": _proportion,
            "rate": _rate, "rate_ratio": _rate_ratio, "correlation": _correlation}


def compute(frame: pd.DataFrame, measure: str, *, events: Any = None, n: Any = None,
            nonevents: Any = None, means: Any = None, sds: Any = None, time: Any = None,
            cor: Any = None, correction: float | None = None, to: str = "only0",
            drop_double_zero: bool = False, correction_type: str = "constant",
            study: str | None = None) -> EffectSizes:
    """The effect sizes of ``frame`` as an :class:`EffectSizes` (arguments as
    :func:`effect_sizes`)."""
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"effect_sizes() needs a pandas DataFrame, not {type(frame).__name__}")
    if len(frame) == 0:
        raise InputError("the table has no rows")
    spec = MEASURES[normalise_measure(measure)]
    kind = str(correction_type).lower()
    if kind not in KINDS:
        raise InputError(f"correction_type={correction_type!r} is not known; use one of "
                         f"{', '.join(map(repr, KINDS))}")
    if kind != "constant" and spec.family != "two_by_two":
        raise InputError(f"correction_type={kind!r} applies to 2x2 tables (OR, RR, RD), not "
                         f"to measure {spec.name!r}")
    if kind != "constant" and spec.name == "PETO":
        raise InputError(f"correction_type={kind!r} is not available with PETO (metan: a "
                         "continuity correction is incompatible with Peto's method)")
    opts = {"add": spec.default_add if correction is None else check_add(correction),
            "to": check_to(to), "drop_double_zero": bool(drop_double_zero), "kind": kind}
    given = {"events": events, "n": n, "nonevents": nonevents, "means": means, "sds": sds,
             "time": time, "cor": cor}
    inputs = read_inputs(frame, spec.family, given, study=study, measure=spec.name)
    status = _Status(len(frame))
    missing, column = inputs.missing()
    status.set(missing, "missing", [f"missing value in column {c!r}" for c in column])
    y, v, corrected, why = FAMILIES[spec.family](inputs, spec, status, opts)
    y, v = _finish(y, v, status, why, spec.label)
    settings = {"measure": spec.name, "correction": opts["add"], "to": opts["to"],
                "drop_double_zero": opts["drop_double_zero"], "correction_type": kind,
                "corrected": corrected.tolist(), "columns": dict(inputs.columns)}
    notes = describe_correction(spec.family, opts, corrected, status.code)
    return EffectSizes(spec.name, y, v, tuple(status.code), tuple(status.reason), corrected,
                       settings, notes)


def effect_sizes(frame: pd.DataFrame, measure: str, *, events: Any = None, n: Any = None,
                 nonevents: Any = None, means: Any = None, sds: Any = None,
                 time: Any = None, cor: Any = None, correction: float | None = None,
                 to: str = "only0", drop_double_zero: bool = False,
                 correction_type: str = "constant", study: str | None = None,
                 level: float = 0.95) -> pd.DataFrame:
    """Effect sizes from summary data, as metafor's ``escalc``; returns a copy of ``frame``.

    Args:
        frame: one row per study.
        measure: ``"OR"``, ``"RR"``, ``"RD"``, ``"PETO"`` (2x2: ``events``, ``n`` or
            ``nonevents``); ``"MD"``, ``"SMD"`` (Hedges' g, exact correction),
            ``"SMD_cohen"`` (alias ``"cohen"``), ``"SMD_metan"``, ``"GLASS"``, ``"ROM"``
            (``means``, ``sds``, ``n``); ``"PR"``, ``"PLO"``, ``"PAS"``, ``"PFT"``
            (one group: ``events``, ``n``); ``"IR"``, ``"IRLN"`` (``events``, ``time``);
            ``"IRR"`` (pairs of ``events``, ``time``); ``"COR"``, ``"ZCOR"`` (``cor``,
            ``n``).  Case-insensitive.
        events, n, nonevents, means, sds, time, cor: column names; for two-group measures
            a pair ``(treatment, control)``, for one-group measures one name.
        correction: amount added to the counts of the studies chosen by ``to`` (metafor's
            ``add``, metan's ``cc(#)``); default 0.5, or 0 for PAS and PFT (as metafor).
        to: ``"only0"`` (studies with a zero count; default), ``"all"``, ``"if0all"``
            (all studies if any has a zero; metan's ``allifzero``) or ``"none"``.
        drop_double_zero: set aside 2x2 tables with no events (or only events) in both arms
            and IRR rows with no events in either group (metafor's ``drop00``; default
            False as escalc).
        correction_type: ``"constant"`` (default), ``"opposite"`` (Sweeting's treatment-arm
            correction, metan ``cc(#, opposite)``) or ``"empirical"`` (OR only, metan
            ``cc(#, empirical)``); ``correction`` is then the constant of proportionality.
        study: column of study labels, used in messages (default: the row index).
        level: confidence level of ``ci_low``/``ci_high``.

    Returns:
        a copy of ``frame`` with ``estimate``, ``se``, ``variance``, ``ci_low``,
        ``ci_high`` (on the analysis scale: log for OR/RR/PETO/ROM/IRR/IRLN, logit for
        PLO, ...), ``status`` (``"ok"``, ``"missing"``, ``"double_zero"``,
        ``"not_estimable"``) and ``reason``; existing columns of those names are replaced.
        ``attrs["measure"]`` holds the measure, ``attrs["effect_sizes"]`` the settings.

    Example:
        >>> import pandas as pd, ipdmeta.effects as fx
        >>> groups = pd.DataFrame({"m1": [55.0], "s1": [47.0], "n1": [155],
        ...                        "m0": [75.0], "s0": [64.0], "n0": [156]})
        >>> es = fx.effect_sizes(groups, "SMD", means=("m1", "m0"), sds=("s1", "s0"),
        ...                      n=("n1", "n0"))
        >>> round(float(es.estimate[0]), 4), es.status[0]
        (-0.3552, 'ok')
    """
    result = compute(frame, measure, events=events, n=n, nonevents=nonevents, means=means,
                     sds=sds, time=time, cor=cor, correction=correction, to=to,
                     drop_double_zero=drop_double_zero, correction_type=correction_type,
                     study=study)
    out = frame.copy()
    for name, values in result.to_frame(level).items():
        out[name] = values.to_numpy()
    out.attrs["measure"] = result.measure
    out.attrs["effect_sizes"] = {**result.settings, "notes": list(result.notes),
                                 "level": level}
    return out
