"""Benchmark: stage-1 Cox fits, one per trial, ipdmeta vs statsmodels, lifelines and R.

Simulates ``--trials`` trials of ``--n`` participants with 5 covariates and
tied (rounded) survival times, then times a plain loop of one Cox fit per trial
with each tool on the same data, and checks that all tools agree on the
estimates (max abs difference < 1e-6).  R's ``coxph`` loop runs through
``Rscript`` when it is on the PATH; only the fitting loop is timed inside R
(reading and splitting the data are not).

Usage::

    python benchmarks/stage1_cox.py                      # 100 trials x 10,000
    python benchmarks/stage1_cox.py --trials 10 --n 2000 --ties breslow
    python benchmarks/stage1_cox.py --markdown           # table for docs/benchmarks.md

Example (the simulation only):
    >>> data = simulate(trials=2, n=50, seed=1)
    >>> sorted(data.columns)[:4], len(data)
    (['status', 'time', 'trial', 'x1'], 100)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from ipdmeta.models import cox

COVS = ["x1", "x2", "x3", "x4", "x5"]
BETA = np.array([-0.5, 0.3, -0.2, 0.1, 0.0])


def simulate(trials: int = 100, n: int = 10_000, seed: int = 2024,
             unit: float = 0.25) -> pd.DataFrame:
    """Trials with a binary treatment ``x1``, four normal covariates, times rounded up
    to multiples of ``unit`` (0: not rounded)."""
    rng = np.random.default_rng(seed)
    frames = []
    for k in range(trials):
        X = rng.normal(size=(n, 5))
        X[:, 0] = rng.integers(0, 2, n)
        t = rng.exponential(10.0 * np.exp(-X @ BETA))
        c = rng.uniform(5, 30, n)
        tt = np.minimum(t, c)
        if unit > 0:                                     # rounded: many ties
            tt = np.ceil(tt / unit) * unit
        frames.append(pd.DataFrame({"trial": k + 1, "time": tt,
                                    "status": (t <= c).astype(int),
                                    **{v: X[:, j] for j, v in enumerate(COVS)}}))
    return pd.concat(frames, ignore_index=True)


def split(data: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per trial: ``y`` (time, event) and ``X`` as float arrays."""
    return [(g[["time", "status"]].to_numpy(float), g[COVS].to_numpy(float))
            for _, g in data.groupby("trial", sort=True)]


def run_ipdmeta(parts, ties: str) -> tuple[float, np.ndarray]:
    """Time the loop of ``cox.fit``; return seconds and the (trials, 5) estimates."""
    cox.fit(*parts[0], names=COVS, ties=ties)            # warm up imports and caches
    t0 = time.perf_counter()
    fits = [cox.fit(y, X, names=COVS, ties=ties) for y, X in parts]
    secs = time.perf_counter() - t0
    assert all(f.ok for f in fits), [f.reason for f in fits if not f.ok]
    return secs, np.array([f.coef for f in fits])


def run_statsmodels(parts, ties: str) -> tuple[float, np.ndarray]:
    """Time a loop of ``statsmodels`` ``PHReg(...).fit()``."""
    from statsmodels.duration.hazard_regression import PHReg

    t0 = time.perf_counter()
    est = [PHReg(y[:, 0], X, status=y[:, 1], ties=ties).fit().params for y, X in parts]
    return time.perf_counter() - t0, np.array(est)


def run_lifelines(data: pd.DataFrame) -> tuple[float, np.ndarray]:
    """Time a loop of ``lifelines`` ``CoxPHFitter().fit`` (Efron ties only)."""
    from lifelines import CoxPHFitter

    frames = [g.drop(columns="trial") for _, g in data.groupby("trial", sort=True)]
    t0 = time.perf_counter()
    est = []
    for g in frames:
        m = CoxPHFitter().fit(g, duration_col="time", event_col="status",
                              fit_options={"precision": 1e-10})
        est.append(m.params_[COVS].to_numpy())
    return time.perf_counter() - t0, np.array(est)


