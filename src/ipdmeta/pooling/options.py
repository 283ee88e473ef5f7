"""The options of stage 2: the pooling method, interval, level, prediction interval.

:func:`make_spec` validates the user's arguments once and returns a frozen
:class:`PoolSpec`; every pooling and meta-regression function takes a spec.

Example:
    >>> make_spec("fe", "KNHA", 95)
    PoolSpec(method='common', ci='hksj', level=0.95, pi='hts', tau2_ci='qp')
"""

from __future__ import annotations

from dataclasses import dataclass, replace

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
        """True for the common-effect (fixed-effect, inverse-variance) model."""
        return self.method == "common"


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
    """Confidence level as a fraction; 95 is read as 0.95."""
    level = float(level)
    if 1 < level < 100:
        level /= 100
    if not 0 < level < 1:
        raise InputError(f"level={level!r} must be between 0 and 1 (e.g. 0.95) or a percent")
    return level


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
