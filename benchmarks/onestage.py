"""Benchmark: one-stage IPD meta-analysis, ipdmeta vs lme4 (R) and statsmodels MixedLM.

Simulates ``--trials`` trials of ``--n`` participants (a 0/1 treatment with a random
effect of sd ``--tau`` across trials, trial-specific intercepts, four normal covariates
with common effects) and fits the one-stage model with stratified trial intercepts
(fixed factors) and a random treatment effect:

* ipdmeta: ``ipd.onestage(data, study="trial", formula="y ~ treat + x1 + x2 + x3 + x4",
  model=..., nagq=...)`` — whole call from the DataFrame (design, fit, standard errors,
  BLUPs); once without and once with the profile-likelihood interval of tau²;
* lme4 through ``Rscript``: ``glmer(y ~ 0 + factor(trial) + treat + x1 + ... +
  (0 + treat | trial), nAGQ = q)`` (logistic) or ``lmer(..., REML = TRUE)`` (linear), lme4's
  default optimiser settings; only the fitting call is timed (inside R);
* statsmodels (linear only): ``MixedLM`` with the trial dummies as fixed effects and
  ``re_formula="0 + treat"``, REML.  (statsmodels has no maximum-likelihood GLMM: its
  ``BinomialBayesMixedGLM`` is a variational Bayes approximation, not compared.)

Prints times and the treatment estimate, its standard error and tau² of each tool, with
the largest difference from ipdmeta.

Usage::

    python benchmarks/onestage.py --model logistic --trials 100 --n 1000 --nagq 1
    python benchmarks/onestage.py --model logistic --trials 100 --n 1000 --nagq 7 --markdown
    python benchmarks/onestage.py --model linear --trials 100 --n 1000
    python benchmarks/onestage.py --model logistic --intercepts random --nagq 1

Example (the lme4 formula):
    >>> r_formula("logistic")
    'y ~ 0 + factor(trial) + treat + x1 + x2 + x3 + x4 + (0 + treat | trial)'
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _bench import COVS, RHS, machine, r_version, run_rscript, simulate, table

import ipdmeta as ipd

R_CODE = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
model <- args[3]; q <- as.integer(args[4]); f <- as.formula(args[5])
t0 <- proc.time()
fit <- if (model == "linear") lmer(f, data = d, REML = TRUE) else
  glmer(f, data = d, family = if (model == "logistic") binomial else poisson, nAGQ = q)
dt <- proc.time() - t0
est <- fixef(fit)[["treat"]]; se <- sqrt(diag(as.matrix(vcov(fit))))[["treat"]]
vc <- as.data.frame(VarCorr(fit))
tau2 <- vc$vcov[vc$var1 == "treat" & is.na(vc$var2)]
write.csv(data.frame(est = est, se = se, tau2 = tau2), args[2], row.names = FALSE)
cat(dt[["elapsed"]], dt[["user.self"]] + dt[["sys.self"]], "\n")
"""


def r_formula(model: str, intercepts: str = "stratified") -> str:
    """The lme4 formula of the benchmark model."""
    if intercepts == "random":
        return f"y ~ {RHS} + (treat | trial)"
    return f"y ~ 0 + factor(trial) + {RHS} + (0 + treat | trial)"


def timed(fn):
    """(wall seconds, CPU seconds, result) of one call."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - w, time.process_time() - c, out


def fit_statsmodels(data) -> tuple[float, float, tuple[float, float, float]]:
    """Wall and CPU seconds and (estimate, se, tau²) of statsmodels MixedLM (REML)."""
    import statsmodels.formula.api as smf

    wall, cpu, m = timed(lambda: smf.mixedlm(f"y ~ 0 + C(trial) + {RHS}", data,
                                             groups=data["trial"],
                                             re_formula="0 + treat").fit(reml=True))
    return wall, cpu, (float(m.params["treat"]), float(m.bse["treat"]),
                       float(m.cov_re.iloc[0, 0]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["logistic", "linear", "poisson"], default="logistic")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--nagq", type=int, default=1)
    ap.add_argument("--tau", type=float, default=0.3)
    ap.add_argument("--intercepts", choices=["stratified", "random"], default="stratified")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip", nargs="*", default=[], choices=["R", "statsmodels"])
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    data = simulate(args.trials, args.n, args.model, tau=args.tau, intercept_sd=0.5)
    formula = f"y ~ {RHS}"
    nagq = args.nagq if args.model != "linear" else None

    def ours(ci: bool):
        return ipd.onestage(data, study="trial", formula=formula, model=args.model,
                            nagq=nagq, intercepts=args.intercepts, tau2_ci=ci)
    runs = [timed(lambda: ours(False)) for _ in range(args.repeat)]
    wall, cpu, res = min(runs, key=lambda r: r[0])
    wall_ci, cpu_ci, res_ci = timed(lambda: ours(True))
    mine = np.array([res.estimate, res.se, res.tau2])
    rows = [["ipdmeta onestage", f"{wall:.2f}", f"{cpu:.2f}", *(f"{v:.6f}" for v in mine),
             "0"],
            ["ipdmeta, with tau² profile CI", f"{wall_ci:.2f}", f"{cpu_ci:.2f}",
             *(f"{v:.6f}" for v in mine), "0"]]
    if "R" not in args.skip:
        out = run_rscript(R_CODE, data[["trial", "y", *COVS]], args.model, nagq or 1,
                          r_formula(args.model, args.intercepts))
        if out is not None:
            stdout, frame = out
            theirs = frame.to_numpy(float)[0]
            r_wall, r_cpu = map(float, stdout.split()[-2:])
            label = ("lme4 lmer (REML)" if args.model == "linear"
                     else f"lme4 glmer (nAGQ = {nagq})")
            rows.append([label, f"{r_wall:.2f}", f"{r_cpu:.2f}",
                         *(f"{v:.6f}" for v in theirs),
                         f"{np.max(np.abs(theirs - mine)):.1e}"])
    if args.model == "linear" and "statsmodels" not in args.skip:
        sm_wall, sm_cpu, sm = fit_statsmodels(data)
        rows.append(["statsmodels MixedLM (REML)", f"{sm_wall:.2f}", f"{sm_cpu:.2f}",
                     *(f"{v:.6f}" for v in sm), f"{np.max(np.abs(np.array(sm) - mine)):.1e}"])
    head = ["tool", "wall s", "CPU s", "treat", "se", "tau²", "max diff vs ipdmeta"]
    what = (f"{args.model}, {args.trials} trials x {args.n}, {args.intercepts} intercepts, random "
            f"treatment effect" + (f", nagq = {nagq}" if nagq else "") + f"; {res.estimation}")
    print(what)
    print(table(head, rows) if args.markdown else "\n".join(
        "  ".join(f"{c:>14}" for c in r) for r in [head, *rows]))
    print(f"\nmachine: {machine()}; {r_version('lme4')}")
    print(f"tau² 95% profile CI: {res_ci.tau2_ci[0]:.4f} to {res_ci.tau2_ci[1]:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
