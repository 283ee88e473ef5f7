"""Site-level (federated) stage 1: fit locally, share only aggregate rows.

When participant data cannot leave a site, each site runs stage 1 on its own trials
and writes a ``.ipdmeta.json`` file holding only per-study results (estimate, se,
CI, counts), the model specification, its hash, the package version and what the
disclosure checks withheld. The coordinating centre reads the files with
``read_site_results()``, which refuses files whose model specifications differ or
whose content was changed after writing, and pools them like any stage-1 result.

Disclosure control (on by default) applies to every row, whatever its status:

* a study with fewer than ``min_participants`` participants is withheld;
* every count the file would hold is a *cell* that must reach ``min_events``: the
  study's events and, for a 0/1 outcome (logistic, Cox), its participants without
  the event; with ``export_counts=True`` also each arm's participants, events and
  (0/1 outcomes) non-events.  A study with a smaller cell is withheld;
* ``n_dropped`` (rows dropped for missing values) is written only when it is 0 or
  at least ``min_events``;
* a withheld study stays as a row with status ``withheld``, the generic reason and
  no numbers;
* ``reason`` is never the stage-1 text (which can quote counts or covariate
  values): it is a fixed sentence per status (:data:`SHARED_REASONS`).

Participant rows, residuals, fitted values, covariance matrices and the stage-1
reasons are never written. The content hash detects edits and corruption; it is
not a signature (anyone able to edit the file can recompute it): exchange the
files over a channel you trust.

Example:
    >>> rules = DisclosureRules(min_participants=20)
    >>> rules.min_events, rules.export_counts
    (3, True)
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta._version import __version__
from ipdmeta.errors import InputError
from ipdmeta.io.labels import RULE, study_key
from ipdmeta.io.output import output_path
from ipdmeta.io.site_files import load_site_file, records, seal, write_site_file
from ipdmeta.stage1.run import STATUS_CODES, stage1
from ipdmeta.stage1.table import AggregateData

SPEC_KEYS = ("formula", "model", "poolvar", "ties", "firth", "interaction", "level", "measure")
OPTION_KEYS = ("center", "strata", "exposure", "offset", "outcome", "time", "event",
               "covariates")
SHARED_COLUMNS = ("study", "estimate", "se", "ci_low", "ci_high", "n", "events", "n_dropped",
                  "status", "reason")
ARM_COLUMNS = ("n_0", "n_1", "events_0", "events_1")


@dataclass(frozen=True)
class DisclosureRules:
    """What a site may export: minimum participants and events per arm."""

    min_participants: int = 10
    min_events: int = 3
    export_counts: bool = True


def model_spec(ad: AggregateData, options: dict[str, Any]) -> dict[str, Any]:
    """The model specification that every site must share (formula normalised)."""
    meta = ad.metadata()
    spec = {k: meta.get(k) for k in SPEC_KEYS}
    if spec["formula"]:
        spec["formula"] = re.sub(r"\s+", "", str(spec["formula"]))
    for key in OPTION_KEYS:
        if options.get(key) is not None:
            value = options[key]
            spec[key] = list(value) if isinstance(value, list | tuple) else value
    spec["contrasts"] = "treatment"
    return spec


#: the reason written to a site file for a row of each status (no data in it)
SHARED_REASONS = {**STATUS_CODES, "withheld": "withheld by disclosure control"}
#: the reason of an ok row whose model dropped nuisance terms (the terms are not named)
DROPPED_TERMS = "some covariates were dropped from this study's model (constant or collinear)"
#: families whose outcome is 0/1 per participant: non-events are cells too
BINARY_OUTCOMES = ("logistic", "cox")


def small_cells(row: pd.Series, rules: DisclosureRules, model: str | None) -> str | None:
    """Which disclosure rule ``row`` breaks (in words without numbers), or None.

    Example:
        >>> small_cells(pd.Series({"n": 40, "events": 2}), DisclosureRules(), "cox")
        'an event count is below min_events'
    """
    def value(c: str) -> float | None:
        v = row.get(c)
        return None if v is None or pd.isna(v) else float(v)

    n = value("n")
    if n is not None and n < rules.min_participants:
        return "fewer participants than min_participants"
    arms = ("_0", "_1") if rules.export_counts else ()
    cells = [("events", "n")] + [(f"events{a}", f"n{a}") for a in arms]
    binary = model in BINARY_OUTCOMES
    for events_col, n_col in cells:
        events, total = value(events_col), value(n_col)
        if events is not None and events < rules.min_events:
            return "an event count is below min_events"
        if binary and events is not None and total is not None \
                and total - events < rules.min_events:
            return "a count of participants without the event is below min_events"
    if any((v := value(f"n{a}")) is not None and v < rules.min_events for a in arms):
        return "an arm has fewer participants than min_events"
    return None


def shared_reason(status: str, reason: str) -> str:
    """The non-disclosive reason of a row: a fixed sentence per status.

    Example:
        >>> shared_reason("separation", "age >= 50.2 in every participant with the event")
        'complete or quasi-complete separation / monotone likelihood (infinite estimate)'
        >>> shared_reason("ok", "not in this study's model: 'smk' (the same for every ...)")
        "some covariates were dropped from this study's model (constant or collinear)"
    """
    if status == "ok":
        return DROPPED_TERMS if reason else ""
    return SHARED_REASONS.get(status, "not estimable")


def apply_disclosure(frame: pd.DataFrame, rules: DisclosureRules, model: str | None = None
                     ) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Rows safe to share, and the studies withheld with the (generic) reason.

    Every row is checked whatever its status (:func:`small_cells`); withheld
    studies stay in the table as rows with status "withheld" and no numbers, so the
    pooled analysis can say they exist.  Reasons become :func:`shared_reason`.
    """
    frame = frame.copy()
    withheld: list[dict[str, str]] = []
    numbers = [c for c in frame.columns if c in (*SHARED_COLUMNS, *ARM_COLUMNS)
               and c not in ("study", "status", "reason")]
    frame[numbers] = frame[numbers].astype(object)
    reasons = []
    for i, row in frame.iterrows():
        rule = small_cells(row, rules, model)
        if rule is not None:
            withheld.append({"study": str(row["study"]),
                             "reason": f"{SHARED_REASONS['withheld']}: {rule}"})
            frame.loc[i, numbers] = None
            frame.at[i, "status"] = "withheld"
            reasons.append(withheld[-1]["reason"])
            continue
        dropped = row.get("n_dropped")
        if dropped is not None and pd.notna(dropped) and 0 < dropped < rules.min_events:
            frame.at[i, "n_dropped"] = None
        reasons.append(shared_reason(str(row["status"]), str(row.get("reason") or "")))
    frame["reason"] = reasons
    if not rules.export_counts:
        frame = frame.drop(columns=[c for c in ARM_COLUMNS if c in frame.columns])
    return frame, withheld


