"""The argument parser of the ``ipdmeta`` command (options, help texts and examples).

Example:
    >>> p = build_parser({})
    >>> a = p.parse_args(["pool", "AD.csv", "--method", "DL"])
    >>> a.command, a.method, a.ci
    ('pool', 'DL', 'z')
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from typing import Any, NoReturn

#: the tests of ``ipdmeta bias`` (each a method of the pooled result)
BIAS_TESTS = ("egger", "rank", "harbord", "peters", "trimfill", "fsn", "tes", "selection")

MAIN_EPILOG = """\
examples:
  ipdmeta datasets                                  # the bundled example data
  ipdmeta datasets hypertension --out hyp.csv       # write one to a file
  ipdmeta run hyp.csv --study trial \\
      --formula "Surv(time, event) ~ treat + smk + sbpi + age + bmi" \\
      --method REML --ci hksj --forest forest.png --save AD.dta --names ipdmetan
  ipdmeta pool AD.dta --method REML --ci hksj --eform
  ipdmeta metareg AD.dta "~ C(intervention)" --eform
  ipdmeta bias bcg.csv --estimate yi --variance vi --test egger rank trimfill
  ipdmeta stata 'ipdmetan, study(trial) re(reml, hksj) hr : stcox treat age' \\
      --data hyp.csv --stset time event
  ipdmeta report hyp.csv --study trial --formula "Surv(time, event) ~ treat" --out r.html
  ipdmeta ipdover hyp.csv --over smk --study trial --formula "Surv(time, event) ~ treat" \\
      --forest over.png
  ipdmeta demo --out output

exit codes: 0 success; 1 the analysis ran but failed (no study could be estimated or
pooled, an estimator did not converge); 2 usage error (unknown command, option, column
or file; an invalid value; data that cannot be used as given).
Results go to stdout (--json for scripts: a failure is then a JSON object {"error": ...}
on stdout), progress and errors to stderr.  Existing files are replaced only with --force,
and input files never.
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
  ipdmeta pool bcg.csv --estimate yi --variance vi --study trial --measure RR --ci hksj
  ipdmeta pool AD.dta --by intervention --forest forest.png --eform
  ipdmeta pool counts.csv --events d1 d0 --n n1 n0 --measure OR --method MH \\
      --study trial --forest forest.png --counts
  ipdmeta pool means.csv --means m1 m0 --sds s1 s0 --n n1 n0 --measure SMD --method REML
""",
    "metareg": """\
examples:
  ipdmeta metareg AD.dta "~ C(intervention)" --eform
  ipdmeta metareg bcg.csv "~ ablat" --estimate yi --variance vi --permutations 1000 --seed 1
""",
    "bias": """\
Small-study and publication-bias tools on a pooled table (metafor's regtest,
ranktest, trimfill, fsn, tes, selmodel; Stata's metabias, metatrim): each --test is run
on the result of `ipdmeta pool` with the same options and printed in turn.
harbord and peters need the 2x2 counts (--events T C with --nonevents or --n,
--measure OR).

examples:
  ipdmeta bias bcg.csv --estimate yi --variance vi --test egger rank trimfill fsn
  ipdmeta bias bcg.csv --events tpos cpos --nonevents tneg cneg --measure OR \\
      --test harbord peters --method common
  ipdmeta bias bcg.csv --estimate yi --variance vi --test trimfill --funnel tf.png --json
  ipdmeta bias bcg.csv --estimate yi --variance vi --test selection --steps 0.025 0.5
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
    "ipdover": """\
The treatment effect within the levels of each --over column (Stata's ipdover):
one model per subgroup, or with --study two-stage within each subgroup (the model in
each trial, pooled with --method/--ci); --by repeats it within each level of a
column (--by STUDY: each trial's estimate in each subgroup).

examples:
  ipdmeta ipdover hyp.csv --over smk --study trial \\
      --formula "Surv(time, event) ~ treat + age" --forest over.png --eform
  ipdmeta ipdover lbw.csv --over race smoke ht --formula "low ~ age" --model logistic
  ipdmeta ipdover hyp.csv --over smk --study trial --by trial \\
      --formula "Surv(time, event) ~ treat" --save over.dta
""",
    "demo": """\
Runs the three example analyses (Cox on hypertension, linear on weight_gain,
logistic on weight_gain_binary with subgroups and a meta-regression) and writes
summaries, forest plots, aggregate data and report.html into the folder.
""",
}


