"""Block-arrow algebra and per-trial sums: the structure every one-stage model shares.

In a one-stage model with stratified trial intercepts the fixed effects split into
*local* parameters (trial i's intercept, and its covariate effects when they are
stratified by trial: ``a`` per trial) and *global* ones (the treatment effect and
common covariates: ``g``).  Any information matrix of such a model is a block arrow,

    [ A_1               B_1 ]
    [      ...          ... ]
    [           A_K     B_K ]
    [ B_1' ...  B_K'    D   ]

with ``A_i`` (a×a), ``B_i`` (a×g) and ``D`` (g×g).  :class:`Arrow` solves with it,
takes its log-determinant and the blocks of its inverse through the Schur complement
``S = D - sum_i B_i' A_i^{-1} B_i``, so the cost is linear in the number of trials
and no (K·a + g)² matrix is formed.  Rows are sorted by trial once; per-trial sums
are :func:`segment_sums` over the trial's rows.

Example:
    >>> import numpy as np
    >>> A = np.array([[[2.0]], [[3.0]]]); B = np.array([[[1.0]], [[1.0]]])
    >>> D = np.array([[4.0]])
    >>> arrow = Arrow(A, B, D)
    >>> xl, xw = arrow.solve(np.array([[1.0], [2.0]]), np.array([3.0]))
    >>> full = np.array([[2.0, 0, 1], [0, 3, 1], [1, 1, 4]])
    >>> np.allclose(np.r_[xl.ravel(), xw], np.linalg.solve(full, [1.0, 2, 3]))
    True
    >>> bool(np.isclose(arrow.logdet, np.linalg.slogdet(full)[1]))
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


def segment_sums(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sums of ``values`` (n, ...) over the rows of each trial (rows sorted by trial)."""
    if values.shape[0] == 0:
        return np.zeros((starts.size, *values.shape[1:]))
    return np.add.reduceat(values, starts, axis=0)


def segment_gram(M: np.ndarray, starts: np.ndarray, w: np.ndarray | None = None
                 ) -> np.ndarray:
    """Per-trial cross-products ``M_i' diag(w_i) M_i``, shape (K, m, m).

    One pass per pair of columns, so memory stays O(n) whatever the width.
    """
    m = M.shape[1]
    out = np.empty((starts.size, m, m))
    Mw = M if w is None else M * w[:, None]
    for j in range(m):
        s = segment_sums(Mw[:, j:j + 1] * M[:, j:], starts)
        out[:, j, j:] = s
        out[:, j:, j] = s
    return out


def sym(A: np.ndarray) -> np.ndarray:
    """The symmetric part of a (batch of) square matrices."""
    return 0.5 * (A + np.swapaxes(A, -1, -2))


@dataclass(frozen=True)
class Arrow:
    """A symmetric positive definite block-arrow matrix (see the module docstring).

    Raises ``numpy.linalg.LinAlgError`` when a block or the Schur complement is not
    positive definite.
    """

    A: np.ndarray   # (K, a, a)
    B: np.ndarray   # (K, a, g)
    D: np.ndarray   # (g, g)

    def __post_init__(self) -> None:
        _ = self.chol_S  # factorise now: a singular matrix fails here

    @cached_property
    def chol_A(self) -> np.ndarray:
        return np.linalg.cholesky(self.A)

    @cached_property
    def AinvB(self) -> np.ndarray:
        """``A_i^{-1} B_i`` for every trial, (K, a, g)."""
        return _chol_solve(self.chol_A, self.B)

    @cached_property
    def S(self) -> np.ndarray:
        """The Schur complement ``D - sum_i B_i' A_i^{-1} B_i`` (g, g)."""
        return sym(self.D - np.einsum("kag,kah->gh", self.B, self.AinvB))

    @cached_property
    def chol_S(self) -> np.ndarray:
        _ = self.chol_A
        return np.linalg.cholesky(self.S)

    @property
    def logdet(self) -> float:
        """log-determinant of the whole matrix."""
        da = np.diagonal(self.chol_A, axis1=1, axis2=2)
        return float(2 * np.sum(np.log(da)) + 2 * np.sum(np.log(np.diag(self.chol_S))))

    def solve(self, rl: np.ndarray, rw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solve with right-hand sides ``rl`` (K, a) and ``rw`` (g,): (xl, xw)."""
        Ainv_rl = _chol_solve(self.chol_A, rl[..., None])[..., 0]
        xw = _chol_solve(self.chol_S, (rw - np.einsum("kag,ka->g", self.B, Ainv_rl))[:, None])
        xw = xw[:, 0]
        xl = Ainv_rl - np.einsum("kag,g->ka", self.AinvB, xw)
        return xl, xw

    @cached_property
    def inv_WW(self) -> np.ndarray:
        """The global block of the inverse, ``S^{-1}``."""
        return sym(_chol_solve(self.chol_S, np.eye(self.S.shape[0])))

    @cached_property
    def inv_LW(self) -> np.ndarray:
        """The local-global blocks of the inverse, ``-A_i^{-1} B_i S^{-1}`` (K, a, g)."""
        return -self.AinvB @ self.inv_WW

    @cached_property
    def A_inv(self) -> np.ndarray:
        """``A_i^{-1}`` for every trial (K, a, a)."""
        return sym(_chol_solve(self.chol_A, np.broadcast_to(np.eye(self.A.shape[1]),
                                                            self.A.shape)))

    @cached_property
    def inv_LL(self) -> np.ndarray:
        """The local diagonal blocks of the inverse (K, a, a)."""
        return sym(self.A_inv - self.inv_LW @ np.swapaxes(self.AinvB, 1, 2))

    def inv_trial(self) -> np.ndarray:
        """Per trial, the (a+g)×(a+g) block of the inverse on its local and the global
        parameters, (K, a+g, a+g)."""
        K, a, g = self.B.shape
        out = np.empty((K, a + g, a + g))
        out[:, :a, :a] = self.inv_LL
        out[:, :a, a:] = self.inv_LW
        out[:, a:, :a] = np.swapaxes(self.inv_LW, 1, 2)
        out[:, a:, a:] = self.inv_WW
        return out


def _chol_solve(L: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``(L L') x = b`` for a (batch of) lower Cholesky factors."""
    if L.shape[-1] == 0:
        return np.zeros(b.shape)
    y = np.linalg.solve(L, b)
    return np.linalg.solve(np.swapaxes(L, -1, -2), y)


def lower_root(G: np.ndarray) -> np.ndarray:
    """A lower-triangular ``L`` with ``L L' = G`` for a positive semi-definite ``G`` (the
    Cholesky factor; a zero pivot gives a zero column, as lme4's relative factor)."""
    r = G.shape[0]
    L = np.zeros((r, r))
    for j in range(r):
        d = G[j, j] - L[j, :j] @ L[j, :j]
        L[j, j] = np.sqrt(max(d, 0.0))
        for i in range(j + 1, r):
            L[i, j] = (G[i, j] - L[i, :j] @ L[j, :j]) / L[j, j] if L[j, j] > 0 else 0.0
    return L