def _shareable(frame: pd.DataFrame, keep: tuple[str, ...]) -> pd.DataFrame:
    cols = [c for c in (*SHARED_COLUMNS, *ARM_COLUMNS, *keep) if c in frame.columns]
    return frame[cols]


def site_stage1(data: Any, *, site: str, out: str | Path | None = None,
                rules: DisclosureRules | None = None, overwrite: bool = True,
                **options: Any) -> dict[str, Any]:
    """Run stage 1 at a site and return (and write to ``out``) the shareable payload.

    ``options`` are those of ``ipd.stage1`` (study=, formula=, model=, poolvar=, ...).
    ``out`` is never the participant data's own file; an existing ``out`` is replaced
    only with ``overwrite=True`` (the default).
    """
    rules = rules or DisclosureRules()
    if out is not None:
        out = output_path(out, inputs=[getattr(data, "attrs", {}).get("source")],
                          overwrite=overwrite, what="site file")
    ad = stage1(data, **options)
    frame, withheld = apply_disclosure(_shareable(ad.to_frame(), ad.keep), rules, ad.model)
    payload = seal({"site": site, "ipdmeta_version": __version__,
                    "created": datetime.now(UTC).isoformat(timespec="seconds"),
                    "spec": model_spec(ad, options), "disclosure": asdict(rules),
                    "withheld": withheld, "keep": list(ad.keep), "studies": records(frame)})
    if out is not None:
        write_site_file(payload, out)
    return payload


def read_site_results(paths: list[str | Path] | str | Path) -> AggregateData:
    """Read site files, check they share one model specification, and stack them.

    Example:
        >>> read_site_results([])
        Traceback (most recent call last):
        ...
        ipdmeta.errors.InputError: no site files given
    """
    paths = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    if not paths:
        raise InputError("no site files given")
    payloads = [load_site_file(Path(p)) for p in paths]
    first = payloads[0]
    for path, p in zip(paths[1:], payloads[1:], strict=True):
        if p["spec_hash"] != first["spec_hash"]:
            diff = sorted(k for k in set(first["spec"]) | set(p["spec"])
                          if first["spec"].get(k) != p["spec"].get(k))
            detail = "; ".join(f"{k}: {first['spec'].get(k)!r} vs {p['spec'].get(k)!r}"
                               for k in diff)
            raise InputError(f"{path} (site {p['site']!r}) used a different model "
                             f"specification from {paths[0]} (site {first['site']!r}): "
                             f"{detail}")
    frames = [pd.DataFrame(p["studies"]).assign(site=p["site"]) for p in payloads]
    table = pd.concat(frames, ignore_index=True)
    seen: dict[str, tuple[Any, Any]] = {}
    for label, site in zip(table["study"], table["site"], strict=True):
        key = study_key(label)
        if key in seen:
            raise InputError(f"study {seen[key][0]!r} (site {seen[key][1]!r}) and study "
                             f"{label!r} (site {site!r}) are the same study ({RULE}); each "
                             "study must come from one site file: remove it from one of them")
        seen[key] = (label, site)
    spec = first["spec"]
    return AggregateData(table, measure=spec.get("measure"), model=spec.get("model"),
                         formula=spec.get("formula"), poolvar=spec.get("poolvar"),
                         ties=spec.get("ties"), level=spec.get("level") or 0.95,
                         firth=bool(spec.get("firth")),
                         interaction=spec.get("interaction"),
                         keep=tuple(first.get("keep", [])))
