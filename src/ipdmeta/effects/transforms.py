"""Back-transforms from the analysis scale to the natural scale, for display only.

Estimates are stored on the analysis scale (log OR, logit, double arcsine ...); these
functions turn estimates and interval limits back into odds ratios, proportions or
correlations for tables and plots.  The Freeman-Tukey inverse needs a sample size: for a
pooled value, metafor's ``transf.ipft.hm`` uses the harmonic mean of the studies' sizes
(Miller 1978), as :func:`back_transform` does.

Example:
    >>> round(float(back_transform(0.95, "PFT", n=[17, 12, 8])), 4)
    0.6754
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ipdmeta.errors import InputError

#: measures shown exponentiated (ratios, rates on the log scale; SHR: subdistribution hazard
#: ratio, TR: time ratio of stage 1)
EXPONENTIATED = frozenset({"OR", "RR", "PETO", "ROM", "IRR", "IRLN", "HR", "SHR", "TR"})


def harmonic_mean(n: Sequence[float] | np.ndarray) -> float:
    """Harmonic mean ``1 / mean(1/n)`` of the sample sizes (missing ones ignored)."""
    values = np.asarray(n, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0 or np.any(values <= 0):
        raise InputError("the Freeman-Tukey back-transform needs positive sample sizes")
    return float(1 / np.mean(1 / values))


def _pft(p: float, n: np.ndarray) -> np.ndarray:
    x = p * n
    return 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))


def pft_to_proportion(z: float | np.ndarray, n: float | np.ndarray) -> np.ndarray:
    """Inverse of the Freeman-Tukey double arcsine (Miller 1978), as metafor's transf.ipft.

    ``n`` is the sample size: one number, or one per value of ``z``.  For a pooled value
    use the harmonic mean of the studies' sizes (:func:`harmonic_mean`; metafor's
    ``transf.ipft.hm``), which :func:`back_transform` does.  Values beyond the transform
    of 0 or 1 map to 0 or 1.
    """
    z_arr = np.asarray(z, dtype=float)
    n_arr = np.broadcast_to(np.asarray(n, dtype=float), z_arr.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.sin(2 * z_arr)
        p = 0.5 * (1 - np.sign(np.cos(2 * z_arr))
                   * np.sqrt(1 - (s + (s - 1 / s) / n_arr) ** 2))
    p = np.where(z_arr > _pft(1.0, n_arr), 1.0, p)
    return np.where(z_arr < _pft(0.0, n_arr), 0.0, p)


def back_transform(values: float | np.ndarray, measure: str | None,
                   n: float | Sequence[float] | np.ndarray | None = None) -> np.ndarray:
    """Values on the natural scale of ``measure`` (exp, inverse logit, sin², tanh, ...).

    ``n`` is needed for ``PFT`` only: the studies' sample sizes, whose harmonic mean is
    used for every value (metafor's ``transf.ipft.hm``).  Measures on their
    natural scale already (MD, SMD, RD, PR, IR, COR ...) are returned unchanged.

    Example:
        >>> float(back_transform(0.0, "PLO")), float(back_transform(0.0, "OR"))
        (0.5, 1.0)
    """
    x = np.asarray(values, dtype=float)
    key = (measure or "").upper()
    if key in EXPONENTIATED:
        return np.exp(x)
    if key == "PLO":
        return 1 / (1 + np.exp(-x))
    if key == "PAS":
        return np.where(x < 0, 0.0, np.where(x > np.pi / 2, 1.0, np.sin(x) ** 2))
    if key == "ZCOR":
        return np.tanh(x)
    if key == "PFT":
        if n is None:
            raise InputError("the Freeman-Tukey back-transform needs the studies' sample "
                             "sizes: give n= (their harmonic mean is used)")
        return pft_to_proportion(x, harmonic_mean(np.atleast_1d(n)))
    return x