class Parser(argparse.ArgumentParser):
    """argparse with "did you mean" for mistyped commands and options, and a JSON error
    object on standard output when ``--json`` is on the command line."""

    root: Parser                                   # a sub-command's parser: the main one
    subcommands: dict[str, argparse.ArgumentParser]  # the main parser: its sub-commands

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        self.argv = list(sys.argv[1:] if args is None else args)
        return super().parse_args(self.argv, namespace)

    def error(self, message: str) -> NoReturn:
        root = getattr(self, "root", self)
        argv = getattr(root, "argv", [])
        message += suggestion(message, root, argv)
        if "--json" in argv:
            print(json.dumps({"error": {"type": "UsageError", "message": message,
                                        "exit_code": 2}}, indent=2))
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def suggestion(message: str, root: argparse.ArgumentParser, argv: list[str]) -> str:
    """"; did you mean ...?" for an invalid choice or unrecognised options, else ""."""
    m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if m:
        choices = [c.strip(" '\"") for c in m.group(2).split(",")]
        close = difflib.get_close_matches(m.group(1), choices, n=3, cutoff=0.5)
        return f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    m = re.search(r"unrecognized arguments: (.*)", message)
    if not m:
        return ""
    sub = getattr(root, "subcommands", {})
    command = next((a for a in argv if a in sub), None)
    options = [o for a in (sub[command] if command else root)._actions
               for o in a.option_strings]
    hints = []
    for token in m.group(1).split():
        if token.startswith("-"):
            close = difflib.get_close_matches(token.split("=")[0], options, n=2, cutoff=0.6)
            if close:
                hints.append(f"{' or '.join(close)} (for {token})")
    return f"; did you mean {', '.join(hints)}?" if hints else ""


def _permutations(text: str) -> int:
    value = int(text)
    if value != 0 and value < 2:
        raise argparse.ArgumentTypeError(f"{text} is not a number of permutations (0 for none, "
                                         "or at least 2)")
    return value


def _force(p: Any) -> None:
    p.add_argument("--force", action="store_true",
                   help="replace output files that exist (input files are never replaced)")


def _stage1(p: argparse.ArgumentParser, required: bool = True) -> None:
    g = p.add_argument_group("stage 1 (one model per study)")
    g.add_argument("--study", required=required, help="study identifier column")
    g.add_argument("--formula", required=required,
                   help='model formula, e.g. "Surv(time, event) ~ treat + age" or "y ~ treat"')
    g.add_argument("--model", choices=["linear", "logistic", "poisson", "cox", "logrank", "rr",
                                       "rd", "negbin", "ordinal", "weibull", "exponential",
                                       "finegray"],
                   help="model family (cox is inferred from Surv()); logrank: Peto O - E, V; "
                        "rr: log-binomial, rd: "
                        "identity-binomial, negbin: negative binomial, ordinal: "
                        "proportional odds, weibull/exponential: parametric PH (Surv()), "
                        "finegray: competing risks (Surv(time, status 0/1/2))")
    g.add_argument("--scale", choices=["ph", "aft"],
                   help="weibull/exponential: log hazard ratios (ph, default, Stata's streg) "
                        "or log time ratios (aft, R's survreg)")
    g.add_argument("--cluster", metavar="COL",
                   help="cluster-robust standard errors per study (CR1, Stata's vce(cluster))")
    g.add_argument("--robust", action="store_true",
                   help="robust (sandwich) standard errors, Stata's vce(robust)")
    g.add_argument("--imputation", metavar="COL",
                   help="multiply imputed data in long format: the column numbering the "
                        "imputations (mice's .imp, Stata's _mi_m); Rubin's rules per study")
    g.add_argument("--poolvar", help="design column to pool (default: the first term)")
    g.add_argument("--interaction", nargs=2, metavar=("A", "B"),
                   help="pool the within-study interaction A x B (deft approach)")
    g.add_argument("--ties", choices=["efron", "breslow"],
                   help="Cox ties (default efron; Stata's stcox uses breslow)")
    g.add_argument("--keep", nargs="+", metavar="COL", help="study-level columns to keep")
    g.add_argument("--strata", nargs="+", metavar="COL", help="Cox / log-rank strata columns")
    g.add_argument("--exposure", help="Poisson / negbin exposure column (log offset)")
    g.add_argument("--offset", help="Poisson / negbin offset column")
    g.add_argument("--firth", action="store_true",
                   help="Firth's penalised likelihood (logistic, Cox): sparse trials")
    g.add_argument("--engine", choices=["serial", "processes", "dask"], help="stage-1 engine")
    g.add_argument("--n-jobs", type=int, help="worker processes for --engine processes")


