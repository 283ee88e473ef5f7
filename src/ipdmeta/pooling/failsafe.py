"""Fail-safe N and the test of excess significance (metafor's ``fsn`` and ``tes``).

Fail-safe N, the number of unpublished null studies that would overturn a result
(study estimates ``y_i``, variances ``v_i``, ``z_i = y_i/sqrt(v_i)``):

* Rosenthal (1979): ``N = k (|Σz_i|/sqrt(k) / z_{1−α})² − k`` (Stouffer's combined test,
  one-sided α);
* Orwin (1983): ``N = k (ȳ − target)/target`` with ȳ the mean effect (unweighted, or
  inverse-variance weighted with ``weighted=True``) and ``target`` (default ȳ/2) the
  effect judged trivial;
* Rosenberg (2005): ``N = k ((Σw_iy_i / z_{1−α/2})² − Σw_i)/Σw_i`` with ``w_i = 1/v_i``:
  the studies of average weight that make the common-effect z test not significant.

N is rounded up (to the nearest integer when within 1.5e-8 of it), as metafor.

Test of excess significance (Ioannidis & Trikalinos 2007): the number of significant
studies O (two-sided or one-sided test of ``y_i = H0`` at ``alpha``) against its
expectation ``E = Σ power_i`` at the pooled effect θ (for a random-effects model the
power is averaged over ``θ_i ~ N(θ, tau²)`` within θ ± 5τ, as metafor).  The test
is exact (the number of significant studies is Poisson-binomial), a binomial test
with p = E/k, or a chi² test (``prop.test``); metafor's default is exact when the
tail it sums has at most 10⁶ terms.  ``theta_lim`` is the θ at which the test's
p-value equals ``tes_alpha`` (the effect below which significance is excessive).

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
    >>> fsn(m).fsn, fsn(m, method="orwin").fsn, fsn(m, method="rosenberg").fsn
    (598.0, 13.0, 370.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.influence import model_parts

FSN_METHODS = ("rosenthal", "orwin", "rosenberg")


@dataclass(frozen=True)
class FsnResult:
    """Fail-safe N with the p-value or mean effect it is based on."""

    method: str
    fsn: float
    alpha: float
    pvalue: float
    mean_effect: float
    target: float
    k: int

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dictionary."""
        return dict(self.__dict__)

    def summary(self) -> str:
        """What the number means, in one paragraph."""
        head = f"Fail-safe N ({self.method.capitalize()}): {self.fsn:g}  (k = {self.k})"
        if self.method == "orwin":
            body = (f"  mean effect {self.mean_effect:.4f}; {self.fsn:g} null studies would "
                    f"bring it to the target {self.target:.4f}")
        else:
            body = (f"  observed p = {self.pvalue:.4g}; {self.fsn:g} null studies would make "
                    f"it {self.alpha:g} or more")
        return head + "\n" + body

    def __repr__(self) -> str:
        return f"FsnResult({self.method}: N={self.fsn:g})"


def _round_fsn(value: float) -> float:
    if math.isinf(value):
        return value
    if abs(value - round(value)) >= math.sqrt(np.finfo(float).eps):
        return float(math.ceil(value))
    return float(round(value))


