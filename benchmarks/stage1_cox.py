"""Benchmark: stage-1 Cox fitter loop, one fit per trial, ipdmeta vs statsmodels, lifelines, R.

Simulates ``--trials`` trials of ``--n`` participants with 5 covariates and
tied (rounded) survival times (:func:`_bench.simulate`), then times a plain loop
of one Cox fit per trial with each tool on the same data and checks that all
tools agree on the estimate and standard error of ``treat`` (max abs difference <
1e-6).  R's ``coxph`` loop runs through ``Rscript`` when it is on the PATH; only the
fitting loop is timed inside R.  The whole ``ipd.stage1()`` pipeline is
``stage1_peers.py``.

Usage::

    python benchmarks/stage1_cox.py                      # 100 trials x 10,000
    python benchmarks/stage1_cox.py --trials 10 --n 2000 --ties breslow
    python benchmarks/stage1_cox.py --markdown           # table for docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from _bench import COVS, fit_lifelines, fit_r, fit_statsmodels, machine, simulate, split, table

from ipdmeta.models import cox


def run_ipdmeta(parts: list, ties: str) -> tuple[float, np.ndarray]:
    """Seconds of the loop of ``cox.fit`` and (estimate, se) of ``treat`` per trial."""
    cox.fit(*parts[0], names=COVS, ties=ties)            # warm up imports and caches
    t0 = time.perf_counter()
    fits = [cox.fit(y, X, names=COVS, ties=ties) for y, X in parts]
    secs = time.perf_counter() - t0
    assert all(f.ok for f in fits), [f.reason for f in fits if not f.ok]
    return secs, np.array([(f.estimate("treat"), f.se("treat")) for f in fits])


def timed(fn, *args) -> tuple[float, np.ndarray]:
    """Seconds of ``fn(*args)`` and its result."""
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


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

    data = simulate(args.trials, args.n, "cox", args.seed, args.unit)
    parts = split(data, "cox")
    events = int(data["status"].sum())
    distinct = data.groupby("trial")["time"].nunique().mean()
    print(f"{args.trials} trials x {args.n} participants, 5 covariates, ties={args.ties}; "
          f"{events / args.trials:.0f} events and {distinct:.0f} distinct times per trial")
    print(machine())

    ours_secs, ours = run_ipdmeta(parts, args.ties)
    rows = [("ipdmeta cox.fit", ours_secs, 0.0)]
    runners = {"statsmodels": lambda: timed(fit_statsmodels, parts, "cox", args.ties),
               "lifelines": (lambda: timed(fit_lifelines, data)) if args.ties == "efron"
               else None,
               "R": lambda: fit_r(data, "cox", args.ties)}
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

    cells = [[name, f"{secs:.3f}", f"{1e3 * secs / args.trials:.2f}",
              f"{secs / ours_secs:.1f}x", f"{diff:.1e}"] for name, secs, diff in rows]
    headers = ["tool", "total (s)", "per trial (ms)", "time / ipdmeta",
               "max abs diff vs ipdmeta (estimate, se)"]
    if args.markdown:
        print("\n" + table(headers, cells))
    else:
        print()
        for row in [headers, *cells]:
            print("  ".join(f"{c:>14s}" for c in row))
    if not ok:
        print("estimates differ by 1e-6 or more", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
