"""More tau² estimators, as Stata's metan offers them, with the signature of :mod:`tau2`.

Every estimator here is ``estimator(y, v, X, *, weights=None) -> Tau2Estimate`` like
those of :mod:`ipdmeta.pooling.tau2`; the ones that need more than the estimates
(study sizes, a first-step estimator, bootstrap settings) are made by a factory
that returns such a function:

* ``hartung_makambi``: ``Q²/(tr P·(Q + 2(k − p)))`` (Hartung & Makambi 2003), never 0
  unless Q = 0.
* ``rukhin_bp``: ``Σ(y − ȳ)²/(k + 1)`` (Rukhin 2013, the "BP" estimator).
* ``make_rukhin_b0(n)``: ``Σ(y − ȳ)²/(k + 1) − (N − k)(k − 1)v̄/((k + 1)(N − k + 2))``
  truncated at 0, with ``N = Σ n_i`` the total number of participants (Rukhin 2013
  "B0"; as metan ``model(b0)``).
* ``make_dk2s(init)``: DerSimonian & Kacker (2007) two-step method of moments: the
  generalised-Q estimator with weights ``1/(v + τ̂₀²)``, ``τ̂₀²`` from the Hedges
  (``"HE"``, default, as metan) or DerSimonian-Laird (``"DL"``) estimator.
* ``make_sj2s(init)``: Sidik & Jonkman (2005) two-step estimator
  ``τ̂₀²·Q(τ̂₀²)/(k − p)`` with ``τ̂₀²`` from any estimator of :mod:`tau2` (default: the
  variance of the estimates, which is metafor's "SJ").
* ``make_bootstrap_dl(reps, seed, level)``: bootstrap DerSimonian-Laird (Kontopantelis
  et al. 2013, metan ``model(bdl)``): the mean of the DL estimates (each truncated at
  0) over ``reps`` resamples of the studies, with Q computed around the
  common-effect estimate of the original data; its interval is the BCa bootstrap
  interval (Efron & Tibshirani 1993) with the jackknife acceleration.

Example:
    >>> import numpy as np
    >>> y = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62])
    >>> v = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.01, 0.22])
    >>> X = np.ones((7, 1))
    >>> round(hartung_makambi(y, v, X).tau2, 4), round(make_dk2s("HE")(y, v, X).tau2, 4)
    (0.1844, 0.1987)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats

from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.pooling.projection import Projection
from ipdmeta.pooling.tau2 import ESTIMATORS, Tau2Estimate, generalised_q, q_generalised

Estimator = Callable[..., Tau2Estimate]
NAN = float("nan")


def _intercept_only(X: np.ndarray, name: str) -> None:
    if X.shape[1] != 1 or not np.all(X == 1.0):
        raise SpecificationError(f"the {name} estimator is defined for pooling without "
                                 "moderators; use another tau² method for meta-regression")


def hartung_makambi(y: np.ndarray, v: np.ndarray, X: np.ndarray, *,
                    weights: np.ndarray | None = None) -> Tau2Estimate:
    """Hartung & Makambi (2003): ``Q²/(tr P·(Q + 2(k − p)))``, positive unless Q = 0."""
    k, p = X.shape
    proj = Projection(1.0 / v, X)
    q = proj.quad(y)
    return Tau2Estimate(q * q / (proj.trace * (q + 2 * (k - p))))


def rukhin_bp(y: np.ndarray, v: np.ndarray, X: np.ndarray, *,
              weights: np.ndarray | None = None) -> Tau2Estimate:
    """Rukhin (2013) "BP": ``Σ(y − ȳ)²/(k + 1)``."""
    _intercept_only(X, "Rukhin BP")
    k = y.size
    return Tau2Estimate(float(np.sum((y - y.mean()) ** 2)) / (k + 1))


def make_rukhin_b0(n: np.ndarray) -> Estimator:
    """Rukhin (2013) "B0" with study sizes ``n`` (as metan ``model(b0)``)."""
    n = np.asarray(n, dtype=float)

    def rukhin_b0(y: np.ndarray, v: np.ndarray, X: np.ndarray, *, weights: np.ndarray | None = None
                  ) -> Tau2Estimate:
        _intercept_only(X, "Rukhin B0")
        k = y.size
        if n.shape != (k,) or np.any(~np.isfinite(n)) or np.any(n <= 0):
            raise InputError("the Rukhin B0 estimator needs every study's number of "
                             "participants (n > 0); give the column with npts=")
        total = float(n.sum())
        bp = float(np.sum((y - y.mean()) ** 2)) / (k + 1)
        corr = (total - k) * (k - 1) * float(v.mean()) / ((k + 1) * (total - k + 2))
        return Tau2Estimate(max(0.0, bp - corr))

    return rukhin_b0


def make_dk2s(init: str = "HE") -> Estimator:
    """DerSimonian & Kacker (2007) two-step estimator started from "HE" (default) or "DL"."""
    name = str(init).strip().upper()
    if name not in ("HE", "DL"):
        raise InputError(f"init={init!r}: the DerSimonian-Kacker two-step estimator starts from "
                         "'HE' (default) or 'DL'")
    first = ESTIMATORS[name]

    def dk2s(y: np.ndarray, v: np.ndarray, X: np.ndarray, *,
             weights: np.ndarray | None = None) -> Tau2Estimate:
        tau0 = first(y, v, X).tau2
        return generalised_q(y, v, X, weights=1.0 / (v + tau0))

    return dk2s


def make_sj2s(init: str | None = None) -> Estimator:
    """Sidik & Jonkman (2005) two-step estimator from ``init`` (None: var(y)(k − 1)/k)."""
    first = None
    if init is not None:
        name = str(init).strip().upper()
        if name not in ESTIMATORS:
            raise InputError(f"init={init!r} is not a tau² method; use one of "
                             f"{', '.join(ESTIMATORS)}")
        first = ESTIMATORS[name]

    def sj2s(y: np.ndarray, v: np.ndarray, X: np.ndarray, *,
             weights: np.ndarray | None = None) -> Tau2Estimate:
        k, p = X.shape
        tau0 = float(np.var(y)) if first is None else first(y, v, X).tau2
        if tau0 <= 0:
            return Tau2Estimate(0.0, message="SJ2S: the first-step estimate of tau² is 0, "
                                             "so the two-step estimate is 0")
        return Tau2Estimate(tau0 * q_generalised(tau0, y, v, X) / (k - p))

    return sj2s


@dataclass(frozen=True)
class BootstrapTau2(Tau2Estimate):
    """A bootstrap tau² estimate with its BCa interval and the replicates."""

    ci: tuple[float, float] = (NAN, NAN)
    original: float = NAN
    replicates: np.ndarray | None = None


def _dl_fixed_centre(y: np.ndarray, v: np.ndarray, centre: float) -> np.ndarray:
    """DL tau² per row of (R, k) arrays with Q taken around a fixed ``centre``."""
    w = 1.0 / v
    k = y.shape[-1]
    q = np.sum(w * (y - centre) ** 2, axis=-1)
    c = w.sum(axis=-1) - np.sum(w * w, axis=-1) / w.sum(axis=-1)
    return np.maximum(0.0, (q - (k - 1)) / c)


def bca_interval(replicates: np.ndarray, original: float, jackknife: np.ndarray,
                 level: float) -> tuple[float, float]:
    """Bias-corrected and accelerated bootstrap interval (Efron & Tibshirani 1993, §14.3).

    The bias correction uses the share of replicates below the original estimate,
    counting ties as half (replicates truncated at 0 tie often); the acceleration is
    from the jackknife values.
    """
    share = (np.sum(replicates < original) + 0.5 * np.sum(replicates == original))
    share = min(max(share / replicates.size, 0.5 / replicates.size),
                1 - 0.5 / replicates.size)
    z0 = stats.norm.ppf(share)
    dev = jackknife.mean() - jackknife
    denom = 6 * np.sum(dev**2) ** 1.5
    acc = float(np.sum(dev**3) / denom) if denom > 0 else 0.0
    bounds = []
    for tail in ((1 - level) / 2, 1 - (1 - level) / 2):
        z = z0 + stats.norm.ppf(tail)
        bounds.append(float(np.quantile(replicates, stats.norm.cdf(z0 + z / (1 - acc * z)))))
    return bounds[0], bounds[1]


def make_bootstrap_dl(reps: int = 1000, seed: int | None = None, level: float = 0.95
                      ) -> Estimator:
    """Bootstrap DerSimonian-Laird estimator (Kontopantelis et al. 2013; metan ``bdl``)."""
    if int(reps) < 2:
        raise InputError(f"reps={reps!r}: the bootstrap DL estimator needs at least 2 "
                         "replicates (metan's default is 1000)")

    def bootstrap_dl(y: np.ndarray, v: np.ndarray, X: np.ndarray, *,
                     weights: np.ndarray | None = None) -> BootstrapTau2:
        _intercept_only(X, "bootstrap DerSimonian-Laird")
        k = y.size
        w = 1.0 / v
        centre = float(np.sum(w * y) / np.sum(w))
        idx = np.random.default_rng(seed).integers(0, k, size=(int(reps), k))
        boot = _dl_fixed_centre(y[idx], v[idx], centre)
        original = float(_dl_fixed_centre(y, v, centre))
        drop = ~np.eye(k, dtype=bool)
        jack = _dl_fixed_centre(np.broadcast_to(y, (k, k))[drop].reshape(k, k - 1),
                                np.broadcast_to(v, (k, k))[drop].reshape(k, k - 1), centre)
        ci = bca_interval(boot, original, jack, level)
        return BootstrapTau2(float(boot.mean()), ci=(max(0.0, ci[0]), max(0.0, ci[1])),
                             original=original, replicates=boot)

    return bootstrap_dl


#: the estimators of this module by method name (B0 and BDL take settings: estimator_for)
EXTRA_METHODS = ("HM", "BP", "B0", "DK2S", "SJ2S", "BDL")
TWO_STEP = ("DK2S", "SJ2S")


def estimator_for(method: str, n: np.ndarray | None = None, reps: int = 1000,
                  seed: int | None = None, level: float = 0.95) -> Estimator:
    """The tau² estimator of a (canonical) method name, of this module or :mod:`tau2`.

    ``"DK2S-DL"`` and ``"SJ2S-REML"`` name a two-step estimator with its first step;
    ``n`` are the study sizes (B0), ``reps``/``seed``/``level`` the bootstrap settings (BDL).

    Example:
        >>> import numpy as np
        >>> est = estimator_for("SJ2S-DL")
        >>> round(est(np.array([0.1, 0.5, 0.3]), np.array([0.01, 0.02, 0.03]),
        ...           np.ones((3, 1))).tau2, 4)
        0.0272
    """
    base, _, init = method.partition("-")
    if base == "DK2S":
        return make_dk2s(init or "HE")
    if base == "SJ2S":
        return make_sj2s(init or None)
    if method == "B0":
        if n is None:
            raise InputError("method='B0' (Rukhin) needs each study's number of participants: "
                             "give the column with npts= (or name it 'n' or '_NN')")
        return make_rukhin_b0(n)
    if method == "BDL":
        return make_bootstrap_dl(reps, seed, level)
    return {"HM": hartung_makambi, "BP": rukhin_bp}.get(method) or ESTIMATORS[method]
