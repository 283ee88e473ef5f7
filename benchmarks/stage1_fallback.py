"""Benchmark: stage 1 over many tiny logistic trials that need special handling.

Simulates ``--trials`` trials of ``--n`` participants (``_bench.simulate``: a 0/1
treatment and normal covariates, logistic outcome) and fits ``y ~ treat + x1`` in
every trial.  With 10 participants per trial about half of the trials cannot be
estimated the ordinary way -- no events, all events, separation by one term or by a
combination of terms, runaway estimates -- which is the path that was slow (about
13 ms per trial: 4,000 trials took 49 s).  Those trials are now screened at once
(no or all events, a threshold on one term that separates the outcome) and only
the rest is fitted one by one.

Reports wall-clock and CPU time (user + system, of this process and its worker
processes: on a shared machine the steadier number) and the statuses, and checks
that the first ``--check`` trials give exactly the table of the per-study path
(``batch=False``) (exit status 1 if not).

Usage::

    python benchmarks/stage1_fallback.py                       # 20,000 trials
    python benchmarks/stage1_fallback.py --trials 2000 --engine processes --markdown

Example (the simulation only):
    >>> data = tiny_trials(3, n=10, seed=1)
    >>> data.columns.tolist()[:3], len(data)
    (['trial', 'treat', 'x1'], 30)
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import pandas as pd
from _bench import machine, simulate, table

from ipdmeta.stage1 import stage1

FORMULA = "y ~ treat + x1"


def tiny_trials(trials: int, n: int = 10, seed: int = 2024) -> pd.DataFrame:
    """``trials`` logistic trials of ``n`` participants (``_bench.simulate``)."""
    return simulate(trials, n, "logistic", seed=seed)


def cpu_seconds() -> float:
    """User + system CPU time of this process and of its finished worker processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def run(data: pd.DataFrame, engine: str, n_jobs: int | None) -> tuple[float, float, pd.DataFrame]:
    """Wall time, CPU time (this process and its workers) and the table."""
    t0, c0 = time.perf_counter(), cpu_seconds()
    ad = stage1(data, study="trial", formula=FORMULA, model="logistic", engine=engine,
                n_jobs=n_jobs)
    return time.perf_counter() - t0, cpu_seconds() - c0, ad.to_frame()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=20_000)
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--engine", default="serial", choices=["serial", "processes"])
    p.add_argument("--n-jobs", type=int, default=2)
    p.add_argument("--check", type=int, default=1000,
                   help="trials compared with the per-study path (batch=False)")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    data = tiny_trials(args.trials, args.n)
    stage1(data[data.trial <= 50], study="trial", formula=FORMULA, model="logistic")  # warm-up
    wall, cpu, frame = run(data, args.engine, args.n_jobs)
    first = data[data.trial <= args.check]
    fast = stage1(first, study="trial", formula=FORMULA, model="logistic").to_frame()
    slow = stage1(first, study="trial", formula=FORMULA, model="logistic",
                  batch=False).to_frame()
    same = True
    try:
        pd.testing.assert_frame_equal(fast, slow, rtol=1e-10, atol=1e-12)
    except AssertionError as err:
        same = False
        print(f"batched and per-study tables differ: {err}", file=sys.stderr)
    counts = frame["status"].value_counts()
    special = int(len(frame) - counts.get("ok", 0))
    statuses = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    rows = [[f"{args.trials:,}", args.n, args.engine, f"{wall:.1f} s", f"{cpu:.1f} s",
             f"{1e3 * wall / args.trials:.2f} ms", f"{special:,}", statuses,
             "yes" if same else "NO"]]
    headers = ["trials", "n", "engine", "wall", "CPU (all processes)", "wall per trial",
               "not ok", "statuses", f"= batch=False (first {args.check:,})"]
    print(table(headers, rows) if args.markdown else
          "\n".join(f"{h}: {v}" for h, v in zip(headers, rows[0], strict=True)))
    print(f"\n{machine()}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
