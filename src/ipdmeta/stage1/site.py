"""Site-level (federated) stage 1: fit locally, share only aggregate rows.

When participant data cannot leave a site, each site runs stage 1 on its own trials
and writes a ``.ipdmeta.json`` file holding only per-study results (estimate, se,
CI, counts), the model specification, its hash, the package version and what the
disclosure checks withheld. The coordinating centre reads the files with
``read_site_results()``, which refuses files whose model specifications differ or
whose content was changed after writing, and pools them like any stage-1 result.

Disclosure control (on by default): a study with fewer than ``min_participants``
participants is withheld; when per-arm counts are exported, a study with fewer than
``min_events`` events in any arm is withheld (``export_counts=False`` drops the
per-arm counts instead, and the rule on events no longer applies). Participant rows,
residuals, fitted values and covariance matrices are never written.

The content hash detects edits and corruption; it is not a signature (anyone able
to edit the file can recompute it): exchange the files over a channel you trust.

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

import numpy as np
import pandas as pd

from ipdmeta._version import __version__
from ipdmeta.errors import InputError
from ipdmeta.io.site_files import load_site_file, records, seal, write_site_file
from ipdmeta.stage1.run import stage1
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


def apply_disclosure(frame: pd.DataFrame, rules: DisclosureRules
                     ) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Rows safe to share, and the studies withheld with the reason.

    Withheld studies stay in the table as rows with status "withheld" and no
    numbers, so the pooled analysis can say they exist.
    """
    frame = frame.copy()
    withheld: list[dict[str, str]] = []
    arm_cols = [c for c in ("events_0", "events_1") if c in frame.columns]
    for i, row in frame.iterrows():
        reason = None
        if pd.notna(row.get("n")) and row["n"] < rules.min_participants:
            reason = (f"withheld: {int(row['n'])} participants, fewer than the disclosure "
                      f"minimum of {rules.min_participants}")
        elif rules.export_counts and arm_cols and row["status"] == "ok":
            low = [c for c in arm_cols if pd.notna(row[c]) and row[c] < rules.min_events]
            if low:
                reason = (f"withheld: fewer than {rules.min_events} events in an arm "
                          f"({', '.join(f'{c} = {int(row[c])}' for c in low)})")
        if reason:
            withheld.append({"study": str(row["study"]), "reason": reason})
            for c in frame.columns:
                if c not in ("study", "status", "reason") and c in (*SHARED_COLUMNS,
                                                                    *ARM_COLUMNS):
                    frame.at[i, c] = np.nan
            frame.at[i, "status"], frame.at[i, "reason"] = "withheld", reason
    if not rules.export_counts:
        frame = frame.drop(columns=[c for c in ARM_COLUMNS if c in frame.columns])
    return frame, withheld


def _shareable(frame: pd.DataFrame, keep: tuple[str, ...]) -> pd.DataFrame:
    cols = [c for c in (*SHARED_COLUMNS, *ARM_COLUMNS, *keep) if c in frame.columns]
    return frame[cols]


def site_stage1(data: Any, *, site: str, out: str | Path | None = None,
                rules: DisclosureRules | None = None, **options: Any) -> dict[str, Any]:
    """Run stage 1 at a site and return (and write to ``out``) the shareable payload.

    ``options`` are those of ``ipd.stage1`` (study=, formula=, model=, poolvar=, ...).
    """
    rules = rules or DisclosureRules()
    ad = stage1(data, **options)
    frame, withheld = apply_disclosure(_shareable(ad.to_frame(), ad.keep), rules)
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
    payloads = [load_site_file(p) for p in paths]
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
    dup = table["study"][table["study"].duplicated()].unique().tolist()
    if dup:
        raise InputError(f"study label(s) {dup} appear in more than one site file")
    spec = first["spec"]
    return AggregateData(table, measure=spec.get("measure"), model=spec.get("model"),
                         formula=spec.get("formula"), poolvar=spec.get("poolvar"),
                         ties=spec.get("ties"), level=spec.get("level") or 0.95,
                         firth=bool(spec.get("firth")),
                         interaction=spec.get("interaction"),
                         keep=tuple(first.get("keep", [])))
