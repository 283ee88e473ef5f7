"""Benchmark: stage 2 at scale, REML with Q-profile intervals for 10,000 studies.

Simulates ``--k`` study estimates (true tau^2 = 0.05, within-study variances uniform
on 0.01-0.5) and times ``ipd.pool(..., method="REML", tau2_ci="qp")`` (estimate,
Wald interval, tau^2 by REML, its Q-profile interval, I^2 and H^2 with their
intervals) against metafor's ``rma(yi, vi, method = "REML")`` followed by
``confint()`` (the same Q-profile interval) through ``Rscript``; only the two R
calls are timed.  Both converge to 1e-12 (metafor: ``control = list(threshold =
1e-12)`` and ``confint(..., control = list(tol = 1e-12))``); the script checks that
all reported numbers agree to 1e-6 (exit status 1 if not).

Usage::

    python benchmarks/stage2_scale.py                 # k = 10,000
    python benchmarks/stage2_scale.py --k 1000 --markdown

Example (the simulation only):
    >>> simulate(3, seed=1).columns.tolist()
    ['yi', 'vi']
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _bench import best_of, machine, r_version, table

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


def simulate(k: int, seed: int = 2024, tau2: float = 0.05) -> pd.DataFrame:
    """``k`` estimates ``yi`` with variances ``vi``."""
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.5, k)
    return pd.DataFrame({"yi": rng.normal(0.2, np.sqrt(vi + tau2)), "vi": vi})


def ours(frame: pd.DataFrame) -> np.ndarray:
    """ipdmeta's numbers, in the order of ``NAMES``."""
    o = ipd.pool(frame, estimate="yi", variance="vi", method="REML", tau2_ci="qp").overall
    return np.array([o.estimate, o.se, o.tau2, *o.tau2_ci, o.I2, *o.I2_ci])


def metafor(frame: pd.DataFrame) -> tuple[float, float, np.ndarray] | None:
    """Seconds of ``rma()`` + ``confint()``, of ``rma()`` alone, and metafor's numbers;
    None without R."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, script = Path(tmp) / "d.csv", Path(tmp) / "b.R"
        frame.to_csv(src, index=False, float_format="%.17g")
        script.write_text(R_SCRIPT)
        out = subprocess.run(["Rscript", str(script), str(src)], capture_output=True,
                             text=True, check=True).stdout.split()
    vals = np.array([float(v) for v in out])
    return vals[0], vals[1], vals[2:]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--k", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    frame = simulate(args.k, args.seed)
    ours(frame.head(50))                                  # warm up
    secs, mine = best_of(lambda: ours(frame), 5)
    rows = [["ipdmeta pool", f"{secs * 1000:.1f}", "1.0x", "0"]]
    ok = True
    got = metafor(frame)
    print(f"k = {args.k:,} studies; " + ", ".join(f"{n} {v:.6g}" for n, v in
                                                    zip(NAMES, mine, strict=True)))
    print(machine())
    if got is not None:
        diff = float(np.max(np.abs(got[2] - mine)))
        ok = diff <= 1e-6
        rows.append([f"metafor rma + confint ({r_version('metafor')})",
                     f"{got[0] * 1000:.1f} (rma alone {got[1] * 1000:.0f})",
                     f"{got[0] / secs:.0f}x", f"{diff:.1e}" + ("" if ok else " (> 1e-6!)")])
    headers = ["tool", "time (ms)", "time / ipdmeta",
               "max abs diff (estimate, se, tau2 and CI, I2 and CI)"]
    print(table(headers, rows) if args.markdown else
          pd.DataFrame(rows, columns=headers).to_string(index=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
