"""The argument parser of the ``ipdmeta`` command (options, help texts and examples).

Example:
    >>> p = build_parser({})
    >>> a = p.parse_args(["pool", "AD.csv", "--method", "DL"])
    >>> a.command, a.method, a.ci
    ('pool', 'DL', 'z')
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

MAIN_EPILOG = """\
examples:
  ipdmeta datasets                                  # the bundled example data
  ipdmeta datasets hypertension --out hyp.csv       # write one to a file
  ipdmeta run hyp.csv --study trial \\
      --formula "Surv(time, event) ~ treat + smk + sbpi + age + bmi" \\
      --method REML --ci hksj --forest forest.png --save AD.dta --names ipdmetan
  ipdmeta pool AD.dta --method REML --ci hksj --eform
  ipdmeta metareg AD.dta "~ C(intervention)" --eform
  ipdmeta stata 'ipdmetan, study(trial) re(reml, hksj) hr : stcox treat age' \\
      --data hyp.csv --stset time event
  ipdmeta report hyp.csv --study trial --formula "Surv(time, event) ~ treat" --out r.html
  ipdmeta demo --out output

exit codes: 0 success, 1 the analysis failed, 2 usage error.
Results go to stdout (--json for scripts), progress and errors to stderr.
"""

EPILOGS = {
    "run": """\
examples:
  ipdmeta run hyp.csv --study trial \\
      --formula "Surv(time, event) ~ treat + smk + sbpi + age + bmi" \\
      --method REML --ci hksj --eform --forest forest.png \\
      --xlabel "Hazard ratio" --xticks 0.2 0.5 1 2
  ipdmeta run wg.csv --study studyid --formula "final_wt ~ trt + baseline_wt" \\
      --model linear --keep intervention study_name --by intervention \\
      --save AD.dta --names ipdmetan --json > result.json
  ipdmeta run wgb.csv --study studyid --formula "gdm ~ trt + baseline_wt" \\
      --model logistic --firth --report report.html
""",
    "site": """\
examples:
  ipdmeta site site_A.csv --site A --study trial \\
      --formula "Surv(time, event) ~ treat + age" --out site_A.ipdmeta.json
  ipdmeta pool site_*.ipdmeta.json --method REML --ci hksj --eform
""",
    "pool": """\
examples:
  ipdmeta pool AD.csv --estimate _ES --se _seES --method DL
  ipdmeta pool bcg.csv --estimate yi --variance vi --study author --measure RR --ci hksj
  ipdmeta pool AD.dta --by intervention --forest forest.png --eform
""",
    "metareg": """\
examples:
  ipdmeta metareg AD.dta "~ C(intervention)" --eform
  ipdmeta metareg bcg.csv "~ ablat" --estimate yi --variance vi --permutations 1000 --seed 1
""",
    "forest": """\
examples:
  ipdmeta forest AD.csv --out forest.png --eform --xlabel "Odds ratio" --xticks 0.1 1 10
  ipdmeta forest AD.dta --out forest.svg --left-columns intervention n --spacing 1.5
""",
    "report": """\
examples:
  ipdmeta report hyp.csv --study trial --formula "Surv(time, event) ~ treat + age" \\
      --ci hksj --out report.html
  ipdmeta report AD.dta --metareg "~ C(intervention)" --out report.html
""",
    "stata": """\
Stata command lines are translated to ipdmeta calls, run in order on the data in
memory, and the equivalent Python code is printed.  Unknown options are refused by
name.  Helper commands: use FILE, stset TIME, failure(EVENT), tabulate VAR,
generate(STUB).  See docs/stata.md for the translation table.

examples:
  ipdmeta stata 'ipdmetan, study(trial) re(reml, hksj) hr forest(xlab(0.2 0.5 1 2)) : \\
      stcox treat smk sbpi age bmi' --data hyp.csv --stset time event
  ipdmeta stata 'ipdmetan, study(studyid) by(intervention) or saving(AD.dta) : \\
      logistic gdm trt baseline_wt' 'use AD.dta' \\
      'tabulate intervention, generate(int_type)' \\
      'metareg _ES int_type2 int_type3, wsse(_seES) eform' --data wgb.csv --out out
  ipdmeta stata --do analysis.do --data trials.dta --dry-run
