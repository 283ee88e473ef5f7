"""The options of stage 2: the pooling method, interval, level, prediction interval.

:func:`make_spec` validates the user's arguments once and returns a frozen
:class:`PoolSpec`; every pooling and meta-regression function takes a spec.

Methods are the common-effect model, a tau² estimator (those of
:mod:`ipdmeta.pooling.tau2` and :mod:`ipdmeta.pooling.tau2_extra`, including the
two-step estimators with a first step, ``"SJ2S-REML"``, ``"DK2S-DL"``), or one of the
alternative models (``ALTERNATIVE_METHODS``): multiplicative heterogeneity, IVhet,
Biggerstaff-Tweedie, and the robust t and normal-mixture models.

Example:
    >>> make_spec("fe", "KNHA", 95)
    PoolSpec(method='common', ci='hksj', level=0.95, pi='hts', tau2_ci='qp', pi_level=None, \
I2='tau2', reps=1000, seed=None)
    >>> make_spec("sj2s-reml").method, make_spec("t").ci
    ('SJ2S-REML', 'pl')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from numbers import Real

from ipdmeta.errors import InputError
from ipdmeta.pooling.inference import CI_METHODS, PI_METHODS
from ipdmeta.pooling.tau2 import ESTIMATORS
from ipdmeta.pooling.tau2_extra import EXTRA_METHODS, TWO_STEP

COMMON_ALIASES = {"COMMON", "FE", "EE", "IV", "CE", "FIXED"}
#: models with their own estimate and variance (not inverse-variance weights 1/(v + tau²))
ALTERNATIVE_METHODS = ("mult", "IVhet", "BT", "t", "mixture")
_ALIASES = {"RANDOM": "DL", "MU": "mult", "MULT": "mult", "IVHET": "IVhet", "BT": "BT",
            "BTWEEDIE": "BT", "T": "t", "T-DIST": "t", "TDIST": "t", "MIXTURE": "mixture",
            "MIX": "mixture", "DLB": "BDL", "HMAKAMBI": "HM", "MP": "PM", "MPAULE": "PM"}
METHODS = ("common", *ESTIMATORS, *EXTRA_METHODS, *ALTERNATIVE_METHODS)
REG_METHODS = ("common", "DL", "REML", "ML", "PM", "PMM", "EB", "HE", "SJ", "HS", "HM",
               "DK2S", "SJ2S", "t", "mixture")
REG_CIS = ("z", "t", "hksj", "hksj-trunc", "hksj-zovert")
I2_CONVENTIONS = ("tau2", "q")
#: keyword-only options of make_spec (and of pool() beyond the positional ones)
SPEC_OPTIONS = ("pi_level", "I2", "reps", "seed")


@dataclass(frozen=True)
class PoolSpec:
    """The options of a pooling: tau² method, interval method, level, PI and tau² CI."""

    method: str = "REML"
    ci: str = "z"
    level: float = 0.95
    pi: str = "hts"
    tau2_ci: str = "qp"
    pi_level: float | None = None
    I2: str = "tau2"
    reps: int = 1000
    seed: int | None = None

    @property
    def is_common(self) -> bool:
        """True for the common-effect models: inverse variance ("common"), Mantel-Haenszel
        ("MH") and Peto ("peto", both from 2x2 tables)."""
        return self.method in ("common", "MH", "peto")

    @property
    def is_alternative(self) -> bool:
        """True for a model with its own estimate and variance (mult, IVhet, BT, t, mixture,
        or the Henmi-Copas interval)."""
        return self.method in ALTERNATIVE_METHODS or self.ci == "hc"

    @property
    def prediction_level(self) -> float:
        """Level of the prediction interval (``pi_level``, else ``level``)."""
        return self.level if self.pi_level is None else self.pi_level


def normalise_method(method: str) -> str:
    """Canonical method name ("common", "DL", "REML", ...) or a clear error."""
    name = str(method).strip().upper().replace("_", "-")
    if name in COMMON_ALIASES:
        return "common"
    name = _ALIASES.get(name, name)
    base, _, init = name.partition("-")
    if init and base in TWO_STEP:
        first = _ALIASES.get(init, init)
        allowed = ("HE", "DL") if base == "DK2S" else tuple(ESTIMATORS)
        if first not in allowed:
            raise InputError(f"method={method!r}: the first step of {base} must be one of "
                             f"{', '.join(allowed)}")
        return f"{base}-{first}"
    if name not in METHODS:
        raise InputError(f"method={method!r} is not known; use one of {', '.join(METHODS)} "
                         "(or 'FE'/'EE'/'IV' for the common-effect model; 'SJ2S-<method>' or "
                         "'DK2S-DL' for a two-step estimator with another first step)")
    return name


def normalise_level(level: float) -> float:
    """The confidence level as a fraction, by one explicit rule.

    A fraction ``0.10 <= level < 1`` is used as given (0.95); a percent
    ``10 <= level < 100`` is divided by 100 (95 -> 0.95, the range of Stata's
    ``level()``).  Everything else is refused with an
    :class:`~ipdmeta.errors.InputError`: non-numbers, NaN, 0, negatives, 1 and 100
    or more, values between 1 and 10 (1.5 could be 1.5 % or a mistyped 0.15) and
    fractions below 0.10 (0.05 is usually the significance level, not the confidence
    level).

    Example:
        >>> normalise_level(95), normalise_level(0.9), normalise_level(99.5)
        (0.95, 0.9, 0.995)
        >>> normalise_level(1.5)
        Traceback (most recent call last):
        ...
        ipdmeta.errors.InputError: level=1.5 is ambiguous: give a fraction (0.95) or a percent (95)
    """
    if isinstance(level, bool) or not isinstance(level, Real):
        raise InputError(f"level={level!r} is not a number: give the confidence level as a "
                         "fraction (0.95) or a percent (95)")
    value = float(level)
    if 0.1 <= value < 1:
        return value
    if 10 <= value < 100:
        return value / 100
    if 0 < value < 0.1:
        raise InputError(f"level={level!r} is below 10 %: give the confidence level, not the "
                         f"significance level (for alpha = {value:g}, level={1 - value:g})")
    if 1 < value < 10:
        raise InputError(f"level={level!r} is ambiguous: give a fraction (0.95) or a percent "
                         "(95)")
    raise InputError(f"level={level!r} is not a confidence level: give a fraction between "
                     "0.10 and 1 (e.g. 0.95) or a percent between 10 and 100 (e.g. 95)")


def make_spec(method: str = "REML", ci: str = "z", level: float = 0.95, pi: str = "hts",
              tau2_ci: str = "qp", *, pi_level: float | None = None, I2: str = "tau2",
              reps: int = 1000, seed: int | None = None) -> PoolSpec:
    """Validated ``PoolSpec`` from user arguments (see :func:`ipdmeta.pool`)."""
    ci_name = str(ci).strip().lower().replace("_", "-")
    ci_name = {"knha": "hksj", "kh": "hksj", "adhoc": "hksj-trunc", "wald": "z",
               "kroger": "kr", "zovert": "hksj-zovert", "bartlett": "pl-bartlett",
               "skovgaard": "pl-skovgaard", "hcopas": "hc"}.get(ci_name, ci_name)
    if ci_name not in CI_METHODS:
        raise InputError(f"ci={ci!r} is not known; use one of {', '.join(CI_METHODS)}")
    pi_name = str(pi).strip().lower()
    if pi_name not in PI_METHODS:
        raise InputError(f"pi={pi!r} is not known; use one of {', '.join(PI_METHODS)}")
    tau2_ci_name = str(tau2_ci).strip().lower()
    method_name = normalise_method(method)
    if tau2_ci_name not in ("qp", "pl"):
        raise InputError(f"tau2_ci={tau2_ci!r} is not known; use 'qp' or 'pl'")
    if tau2_ci_name == "pl" and method_name not in ("ML", "REML"):
        raise InputError("tau2_ci='pl' (likelihood interval) needs method='ML' or 'REML'")
    ci_name = _check_ci(method_name, ci_name)
    if pi_name == "kr" and ci_name == "hc":
        raise InputError("pi='kr' (Kenward-Roger prediction interval) does not go with "
                         "ci='hc' (Henmi-Copas has its own variance); use pi='hts'")
    if pi_name == "kr" and (method_name == "common" or method_name in ALTERNATIVE_METHODS):
        raise InputError(f"pi='kr' (Kenward-Roger prediction interval) needs a tau² estimator "
                         f"such as method='REML', not method={method!r}")
    i2 = str(I2).strip().lower()
    if i2 not in I2_CONVENTIONS:
        raise InputError(f"I2={I2!r} is not known; use 'tau2' (from tau², as metafor) or 'q' "
                         "(from Cochran's Q, as Stata's metan)")
    if int(reps) != reps or reps < 2:
        raise InputError(f"reps={reps!r} must be a whole number of at least 2")
    return PoolSpec(method_name, ci_name, normalise_level(level), pi_name, tau2_ci_name,
                    None if pi_level is None else normalise_level(pi_level), i2, int(reps),
                    None if seed is None else int(seed))


def _check_ci(method: str, ci: str) -> str:
    """The interval method that goes with ``method`` (robust models: profile likelihood)."""
    if method in ("t", "mixture"):
        if ci not in ("z", "pl"):
            raise InputError(f"method={method!r} gives profile-likelihood intervals (as "
                             f"metaplus); ci={ci!r} cannot be combined with it (leave ci out)")
        return "pl"
    if method in ALTERNATIVE_METHODS and ci not in ("z", "t"):
        raise InputError(f"method={method!r} has its own variance; use ci='z' (default) or "
                         f"'t', not {ci!r}")
    if ci in ("kr", "kr-oim", "hc") and method == "common":
        raise InputError(f"ci={ci!r} is an interval for a random-effects mean; give a "
                         "tau² method (Kenward-Roger: method='REML')")
    return ci


def common_spec(spec: PoolSpec) -> PoolSpec:
    """The common-effect companion of ``spec`` (z interval unless t was asked for)."""
    return replace(spec, method="common", ci="t" if spec.ci == "t" else "z", tau2_ci="qp")


def regression_spec(method: str = "REML", ci: str = "hksj", level: float = 0.95) -> PoolSpec:
    """Validated options for a meta-regression (``ci="pl"`` and GENQ are not offered).

    The robust models (``"t"``, ``"mixture"``) always give profile-likelihood intervals;
    with them ``ci`` may be left at its default.
    """
    if normalise_method(method) in ("t", "mixture") and str(ci).lower() in ("hksj", "z", "pl"):
        ci = "pl"
    spec = make_spec(method, ci, level)
    if spec.method.partition("-")[0] not in REG_METHODS:
        raise InputError(f"method={method!r} is not available for meta-regression; use one of "
                         f"{', '.join(REG_METHODS)}")
    if spec.ci not in REG_CIS and spec.method not in ("t", "mixture"):
        raise InputError(f"ci={ci!r} is not available for meta-regression; use one of "
                         f"{', '.join(REG_CIS)}")
    return spec