def fsn(result: Any, method: str = "rosenthal", alpha: float = 0.05,
        target: float | None = None, weighted: bool = False) -> FsnResult:
    """Fail-safe N of a pooled result (metafor's ``fsn``; formulas in the module docstring).

    Args:
        result: a ``MetaResult`` (its study estimates and variances are used).
        method: "rosenthal", "orwin" or "rosenberg".
        alpha: significance level (one-sided for Rosenthal, two-sided for Rosenberg).
        target: Orwin's target effect (default half the mean effect).
        weighted: Orwin with the inverse-variance weighted mean.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
        >>> fsn(m, method="orwin", target=-0.2).fsn
        36.0
    """
    name = str(method).lower()
    if name not in FSN_METHODS:
        raise InputError(f"method={method!r}: use one of {', '.join(FSN_METHODS)}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha={alpha!r} must be between 0 and 1")
    y, v = np.asarray(result.estimates, float), np.asarray(result.variances, float)
    k = len(y)
    nan = float("nan")
    if name == "rosenthal":
        z_avg = abs(float(np.sum(y / np.sqrt(v)))) / math.sqrt(k)
        n = max(0.0, k * (z_avg / stats.norm.isf(alpha)) ** 2 - k)
        return FsnResult("rosenthal", _round_fsn(n), alpha, float(stats.norm.sf(z_avg)), nan,
                         nan, k)
    w = 1.0 / v
    if name == "rosenberg":
        mean = float(np.sum(w * y) / np.sum(w))
        z = mean * math.sqrt(float(np.sum(w)))
        wp = (float(np.sum(w * y)) / stats.norm.isf(alpha / 2)) ** 2 - float(np.sum(w))
        return FsnResult("rosenberg", _round_fsn(max(0.0, k * wp / float(np.sum(w)))), alpha,
                         float(2 * stats.norm.sf(abs(z))), mean, nan, k)
    mean = float(np.sum(w * y) / np.sum(w)) if weighted else float(np.mean(y))
    tgt = mean / 2 if target is None else float(target)
    if tgt == 0:
        n = math.inf
    else:
        if np.sign(tgt) != np.sign(mean):
            tgt = -tgt
        n = max(0.0, k * (mean - tgt) / tgt)
    return FsnResult("orwin", _round_fsn(n), alpha, nan, mean, tgt, k)


# ---------------------------------------------------------------- excess significance
@dataclass(frozen=True, eq=False)
class TesResult:
    """Test of excess significance: observed (O) and expected (E) significant studies.

    ``studies`` has each study's power and whether it was significant; ``statistic``
    is the chi² statistic (NaN for the exact and binomial tests); ``theta_lim`` the
    effect at which the test's p-value equals ``tes_alpha`` (two values for a
    two-sided ``tes_alternative``; NaN where it does not exist).
    """

    k: int
    observed: int
    expected: float
    test: str
    statistic: float
    pvalue: float
    theta: float | np.ndarray
    theta_lim: tuple[float, ...]
    studies: pd.DataFrame
    tes_alternative: str
    tes_alpha: float

    @property
    def ratio(self) -> float:
        """O/E."""
        return self.observed / self.expected

    def to_dict(self) -> dict[str, Any]:
        """The counts, the test and the limit."""
        theta = self.theta if np.ndim(self.theta) == 0 else list(np.asarray(self.theta))
        return {"k": self.k, "observed": self.observed, "expected": self.expected,
                "ratio": self.ratio, "test": self.test, "statistic": self.statistic,
                "pvalue": self.pvalue, "theta": theta, "theta_lim": list(self.theta_lim),
                "tes_alternative": self.tes_alternative, "tes_alpha": self.tes_alpha}

    def summary(self) -> str:
        """The counts, the test and the limit, as metafor's print."""
        lines = ["Test of excess significance",
                 f"  observed significant: {self.observed} of {self.k}; expected "
                 f"{self.expected:.4f} (O/E = {self.ratio:.4f})"]
        stat = "" if np.isnan(self.statistic) else f"X² = {self.statistic:.4f}, "
        lines.append(f"  {self.test} test ({self.tes_alternative}): {stat}p = {self.pvalue:.4g}")
        lims = ", ".join("none" if np.isnan(t) else f"{t:.4f}" for t in self.theta_lim)
        if self.theta_lim:
            lines.append(f"  limit estimate (p = {self.tes_alpha:g}): {lims}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"TesResult(O={self.observed}, E={self.expected:.3f}, p={self.pvalue:.4g})"


def _critical(alternative: str, alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2) if alternative == "two.sided"
                 else stats.norm.isf(alpha) if alternative == "greater"
                 else stats.norm.ppf(alpha))


def _bivariate_normal(h: np.ndarray, k: float, rho: np.ndarray) -> np.ndarray:
    """P(X ≤ h, Y ≤ k) for standard normals with correlation ρ (Owen's T function)."""
    s = np.sqrt(1 - rho * rho)
    with np.errstate(divide="ignore", invalid="ignore"):
        ah = np.where(h == 0, np.copysign(np.inf, k - rho * h), (k - rho * h) / (h * s))
        ak = np.where(k == 0, np.copysign(np.inf, h - rho * k), (h - rho * k) / (k * s))
    beta = np.where((h * k < 0) | ((h * k == 0) & (h + k < 0)), 0.5, 0.0)
    return (0.5 * special.ndtr(h) + 0.5 * special.ndtr(k) - special.owens_t(h, ah)
            - special.owens_t(k, ak) - beta)


