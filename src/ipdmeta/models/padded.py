"""Many studies at once: segments of study-sorted rows in zero-padded 3-D blocks.

The batched fitters (:mod:`ipdmeta.models.batched`, :mod:`ipdmeta.models.batched_cox`)
work on one array of rows sorted by study (or by study and stratum: a *unit*),
with ``starts`` the first row of each unit.  :class:`Padded` copies the rows into
a few *buckets* ``(k_b, n_b, ...)`` of units of similar length, padded with zero
rows, so that

* per-unit sums of products (``X' W X``, ``X' r``) are batched matrix products
  (``np.matmul`` over the bucket: one small BLAS call per unit, no Python loop
  over studies, and a single large one for a big study);
* cumulative sums along the second axis restart at every unit, so risk-set sums
  of one study never cancel against those of another.

Padding rows are zero (``mask`` is False there), so they add nothing to any sum.
Buckets group units whose lengths differ by at most 25 % (or 4 rows), which
bounds the padding overhead.

Example:
    >>> lay = Padded(np.array([0, 2, 5]), np.array([2, 3, 1]))
    >>> [(b.units.tolist(), b.width) for b in lay.buckets]
    [([2, 0, 1], 3)]
    >>> lay.pad(np.arange(6.0))[0].tolist()
    [[5.0, 0.0, 0.0], [0.0, 1.0, 0.0], [2.0, 3.0, 4.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: units in one bucket differ in length by at most this factor (or ``SLACK`` rows)
RATIO = 1.25
SLACK = 4
#: at most this many padded rows per bucket (a longer unit is a bucket of its own)
MAX_ROWS = 1 << 20


@dataclass(frozen=True)
class Bucket:
    """Units of similar length: ``rows[i, j]`` is the source row of the j-th row of unit
    ``units[i]`` (0 where ``mask`` is False: padding)."""

    units: np.ndarray      # (k_b,) unit indices
    width: int             # n_b, the longest unit of the bucket
    rows: np.ndarray       # (k_b, n_b) source rows
    mask: np.ndarray       # (k_b, n_b) True on real rows

    def pad(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """``values`` (N, ...) laid out as ``(k_b, n_b, ...)``, ``fill`` in the padding."""
        out = np.take(values, self.rows, axis=0)
        if not self.mask.all():
            out[~self.mask] = fill
        return out

    def take(self, keep: np.ndarray) -> Bucket:
        """The bucket restricted to the units where ``keep`` (k_b,) is True."""
        rows, mask = self.rows[keep], self.mask[keep]
        width = int(mask.sum(axis=1).max(initial=0))
        return Bucket(self.units[keep], width, rows[:, :width], mask[:, :width])


class Padded:
    """A bucketed, zero-padded layout of ``k`` units of consecutive rows.

    Args:
        starts: first row of each unit (ascending); ``counts`` their lengths (> 0).
    """

    def __init__(self, starts: np.ndarray, counts: np.ndarray) -> None:
        starts = np.asarray(starts, dtype=np.intp)
        counts = np.asarray(counts, dtype=np.intp)
        self.k = starts.size
        self.buckets: list[Bucket] = []
        order = np.argsort(counts, kind="stable")
        sizes = counts[order]
        i = 0
        while i < order.size:
            limit = max(int(np.ceil(sizes[i] * RATIO)), int(sizes[i]) + SLACK)
            j = int(np.searchsorted(sizes, limit, side="right"))
            j = min(j, i + max(1, MAX_ROWS // max(int(sizes[j - 1]), 1)))
            units = order[i:j]
            width = int(sizes[j - 1])
            offs = np.arange(width)
            mask = offs[None, :] < counts[units][:, None]
            rows = np.where(mask, starts[units][:, None] + offs[None, :], 0)
            self.buckets.append(Bucket(units, width, rows, mask))
            i = j

    def pad(self, values: np.ndarray, fill: float = 0.0) -> list[np.ndarray]:
        """``values`` (N, ...) in every bucket (see :meth:`Bucket.pad`)."""
        return [b.pad(values, fill) for b in self.buckets]


# ----------------------------------------------------------------------------- helpers
def counts_of(starts: np.ndarray, n: int) -> np.ndarray:
    """Lengths of the segments that start at ``starts`` in ``n`` rows.

    Example:
        >>> counts_of(np.array([0, 3, 4]), 6).tolist()
        [3, 1, 2]
    """
    return np.diff(np.append(np.asarray(starts, dtype=np.intp), n))


def segment_all(flags: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per segment: are all ``flags`` True? (segments must be non-empty)."""
    return np.logical_and.reduceat(flags, starts) if starts.size else np.zeros(0, bool)


