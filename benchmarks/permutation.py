"""Benchmark: permutation test of a REML meta-regression, ipdmeta vs metafor's permutest.

Simulates ``--k`` studies with a continuous and a binary moderator, then times
``ipd.metareg(..., permutations=B)`` (all refits batched in numpy) and, when
``Rscript`` with metafor is on the PATH, ``permutest(rma(...), iter=B)`` on the same
data.  Only the permutation test is timed in R (not reading the data or the first
fit); ipdmeta's time includes the first fit.  The p-values of both are printed: with
random permutations they agree up to Monte Carlo error.

Usage::

    python benchmarks/permutation.py                       # k = 50, B = 10,000
    python benchmarks/permutation.py --k 20 --B 2000 --method DL --ci z
    python benchmarks/permutation.py --markdown            # a row for docs/benchmarks.md

Example (the simulation only):
    >>> simulate(k=5, seed=1).columns.tolist()
    ['yi', 'vi', 'x', 'g']
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from _bench import machine, run_rscript, table

from ipdmeta.pooling.metareg import metareg

TESTS = {"z": "z", "t": "t", "hksj": "knha", "hksj-trunc": "adhoc"}

R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
B <- as.integer(args[3])
res <- rma(yi, vi, mods = ~ x + factor(g), data = d, method = args[4], test = args[5],
           control = list(threshold = 1e-12, maxiter = 1000))
t0 <- proc.time()[["elapsed"]]
pt <- permutest(res, iter = B, progbar = FALSE)
secs <- proc.time()[["elapsed"]] - t0
cat(secs, pt$pval, pt$QMp, sep = "\n")
"""


def simulate(k: int = 50, seed: int = 7) -> pd.DataFrame:
    """k studies: a continuous moderator x (slope 0.1), a binary g (no effect), tau² = 0.04."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=k)
    g = rng.choice(["a", "b"], size=k)
    vi = rng.uniform(0.01, 0.2, size=k)
    yi = 0.2 + 0.1 * x + rng.normal(0, 0.2, size=k) + rng.normal(0, np.sqrt(vi))
    return pd.DataFrame({"yi": yi, "vi": vi, "x": x, "g": g})


def run_ipdmeta(data: pd.DataFrame, B: int, method: str, ci: str, seed: int
                ) -> tuple[float, np.ndarray, float]:
    """Seconds (best of 3) and the permutation p-values (coefficients, QM)."""
    metareg(data, "~ x + C(g)", method=method, ci=ci, permutations=200, seed=seed)  # warm-up
    best, res = float("inf"), None
    for _ in range(3):
        t0 = time.perf_counter()
        res = metareg(data, "~ x + C(g)", method=method, ci=ci, permutations=B, seed=seed)
        best = min(best, time.perf_counter() - t0)
    assert res is not None and res.permutation is not None
    return best, res.coef["pvalue_perm"].to_numpy(), res.permutation.QM_pvalue


def run_r(data: pd.DataFrame, B: int, method: str, ci: str
          ) -> tuple[float, np.ndarray, float] | None:
    """Seconds and p-values of metafor's permutest, or None without R and metafor."""
    res = run_rscript(R_SCRIPT, data, B, method, TESTS[ci], check=False)
    if res is None:
        return None
    values = [float(s) for s in res[0].split()]
    return values[0], np.array(values[1:-1]), values[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--B", type=int, default=10_000)
    parser.add_argument("--method", default="REML")
    parser.add_argument("--ci", default="hksj", choices=list(TESTS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-r", action="store_true", help="skip metafor")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    data = simulate(args.k)
    ours = run_ipdmeta(data, args.B, args.method, args.ci, args.seed)
    theirs = None if args.no_r else run_r(data, args.B, args.method, args.ci)
    print(f"k = {args.k}, permutations = {args.B:,}, method = {args.method}, ci = {args.ci}")
    print(f"ipdmeta : {ours[0]:8.3f} s   p = {np.round(ours[1], 4)}, QM p = {ours[2]:.4f}")
    if theirs is not None:
        print(f"metafor : {theirs[0]:8.3f} s   p = {np.round(theirs[1], 4)}, "
              f"QM p = {theirs[2]:.4f}   ({theirs[0] / ours[0]:.0f}x slower)")
    if args.markdown:
        r_cell = "-" if theirs is None else f"{theirs[0]:.1f} s"
        ratio = "-" if theirs is None else f"{theirs[0] / ours[0]:.0f}x"
        print(table(["k", "permutations", "model", "ipdmeta", "metafor permutest",
                     "ratio"], [[args.k, f"{args.B:,}", f"{args.method}, {args.ci}",
                                 f"{ours[0]:.2f} s", r_cell, ratio]]))
        print(f"\nMachine: {machine()}")


if __name__ == "__main__":
    main()
