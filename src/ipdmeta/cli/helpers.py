"""Helpers of the ``ipdmeta`` command: reading the files and columns a command names,
checking the files it will write, turning options into keyword arguments, printing.

Example:
    >>> jsonable({"a": float("nan"), "b": (1.5, 2)})
    {'a': None, 'b': [1.5, 2]}
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import IpdMetaError
from ipdmeta.io.output import output_path, same_file


class UsageError(Exception):
    """The command line asks for something that does not exist (file, column, option)."""


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: NaN and infinities -> None, numpy -> Python, frames
    -> lists of records, tuples -> lists.

    Example:
        >>> jsonable({"a": float("nan"), "b": np.int64(2), "c": (1.5, np.inf)})
        {'a': None, 'b': 2, 'c': [1.5, None]}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set):
        return [jsonable(v) for v in obj]
    if isinstance(obj, pd.DataFrame):
        return jsonable(obj.to_dict(orient="records"))
    if isinstance(obj, pd.Series | np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, bool | int | str):
        return obj
    if isinstance(obj, Path | pd.Timestamp):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return jsonable(obj.to_dict())
    return str(obj)


def dumps(obj: Any) -> str:
    """Strict JSON text of ``obj`` (via :func:`jsonable`)."""
    return json.dumps(jsonable(obj), indent=2, allow_nan=False, ensure_ascii=False)


def result_dict(result: Any) -> dict[str, Any]:
    """A result object as a dictionary (``to_dict()``; both stages for ``ipdmeta()``)."""
    if hasattr(result, "aggregate") and hasattr(result, "meta"):
        if hasattr(result, "to_dict"):
            return result.to_dict()
        ad = result.aggregate
        out = {"stage1": {**ad.metadata(), "studies": ad.to_frame()},
               "stage2": result.meta.to_dict()}
        if getattr(result, "one_stage", None) is not None:
            out["one_stage"] = result.one_stage.to_dict()
            out["comparison"] = result.comparison.to_frame()
        return out
    return result.to_dict()


def one_stage_kwargs(args: argparse.Namespace) -> dict[str, Any] | None:
    """The ``one_stage=`` options of ``ipdmeta()`` (None without --one-stage)."""
    given = {"intercepts": args.intercepts, "nagq": args.nagq,
             "covariates_by_study": True if args.covariates_by_study else None,
             "residual_variance": args.residual_variance, "method": args.one_stage_method,
             "df": args.df}
    given = {k: v for k, v in given.items() if v is not None}
    if not args.one_stage:
        if given or args.compare_plot:
            names = [f"--{k.replace('_', '-')}" for k in given] or ["--compare-plot"]
            raise UsageError(f"{', '.join(names)} need --one-stage")
        return None
    return given


def progress(args: argparse.Namespace, message: str) -> None:
    """A progress line on standard error (not with ``--quiet``)."""
    if not getattr(args, "quiet", False):
        print(f"ipdmeta: {message}", file=sys.stderr, flush=True)


def check_outputs(args: argparse.Namespace, outputs: dict[str, Any],
                  inputs: Sequence[Any] = ()) -> None:
    """Refuse output files that are inputs, exist (without ``--force``), repeat one
    another, or lie in a missing or read-only folder -- before anything runs."""
    seen: dict[str, str] = {}
    for option, path in outputs.items():
        if not path:
            continue
        try:
            output_path(path, inputs=[p for p in inputs if p], interface="cli",
                        overwrite=getattr(args, "force", False), what=f"{option} file")
        except IpdMetaError as err:
            raise UsageError(str(err)) from err
        for other, earlier in seen.items():
            if same_file(earlier, path):
                raise UsageError(f"{option} and {other} name the same file {path!r}")
        seen[option] = path


def check_columns(frame: pd.DataFrame, wanted: dict[str, Any], what: str = "the data") -> None:
    """Refuse names that are not columns of ``frame``, listing close matches."""
    columns = [str(c) for c in frame.columns]
    for role, names in wanted.items():
        for name in [names] if isinstance(names, str) else list(names or []):
            if name in columns:
                continue
            close = difflib.get_close_matches(name, columns, n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise UsageError(f"{role} column {name!r} is not in {what}{hint} (columns: "
                             f"{', '.join(columns)})")


def read_table(path: str) -> pd.DataFrame:
    """Read a data file, turning a missing file or unknown suffix into a usage error."""
    from ipdmeta.io import read_data
    p = Path(path)
    if not p.exists():
        raise UsageError(f"file {path!r} does not exist")
    try:
        return read_data(p)
    except IpdMetaError as err:
        raise UsageError(str(err)) from err


SUMMARY_ARGS = ("events", "n", "nonevents", "means", "sds", "time", "cor")


def summary_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Summary-data columns and correction options given on the command line (two
    columns become a (treatment, control) pair); empty without summary data."""
    out: dict[str, Any] = {}
    for key in SUMMARY_ARGS:
        cols = getattr(args, key, None)
        if cols:
            if len(cols) > 2:
                raise UsageError(f"--{key} takes one column (one group) or two "
                                 f"(treatment control), not {len(cols)}")
            out[key] = tuple(cols) if len(cols) == 2 else cols[0]
    if not out:
        return out
    if args.measure is None:
        raise UsageError("summary data need --measure (e.g. OR, RR, RD, SMD, MD, PLO)")
    for key in ("correction", "drop_double_zero"):
        if getattr(args, key, None) is not None:
            out[key] = getattr(args, key)
    if args.to != "only0":
        out["to"] = args.to
    if args.correction_type != "constant":
        out["correction_type"] = args.correction_type
    return out