def _stage2(p: argparse.ArgumentParser, ci: str = "z", by: bool = True) -> None:
    g = p.add_argument_group("stage 2 (pooling)")
    g.add_argument("--method", default="REML",
                   help="common (FE), DL, REML (default), ML, PM, PMM, EB, HE, SJ, HS, GENQ, "
                        "HM, BP, B0, DK2S, SJ2S (SJ2S-REML ...), BDL; models: mult, IVhet, BT, "
                        "t, mixture (robust, as metaplus); MH or peto with 2x2 counts "
                        "(--events, --n)")
    g.add_argument("--ci", default=ci,
                   help=f"z, t, hksj, hksj-trunc, hksj-zovert, pl, pl-bartlett, pl-skovgaard, "
                        f"kr, kr-oim, hc (default {ci})")
    g.add_argument("--level", type=float, default=0.95, help="confidence level (0.95 or 95)")
    g.add_argument("--pi", default="hts", help="prediction interval: hts (default), metafor, kr")
    g.add_argument("--pi-level", type=float, help="level of the prediction interval "
                                                   "(default: --level; metan rflevel())")
    g.add_argument("--tau2-ci", default="qp", help="tau² interval: qp (default), pl")
    g.add_argument("--i2", choices=["tau2", "q"], default="tau2",
                   help="I² from tau² (default, as metafor) or from Cochran's Q (as metan)")
    g.add_argument("--reps", type=int, default=1000,
                   help="bootstrap replicates of --method BDL (default 1000)")
    g.add_argument("--boot-seed", type=int, help="seed of --method BDL")
    g.add_argument("--n-column", help="column of study sizes (--method B0; default n or _NN)")
    if by:
        g.add_argument("--by", help="subgroup column (study level)")


