"""The ``ipdmeta`` command: two-stage IPD meta-analysis from the shell.

Results go to standard output (the printed summary, or JSON with ``--json``;
then a failure is a JSON object ``{"error": {"type", "message", "exit_code",
"command"}}`` on standard output too); progress and errors go to standard error.
Exit codes: 0 success; 1 the analysis ran but failed (no study could be estimated
or pooled: :class:`~ipdmeta.errors.EstimationError`; an estimator did not
converge: :class:`~ipdmeta.errors.ConvergenceError`); 2 a usage error (unknown
command, option, column or file -- the message lists close matches --, an invalid
value, data that cannot be used as given: every other ipdmeta error).  Output files
are checked before anything is computed: an input file is never written, an
existing file is replaced only with ``--force``.

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
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ipdmeta.cli.helpers import (
    UsageError,
    check_columns,
    check_outputs,
    check_pool_options,
    command_line,
    draw_forest,
    dumps,
    emit,
    forest_kwargs,
    ipdmeta_stage2,
    one_stage_kwargs,
    pool_kwargs,
    progress,
    python_call,
    read_aggregate_table,
    read_table,
    result_dict,
    summary_kwargs,
)
from ipdmeta.cli.logs import command_output
from ipdmeta.cli.parser import build_parser
from ipdmeta.errors import (
    ConvergenceError,
    EstimationError,
    IpdMetaError,
    SpecificationError,
)

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


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
                          "offset": args.offset, "interaction": args.interaction,
                          "cluster": getattr(args, "cluster", None),
                          "imputation": getattr(args, "imputation", None)})
    out: dict[str, Any] = {"study": args.study, "formula": args.formula, "model": args.model,
                           "poolvar": args.poolvar, "keep": args.keep or None}
    optional = {"ties": args.ties, "strata": args.strata, "exposure": args.exposure,
                "offset": args.offset, "engine": args.engine, "n_jobs": args.n_jobs,
                "interaction": tuple(args.interaction) if args.interaction else None,
                "firth": True if args.firth else None,
                "scale": getattr(args, "scale", None), "cluster": getattr(args, "cluster", None),
                "robust": True if getattr(args, "robust", False) else None,
                "imputation": getattr(args, "imputation", None)}
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
    check_outputs(args, {"--out": args.out}, [args.data])
    frame = read_table(args.data)
    s1 = {k: v for k, v in stage1_kwargs(args, frame).items() if v is not None}
    rules = DisclosureRules(args.min_participants, args.min_events, not args.no_counts)
    payload = site_stage1(frame, site=args.site, out=args.out, rules=rules,
                          overwrite=args.force, **s1)
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
    check_outputs(args, {"--save": args.save, "--saving": args.saving,
                         "--forest": args.forest, "--report": args.report,
                         "--compare-plot": args.compare_plot},
                  [args.data, args.aggregate])
    frame = read_table(args.data)
    progress(args, f"read {args.data}: {len(frame)} rows, {frame.shape[1]} columns")
    s1 = stage1_kwargs(args, frame)
    s2 = ipdmeta_stage2(args)
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
        files["aggregate"] = str(res.aggregate.save(args.save, names=args.names,
                                                   overwrite=args.force))
        progress(args, f"aggregate data saved to {args.save} (names: {args.names})")
    if args.saving:
        shown = {"left_columns": args.left_columns or (), "right_columns":
                 args.right_columns or ()}
        check_columns(res.aggregate.to_frame(), {"left": shown["left_columns"],
                                                 "right": shown["right_columns"]},
                      "the stage-1 table")
        files["results_set"] = str(res.save(args.saving, **shown))
        progress(args, f"results set saved to {args.saving}")
    call = python_call("ipdmeta", args.data, {**s1, **s2, **extra})
    write_outputs(args, res, call, "ipdmeta analysis", files)
    return EXIT_OK


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
    check_outputs(args, {"--forest": args.forest, "--report": args.report}, args.data)
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
              "variance": args.variance, "study": args.study, "measure": args.measure,
              **summary_kwargs(args)}
    progress(args, f"pooling {len(data)} rows of {args.data} ({args.method}, ci={args.ci})")
    res = pool(data, **kwargs)
    write_outputs(args, res, python_call("pool", args.data, kwargs), "ipdmeta meta-analysis",
                  {})
    return EXIT_OK


def cmd_forest(args: argparse.Namespace) -> int:
    """``ipdmeta forest``: pool a table and draw its forest plot."""
    from ipdmeta.pooling.pool import pool
    check_outputs(args, {"--out": args.out}, [args.data])
    data = read_aggregate_table(args)
    res = pool(data, **pool_kwargs(args), estimate=args.estimate, se=args.se,
               variance=args.variance, study=args.study, measure=args.measure,
               **summary_kwargs(args))
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
    check_pool_options(args)
    kwargs = {"estimate": args.estimate, "se": args.se, "variance": args.variance,
              "study": args.study, "method": args.method, "ci": args.ci, "level": args.level,
              "permutations": args.permutations, "seed": args.seed, "joint": args.joint,
              "measure": args.measure, **summary_kwargs(args)}
    progress(args, f"meta-regression {args.formula} on {len(frame)} rows of {args.data}")
    res = metareg(data, args.formula, **{k: v for k, v in kwargs.items() if v is not None})
    call = python_call("metareg", args.data, kwargs, extra=f", {json.dumps(args.formula)}")
    if args.json:
        print(dumps({"command": command_line(args.argv), "python": call,
                     "result": res.to_dict()}))
    else:
        print(res.summary(eform=bool(args.eform)))
    return EXIT_OK


def _bias_calls(args: argparse.Namespace) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each requested test: the method of the pooled result and its keywords."""
    calls = {"egger": ("egger", {"model": args.egger_model, "predictor": args.predictor}),
             "rank": ("rank_test", {}), "harbord": ("harbord", {}), "peters": ("peters", {}),
             "trimfill": ("trimfill", {"side": args.side, "estimator": args.estimator}),
             "fsn": ("fsn", {"method": args.fsn_method}), "tes": ("tes", {}),
             "selection": ("selection_model", {"type": args.selection_type,
                                               "steps": args.steps})}
    return {t: (calls[t][0], {k: v for k, v in calls[t][1].items() if v is not None})
            for t in dict.fromkeys(args.test)}


