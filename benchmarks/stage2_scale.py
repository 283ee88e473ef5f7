"""Benchmark: stage 2 at scale, REML with Q-profile intervals for 10,000 studies.

Simulates ``--k`` study estimates (true tau^2 = 0.05, within-study variances uniform
on 0.01-0.5) and times ``ipd.pool(..., method="REML", tau2_ci="qp")`` (estimate,
Wald interval, tau^2 by REML, its Q-profile interval, I^2 and H^2 with their
intervals) against metafor's ``rma(yi, vi, method = "REML")`` followed by
``confint()`` (the same Q-profile interval) through ``Rscript``, and against the
same numbers computed directly in a dozen lines of R (``uniroot()`` of the REML
score and of the generalised Q statistic); only the R calls are
timed.  Everything converges to 1e-12 or better (metafor: ``control =
list(threshold = 1e-12)`` and ``confint(..., control = list(tol = 1e-12))``); the
script checks that all reported numbers agree to 1e-6 (exit status 1 if not).
metafor's ``rma()`` works with k x k matrices, so its time grows about as k^3
(``--no-metafor`` leaves it out).

Usage::

    python benchmarks/stage2_scale.py                 # k = 10,000
    python benchmarks/stage2_scale.py --k 1000 --markdown

Example (the simulation only):
    >>> simulate(3, seed=1).columns.tolist()
    ['yi', 'vi']
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import pandas as pd
from _bench import best_of, machine, r_version, run_rscript, table

import ipdmeta as ipd

NAMES = ["estimate", "se", "tau2", "tau2_low", "tau2_high", "I2", "I2_low", "I2_high"]
R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
t0 <- proc.time()[["elapsed"]]
res <- rma(yi, vi, data = d, method = "REML", control = list(threshold = 1e-12, maxiter = 1000))
t1 <- proc.time()[["elapsed"]]
ci <- confint(res, control = list(tol = 1e-12))
secs <- proc.time()[["elapsed"]] - t0
r <- ci$random
cat(sprintf("%.17g", c(secs, t1 - t0, res$b[1], res$se, res$tau2, r["tau^2", 2],
                       r["tau^2", 3], res$I2, r["I^2(%)", 2], r["I^2(%)", 3])), sep = "\n")
"""


#: the same quantities computed directly in R, O(k) per evaluation (metafor's rma()
#: works with k x k matrices): REML and the Q-profile limits by uniroot()
R_DIRECT = r"""
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
y <- d$yi; v <- d$vi; k <- length(y)
t0 <- proc.time()[["elapsed"]]
mu <- function(t2) sum(y / (v + t2)) / sum(1 / (v + t2))
score <- function(t2) { w <- 1 / (v + t2)      # derivative of the REML log-likelihood
  0.5 * (sum(w^2 * (y - mu(t2))^2) - sum(w) + sum(w^2) / sum(w)) }
tau2 <- if (score(0) <= 0) 0 else uniroot(score, c(0, 10 * var(y)), tol = 1e-14)$root
Q <- function(t2) sum((y - mu(t2))^2 / (v + t2))
lim <- function(q) if (Q(0) < q) 0 else
  uniroot(function(t2) Q(t2) - q, c(0, 100 * var(y)), tol = 1e-14)$root
lo <- lim(qchisq(0.975, k - 1)); hi <- lim(qchisq(0.025, k - 1))
w <- 1 / v; s2 <- (k - 1) * sum(w) / (sum(w)^2 - sum(w^2))
i2 <- function(t2) 100 * t2 / (t2 + s2)
secs <- proc.time()[["elapsed"]] - t0
cat(sprintf("%.17g", c(secs, secs, mu(tau2), sqrt(1 / sum(1 / (v + tau2))), tau2, lo, hi,
                       i2(tau2), i2(lo), i2(hi))), sep = "\n")
"""


def simulate(k: int, seed: int = 2024, tau2: float = 0.05) -> pd.DataFrame:
    """``k`` estimates ``yi`` with variances ``vi``."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, k)
    return pd.DataFrame({"yi": rng.normal(0.2, np.sqrt(vi + tau2)), "vi": vi})


def ours(frame: pd.DataFrame) -> np.ndarray:
    """ipdmeta's numbers, in the order of ``NAMES``."""
    o = ipd.pool(frame, estimate="yi", variance="vi", method="REML", tau2_ci="qp").overall
    return np.array([o.estimate, o.se, o.tau2, *o.tau2_ci, o.I2, *o.I2_ci])


def metafor(frame: pd.DataFrame, code: str = R_SCRIPT
            ) -> tuple[float, float, np.ndarray] | None:
    """Seconds of ``rma()`` + ``confint()``, of ``rma()`` alone, and metafor's numbers
    (``code=R_DIRECT``: the direct R computation); None without R."""
    res = run_rscript(code, frame)
    if res is None:
        return None
    vals = np.array([float(v) for v in res[0].split()])
    return vals[0], vals[1], vals[2:]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--no-metafor", action="store_true",
                    help="only the direct R computation (metafor needs O(k^3) time)")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    frame = simulate(args.k, args.seed)
    ours(frame.head(50))                                  # warm up
    secs, mine = best_of(lambda: ours(frame), 5)
    rows = [["ipdmeta pool", f"{secs * 1000:.1f}", "1.0x", "0"]]
    ok = True
    print(f"k = {args.k:,} studies; " + ", ".join(f"{n} {v:.6g}" for n, v in
                                                    zip(NAMES, mine, strict=True)))
    print(machine())
    peers = [("R, direct: uniroot() of the REML score and of Q", R_DIRECT, False)]
    if not args.no_metafor:
        peers.insert(0, (f"metafor rma + confint ({r_version('metafor')})", R_SCRIPT, True))
    for name, code, split_time in peers:
        got = metafor(frame, code)
        if got is None:
            continue
        diff = float(np.max(np.abs(got[2] - mine)))
        ok &= diff <= 1e-6
        when = f"{got[0] * 1000:.1f}" + (f" (rma alone {got[1] * 1000:.0f})" if split_time
                                         else "")
        rows.append([name, when, f"{got[0] / secs:.0f}x",
                     f"{diff:.1e}" + ("" if diff <= 1e-6 else " (> 1e-6!)")])
    headers = ["tool", "time (ms)", "time / ipdmeta",
               "max abs diff (estimate, se, tau2 and CI, I2 and CI)"]
    print(table(headers, rows) if args.markdown else
          pd.DataFrame(rows, columns=headers).to_string(index=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
