"""The ``ipdmeta`` command: two-stage IPD meta-analysis from the shell.

Results go to standard output (the printed summary, or JSON with ``--json``);
progress and errors go to standard error.  Exit codes: 0 success, 1 the analysis
failed (for example no study could be estimated), 2 a usage error (unknown
option, column or file; the message lists close matches).

Example:
    $ ipdmeta datasets hypertension --out hyp.csv
    $ ipdmeta run hyp.csv --study trial --formula "Surv(time, event) ~ treat + age" \\
          --method REML --ci hksj --forest forest.png --save AD.dta --names ipdmetan
    $ ipdmeta metareg AD.dta "~ C(intervention)" --eform
    $ ipdmeta stata 'ipdmetan, study(trial) re(reml, hksj) hr : stcox treat age' \\
          --data hyp.csv --stset time event
    $ ipdmeta demo --out output

    >>> main(["datasets", "--json"]) == 0  # doctest: +ELLIPSIS
    [...
    True
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.cli.parser import build_parser
from ipdmeta.errors import IpdMetaError, SpecificationError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """The command line asks for something that does not exist (file, column, option)."""


# ---------------------------------------------------------------------------- helpers
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


def progress(args: argparse.Namespace, message: str) -> None:
    """A progress line on standard error (not with ``--quiet``)."""
    if not getattr(args, "quiet", False):
        print(f"ipdmeta: {message}", file=sys.stderr, flush=True)


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


def read_aggregate_table(args: argparse.Namespace) -> Any:
    """The per-study table of pool/metareg/forest: ipdmeta's saved AggregateData when the
    columns are not named, otherwise the plain table."""
    frame = read_table(args.data)
    names = [args.estimate, args.se, args.variance]
    if not any(names) and ("_ES" in frame.columns or {"estimate", "se"} <= set(frame.columns)):
        from ipdmeta.stage1.table import read_aggregate
        return read_aggregate(args.data)
    check_columns(frame, {"estimate": args.estimate, "se": args.se,
                          "variance": args.variance, "study": args.study,
                          "by": getattr(args, "by", None)})
    return frame


def _check_pool_options(args: argparse.Namespace) -> None:
    from ipdmeta.pooling.options import make_spec
    try:
        make_spec(args.method, args.ci, args.level, args.pi, args.tau2_ci)
    except IpdMetaError as err:
        raise UsageError(str(err)) from err


def pool_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """Stage-2 keyword arguments from the command line."""
    _check_pool_options(args)
    return {"method": args.method, "ci": args.ci, "level": args.level, "pi": args.pi,
            "tau2_ci": args.tau2_ci, "by": args.by}


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


# ---------------------------------------------------------------------------- commands
def stage1_kwargs(args: argparse.Namespace, frame: pd.DataFrame) -> dict[str, Any]:
    """Stage-1 keyword arguments, with every named column checked against the data."""
    from ipdmeta.stage1.formula import parse_formula
    try:
        variables = parse_formula(args.formula).variables
    except SpecificationError as err:
        raise UsageError(str(err)) from err
    check_columns(frame, {"study": args.study, "formula": list(variables),
                          "by": getattr(args, "by", None),
                          "keep": args.keep, "strata": args.strata, "exposure": args.exposure,
                          "offset": args.offset, "interaction": args.interaction})
    out: dict[str, Any] = {"study": args.study, "formula": args.formula, "model": args.model,
                           "poolvar": args.poolvar, "keep": args.keep or None}
    optional = {"ties": args.ties, "strata": args.strata, "exposure": args.exposure,
                "offset": args.offset, "engine": args.engine, "n_jobs": args.n_jobs,
                "interaction": tuple(args.interaction) if args.interaction else None,
                "firth": True if args.firth else None}
    out.update({k: v for k, v in optional.items() if v is not None})
    return out


def aggregate_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``aggregate=`` options of ``ipdmeta()`` from --aggregate and friends."""
    if not args.aggregate:
        return {}
    columns = {}
    for item in args.aggregate_columns or []:
        key, sep, column = item.partition("=")
        if not sep:
            raise UsageError(f"--aggregate-columns {item!r}: write KEY=COLUMN, e.g. study=trial")
        columns[key] = column
    return {"aggregate": read_table(args.aggregate), "aggregate_columns": columns or None,
            "aggregate_measure": args.aggregate_measure, "aggregate_scale": args.aggregate_scale,
            "relabel": args.relabel}


