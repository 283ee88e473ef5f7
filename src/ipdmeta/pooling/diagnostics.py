"""The numbers behind the radial (Galbraith), normal Q-Q and L'Abbé plots.

* :func:`radial_data` (metafor's ``radial``; Galbraith 1988): ``x_i = 1/sqrt(v_i + tau²)``
  and ``z_i = y_i/sqrt(v_i + tau²)``; the pooled effect is the slope of the line through
  the origin, and ``±z_{1−α/2}`` around it bounds the region where studies agree
  with it.
* :func:`qq_data` (``qqnorm.rma.uni``): the standardised residuals
  ``e_i/sqrt(Var(e_i))`` with ``e = y − Xb`` and ``Var(e) = M − X(X'WX)⁻¹X'``,
  ``M = diag(v_i + tau²)`` (metafor's ``rstandard``), against the normal quantiles of
  ``ppoints(k)``.  The pointwise envelope is simulated: ``e* = (I − H)ε``, ε ~ N(0, M),
  standardised like the observed residuals, sorted, and its ``α/2`` and ``1 − α/2``
  quantiles taken at each rank (``seed=``).  metafor simulates ``(I − H)z`` with
  ``z ~ N(0, I)`` and smooths the envelope; with equal ``v_i + tau²`` the two coincide.
* :func:`labbe_data` (``labbe``; L'Abbé et al. 1987): the outcome of each arm on the
  scale of the measure (log odds for OR, log risk for RR, risk for RD; ½ added to
  both cells of an arm with no events or no non-events), the point sizes of metafor
  (``sqrt(1/(v_treated + v_control))`` rescaled to [0.5, 3.5]) and the line of the
  pooled effect, ``treated = control + b``.

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> r = radial_data(ipd.pool(bcg, estimate="yi", variance="vi", study="trial"))
    >>> round(float(r.points["x"].iloc[0]), 4)
    1.2511
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.counts_bias import study_counts
from ipdmeta.pooling.influence import model_parts

LABBE_MEASURES = ("OR", "RR", "RD")


@dataclass(frozen=True, eq=False)
class RadialData:
    """Points of a radial plot and the pooled line with its interval and critical value."""

    points: pd.DataFrame
    estimate: float
    ci_low: float
    ci_high: float
    zcrit: float
    common: bool


def radial_data(result: Any, level: float | None = None) -> RadialData:
    """Radial (Galbraith) plot coordinates of a pooled result (not a meta-regression)."""
    parts = model_parts(result)
    if parts.X.shape[1] != 1:
        raise InputError("radial plots are drawn for pooled results only (models without "
                         "moderators)")
    s = np.sqrt(parts.v + parts.fit.tau2)
    lev = parts.spec.level if level is None else float(level)
    points = pd.DataFrame({"study": parts.labels, "x": 1 / s, "y": parts.y / s})
    return RadialData(points=points, estimate=float(parts.fit.beta[0]),
                      ci_low=float(parts.fit.ci_low[0]), ci_high=float(parts.fit.ci_high[0]),
                      zcrit=float(stats.norm.isf((1 - lev) / 2)),
                      common=parts.spec.is_common)


@dataclass(frozen=True, eq=False)
class QQData:
    """Standardised residuals against normal quantiles, with a simulated envelope."""

    points: pd.DataFrame
    envelope: pd.DataFrame | None
    level: float


def ppoints(n: int) -> np.ndarray:
    """R's ``ppoints``: (i − a)/(n + 1 − 2a) with a = 3/8 for n ≤ 10, else ½."""
    a = 3 / 8 if n <= 10 else 0.5
    return (np.arange(1, n + 1) - a) / (n + 1 - 2 * a)