def cmd_bias(args: argparse.Namespace) -> int:
    """``ipdmeta bias``: small-study and publication-bias tests on a pooled table."""
    from ipdmeta.pooling.pool import pool
    from ipdmeta.stata.codegen import kwargs as py_kwargs
    check_outputs(args, {"--funnel": args.funnel}, [args.data])
    counts = [t for t in ("harbord", "peters") if t in args.test]
    if counts and not (args.events and (args.nonevents or args.n)):
        raise UsageError(f"--test {' '.join(counts)} needs the 2x2 counts: --events T C with "
                         "--nonevents T C (or --n T C) and --measure OR")
    data = read_aggregate_table(args)
    kwargs = {**pool_kwargs(args), "estimate": args.estimate, "se": args.se,
              "variance": args.variance, "study": args.study, "measure": args.measure,
              **summary_kwargs(args)}
    calls = _bias_calls(args)
    res = pool(data, **kwargs)
    progress(args, f"pooled {res.overall.k} studies of {args.data}; tests: "
                   f"{', '.join(calls)}")
    results = {test: getattr(res, method)(**options)
               for test, (method, options) in calls.items()}
    code = python_call("pool", args.data, kwargs).replace("print(res.summary())\n", "")
    code += "".join(f"print(res.{m}({py_kwargs(o)}).summary())\n" for m, o in calls.values())
    files = {}
    if args.funnel:
        target = results.get("trimfill", res)
        target.funnel(eform=bool(args.eform), path=args.funnel).clf()
        files["funnel"] = args.funnel
        progress(args, f"funnel plot written to {args.funnel}")
    if args.json:
        print(dumps({"command": command_line(args.argv), "python": code, "files": files,
                     "result": {"k": res.overall.k, **results}}))
    else:
        print("\n\n".join(r.summary() for r in results.values()))
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """``ipdmeta report``: an HTML report of ``run`` (with --formula) or ``pool``."""
    from ipdmeta.report.html import ReportSection, write_report
    check_outputs(args, {"--out": args.out}, [args.data, getattr(args, "aggregate", None)])
    sections = []
    res: Any    # IPDMetaResult (--formula) or MetaResult
    if args.formula:
        from ipdmeta.analysis import ipdmeta
        if not args.study:
            raise UsageError("--formula needs --study (the study column)")
        frame = read_table(args.data)
        s1, s2 = stage1_kwargs(args, frame), ipdmeta_stage2(args)
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
    """``ipdmeta stata``: translate and run Stata ipdmetan/metan/metareg/ipdover/forestplot
    command lines (and use/stset/sort/tabulate); prints the results, the files written
    and the equivalent Python."""
    from ipdmeta.stata.parse import read_do_file
    from ipdmeta.stata.session import StataSession
    lines = list(args.commands)
    if args.do:
        if not Path(args.do).is_file():
            raise UsageError(f"--do file {args.do!r} does not exist")
        lines = read_do_file(args.do) + lines
    if not lines:
        raise UsageError("give a Stata command line (in quotes) or --do FILE")
    check_outputs(args, {"--python": args.python}, [args.data, args.do])
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
        files = [str(f) for s in steps for f in s.files]
        if files:
            print("# Files written:\n" + "\n".join(files) + "\n")
        print("# The equivalent ipdmeta Python code:\n" + script)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """``ipdmeta demo``: the three example analyses into an output folder."""
    from ipdmeta.cli.demo import run_demo
    files = run_demo(Path(args.out), quiet=args.quiet or args.json, overwrite=args.force)
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
    text = frame.to_csv(index=False)
    if Path(args.out).suffix.lower() == ".csv" and Path(args.out).is_file() \
            and Path(args.out).read_text(encoding="utf-8", errors="replace") == text:
        progress(args, f"{args.out} already holds {args.name}: nothing to write")
        return EXIT_OK   # the same bytes: nothing would be lost or changed
    check_outputs(args, {"--out": args.out})
    suffix = Path(args.out).suffix.lower()
    writers = {".csv": lambda p: frame.to_csv(p, index=False),
               ".dta": lambda p: frame.to_stata(p, write_index=False, version=118),
               ".parquet": lambda p: frame.to_parquet(p, index=False)}
    if suffix not in writers:
        raise UsageError(f"--out {args.out!r}: use a .csv, .dta or .parquet file")
    writers[suffix](args.out)
    progress(args, f"{args.name}: {len(frame)} rows written to {args.out}")
    return EXIT_OK


