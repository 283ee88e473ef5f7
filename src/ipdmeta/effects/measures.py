"""The effect measures ``effect_sizes()`` knows: names, aliases, input family and defaults.

Example:
    >>> normalise_measure("cohen"), MEASURES["PFT"].family, MEASURES["PFT"].default_add
    ('SMD_cohen', 'proportion', 0.0)
"""

from __future__ import annotations

from dataclasses import dataclass

from ipdmeta.errors import InputError


@dataclass(frozen=True)
class Measure:
    """One effect measure: what it needs (``family``), what it is, its default correction."""

    name: str
    family: str
    label: str
    default_add: float = 0.5


#: inputs of each family (argument names of ``effect_sizes``; "pair" = (treatment, control))
FAMILY_INPUTS: dict[str, dict[str, str]] = {
    "two_by_two": {"events": "pair", "n": "pair", "nonevents": "pair"},
    "means": {"means": "pair", "sds": "pair", "n": "pair"},
    "proportion": {"events": "one", "n": "one", "nonevents": "one"},
    "rate": {"events": "one", "time": "one"},
    "rate_ratio": {"events": "pair", "time": "pair"},
    "correlation": {"cor": "one", "n": "one"},
}

MEASURES: dict[str, Measure] = {m.name: m for m in (
    Measure("OR", "two_by_two", "log odds ratio"),
    Measure("RR", "two_by_two", "log risk ratio"),
    Measure("RD", "two_by_two", "risk difference"),
    Measure("PETO", "two_by_two", "Peto log odds ratio"),
    Measure("MD", "means", "mean difference"),
    Measure("SMD", "means", "standardised mean difference (Hedges' g)"),
    Measure("SMD_cohen", "means", "standardised mean difference (Cohen's d)"),
    Measure("SMD_metan", "means", "standardised mean difference (metan's Hedges' g)"),
    Measure("GLASS", "means", "Glass's delta"),
    Measure("ROM", "means", "log ratio of means"),
    Measure("PR", "proportion", "proportion"),
    Measure("PLO", "proportion", "logit proportion"),
    Measure("PAS", "proportion", "arcsine square-root proportion", default_add=0.0),
    Measure("PFT", "proportion", "Freeman-Tukey double arcsine proportion", default_add=0.0),
    Measure("IR", "rate", "incidence rate"),
    Measure("IRLN", "rate", "log incidence rate"),
    Measure("IRR", "rate_ratio", "log incidence rate ratio"),
    Measure("COR", "correlation", "correlation"),
    Measure("ZCOR", "correlation", "Fisher's z of the correlation"),
)}

ALIASES: dict[str, str] = {
    "COHEN": "SMD_cohen", "COHEND": "SMD_cohen", "SMD_COHEN": "SMD_cohen",
    "HEDGES": "SMD", "HEDGESG": "SMD", "SMD_METAN": "SMD_metan",
    "GLASSD": "GLASS", "WMD": "MD", "NOSTANDARD": "MD", "LOGOR": "OR", "LOGRR": "RR",
}


def normalise_measure(measure: str) -> str:
    """Canonical measure name (case-insensitive, with aliases) or a clear error."""
    key = str(measure).strip().upper()
    if key in ALIASES:
        return ALIASES[key]
    if key in MEASURES:
        return key
    raise InputError(f"measure={measure!r} is not known; use one of "
                     f"{', '.join(MEASURES)} (aliases: {', '.join(sorted(ALIASES))})")