def segment_ptp(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per segment: the range (max - min) of ``values`` along the rows."""
    return np.maximum.reduceat(values, starts, axis=0) - np.minimum.reduceat(values, starts,
                                                                              axis=0)


def gather(starts: np.ndarray, counts: np.ndarray, keep: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the segments where ``keep`` is True, and their starts in the gathered array.

    Example:
        >>> rows, new = gather(np.array([0, 2, 5]), np.array([2, 3, 1]), np.array([1, 0, 1], bool))
        >>> rows.tolist(), new.tolist()
        ([0, 1, 5], [0, 2])
    """
    s, c = starts[keep], counts[keep]
    new = np.cumsum(c) - c
    rows = np.arange(int(c.sum())) + np.repeat(s - new, c)
    return rows, new


def batched_solve(A: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solve every ``A[i] x = b[i]``; returns ``x`` and a mask of the finite solutions.

    One LAPACK call for the batch; a singular matrix gives NaN for its own system
    only (never an exception).

    Example:
        >>> A = np.array([np.eye(2) * 2, np.zeros((2, 2))])
        >>> x, ok = batched_solve(A, np.ones((2, 2)))
        >>> x[0].tolist(), ok.tolist()
        ([0.5, 0.5], [True, False])
    """
    try:
        x = np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        x = np.full(b.shape, np.nan)
        for i in range(A.shape[0]):
            try:
                x[i] = np.linalg.solve(A[i], b[i])
            except np.linalg.LinAlgError:
                continue
    return x, np.all(np.isfinite(x), axis=-1)


def batched_inv(A: np.ndarray) -> np.ndarray:
    """The inverse of every ``A[i]`` (NaN for a singular one, never an exception)."""
    eye = np.broadcast_to(np.eye(A.shape[-1]), A.shape)
    try:
        return np.linalg.solve(A, eye)
    except np.linalg.LinAlgError:
        out = np.full(A.shape, np.nan)
        for i in range(A.shape[0]):
            try:
                out[i] = np.linalg.inv(A[i])
            except np.linalg.LinAlgError:
                continue
        return out


def min_corr_eig(G: np.ndarray, diag: np.ndarray | None = None) -> np.ndarray:
    """Smallest eigenvalue of each ``G[i]`` scaled by ``diag[i]`` (default its diagonal).

    With ``G`` the cross-products of some columns and ``diag`` their sums of squares
    (before centring, say), the result is a lower bound of ``|r_j|^2 / |x_j|^2``, the
    squared residual of every column on all the others relative to its length, in
    any order: the batched screen for aliased (collinear) columns.  0 when a column
    is all zero.

    Example:
        >>> G = np.array([[[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 4.0]]])
        >>> np.round(min_corr_eig(G), 12).tolist()
        [0.0, 1.0]
    """
    d = np.einsum("kii->ki", G) if diag is None else diag
    good = np.all(d > 0, axis=1)
    d = np.sqrt(np.where(d > 0, d, 1.0))
    lam = np.linalg.eigvalsh(G / (d[:, :, None] * d[:, None, :]))[:, 0]
    return np.where(good, lam, 0.0)