def cmd_site(args: argparse.Namespace) -> int:
    """``ipdmeta site``: stage 1 at one site, writing only shareable per-study results."""
    from ipdmeta.stage1.site import DisclosureRules, site_stage1
    frame = read_table(args.data)
    s1 = {k: v for k, v in stage1_kwargs(args, frame).items() if v is not None}
    rules = DisclosureRules(args.min_participants, args.min_events, not args.no_counts)
    payload = site_stage1(frame, site=args.site, out=args.out, rules=rules, **s1)
    for w in payload["withheld"]:
        progress(args, f"{w['study']}: {w['reason']}")
    shared = sum(r["status"] == "ok" for r in payload["studies"])
    if args.json:
        print(dumps({"file": args.out, "spec_hash": payload["spec_hash"],
                     "studies": len(payload["studies"]), "estimated": shared,
                     "withheld": payload["withheld"]}))
    else:
        print(f"{args.out}: {len(payload['studies'])} studies from site {args.site!r} "
              f"({shared} estimated, {len(payload['withheld'])} withheld by disclosure "
              f"control); model specification hash {payload['spec_hash'][:12]}")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """``ipdmeta run``: both stages on participant data."""
    from ipdmeta.analysis import ipdmeta
    frame = read_table(args.data)
    progress(args, f"read {args.data}: {len(frame)} rows, {frame.shape[1]} columns")
    s1 = stage1_kwargs(args, frame)
    s2 = pool_kwargs(args)
    if args.save and Path(args.save).suffix.lower() not in (".csv", ".dta", ".parquet", ".pq",
                                                           ".json"):
        raise UsageError(f"--save {args.save!r}: use a .csv, .dta, .parquet or .json file")
    k = frame[args.study].nunique()
    progress(args, f"stage 1: fitting the model in {k} studies; stage 2: {args.method}, "
                   f"ci={args.ci}")
    one = one_stage_kwargs(args)
    if one is not None:
        progress(args, "one-stage model: fitting the mixed model to all trials at once")
    extra = {"one_stage": one or True} if one is not None else {}
    res = ipdmeta(frame, **{k: v for k, v in s1.items() if v is not None}, **s2,
                  **aggregate_kwargs(args), **extra)
    files: dict[str, str] = {}
    if args.compare_plot:
        res.comparison.plot(path=args.compare_plot, dpi=args.dpi)
        files["compare_plot"] = args.compare_plot
        progress(args, f"comparison plot written to {args.compare_plot}")
    if args.save:
        files["aggregate"] = str(res.aggregate.save(args.save, names=args.names))
        progress(args, f"aggregate data saved to {args.save} (names: {args.names})")
    call = python_call("ipdmeta", args.data, {**s1, **s2, **(
        {"one_stage": one or True} if one is not None else {})})
    write_outputs(args, res, call, "ipdmeta analysis", files)
    return EXIT_OK


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


def write_outputs(args: argparse.Namespace, res: Any, call: str, title: str,
                  files: dict[str, str]) -> None:
    """Forest plot and report when asked for, then the printed (or JSON) result."""
    if args.forest:
        draw_forest(args, res, args.forest)
        files["forest"] = args.forest
    if args.report:
        from ipdmeta.report.html import write_report
        write_report(res, args.report, title=args.title or title,
                     command=command_line(args.argv), call=call, forest=forest_kwargs(args),
                     eform=args.eform)
        files["report"] = args.report
        progress(args, f"report written to {args.report}")
    emit(args, res, {"command": command_line(args.argv), "python": call, "files": files})


def _site_files(paths: list[str]) -> bool:
    return all(p.endswith(".ipdmeta.json") for p in paths)


