"""GOSH: the model fitted to subsets of the studies (Olkin, Dahabreh & Trikalinos 2012).

As metafor's ``gosh()``: the model (same tau² estimator) is fitted to every subset of
at least p studies (p = number of coefficients) — all ``Σ_{m ≥ p} C(k, m)`` of them
when there are at most ``subsets``, otherwise ``subsets`` random subsets whose sizes
are drawn from Binomial(k, ½) restricted to m ≥ p (``seed=``).  For each subset:
Q_E, I², H², tau² and the coefficients.  Subsets are fitted together, one batch per
subset size, with the vectorised estimators of :mod:`.permutation` (no loop over
subsets).  One-study subsets of a pooled result have Q_E = 0, I² = 0, H² = 1,
tau² = 0; subsets of a meta-regression with just p studies, or whose design is rank
deficient, are NaN (as metafor).  For the DerSimonian-Laird
intercept-only model H² is ``Q/(k − 1)`` for every subset, as metafor's fast path (it
equals ``tau²/s² + 1`` except when tau² is truncated at 0).

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> g = gosh(ipd.pool(bcg, estimate="yi", variance="vi", study="trial", method="DL"))
    >>> len(g.table), g.exact
    (8191, True)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.influence import model_parts
from ipdmeta.pooling.permutation import batch_tau2, batch_wls

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DEFAULT_SUBSETS = 2**15
CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True, eq=False)
class GoshResult:
    """Fits to subsets of the studies.

    ``table``: one row per subset (k, QE, I2, H2, tau2 and the coefficients, named
    "estimate" for a pooled result, else by term); ``included``: boolean matrix
    (subsets × studies); ``exact``: True when every subset was fitted.
    """

    table: pd.DataFrame
    included: np.ndarray
    studies: list
    exact: bool
    method: str
    terms: list[str]

    def to_frame(self) -> pd.DataFrame:
        """The table of subset fits."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """The table as lists, the design of the subsets and whether it was exact."""
        return {"table": self.table.to_dict(orient="list"), "exact": self.exact,
                "method": self.method, "studies": list(self.studies)}

    def summary(self) -> str:
        """How many subsets and the range of the estimates and of I²."""
        est = self.table[self.terms[0] if len(self.terms) > 1 else "estimate"]
        kind = "all" if self.exact else "random"
        return (f"GOSH ({self.method}): {len(self.table)} models fitted to {kind} subsets "
                f"of {len(self.studies)} studies\n"
                f"  estimate from {est.min():.4f} to {est.max():.4f}; I² from "
                f"{self.table['I2'].min():.1f}% to {self.table['I2'].max():.1f}%")

    def __repr__(self) -> str:
        return f"GoshResult({len(self.table)} subsets, exact={self.exact})"

    def plot(self, **options: Any) -> Figure:
        """Scatter of the estimates against I² (``plots.gosh.gosh_plot``)."""
        from ipdmeta.plots.gosh import gosh_plot
        return gosh_plot(self, **options)


def all_subsets(k: int, min_size: int) -> np.ndarray:
    """Every subset of k studies with at least ``min_size`` members, ordered as metafor.

    Ordered by size, and within a size by the binary code with study 1 as the lowest
    bit (R's ``expand.grid`` order).
    """
    codes = np.arange(1, 2**k, dtype=np.int64)
    incl = ((codes[:, None] >> np.arange(k)) & 1).astype(bool)
    size = incl.sum(axis=1)
    order = np.argsort(size, kind="stable")
    incl = incl[order]
    return incl[incl.sum(axis=1) >= min_size]


def random_subsets(k: int, min_size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` random subsets: size from Binomial(k, ½) given size ≥ min_size, then members."""
    sizes = np.arange(min_size, k + 1)
    prob = stats.binom.pmf(sizes, k, 0.5)
    m = rng.choice(sizes, size=n, p=prob / prob.sum())
    ranks = np.argsort(np.argsort(rng.random((n, k)), axis=1), axis=1)
    incl = ranks < m[:, None]
    return incl[np.argsort(incl.sum(axis=1), kind="stable")]


def _fit_size(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, dl_fast: bool
              ) -> np.ndarray:
    """QE, I2, H2, tau2 and coefficients of B subsets of m studies: (B, 4 + p)."""
    B, m = y.shape
    p = X.shape[-1]
    out = np.full((B, 4 + p), np.nan)
    ok = np.ones(B, dtype=bool)
    if X.ndim == 3:
        ok = np.linalg.matrix_rank(X) == p
    if not ok.any():
        return out
    y, v = y[ok], v[ok]
    Xs = X[ok] if X.ndim == 3 else X
    w0 = 1.0 / v
    if m == p and p > 1:  # rma() refuses k = p with moderators: NaN, as metafor
        return out
    if m == p:
        tau2 = np.zeros(len(y))
        qe = np.zeros(len(y))
        i2, h2 = np.zeros(len(y)), np.ones(len(y))
    else:
        XtW, inv, _, r = batch_wls(w0, Xs, y)
        qe = np.maximum(0.0, np.sum(w0 * r * r, axis=-1))
        tau2, conv = batch_tau2(method, y, v, Xs)
        tau2 = np.where(conv, tau2, np.nan)
        if method == "common":
            with np.errstate(divide="ignore", invalid="ignore"):
                i2 = np.where(qe > 0, np.maximum(0.0, 100 * (qe - (m - p)) / qe), 0.0)
            h2 = qe / (m - p)
        else:
            trace = np.sum(w0, axis=-1) - np.einsum(
                "...ii->...", inv @ (XtW @ np.swapaxes(XtW, -1, -2)))
            s2 = (m - p) / trace
            i2 = 100 * tau2 / (s2 + tau2)
            h2 = qe / (m - p) if dl_fast else tau2 / s2 + 1
    _, _, beta, _ = batch_wls(1.0 / (v + tau2[:, None]), Xs, y)
    out[ok] = np.column_stack([qe, i2, h2, tau2, beta])
    return out


def gosh(result: Any, subsets: int = DEFAULT_SUBSETS, seed: Any = None) -> GoshResult:
    """Fit the model of ``result`` to subsets of its studies (metafor's ``gosh``).

    Args:
        result: ``MetaResult`` or ``MetaRegResult``.
        subsets: fit all subsets when there are at most this many, otherwise this many
            random ones (metafor's default is 10⁶; ipdmeta's 2^15 keeps plots quick).
        seed: seed or ``numpy.random.Generator`` for the random subsets.
    """
    parts = model_parts(result)
    method = parts.spec.method
    if method == "GENQ":
        raise InputError("GOSH is not available for method='GENQ'")
    y, v, X = parts.y, parts.v, parts.X
    k, p = X.shape
    if k < 2:
        raise InputError("GOSH needs at least 2 studies")
    if subsets < 2:
        raise InputError(f"subsets={subsets} must be at least 2")
    total = sum(math.comb(k, m) for m in range(p, k + 1))
    exact = total <= subsets
    incl = (all_subsets(k, p) if exact
            else random_subsets(k, p, int(subsets), np.random.default_rng(seed)))
    intercept_only = p == 1 and bool(np.all(X == 1.0))
    dl_fast = method == "DL" and intercept_only
    sizes = incl.sum(axis=1)
    results = np.full((len(incl), 4 + p), np.nan)
    for m in np.unique(sizes):
        rows = np.flatnonzero(sizes == m)
        members = np.argsort(~incl[rows], axis=1, kind="stable")[:, :m]
        chunk = max(1, CHUNK_ELEMENTS // (m * p))
        for start in range(0, len(rows), chunk):
            idx = members[start:start + chunk]
            Xs = np.ones((m, 1)) if intercept_only else X[idx]
            results[rows[start:start + chunk]] = _fit_size(y[idx], v[idx], Xs, method,
                                                           dl_fast)
    names = ["estimate"] if intercept_only else list(parts.terms)
    table = pd.DataFrame(results, columns=["QE", "I2", "H2", "tau2", *names])
    table.insert(0, "k", sizes)
    return GoshResult(table=table, included=incl, studies=list(parts.labels), exact=exact,
                      method=method, terms=names)
