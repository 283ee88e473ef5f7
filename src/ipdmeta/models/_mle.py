"""Shared tail of the maximum-likelihood fitters beyond the canonical GLMs.

The log- and identity-binomial, negative binomial, ordinal and parametric
survival fitters maximise a smooth log-likelihood with the Newton loop of
:mod:`ipdmeta.models._newton` on a column-scaled design, with extra parameters
(a dispersion, cut-points, a shape) after the design coefficients.  This module
holds what they share: the screens before fitting (:func:`screen`) and the
conversion of a Newton result into a :class:`~ipdmeta.models.base.Fit` or a
failed one (:func:`conclude`), so every family reports ``separation``,
``not_converged`` and ``runaway`` the same way.

Example:
    >>> X = np.column_stack([np.ones(3), [0.0, 1, 2]])
    >>> screen(X, ("Intercept", "x"), events=1) is None
    True
    >>> screen(X[:2], ("Intercept", "x"), events=1).problem
    'too_few_rows'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import linalg

from ipdmeta.models._newton import NewtonResult, collinear, runaway_terms, too_few_rows
from ipdmeta.models.base import Fit, failed


def screen(X: np.ndarray, names: tuple[str, ...], *, events: int | None,
           problem: Fit | None = None) -> Fit | None:
    """The first failure among too few rows, ``problem`` (an outcome screen) and aliased
    design columns, or None."""
    return (too_few_rows(X, names, events=events) or problem
            or collinear(X, names, events=events))


def inverse(chol: np.ndarray | None, p: int) -> np.ndarray:
    """The inverse of ``R'R`` from its upper Cholesky factor (NaN when there is none)."""
    if chol is None:
        return np.full((p, p), np.nan)
    return linalg.cho_solve((chol, False), np.eye(p))


def conclude(res: NewtonResult, *, X: np.ndarray, scale: np.ndarray, names: tuple[str, ...],
             n: int, events: int | None, family: str, cov_scaled: np.ndarray,
             separation: Callable[[], str | None] | None = None, extra: dict | None = None,
             coef_map: Callable[[np.ndarray], np.ndarray] | None = None) -> Fit:
    """A :class:`Fit` from a Newton result on scaled parameters, or a failed one.

    ``scale``: the divisor of each parameter (column scales of the design, then 1
    for the extra parameters); ``cov_scaled``: the covariance on the scaled
    parameters; ``separation()``: plain words when the likelihood has no finite
    maximum (checked when the fit did not converge or ran away); the runaway rule
    applies to the first ``X.shape[1]`` (design) coefficients; ``coef_map``
    turns the unscaled vector into the reported one (default: as is).
    """
    coef = res.beta / scale
    cov = cov_scaled / np.outer(scale, scale)
    if coef_map is not None:
        coef = coef_map(coef)
    extra = {"family": family, **(extra or {})}
    common: dict[str, Any] = {"names": names, "n": n, "events": events,
                              "iterations": res.iterations}
    if res.state is None:
        return failed("not_converged", "the likelihood could not be evaluated at the "
                      "starting values", converged=False, **common)
    p = X.shape[1]
    with np.errstate(invalid="ignore"):
        se = np.sqrt(np.abs(np.diag(cov)))
    runaway = runaway_terms(coef[:p], se[:p], X)
    lost: dict[str, Any] = {"converged": res.converged, "loglik": res.state.loglik,
            "extra": {**extra, "last_coef": coef, "last_cov": cov}}
    if separation is not None and (not res.converged or runaway):
        why = separation()
        if why is not None:
            return failed("separation", why, **lost, **common)
    if not res.converged:
        return failed("not_converged", f"the {family} fit did not converge in "
                      f"{res.iterations} iterations", **lost, **common)
    if not np.all(np.isfinite(cov)):
        return failed("not_converged", "the information matrix at the estimate is not "
                      "positive definite", **lost, **common)
    if runaway:
        j = runaway[0]
        return failed("runaway", f"the estimate of '{names[j]}' ({coef[j]:.3g}) is implausibly "
                      f"large with an enormous standard error ({se[j]:.3g})", **lost, **common)
    return Fit(coef=coef, cov=cov, converged=True, loglik=res.state.loglik, extra=extra,
               **common)


def constant_column(Xs: np.ndarray) -> int | None:
    """Index of the first constant non-zero column (the intercept), or None."""
    const = np.flatnonzero((np.ptp(Xs, axis=0) == 0) & (Xs[0] != 0))
    return int(const[0]) if const.size else None


def count_text(k: int, what: str) -> str:
    """``"1 participant with the event"`` / ``"3 participants with the event"``."""
    return f"{k} participant{'s' * (k != 1)} {what}".rstrip()


def names_tuple(names: Sequence[str]) -> tuple[str, ...]:
    """The names as a tuple of strings."""
    return tuple(str(s) for s in names)
