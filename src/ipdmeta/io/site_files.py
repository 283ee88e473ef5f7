"""Site files (``.ipdmeta.json``) of federated stage 1: writing, reading, checking.

A site file is a JSON document with the format tag, the site's name, the package
version, the model specification and its hash, the disclosure rules, the studies
withheld, the shareable per-study rows and a content hash over all of these.
:func:`load_site_file` refuses a file that is not a site file or whose content
no longer matches its hashes (edited or corrupted after the site wrote it).  The
hash detects edits; it is not a signature.

Example:
    >>> digest({"a": 1}) == digest({"a": 1}), len(digest({"a": 1}))
    (True, 64)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError

FORMAT = "ipdmeta-site/1"
#: the parts of a site file that its content hash covers
HASHED = ("spec", "studies", "withheld", "site", "keep")


def _canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=True, default=str)


def digest(obj: Any) -> str:
    """SHA-256 of the canonical JSON text of ``obj`` (sorted keys, no spaces)."""
    return hashlib.sha256(_canonical(obj).encode()).hexdigest()


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts with exact floats (repr round-trips) and None for NA."""
    def plain(x: Any) -> Any:
        if x is None or (isinstance(x, float | np.floating) and np.isnan(x)) or x is pd.NA:
            return None
        return x.item() if isinstance(x, np.generic) else x
    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def seal(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with its ``format``, ``spec_hash`` and ``content_hash`` filled in."""
    payload = {"format": FORMAT, **payload, "spec_hash": digest(payload["spec"])}
    payload["content_hash"] = digest({k: payload[k] for k in HASHED})
    return payload


def write_site_file(payload: dict[str, Any], path: str | Path) -> Path:
    """Write a sealed payload to ``path`` (JSON, one key per line)."""
    path = Path(path)
    path.write_text(json.dumps(payload, indent=1))
    return path


def load_site_file(path: Path) -> dict[str, Any]:
    """The payload of a site file, after checking its format and both hashes."""
    try:
        payload = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a readable site file ({err})") from err
    if payload.get("format") != FORMAT:
        raise InputError(f"{path}: not an ipdmeta site file (format {payload.get('format')!r})")
    expected = digest({k: payload.get(k) for k in HASHED})
    if payload.get("content_hash") != expected:
        raise InputError(f"{path}: the content does not match its hash: the file was changed "
                         "after the site wrote it; ask the site for a fresh copy")
    if payload.get("spec_hash") != digest(payload.get("spec")):
        raise InputError(f"{path}: the model specification does not match its hash")
    return payload