def read_aggregate_table(args: argparse.Namespace) -> Any:
    """The per-study table of pool/metareg/forest: ipdmeta's saved AggregateData when the
    columns are not named, otherwise the plain table."""
    frame = read_table(args.data)
    summary = summary_kwargs(args)
    if summary:
        check_columns(frame, {k: v for k, v in summary.items() if k in SUMMARY_ARGS}
                      | {"study": args.study, "by": getattr(args, "by", None)})
        return frame
    names = [args.estimate, args.se, args.variance]
    if not any(names) and ("_ES" in frame.columns or {"estimate", "se"} <= set(frame.columns)):
        from ipdmeta.stage1.table import read_aggregate
        return read_aggregate(args.data)
    check_columns(frame, {"estimate": args.estimate, "se": args.se,
                          "variance": args.variance, "study": args.study,
                          "by": getattr(args, "by", None)})
    return frame


def _extra_pool_options(args: argparse.Namespace) -> dict[str, Any]:
    """The stage-2 options beyond method/ci/level/pi/tau2_ci that differ from pool()'s defaults."""
    given = {"pi_level": args.pi_level, "I2": args.i2 if args.i2 != "tau2" else None,
             "reps": args.reps if args.reps != 1000 else None, "seed": args.boot_seed,
             "npts": args.n_column}
    return {k: v for k, v in given.items() if v is not None}


def check_pool_options(args: argparse.Namespace) -> None:
    from ipdmeta.pooling.options import SPEC_OPTIONS, make_spec
    from ipdmeta.pooling.summary_data import count_method
    method = args.method
    if count_method(method) is not None:
        if not getattr(args, "events", None):
            raise UsageError(f"--method {method} pools 2x2 tables: give --events T C and "
                             "--n T C (or --nonevents T C) with --measure OR, RR or RD")
        method = "common"
    extra = _extra_pool_options(args) if hasattr(args, "i2") else {}
    try:
        make_spec(method, args.ci, args.level, args.pi, args.tau2_ci,
                  **{k: v for k, v in extra.items() if k in SPEC_OPTIONS})
    except IpdMetaError as err:
        raise UsageError(str(err)) from err


def pool_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Stage-2 keyword arguments of ``pool()`` from the command line."""
    check_pool_options(args)
    return {"method": args.method, "ci": args.ci, "level": args.level, "pi": args.pi,
            "tau2_ci": args.tau2_ci, "by": args.by, **_extra_pool_options(args)}


def ipdmeta_stage2(args: argparse.Namespace) -> dict[str, Any]:
    """Stage-2 keyword arguments of ``ipdmeta()``: the others go in ``pool_options``."""
    kwargs = pool_kwargs(args)
    extra = {k: kwargs.pop(k) for k in list(kwargs) if k in _extra_pool_options(args)}
    return {**kwargs, **({"pool_options": extra} if extra else {})}


def forest_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Forest-plot keyword arguments from the command line (only those given)."""
    out: dict[str, Any] = {}
    for key in ("xlabel", "xticks", "effect", "box_scale", "text_fraction", "spacing",
                "left_columns", "right_columns", "title"):
        value = getattr(args, key, None)
        if value is not None:
            out[key] = value
    if getattr(args, "favours", None):
        out["favours"] = tuple(args.favours)
    if getattr(args, "no_overall", False):
        out["overall"] = False
    if getattr(args, "no_subtotals", False):
        out["subtotals"] = False
    if getattr(args, "counts", False):
        out["counts"] = True
    if getattr(args, "group_names", None):
        out["group_names"] = tuple(args.group_names)
    if args.eform is not None:
        out["eform"] = args.eform
    return out


def draw_forest(args: argparse.Namespace, result: Any, path: str) -> None:
    """Draw and save the forest plot, checking the text columns first."""
    options = forest_kwargs(args)
    meta = getattr(result, "meta", result)
    check_columns(meta.data, {"left": options.get("left_columns"),
                              "right": options.get("right_columns")}, "the per-study table")
    fig = result.forest(**options, path=path, dpi=args.dpi)
    fig.clf()
    progress(args, f"forest plot written to {path}")


def command_line(argv: Sequence[str] | None) -> str:
    """The command as typed (quoted for a POSIX shell)."""
    return "ipdmeta " + shlex.join(list(sys.argv[1:] if argv is None else argv))


def python_call(name: str, data: str, kwargs: dict[str, Any], extra: str = "") -> str:
    """The Python code equivalent to a CLI analysis."""
    from ipdmeta.stata.codegen import py
    given = {k: v for k, v in kwargs.items() if v is not None}
    args = ", ".join(f"{k}={py(v)}" for k, v in given.items())
    return (f"import ipdmeta as ipd\n\ndata = ipd.read_data({py(data)})\n"
            f"res = ipd.{name}(data{extra}, {args})\nprint(res.summary())\n")


def emit(args: argparse.Namespace, result: Any, payload: dict[str, Any] | None = None) -> None:
    """Print the result: its summary, or JSON with ``--json``."""
    if args.json:
        print(dumps({**(payload or {}), "result": result_dict(result)}))
    else:
        print(result.summary(eform=args.eform) if args.eform is not None else result.summary())
