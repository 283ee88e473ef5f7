"""Benchmark: the stage-1 families of issue 16, ipdmeta vs loops of statsmodels, lifelines and R.

Simulates ``--trials`` trials of ``--n`` participants (a 0/1 treatment and four normal
covariates) with an outcome of the family and times ``ipdmeta.stage1`` (the whole of
stage 1: formula, split, fits, table) against a plain loop of one fit per trial in

* statsmodels: ``NegativeBinomial`` (negbin), ``OrderedModel`` (ordinal), ``GLM`` with
  ``Binomial(link=Log())`` (rr), ``Binomial(link=Identity())`` (rd), ``Poisson`` with
  offset ``log(time)`` (exponential: the same likelihood);
* lifelines: ``WeibullAFTFitter`` (weibull, converted to PH);
* R (``Rscript``; only the loop is timed): ``MASS::glm.nb``, ``ordinal::clm``,
  ``glm(binomial(link = "log"))`` and ``(link = "identity")``, ``survival::survreg``
  (weibull and exponential, converted to PH), ``cmprsk::crr``;

and ipdmeta's per-trial route (``batch=False``: each trial's design built with formulaic
and fitted on its own, the route every issue-16 family took before the shared design);

ipdmeta's times are the best of 3 runs (the peers': one run); the script reports the
largest difference of the treatment estimate from ipdmeta's (the
standard errors differ by definition for some peers: statsmodels' negative binomial
uses the observed information, as Stata's ``nbreg``).

Usage::

    python benchmarks/stage1_families.py --family negbin --trials 200 --n 500
    python benchmarks/stage1_families.py --family all --trials 100 --n 500 --markdown

Example (the simulated data):
    >>> d = simulate_family("ordinal", trials=2, n=50, seed=1)
    >>> sorted(d["y"].unique().tolist())
    [0, 1, 2, 3]
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
import pandas as pd
from _bench import BETA, COVS, RHS, best_of, machine, r_version, run_rscript, table

from ipdmeta.stage1 import stage1

FAMILIES = ("negbin", "ordinal", "rr", "rd", "weibull", "exponential", "finegray")
FORMULAS = {**{f: f"y ~ {RHS}" for f in ("negbin", "ordinal", "rr", "rd")},
            **{f: f"Surv(time, status) ~ {RHS}" for f in ("weibull", "exponential",
                                                          "finegray")}}


def simulate_family(family: str, trials: int, n: int, seed: int = 2024) -> pd.DataFrame:
    """``trials`` trials of ``n`` participants with an outcome of ``family``."""
    rng = np.random.default_rng(seed)
    N = trials * n
    X = rng.normal(size=(N, 5))
    X[:, 0] = rng.integers(0, 2, N)
    lp = X @ BETA
    out = {"trial": np.repeat(np.arange(1, trials + 1), n),
           **{c: X[:, j] for j, c in enumerate(COVS)}}
    if family == "negbin":
        mu = np.exp(0.5 + lp)
        out["y"] = rng.poisson(rng.gamma(2.0, mu / 2.0))
    elif family == "ordinal":
        out["y"] = np.digitize(lp + rng.logistic(size=N), [-1.0, 0.0, 1.0])
    elif family == "rr":
        out["y"] = (rng.random(N) < 0.25 * np.exp(0.3 * (lp - lp.max()) / 2)).astype(int)
    elif family == "rd":
        risk = np.clip(0.35 + 0.1 * X[:, 0] + 0.02 * X[:, 1:] @ np.ones(4), 0.05, 0.95)
        out["y"] = (rng.random(N) < risk).astype(int)
    else:
        shape = 1.0 if family == "exponential" else 1.5
        t = rng.weibull(shape, N) * 10 * np.exp(-lp / shape)
        c = rng.uniform(5, 30, N)
        status = (t <= c).astype(int)
        if family == "finegray":
            status = np.where(status == 1, 1 + (rng.random(N) < 0.3), 0)
        out["time"], out["status"] = np.round(np.minimum(t, c), 3) + 1e-3, status
    return pd.DataFrame(out)


def fit_statsmodels(data: pd.DataFrame, family: str) -> np.ndarray | None:
    """Treatment estimate per trial with statsmodels (None: no statsmodels model)."""
    if "y" not in data:   # the survival families: time and status
        data = data.assign(y=data["status"])
    import statsmodels.api as sm
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    if family not in ("negbin", "ordinal", "rr", "rd", "exponential"):
        return None
    warnings.simplefilter("ignore")      # the log link's DomainWarning, every trial
    out = []
    for _, g in data.groupby("trial", sort=True):
        X, y = g[COVS].to_numpy(float), g["y"].to_numpy(float)
        if family == "negbin":
            r = sm.NegativeBinomial(y, sm.add_constant(X)).fit(disp=0, maxiter=200,
                                                              method="newton", tol=1e-12)
            out.append(r.params[1])
        elif family == "ordinal":
            r = OrderedModel(y, X, distr="logit").fit(method="bfgs", disp=0, maxiter=2000,
                                                      gtol=1e-10)
            out.append(r.params[0])
        elif family == "exponential":
            r = sm.GLM(g["status"].to_numpy(float), sm.add_constant(X),
                       family=sm.families.Poisson(),
                       offset=np.log(g["time"].to_numpy(float))).fit(tol=1e-12)
            out.append(r.params[1])
        else:
            log = family == "rr"
            link = sm.families.links.Log() if log else sm.families.links.Identity()
            r = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial(link=link)).fit(
                tol=1e-12, start_params=np.r_[np.log(y.mean()) if log else y.mean(),
                                              np.zeros(5)])
            out.append(r.params[1])
    return np.array(out)


def fit_lifelines(data: pd.DataFrame, family: str) -> np.ndarray | None:
    """Treatment log HR per trial from lifelines' Weibull AFT fit (converted to PH)."""
    if family != "weibull":
        return None
    from lifelines import WeibullAFTFitter

    out = []
    for _, g in data.groupby("trial", sort=True):
        w = WeibullAFTFitter().fit(g[["time", "status", *COVS]], "time", "status")
        rho = np.exp(w.params_[("rho_", "Intercept")])
        out.append(-w.params_[("lambda_", "treat")] * rho)
    return np.array(out)