def _mean_phi(a: np.ndarray, b: np.ndarray, limit: float) -> np.ndarray:
    """∫ Φ(a + b·u) φ(u) du over |u| ≤ limit, exactly (a bivariate normal probability)."""
    if not np.isfinite(limit):
        return special.ndtr(a / np.sqrt(1 + b * b))
    r = np.sqrt(1 + b * b)
    return (_bivariate_normal(a / r, limit, -b / r)
            - _bivariate_normal(a / r, -limit, -b / r))


def study_power(theta: np.ndarray, se: np.ndarray, tau2: float, H0: float, crit: float,
                alternative: str) -> np.ndarray:
    """Power of each study at true effect ``theta``, averaged over N(theta, tau²) ± 5τ.

    With ``x = theta + τu`` the power is ``Φ(a + b·u)`` (a sum of two such terms for a
    two-sided test), whose average over the standard normal u truncated at ±5 (as
    metafor integrates) is a bivariate normal probability, computed exactly with
    Owen's T function.
    """
    d = (theta - H0) / se
    b = np.full(len(theta), math.sqrt(max(tau2, 0.0))) / se
    limit = 5.0 if tau2 > 0 else np.inf
    if alternative == "two.sided":
        return _mean_phi(d - crit, b, limit) + _mean_phi(-crit - d, -b, limit)
    if alternative == "greater":
        return _mean_phi(d - crit, b, limit)
    return _mean_phi(crit - d, -b, limit)


def poisson_binomial(prob: np.ndarray) -> np.ndarray:
    """P(J = j), j = 0..k, for the number of successes of independent Bernoulli trials."""
    dist = np.array([1.0])
    for p in prob:
        dist = np.convolve(dist, [1 - p, p])
    return dist


def _tail_terms(k: int, observed: int, alternative: str) -> int:
    js = (range(k + 1) if alternative == "two.sided" else range(observed, k + 1)
          if alternative == "greater" else range(observed + 1))
    return sum(math.comb(k, j) for j in js)


def _tes_pvalue(observed: int, power: np.ndarray, test: str, alternative: str,
                correct: bool) -> tuple[float, float]:
    k = len(power)
    expected = float(np.sum(power))
    if test == "chi2":
        p0 = expected / k
        yates = min(0.5, abs(observed - expected)) if correct else 0.0
        x2 = (abs(observed - expected) - yates) ** 2 / (k * p0 * (1 - p0))
        if alternative == "two.sided":
            return x2, float(stats.chi2.sf(x2, 1))
        z = np.sign(observed / k - p0) * math.sqrt(x2)
        return x2, float(stats.norm.sf(z) if alternative == "greater" else stats.norm.cdf(z))
    if test == "binom":
        alt = {"two.sided": "two-sided"}.get(alternative, alternative)
        return float("nan"), float(stats.binomtest(observed, k, expected / k, alt).pvalue)
    prj = poisson_binomial(power)
    if alternative == "greater":
        p = float(np.sum(prj[observed:]))
    elif alternative == "less":
        p = float(np.sum(prj[: observed + 1]))
    else:
        p = float(np.sum(prj[prj <= prj[observed] + math.sqrt(np.finfo(float).eps)]))
    return float("nan"), min(p, 1.0)


def _limit(f: Callable[[float], float], lo: float, hi: float, increasing: bool) -> float:
    """Root of the monotone ``f`` starting from the bracket [lo, hi], widened as needed."""
    width = max(hi - lo, 1e-3)
    for _ in range(60):
        flo, fhi = f(lo), f(hi)
        if flo * fhi <= 0:
            return float(optimize.brentq(f, lo, hi, xtol=1e-13, rtol=1e-13, maxiter=500))
        width *= 2
        if (fhi < 0) == increasing:
            hi += width
        else:
            lo -= width
    return float("nan")