def cmd_ipdover(args: argparse.Namespace) -> int:
    """``ipdmeta ipdover``: the treatment effect within subgroups of participants."""
    from ipdmeta.ipdover import ipdover
    if not args.formula:
        raise UsageError("give --formula, e.g. \"Surv(time, event) ~ treat\"")
    check_outputs(args, {"--save": args.save, "--forest": args.forest}, [args.data])
    frame = read_table(args.data)
    check_columns(frame, {"over": args.over})
    s1 = {k: v for k, v in stage1_kwargs(args, frame).items()
          if v is not None and k != "keep"}
    s2 = {k: v for k, v in pool_kwargs(args).items() if k in ("method", "ci", "level")}
    kwargs = {**s1, **s2, "over": args.over, "by": args.by,
              "missing": True if args.missing else None,
              "overall": False if args.no_overall else None}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    progress(args, f"ipdover: {args.formula} within {', '.join(args.over)}")
    res = ipdover(frame, **kwargs)
    files: dict[str, str] = {}
    if args.save:
        files["results_set"] = str(res.save(args.save))
        progress(args, f"results set saved to {args.save}")
    if args.forest:
        options = {k: v for k, v in forest_kwargs(args).items()
                   if k not in ("overall", "subtotals", "left_columns", "right_columns")}
        res.forest(**options, path=args.forest, dpi=args.dpi).clf()
        files["forest"] = args.forest
        progress(args, f"forest plot written to {args.forest}")
    call = python_call("ipdover", args.data, kwargs)
    emit(args, res, {"command": command_line(args.argv), "python": call, "files": files})
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run, "site": cmd_site, "pool": cmd_pool, "forest": cmd_forest,
    "metareg": cmd_metareg, "bias": cmd_bias, "report": cmd_report, "stata": cmd_stata,
    "demo": cmd_demo, "datasets": cmd_datasets, "ipdover": cmd_ipdover}


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
        with command_output(args):
            return args.func(args)
    except (UsageError, StataSyntaxError) as err:
        return _fail(args, err, EXIT_USAGE, f"{where}: error: {err}\n"
                                            f"(see: ipdmeta {args.command} --help)")
    except (EstimationError, ConvergenceError) as err:
        return _fail(args, err, EXIT_FAILURE, f"{where}: analysis failed: {err}")
    except IpdMetaError as err:
        return _fail(args, err, EXIT_USAGE, f"{where}: error: {err}")
    except BrokenPipeError:                      # e.g. `ipdmeta ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as err:
        return _fail(args, err, EXIT_FAILURE, f"{where}: error: {err}")
    except Exception as err:
        if args.debug:
            raise
        return _fail(args, err, EXIT_FAILURE,
                     f"{where}: unexpected error ({type(err).__name__}: {err}); rerun with "
                     "--debug for the traceback and please report it")


def _fail(args: argparse.Namespace, err: BaseException, code: int, text: str) -> int:
    """Report a failure on standard error (and as JSON on standard output with --json)."""
    print(text, file=sys.stderr)
    if getattr(args, "json", False):
        print(dumps({"error": {"type": type(err).__name__, "message": str(err),
                               "exit_code": code, "command": args.command}}))
    return code
