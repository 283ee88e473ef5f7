"""The options of stage 2: the pooling method, interval, level, prediction interval.

:func:`make_spec` validates the user's arguments once and returns a frozen
:class:`PoolSpec`; every pooling and meta-regression function takes a spec.

Example:
    >>> make_spec("fe", "KNHA", 95)
    PoolSpec(method='common', ci='hksj', level=0.95, pi='hts', tau2_ci='qp')
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from numbers import Real

from ipdmeta.errors import InputError
from ipdmeta.pooling.inference import CI_METHODS, PI_METHODS
from ipdmeta.pooling.tau2 import ESTIMATORS

COMMON_ALIASES = {"COMMON", "FE", "EE", "IV", "CE", "FIXED"}
METHODS = ("common", *ESTIMATORS)
REG_METHODS = ("common", "DL", "REML", "ML", "PM", "PMM", "EB", "HE", "SJ", "HS")
REG_CIS = ("z", "t", "hksj", "hksj-trunc")


@dataclass(frozen=True)
class PoolSpec:
    """The options of a pooling: tau² method, interval method, level, PI and tau² CI."""

    method: str = "REML"
    ci: str = "z"
    level: float = 0.95
    pi: str = "hts"
    tau2_ci: str = "qp"

    @property
    def is_common(self) -> bool:
        """True for the common-effect models: inverse variance ("common"), Mantel-Haenszel
        ("MH") and Peto ("peto", both from 2x2 tables)."""
        return self.method in ("common", "MH", "peto")


def normalise_method(method: str) -> str:
    """Canonical method name ("common", "DL", "REML", ...) or a clear error."""
    name = str(method).strip().upper()
    if name in COMMON_ALIASES:
        return "common"
    if name == "RANDOM":
        return "DL"
    if name not in ESTIMATORS:
        raise InputError(f"method={method!r} is not known; use one of {', '.join(METHODS)} "
                         "(or 'FE'/'EE'/'IV' for the common-effect model)")
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
              tau2_ci: str = "qp") -> PoolSpec:
    """Validated ``PoolSpec`` from user arguments."""
    ci_name = str(ci).strip().lower().replace("_", "-")
    ci_name = {"knha": "hksj", "kh": "hksj", "adhoc": "hksj-trunc", "wald": "z"}.get(
        ci_name, ci_name)
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
    return PoolSpec(method_name, ci_name, normalise_level(level), pi_name, tau2_ci_name)


def common_spec(spec: PoolSpec) -> PoolSpec:
    """The common-effect companion of ``spec`` (z interval unless t was asked for)."""
    return replace(spec, method="common", ci="t" if spec.ci == "t" else "z", tau2_ci="qp")


def regression_spec(method: str = "REML", ci: str = "hksj", level: float = 0.95) -> PoolSpec:
    """Validated options for a meta-regression (``ci="pl"`` and GENQ are not offered)."""
    spec = make_spec(method, ci, level)
    if spec.method not in REG_METHODS:
        raise InputError(f"method={method!r} is not available for meta-regression; use one of "
                         f"{', '.join(REG_METHODS)}")
    if spec.ci not in REG_CIS:
        raise InputError(f"ci={ci!r} is not available for meta-regression; use one of "
                         f"{', '.join(REG_CIS)}")
    return spec