def tes(result: Any, H0: float = 0.0, alternative: str = "two.sided", alpha: float = 0.05,
        test: str | None = None, tes_alternative: str = "greater", tes_alpha: float = 0.10,
        correct: bool = False) -> TesResult:
    """Test of excess significance of a pooled result or meta-regression (metafor's ``tes``).

    Args:
        result: ``MetaResult`` (θ = the pooled effect) or ``MetaRegResult`` (θ_i = the
            fitted values; no limit estimate); tau² is the model's.
        H0, alternative, alpha: the test applied to each study ("two.sided",
            "greater", "less").
        test: "exact", "binom" or "chi2"; None chooses as metafor (module docstring).
        tes_alternative: "greater" (default: more significant studies than expected),
            "less" or "two.sided"; tes_alpha: the level defining ``theta_lim``.
        correct: continuity correction of the chi² test.

    Example:
        >>> import ipdmeta as ipd
        >>> bcg = ipd.datasets.load_bcg()
        >>> t = tes(ipd.pool(bcg, estimate="yi", variance="vi", study="trial"))
        >>> t.observed, round(t.expected, 4), t.test
        (8, 7.8088, 'exact')
    """
    for name, value in (("alternative", alternative), ("tes_alternative", tes_alternative)):
        if value not in ("two.sided", "greater", "less"):
            raise InputError(f"{name}={value!r}: use 'two.sided', 'greater' or 'less'")
    if test is not None and test not in ("exact", "binom", "chi2"):
        raise InputError(f"test={test!r}: use 'exact', 'binom', 'chi2' or None")
    if not (0 < alpha < 1 and 0 < tes_alpha < 1):
        raise InputError("alpha and tes_alpha must be between 0 and 1")
    parts = model_parts(result)
    y, v = parts.y, parts.v
    k = len(y)
    se = np.sqrt(v)
    crit = _critical(alternative, alpha)
    z = (y - H0) / se
    sig = (np.abs(z) >= crit if alternative == "two.sided" else z >= crit
           if alternative == "greater" else z <= crit)
    single = parts.X.shape[1] == 1
    theta_vec = parts.X @ parts.fit.beta
    tau2 = parts.fit.tau2
    power = study_power(theta_vec, se, tau2, H0, crit, alternative)
    observed = int(np.sum(sig))
    if test is None:
        test = "exact" if _tail_terms(k, observed, tes_alternative) <= 10**6 else "chi2"
    x2, pvalue = _tes_pvalue(observed, power, test, tes_alternative, correct)

    def p_minus_alpha(theta: float, alt: str, level: float) -> float:
        pw = study_power(np.full(k, theta), se, tau2, H0, crit, alternative)
        return _tes_pvalue(observed, pw, test, alt, correct)[1] - level

    theta_lim: tuple[float, ...] = ()
    if single:
        theta1 = float(theta_vec[0])
        alts = ([("greater", tes_alpha / 2), ("less", tes_alpha / 2)]
                if tes_alternative == "two.sided" else [(tes_alternative, tes_alpha)])
        lims = []
        for alt, level in alts:
            f = lambda t, a=alt, lv=level: p_minus_alpha(t, a, lv)  # noqa: E731
            at_h0 = f(H0)
            if (alt == "greater" and at_h0 >= 0) or (alt == "less" and at_h0 <= 0):
                lims.append(float("nan"))
                continue
            lo, hi = sorted((H0, theta1))
            # "greater": p rises as theta moves away from H0 (more power expected)
            increasing = (alt == "greater") == (theta1 >= H0)
            lims.append(_limit(f, lo, hi, increasing))
        theta_lim = tuple(lims)
    studies = pd.DataFrame({"study": parts.labels, "power": power, "significant": sig})
    return TesResult(k=k, observed=observed, expected=float(np.sum(power)), test=test,
                     statistic=x2, pvalue=pvalue,
                     theta=float(theta_vec[0]) if single else theta_vec,
                     theta_lim=theta_lim, studies=studies, tes_alternative=tes_alternative,
                     tes_alpha=tes_alpha)