R_SCRIPT = r"""
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
parts <- split(d, d$trial)
fo <- Surv(time, status) ~ x1 + x2 + x3 + x4 + x5
t0 <- proc.time()[["elapsed"]]
est <- lapply(parts, function(g) coef(coxph(fo, data = g, ties = args[3])))
secs <- proc.time()[["elapsed"]] - t0
write.csv(do.call(rbind, est), args[2], row.names = FALSE)
cat(sprintf("%.6f\n", secs))
"""


def run_r(data: pd.DataFrame, ties: str) -> tuple[float, np.ndarray] | None:
    """Time a loop of R ``coxph`` through Rscript (None when R is not installed)."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, out, script = (Path(tmp) / f for f in ("data.csv", "coef.csv", "bench.R"))
        data.to_csv(src, index=False, float_format="%.17g")
        script.write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", str(script), str(src), str(out), ties],
                             capture_output=True, text=True, check=True)
        secs = float(res.stdout.strip().splitlines()[-1])
        return secs, pd.read_csv(out).to_numpy(float)


def machine() -> str:
    """Cores, RAM and CPU of this machine, and the software versions."""
    ram, cpu = "?", platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration, ValueError):
        kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
        ram = f"{kb / 2**20:.0f} GiB"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    return (f"{os.cpu_count()} cores ({cpu}), {ram} RAM, {platform.system()}, "
            f"Python {platform.python_version()}, numpy {np.__version__}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--n", type=int, default=10_000, help="participants per trial")
    ap.add_argument("--ties", choices=["efron", "breslow"], default="efron")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--unit", type=float, default=0.25,
                    help="round times up to multiples of this (0: continuous times)")
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=["statsmodels", "lifelines", "R"], help="peers to leave out")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args(argv)

    data = simulate(args.trials, args.n, args.seed, args.unit)
    parts = split(data)
    events = int(data["status"].sum())
    distinct = data.groupby("trial")["time"].nunique().mean()
    print(f"{args.trials} trials x {args.n} participants, 5 covariates, ties={args.ties}; "
          f"{events / args.trials:.0f} events and {distinct:.0f} distinct times per trial")
    print(machine())

    ours_secs, ours = run_ipdmeta(parts, args.ties)
    rows = [("ipdmeta cox.fit", ours_secs, 0.0)]
    runners = {"statsmodels": lambda: run_statsmodels(parts, args.ties),
               "lifelines": (lambda: run_lifelines(data)) if args.ties == "efron" else None,
               "R": lambda: run_r(data, args.ties)}
    labels = {"statsmodels": "statsmodels PHReg", "lifelines": "lifelines CoxPHFitter",
              "R": "R survival::coxph"}
    ok = True
    for key, run in runners.items():
        if key in args.skip or run is None:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                res = run()
            except ImportError as err:
                print(f"{labels[key]}: not run ({err})")
                continue
        if res is None:
            print(f"{labels[key]}: not run (Rscript not found)")
            continue
        secs, est = res
        diff = float(np.max(np.abs(est - ours)))
        ok &= diff < 1e-6
        rows.append((labels[key], secs, diff))

    if args.markdown:
        print("\n| tool | total (s) | per trial (ms) | time / ipdmeta | max abs diff vs ipdmeta |")
        print("|---|---:|---:|---:|---:|")
        for name, secs, diff in rows:
            print(f"| {name} | {secs:.3f} | {1e3 * secs / args.trials:.2f} | "
                  f"{secs / ours_secs:.1f}x | {diff:.1e} |")
    else:
        print(f"\n{'tool':24s} {'total s':>9s} {'ms/trial':>9s} {'x ours':>8s} {'max|diff|':>10s}")
        for name, secs, diff in rows:
            print(f"{name:24s} {secs:9.3f} {1e3 * secs / args.trials:9.2f} "
                  f"{secs / ours_secs:8.1f} {diff:10.1e}")
    if not ok:
        print("estimates differ by 1e-6 or more", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