""",
    "demo": """\
Runs the three example analyses (Cox on hypertension, linear on weight_gain,
logistic on weight_gain_binary with subgroups and a meta-regression) and writes
summaries, forest plots, aggregate data and report.html into the folder.
""",
}


def _stage1(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_argument_group("stage 1 (one model per study)")
    g.add_argument("--study", required=required, help="study identifier column")
    g.add_argument("--formula", required=required,
                   help='model formula, e.g. "Surv(time, event) ~ treat + age" or "y ~ treat"')
    g.add_argument("--model", choices=["linear", "logistic", "poisson", "cox"],
                   help="model family (cox is inferred from Surv())")
    g.add_argument("--poolvar", help="design column to pool (default: the first term)")
    g.add_argument("--interaction", nargs=2, metavar=("A", "B"),
                   help="pool the within-study interaction A x B (deft approach)")
    g.add_argument("--ties", choices=["efron", "breslow"],
                   help="Cox ties (default efron; Stata's stcox uses breslow)")
    g.add_argument("--keep", nargs="+", metavar="COL", help="study-level columns to keep")
    g.add_argument("--strata", nargs="+", metavar="COL", help="Cox strata columns")
    g.add_argument("--exposure", help="Poisson exposure column (log offset)")
    g.add_argument("--offset", help="Poisson offset column")
    g.add_argument("--firth", action="store_true",
                   help="Firth's penalised likelihood (logistic, Cox): sparse trials")
    g.add_argument("--engine", choices=["serial", "processes", "dask"], help="stage-1 engine")
    g.add_argument("--n-jobs", type=int, help="worker processes for --engine processes")


def _stage2(p: argparse.ArgumentParser, ci: str = "z", by: bool = True) -> None:
    g = p.add_argument_group("stage 2 (pooling)")
    g.add_argument("--method", default="REML",
                   help="common (FE), DL, REML (default), ML, PM, PMM, EB, HE, SJ, HS, GENQ")
    g.add_argument("--ci", default=ci, help=f"z, t, hksj, hksj-trunc, pl (default {ci})")
    g.add_argument("--level", type=float, default=0.95, help="confidence level (0.95 or 95)")
    g.add_argument("--pi", default="hts", help="prediction interval: hts (default), metafor")
    g.add_argument("--tau2-ci", default="qp", help="tau² interval: qp (default), pl")
    if by:
        g.add_argument("--by", help="subgroup column (study level)")


def _aggregate(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("aggregate data columns (found automatically when omitted)")
    g.add_argument("--estimate", help="estimate column (estimate, yi, _ES ...)")
    g.add_argument("--se", help="standard error column (se, sei, _seES ...)")
    g.add_argument("--variance", help="variance column (vi ...), instead of --se")
    g.add_argument("--study", help="study label column")
    g.add_argument("--measure", help="effect measure for display: HR, OR, RR, IRR, MD ...")


def _forest(p: argparse.ArgumentParser, path: str | None = "--forest") -> None:
    g = p.add_argument_group("forest plot")
    if path:
        g.add_argument(path, metavar="FILE", help="write the forest plot (png, pdf, svg)")
    g.add_argument("--xlabel", help='axis title, e.g. "Hazard ratio" (Stata xtitle)')
    g.add_argument("--xticks", type=float, nargs="+", metavar="X",
                   help="tick positions on the display scale (Stata xlabel)")
    g.add_argument("--effect", help="header of the estimate column (Stata effect)")
    g.add_argument("--box-scale", type=float, help="box size factor (Stata boxsca/100)")
    g.add_argument("--text-fraction", type=float,
                   help="share of the width for text, 0-1 or percent (Stata astext)")
    g.add_argument("--spacing", type=float, help="row spacing factor")
    g.add_argument("--left-columns", nargs="+", metavar="COL", help="columns left of the plot")
    g.add_argument("--right-columns", nargs="+", metavar="COL",
                   help="columns right of the plot")
    g.add_argument("--favours", nargs=2, metavar=("LEFT", "RIGHT"), help="favours texts")
    g.add_argument("--no-overall", action="store_true", help="no overall diamond")
    g.add_argument("--no-subtotals", action="store_true", help="no subgroup diamonds")
    g.add_argument("--dpi", type=int, default=200, help="resolution of PNG files (200)")


def _one_stage(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("one-stage model beside the two-stage one (ipd.onestage)")
    g.add_argument("--one-stage", action="store_true",
                   help="also fit the one-stage mixed model and compare the two")
    g.add_argument("--intercepts", choices=["stratified", "random"],
                   help="trial intercepts: stratified (default) or random")
    g.add_argument("--nagq", type=int, help="quadrature points, logistic/Poisson (1 = "
                                            "Laplace; default 7, or 1 with random intercepts)")
    g.add_argument("--covariates-by-study", action="store_true",
                   help="trial-specific effects of the covariates other than the treatment")
    g.add_argument("--residual-variance", choices=["common", "by_study"],
                   help="linear models: one residual variance, or one per trial")
    g.add_argument("--one-stage-method", choices=["REML", "ML"],
                   help="linear models: REML (default) or ML")
    g.add_argument("--df", choices=["satterthwaite", "kenward-roger", "z"],
                   help="linear models: t tests' degrees of freedom (default satterthwaite)")
    g.add_argument("--compare-plot", metavar="FILE",
                   help="image of the one-stage vs two-stage comparison (png, pdf, svg)")


def _output(p: argparse.ArgumentParser, eform: bool = True) -> None:
    g = p.add_argument_group("output")
    if eform:
        g.add_argument("--eform", action=argparse.BooleanOptionalAction, default=None,
                       help="show exponentiated estimates (default: for HR, OR, RR, IRR)")
    g.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    g.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    g.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")


def build_parser(commands: dict[str, Callable[[argparse.Namespace], int]]
                 ) -> argparse.ArgumentParser:
    """The ``ipdmeta`` parser; ``commands`` maps sub-command names to their functions."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="ipdmeta", formatter_class=fmt, epilog=MAIN_EPILOG,
        description="Two-stage individual participant data (IPD) meta-analysis: "
                    "Stata's ipdmetan / metan / metareg in Python.")
    from ipdmeta._version import __version__
    parser.add_argument("--version", action="version", version=f"ipdmeta {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_: str, **kw: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".",
                           epilog=EPILOGS.get(name), formatter_class=fmt, **kw)
        if name in commands:
            p.set_defaults(func=commands[name])
        return p

    p = add("run", "both stages on participant data (csv, dta, parquet, xlsx)")
    p.add_argument("data", help="participant data file")
    _stage1(p)
    _stage2(p)
    _forest(p)
    g = p.add_argument_group("files")
    g.add_argument("--save", metavar="FILE", help="save the stage-1 table (.csv .dta "
                                                  ".parquet .json)")
    g.add_argument("--names", choices=["ipdmeta", "ipdmetan"], default="ipdmeta",
                   help="column names of --save: ipdmeta or Stata ipdmetan (_ES, _seES ...)")
    g.add_argument("--report", metavar="FILE", help="write an HTML report")
    g.add_argument("--title", help="report title")
    g = p.add_argument_group("published aggregate data added in stage 2 (ipdmetan's ad())")
    g.add_argument("--aggregate", metavar="FILE", help="table of published study results")
    g.add_argument("--aggregate-columns", nargs="+", metavar="KEY=COLUMN",
                   help="e.g. study=trial estimate=hr ci_low=lci ci_high=uci (keys: study, "
                        "estimate, se, variance, ci_low, ci_high, oe, v, n, events)")
    g.add_argument("--aggregate-measure", help="measure of the published rows (HR, OR ...)")
    g.add_argument("--aggregate-scale", choices=["ratio", "log"],
                   help="ratio measures given as ratios (default) or logs")
    g.add_argument("--relabel", action="store_true",
                   help="rename published studies whose labels clash with IPD studies")
    _one_stage(p)
    _output(p)

    p = add("site", "stage 1 at one site: write only shareable per-study results")
    p.add_argument("data", help="this site's participant data file")
    p.add_argument("--site", required=True, help="site name written into the file")
    p.add_argument("--out", required=True, metavar="FILE", help="e.g. site_A.ipdmeta.json")
    _stage1(p)
    g = p.add_argument_group("disclosure control")
    g.add_argument("--min-participants", type=int, default=10,
                   help="withhold studies with fewer participants (default 10)")
    g.add_argument("--min-events", type=int, default=3,
                   help="withhold studies with fewer events in an arm (default 3)")
    g.add_argument("--no-counts", action="store_true",
                   help="do not export per-arm counts (then --min-events does not apply)")
    _output(p, eform=False)

    p = add("pool", "pool a table of study estimates (stage 2)")
    p.add_argument("data", nargs="+",
                   help="one row per study: csv, dta, parquet, xlsx or json; or several "
                        "site files (*.ipdmeta.json) from `ipdmeta site`")
    _aggregate(p)
    _stage2(p)
    _forest(p)
    p.add_argument("--report", metavar="FILE", help="write an HTML report")
    p.add_argument("--title", help="report title")
    _output(p)

    p = add("metareg", "meta-regression of study estimates on study-level covariates")
    p.add_argument("data", help="one row per study")
    p.add_argument("formula", help='moderators, e.g. "~ C(intervention) + year"')
    _aggregate(p)
    _stage2(p, ci="hksj", by=False)
    p.add_argument("--permutations", type=int, help="permutation test arrangements")
    p.add_argument("--seed", type=int, help="random seed of the permutation test")
    _output(p)

    p = add("forest", "draw the forest plot of a table of study estimates")
    p.add_argument("data", help="one row per study")
    p.add_argument("--out", required=True, metavar="FILE", help="image file (png, pdf, svg)")
    _aggregate(p)
    _stage2(p)
    _forest(p, path=None)
    _output(p)

    p = add("report", "write a self-contained HTML report")
    p.add_argument("data", help="participant data (with --formula) or one row per study")
    p.add_argument("--out", required=True, metavar="FILE", help="the .html file")
    p.add_argument("--title", help="report title")
    p.add_argument("--metareg", metavar="FORMULA", help='add a meta-regression, "~ x"')
    _stage1(p, required=False)
    g = p.add_argument_group("aggregate data columns (without --formula)")
    for opt, h in (("--estimate", "estimate column"), ("--se", "standard error column"),
                   ("--variance", "variance column"), ("--measure", "effect measure")):
        g.add_argument(opt, help=h)
    _stage2(p)
    _forest(p, path=None)
    _output(p)

    p = add("stata", "translate and run Stata ipdmetan / metan / metareg command lines")
    p.add_argument("commands", nargs="*", metavar="COMMAND", help="Stata command lines")
    p.add_argument("--data", metavar="FILE", help="the data in memory (csv, dta, ...)")
    p.add_argument("--stset", nargs=2, metavar=("TIME", "EVENT"),
                   help="survival time and event columns for stcox")
    p.add_argument("--do", metavar="FILE", help="read the commands from a do-file")
    p.add_argument("--out", default=".", metavar="DIR",
                   help="folder for saving() files and forest plots (default: .)")
    p.add_argument("--no-graph", action="store_true", help="draw no forest plots")
    p.add_argument("--dry-run", action="store_true", help="translate only; run nothing")
    p.add_argument("--python", metavar="FILE", help="write the equivalent Python script")
    _output(p, eform=False)

    p = add("demo", "run the example analyses into an output folder")
    p.add_argument("--out", default="output", metavar="DIR", help="output folder (output)")
    _output(p, eform=False)

    p = add("datasets", "list the bundled example datasets, or write one to a file")
    p.add_argument("name", nargs="?", help="dataset to write (default: list them)")
    p.add_argument("--out", metavar="FILE", help="file to write (.csv, .dta, .parquet); "
                                                 "default: CSV on stdout")
    _output(p, eform=False)
    return parser