def cmd_pool(args: argparse.Namespace) -> int:
    """``ipdmeta pool``: stage 2 on a table of study estimates, or on site files."""
    from ipdmeta.pooling.pool import pool
    if _site_files(args.data):
        from ipdmeta.stage1.site import read_site_results
        data = read_site_results(args.data)
        args.data = " ".join(args.data)
    elif len(args.data) > 1:
        raise UsageError("several files can be pooled only when all are site files "
                         "(*.ipdmeta.json, written by `ipdmeta site`)")
    else:
        args.data = args.data[0]
        data = read_aggregate_table(args)
    kwargs = {**pool_kwargs(args), "estimate": args.estimate, "se": args.se,
              "variance": args.variance, "study": args.study, "measure": args.measure}
    progress(args, f"pooling {len(data)} rows of {args.data} ({args.method}, ci={args.ci})")
    res = pool(data, **kwargs)
    write_outputs(args, res, python_call("pool", args.data, kwargs), "ipdmeta meta-analysis",
                  {})
    return EXIT_OK


def cmd_forest(args: argparse.Namespace) -> int:
    """``ipdmeta forest``: pool a table and draw its forest plot."""
    from ipdmeta.pooling.pool import pool
    data = read_aggregate_table(args)
    res = pool(data, **pool_kwargs(args), estimate=args.estimate, se=args.se,
               variance=args.variance, study=args.study, measure=args.measure)
    draw_forest(args, res, args.out)
    if args.json:
        print(dumps({"command": command_line(args.argv), "files": {"forest": args.out}}))
    else:
        print(args.out)
    return EXIT_OK


def cmd_metareg(args: argparse.Namespace) -> int:
    """``ipdmeta metareg``: meta-regression on a table of study estimates."""
    from ipdmeta.pooling.metareg import metareg
    data = read_aggregate_table(args)
    frame = data.to_frame() if hasattr(data, "to_frame") else data
    from ipdmeta.stage1.formula import parse_formula
    try:
        rhs = args.formula.split("~", 1)[-1]
        moderators = parse_formula("_y_ ~ " + rhs).variables[1:]
    except SpecificationError as err:
        raise UsageError(str(err)) from err
    check_columns(frame, {"moderator": list(moderators)})
    _check_pool_options(args)
    kwargs = {"estimate": args.estimate, "se": args.se, "variance": args.variance,
              "study": args.study, "method": args.method, "ci": args.ci, "level": args.level,
              "permutations": args.permutations, "seed": args.seed}
    progress(args, f"meta-regression {args.formula} on {len(frame)} rows of {args.data}")
    res = metareg(data, args.formula, **{k: v for k, v in kwargs.items() if v is not None})
    call = python_call("metareg", args.data, kwargs, extra=f", {json.dumps(args.formula)}")
    if args.json:
        print(dumps({"command": command_line(args.argv), "python": call,
                     "result": res.to_dict()}))
    else:
        print(res.summary(eform=bool(args.eform)))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """``ipdmeta report``: an HTML report of ``run`` (with --formula) or ``pool``."""
    from ipdmeta.report.html import ReportSection, write_report
    sections = []
    if args.formula:
        from ipdmeta.analysis import ipdmeta
        if not args.study:
            raise UsageError("--formula needs --study (the study column)")
        frame = read_table(args.data)
        s1, s2 = stage1_kwargs(args, frame), pool_kwargs(args)
        res = ipdmeta(frame, **{k: v for k, v in s1.items() if v is not None}, **s2,
                  **aggregate_kwargs(args))
        call = python_call("ipdmeta", args.data, {**s1, **s2})
    else:
        from ipdmeta.pooling.pool import pool
        data = read_aggregate_table(args)
        kwargs = {**pool_kwargs(args), "estimate": args.estimate, "se": args.se,
                  "variance": args.variance, "study": args.study, "measure": args.measure}
        res = pool(data, **kwargs)
        call = python_call("pool", args.data, kwargs)
    sections.append(ReportSection(args.title or "Meta-analysis", res,
                                  command=command_line(args.argv), call=call,
                                  forest=forest_kwargs(args), eform=args.eform))
    if args.metareg:
        from ipdmeta.pooling.metareg import metareg
        source = res.aggregate if hasattr(res, "aggregate") else res.data
        mr = metareg(source, args.metareg, method=args.method, level=args.level)
        sections.append(ReportSection(f"Meta-regression {args.metareg}", mr,
                                      call=f"ipd.metareg(res.aggregate, {json.dumps(args.metareg)}"
                                           f", method={json.dumps(args.method)})",
                                      eform=args.eform))
    path = write_report(sections, args.out, title=args.title or "ipdmeta report",
                        command=command_line(args.argv))
    progress(args, f"report written to {path}")
    print(dumps({"files": {"report": str(path)}}) if args.json else str(path))
    return EXIT_OK