R_SCRIPT = r"""
suppressPackageStartupMessages({library(MASS); library(ordinal); library(survival);
                                library(cmprsk)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); family <- args[3]
parts <- split(d, d$trial)
rhs <- "treat + x1 + x2 + x3 + x4"
X <- function(p) as.matrix(p[, c("treat", "x1", "x2", "x3", "x4")])
fit <- switch(family,
  negbin = function(p) coef(glm.nb(as.formula(paste("y ~", rhs)), data = p,
                                   control = glm.control(epsilon = 1e-12)))[["treat"]],
  ordinal = function(p) coef(clm(as.formula(paste("factor(y) ~", rhs)), data = p,
                                 control = clm.control(gradTol = 1e-10)))[["treat"]],
  rr = function(p) coef(glm(as.formula(paste("y ~", rhs)), family = binomial(link = "log"),
                            data = p, start = c(log(mean(p$y)), rep(0, 5)),
                            control = glm.control(epsilon = 1e-12, maxit = 200)))[["treat"]],
  rd = function(p) coef(glm(as.formula(paste("y ~", rhs)),
                            family = binomial(link = "identity"), data = p,
                            start = c(mean(p$y), rep(0, 5)),
                            control = glm.control(epsilon = 1e-12, maxit = 200)))[["treat"]],
  exponential = function(p) -coef(survreg(as.formula(paste("Surv(time, status) ~", rhs)),
                                          data = p, dist = "exponential",
                                          control = survreg.control(rel.tolerance = 1e-12))
                                  )[["treat"]],
  weibull = function(p) {
    m <- survreg(as.formula(paste("Surv(time, status) ~", rhs)), data = p,
                 control = survreg.control(rel.tolerance = 1e-12))
    -coef(m)[["treat"]] / m$scale
  },
  finegray = function(p) crr(p$time, p$status, X(p), gtol = 1e-10, maxiter = 100)$coef[[1]])
t0 <- proc.time()[["elapsed"]]
res <- vapply(parts, fit, 0.0)
secs <- proc.time()[["elapsed"]] - t0
write.csv(data.frame(est = res), args[2], row.names = FALSE)
cat(secs, "\n")
"""


def run(family: str, trials: int, n: int, skip: set[str]) -> list[list]:
    """Rows of the table for one family: tool, seconds, ms per trial, ratio, max diff."""
    data = simulate_family(family, trials, n)
    kw = {"study": "trial", "formula": FORMULAS[family], "model": family}
    ours, ad = best_of(lambda: stage1(data, **kw))
    est = ad.to_frame()["estimate"].to_numpy()
    per_trial, one = best_of(lambda: stage1(data, batch=False, **kw))
    rows = [[f"ipdmeta stage1 ({family})", ours, est],
            ["ipdmeta stage1, batch=False", per_trial, one.to_frame()["estimate"].to_numpy()]]
    if "statsmodels" not in skip:
        t0 = time.perf_counter()
        sm = fit_statsmodels(data, family)
        if sm is not None:
            rows.append(["statsmodels loop", time.perf_counter() - t0, sm])
    if "lifelines" not in skip:
        t0 = time.perf_counter()
        ll = fit_lifelines(data, family)
        if ll is not None:
            rows.append(["lifelines loop", time.perf_counter() - t0, ll])
    if "R" not in skip:
        res = run_rscript(R_SCRIPT, data, family, check=False)
        if res is not None:
            rows.append([f"{r_version()} loop", float(res[0].split()[-1]),
                         res[1]["est"].to_numpy()])
    return [[tool, f"{secs:.2f}", f"{1000 * secs / trials:.2f}", f"{secs / ours:.1f}x",
             f"{np.nanmax(np.abs(e - est)):.1e}"] for tool, secs, e in rows]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--family", default="all", choices=[*FAMILIES, "all"])
    p.add_argument("--trials", type=int, default=100)
    p.add_argument("--n", type=int, default=500)
    p.add_argument("--skip", nargs="*", default=[], help="statsmodels, lifelines, R")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    print(f"{args.trials} trials x {args.n} participants, 5 covariates; {machine()}")
    for family in FAMILIES if args.family == "all" else (args.family,):
        rows = run(family, args.trials, args.n, set(args.skip))
        print(f"\n{family}\n" + table(["tool", "total (s)", "per trial (ms)", "time / ipdmeta",
                                       "max abs diff of the estimate"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