def qq_data(result: Any, envelope: bool = True, reps: int = 1000, level: float | None = None,
            seed: Any = None) -> QQData:
    """Normal Q-Q plot data of a ``MetaResult`` or ``MetaRegResult``.

    Returns the points (study, resid, se, z, theoretical) and, with ``envelope``, the
    simulated pointwise envelope at each rank (theoretical, lower, upper).
    """
    parts = model_parts(result)
    X, y, v, fit = parts.X, parts.y, parts.v, parts.fit
    k = len(y)
    if k < 2:
        raise InputError("a Q-Q plot needs at least 2 studies")
    w = 1.0 / (v + fit.tau2)
    cov = np.linalg.inv(X.T @ (w[:, None] * X))
    e = y - X @ fit.beta
    e[np.abs(e) < 100 * np.finfo(float).eps] = 0.0
    se = np.sqrt((v + fit.tau2) - np.einsum("ij,jk,ik->i", X, cov, X))
    z = e / se
    quantiles = stats.norm.ppf(ppoints(k))
    ranks = np.argsort(np.argsort(z, kind="stable"), kind="stable")
    points = pd.DataFrame({"study": parts.labels, "resid": e, "se": se, "z": z,
                           "theoretical": quantiles[ranks]})
    lev = parts.spec.level if level is None else float(level)
    band = None
    if envelope:
        rng = np.random.default_rng(seed)
        eps = rng.standard_normal((k, int(reps))) * np.sqrt(v + fit.tau2)[:, None]
        sim = eps - X @ (cov @ (X.T @ (w[:, None] * eps)))
        sim = np.sort(sim / se[:, None], axis=0)
        alpha = 1 - lev
        band = pd.DataFrame({"theoretical": quantiles,
                             "lower": np.quantile(sim, alpha / 2, axis=1),
                             "upper": np.quantile(sim, 1 - alpha / 2, axis=1)})
    return QQData(points=points, envelope=band, level=lev)


@dataclass(frozen=True, eq=False)
class LabbeData:
    """Arm-level outcomes (x: control, y: treated) on the measure's scale, and the line."""

    points: pd.DataFrame
    line: pd.DataFrame
    measure: str
    estimate: float


def _arm_outcome(events: np.ndarray, n: np.ndarray, measure: str
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Outcome and its variance on the measure's scale (escalc PLO/PLN/PR, add ½ if 0)."""
    non = n - events
    zero = (events == 0) | (non == 0)
    x = np.where(zero, events + 0.5, events)
    m = np.where(zero, non + 0.5, non)
    total = x + m
    if measure == "OR":
        return np.log(x / m), 1 / x + 1 / m
    if measure == "RR":
        return np.log(x / total), 1 / x - 1 / total
    p = x / total
    return p, p * (1 - p) / total


def labbe_data(result: Any, events: Any = None, n: Any = None, measure: str | None = None
               ) -> LabbeData:
    """L'Abbé plot data of a pooled result of OR, RR or RD with arm-level counts.

    Args:
        result: a ``MetaResult`` whose data has the counts.
        events, n: (treated, control) column names of the events and totals.
        measure: "OR", "RR" or "RD" (default: the result's measure).
    """
    name = str(measure or getattr(result, "measure", None) or "").upper()
    if name not in LABBE_MEASURES:
        raise InputError(f"L'Abbé plots need measure='OR', 'RR' or 'RD' (got {name or None!r})")
    parts = model_parts(result)
    if parts.X.shape[1] != 1:
        raise InputError("L'Abbé plots are drawn for pooled results only")
    a, n1, c, n0 = study_counts(result, events, n, "The L'Abbé plot")
    yt, vt = _arm_outcome(a, n1, name)
    yc, vc = _arm_outcome(c, n0, name)
    wi = np.sqrt(1 / (vt + vc))
    spread = wi.max() - wi.min()
    size = (np.ones_like(wi) if spread <= np.sqrt(np.finfo(float).eps)
            else (wi - wi.min()) / spread * 3.0 + 0.5)
    b = float(parts.fit.beta[0])
    lo, hi = min(yt.min(), yc.min()), max(yt.max(), yc.max())
    rng = hi - lo
    if name == "OR":
        grid = np.linspace(lo - rng, hi + rng, 1000)
    elif name == "RR":
        grid = np.linspace(lo - rng, -b if b > 0 else 0.0, 1000)
    else:
        grid = np.linspace(0.0 if b > 0 else -b, 1 - b if b > 0 else 1.0, 1000)
    points = pd.DataFrame({"study": parts.labels, "x": yc, "y": yt, "size": size})
    return LabbeData(points=points, line=pd.DataFrame({"x": grid, "y": grid + b}),
                     measure=name, estimate=b)