def cmd_stata(args: argparse.Namespace) -> int:
    """``ipdmeta stata``: translate and run Stata ipdmetan/metan/metareg command lines."""
    from ipdmeta.stata.parse import read_do_file
    from ipdmeta.stata.session import StataSession
    lines = list(args.commands)
    if args.do:
        lines = read_do_file(args.do) + lines
    if not lines:
        raise UsageError("give a Stata command line (in quotes) or --do FILE")
    data = read_table(args.data) if args.data else None
    out = Path(args.out)
    session = StataSession(data, stset=tuple(args.stset) if args.stset else None, workdir=out,
                           graph_dir=None if args.no_graph else out, data_path=args.data)
    steps = []
    for line in lines:
        if args.dry_run:
            step = session.translate(line)
            session.steps.append(step)
        else:
            progress(args, f". {line}")
            step = session.run(line)
            for note in step.notes:
                progress(args, f"note: {note}")
            if not args.json and step.output:
                print(step.output + "\n")
        steps.append(step)
    script = session.python()
    if args.python:
        Path(args.python).write_text(script, encoding="utf-8")
        progress(args, f"Python script written to {args.python}")
    if args.json:
        print(dumps({"python": script, "steps": [
            {"command": s.command, "kind": s.kind, "call": s.call, "forest": s.forest,
             "python": s.python, "files": [str(f) for f in s.files],
             "result": result_dict(s.result) if s.result is not None else None}
            for s in steps]}))
    else:
        print("# The equivalent ipdmeta Python code:\n" + script)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``ipdmeta demo``: the three example analyses into an output folder."""
    from ipdmeta.cli.demo import run_demo
    files = run_demo(Path(args.out), quiet=args.quiet or args.json)
    if args.json:
        print(dumps({"files": [str(f) for f in files]}))
    return EXIT_OK


def cmd_datasets(args: argparse.Namespace) -> int:
    """``ipdmeta datasets``: list the bundled datasets, or write one to a file."""
    from ipdmeta import datasets
    if args.name is None:
        info = datasets.list()
        if args.json:
            print(dumps(info))
        else:
            for r in info.itertuples():
                print(f"{r.name:<20} {r.rows:>6} rows  {r.description}")
        return EXIT_OK
    try:
        frame = datasets.load(args.name)
    except IpdMetaError as err:
        raise UsageError(str(err)) from err
    if args.out is None:
        frame.to_csv(sys.stdout, index=False)
        return EXIT_OK
    suffix = Path(args.out).suffix.lower()
    writers = {".csv": lambda p: frame.to_csv(p, index=False),
               ".dta": lambda p: frame.to_stata(p, write_index=False, version=118),
               ".parquet": lambda p: frame.to_parquet(p, index=False)}
    if suffix not in writers:
        raise UsageError(f"--out {args.out!r}: use a .csv, .dta or .parquet file")
    writers[suffix](args.out)
    progress(args, f"{args.name}: {len(frame)} rows written to {args.out}")
    return EXIT_OK


COMMANDS = {"run": cmd_run, "site": cmd_site, "pool": cmd_pool, "forest": cmd_forest,
            "metareg": cmd_metareg, "report": cmd_report, "stata": cmd_stata, "demo": cmd_demo,
            "datasets": cmd_datasets}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ipdmeta`` command; returns the exit code (0 ok, 1 failure, 2 usage)."""
    from ipdmeta.stata.parse import StataSyntaxError
    parser = build_parser(COMMANDS)
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else EXIT_USAGE
    args.argv = None if argv is None else list(argv)
    where = f"ipdmeta {args.command}"
    try:
        return args.func(args)
    except (UsageError, StataSyntaxError) as err:
        print(f"{where}: error: {err}", file=sys.stderr)
        print(f"(see: ipdmeta {args.command} --help)", file=sys.stderr)
        return EXIT_USAGE
    except IpdMetaError as err:
        print(f"{where}: analysis failed: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:                      # e.g. `ipdmeta ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as err:
        print(f"{where}: error: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as err:
        if args.debug:
            raise
        print(f"{where}: unexpected error ({type(err).__name__}: {err}); rerun with --debug "
              "for the traceback and please report it", file=sys.stderr)
        return EXIT_FAILURE