def _published(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("published aggregate data added in stage 2 (ipdmetan's ad())")
    g.add_argument("--aggregate", metavar="FILE", help="table of published study results")
    g.add_argument("--aggregate-columns", nargs="+", metavar="KEY=COLUMN",
                   help="e.g. study=trial estimate=hr ci_low=lci ci_high=uci (keys: study, "
                        "estimate, se, variance, ci_low, ci_high, oe, v, n, events; or per "
                        "arm: events_1 n_1 events_0 n_0, or mean_1 sd_1 n_1 mean_0 sd_0 n_0)")
    g.add_argument("--aggregate-measure", help="measure of the published rows (HR, OR ...)")
    g.add_argument("--aggregate-scale", choices=["ratio", "log"],
                   help="ratio measures given as ratios (default) or logs")
    g.add_argument("--relabel", action="store_true",
                   help="rename published studies whose labels clash with IPD studies")


def _aggregate(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("aggregate data columns (found automatically when omitted)")
    g.add_argument("--estimate", help="estimate column (estimate, yi, _ES ...)")
    g.add_argument("--se", help="standard error column (se, sei, _seES ...)")
    g.add_argument("--variance", help="variance column (vi ...), instead of --se")
    g.add_argument("--study", help="study label column")
    g.add_argument("--measure", help="effect measure for display: HR, OR, RR, IRR, MD ...; "
                                     "with summary data the measure to compute")
    g = p.add_argument_group(
        "summary data (instead of estimates): two columns (treatment control) for two-group "
        "measures, one for one-group measures; see ipdmeta.effects.effect_sizes")
    for name, what in (("events", "event counts"), ("n", "group sizes"),
                       ("nonevents", "non-event counts (instead of --n)"), ("means", "means"),
                       ("sds", "standard deviations"), ("time", "person-time (rates)"),
                       ("cor", "correlations")):
        g.add_argument(f"--{name}", nargs="+", metavar="COL", help=what)
    g.add_argument("--correction", type=float,
                   help="continuity correction added to zero counts (default 0.5)")
    g.add_argument("--to", default="only0", choices=["only0", "all", "if0all", "none"],
                   help="which studies get the correction (default only0)")
    g.add_argument("--drop-double-zero", action=argparse.BooleanOptionalAction, default=None,
                   help="set aside 2x2 tables without events in both arms (default: yes "
                        "for MH/Peto, no otherwise, as metafor)")
    g.add_argument("--correction-type", default="constant",
                   choices=["constant", "opposite", "empirical"],
                   help="Sweeting's arm-specific corrections (metan cc(, opposite empirical))")


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
    g.add_argument("--counts", action="store_true",
                   help="events/N (or N, mean (SD)) per arm left of the plot (summary data)")
    g.add_argument("--group-names", nargs=2, metavar=("TREATMENT", "CONTROL"),
                   help="headers of the --counts columns (Stata group1/group2)")
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


def _output(p: argparse.ArgumentParser, eform: bool = True, writes: bool = True) -> None:
    g = p.add_argument_group("output")
    if eform:
        g.add_argument("--eform", action=argparse.BooleanOptionalAction, default=None,
                       help="show exponentiated estimates (default: for HR, OR, RR, IRR)")
    g.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    g.add_argument("--quiet", action="store_true",
                   help="no progress messages or bars on stderr (errors only)")
    g.add_argument("--debug", action="store_true",
                   help="show debug messages and the tracebacks of internal errors")
    if writes:
        _force(g)


def build_parser(commands: dict[str, Callable[[argparse.Namespace], int]]
                 ) -> argparse.ArgumentParser:
    """The ``ipdmeta`` parser; ``commands`` maps sub-command names to their functions."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = Parser(
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
        p.root = parser
        parser.subcommands[name] = p
        return p

    parser.subcommands = {}

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
    g.add_argument("--saving", metavar="FILE",
                   help="save ipdmetan's results set, the rows of the forest plot with _USE, "
                        "_ES, _WT ... and the --left/--right-columns (.dta .csv .parquet)")
    g.add_argument("--report", metavar="FILE", help="write an HTML report")
    g.add_argument("--title", help="report title")
    _published(p)
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
    p.add_argument("--permutations", type=_permutations,
                   help="permutation test arrangements (0: none, else at least 2)")
    p.add_argument("--seed", type=int, help="random seed of the permutation test")
    p.add_argument("--joint", nargs="+", metavar="TERM",
                   help="terms whose joint test also gets a permutation p-value")
    _output(p, writes=False)

    p = add("bias", "small-study and publication-bias tests on a table of study estimates")
    p.add_argument("data", help="one row per study")
    p.add_argument("--test", nargs="+", required=True, choices=BIAS_TESTS, metavar="TEST",
                   help=f"one or more of {', '.join(BIAS_TESTS)}")
    _aggregate(p)
    _stage2(p, by=False)
    p.set_defaults(by=None)
    g = p.add_argument_group("test options")
    g.add_argument("--egger-model", choices=["rma", "lm"], default="rma",
                   help="egger: meta-regression with the pooling options (rma, default, as "
                        "metafor) or the classic weighted regression (lm, as metabias)")
    g.add_argument("--predictor", default="sei",
                   help="egger: sei (default), vi, ni, ninv, sqrtni, sqrtninv")
    g.add_argument("--side", choices=["left", "right"],
                   help="trimfill: where the missing studies are (default: from Egger's slope)")
    g.add_argument("--estimator", choices=["L0", "R0", "Q0"], default="L0",
                   help="trimfill: estimator of the number of missing studies (L0)")
    g.add_argument("--fsn-method", choices=["rosenthal", "orwin", "rosenberg"],
                   default="rosenthal", help="fsn: the fail-safe N (rosenthal)")
    g.add_argument("--selection-type", default="stepfun",
                   choices=["stepfun", "beta", "halfnorm", "negexp", "logistic", "power"],
                   help="selection: the selection function (stepfun)")
    g.add_argument("--steps", type=float, nargs="+", metavar="P",
                   help="selection: p-value cut-points of the step function (e.g. 0.025 0.5)")
    g.add_argument("--funnel", metavar="FILE",
                   help="write the funnel plot (with the filled studies of trimfill)")
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
    _published(p)
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

    p = add("ipdover", "the treatment effect within subgroups of participants (ipdover)")
    p.add_argument("data", help="participant data file")
    p.add_argument("--over", nargs="+", required=True, metavar="COL",
                   help="columns whose levels define the subgroups")
    p.add_argument("--missing", action="store_true",
                   help="treat missing values of --over/--by as a subgroup")
    _stage1(p, required=False)
    _stage2(p, by=False)
    p.add_argument("--by", metavar="COL",
                   help="repeat within each level of COL (Stata's second over(); the study "
                        "column gives each trial's estimate in each subgroup)")
    _forest(p)
    p.add_argument("--save", metavar="FILE", help="save the results set (.dta .csv .parquet)")
    _output(p)

    p = add("demo", "run the example analyses into an output folder")
    p.add_argument("--out", default="output", metavar="DIR", help="output folder (output)")
    _output(p, eform=False)

    p = add("datasets", "list the bundled example datasets, or write one to a file")
    p.add_argument("name", nargs="?", help="dataset to write (default: list them)")
    p.add_argument("--out", metavar="FILE", help="file to write (.csv, .dta, .parquet); "
                                                 "default: CSV on stdout")
    _output(p, eform=False)
    return parser
