"""Benchmark: stage 1 over many trials, ipdmeta vs loops of statsmodels, lifelines and R.

Simulates ``--trials`` trials of ``--n`` participants with 5 covariates (a 0/1
treatment and four normal covariates) and times

* ``ipdmeta.stage1(data, ...)``: the whole of stage 1, from the participant
  DataFrame to the stage-1 table (formula, split by trial, fits, table), batched
  (the default), and with ``batch=False`` (one design and one fit per trial);
* a plain loop of one fit per trial with statsmodels (``OLS``, ``GLM``, ``PHReg``),
  lifelines (``CoxPHFitter``, Cox only) and R (``lm``, ``glm``, ``survival::coxph``
  through ``Rscript``) on data already split into per-trial arrays / data frames:
  only the fitting loop is timed (in R inside ``Rscript``);

and checks that every tool's estimate and standard error of ``treat`` agree with
ipdmeta's to 1e-6 (exit status 1 if not).  GLMs converge to 1e-10 everywhere
(``glm.control(epsilon = 1e-10)``, statsmodels ``tol=1e-10``), Cox models as
documented in ``docs/benchmarks.md``.

Usage::

    python benchmarks/stage1_peers.py --model logistic --trials 100 --n 10000
    python benchmarks/stage1_peers.py --model cox --trials 5000 --n 200 --markdown
    python benchmarks/stage1_peers.py --model linear --trials 20 --n 500 --skip R

Example (the agreement check only):
    >>> ok, text = agree("x", np.array([[1.0, 0.1]]), np.array([[1.0 + 1e-9, 0.1]]))
    >>> ok, text
    (True, '1.0e-09')
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd
from _bench import (
    FORMULAS,
    best_of,
    fit_lifelines,
    fit_r,
    fit_statsmodels,
    machine,
    max_diff,
    r_version,
    simulate,
    split,
    table,
)

from ipdmeta.stage1 import stage1

TOL = 1e-6
PEERS = {"statsmodels": "statsmodels", "lifelines": "lifelines", "R": "R"}


def agree(name: str, ref: np.ndarray, other: np.ndarray) -> tuple[bool, str]:
    """Whether ``other`` (estimate, se) agrees with ``ref`` to ``TOL``, and the largest
    absolute difference as text."""
    d = max(max_diff(ref[:, 0], other[:, 0]), max_diff(ref[:, 1], other[:, 1]))
    return bool(d <= TOL), f"{d:.1e}"


def run(model: str, trials: int, n: int, seed: int = 2024, skip: tuple[str, ...] = (),
        repeat: int = 3) -> tuple[list[list], bool, str]:
    """Time every tool; rows of the table, whether all agree, and a description."""
    data = simulate(trials, n, model, seed)
    formula = FORMULAS[model]
    kw = {"study": "trial", "formula": formula, "model": model}
    stage1(data.head(2 * n), **kw)                          # warm up imports
    secs, ad = best_of(lambda: stage1(data, **kw), repeat)
    ok_rows = ad["status"].eq("ok").to_numpy()
    ref = ad.to_frame()[["estimate", "se"]].to_numpy()
    results: list[tuple[str, float, np.ndarray]] = [("ipdmeta stage1 (batched)", secs, ref)]
    secs1, ad1 = best_of(lambda: stage1(data, batch=False, **kw), 1)
    results.append(("ipdmeta stage1, batch=False", secs1,
                    ad1.to_frame()[["estimate", "se"]].to_numpy()))
    parts = split(data, model)
    if "statsmodels" not in skip:
        results.append(("statsmodels loop", *best_of(lambda: fit_statsmodels(parts, model),
                                                     1)))
    if "lifelines" not in skip and model == "cox":
        results.append(("lifelines loop", *best_of(lambda: fit_lifelines(data), 1)))
    if "R" not in skip:
        got = fit_r(data, model)
        if got is not None:
            results.append((f"{r_version()} {'coxph' if model == 'cox' else 'glm/lm'} loop",
                            *got))
    rows, all_ok = [], True
    for name, s, est in results:
        ok, diff = agree(name, ref[ok_rows], est[ok_rows])
        all_ok &= ok
        rows.append([name, f"{s:.2f}", f"{1000 * s / trials:.2f}", f"{s / secs:.1f}x",
                     diff + ("" if ok else " (> 1e-6!)")])
    events = ""
    if model in ("logistic", "cox"):
        col = "y" if model == "logistic" else "status"
        events = f", {data[col].sum() / trials:.0f} events per trial"
    what = (f"{model}: {trials:,} trials x {n:,} participants, 5 covariates{events}; "
            f"{int(ok_rows.sum())} of {trials} trials estimable")
    return rows, all_ok, what


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=["linear", "logistic", "poisson", "cox"],
                    default="logistic")
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--n", type=int, default=10_000, help="participants per trial")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--repeat", type=int, default=3, help="ipdmeta: best of this many")
    ap.add_argument("--skip", nargs="*", default=[], choices=list(PEERS))
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows, ok, what = run(args.model, args.trials, args.n, args.seed, tuple(args.skip),
                         args.repeat)
    print(what)
    print(machine())
    headers = ["tool", "total (s)", "per trial (ms)", "time / ipdmeta",
               "max abs diff vs ipdmeta (estimate, se)"]
    if args.markdown:
        print(table(headers, rows))
    else:
        print(pd.DataFrame(rows, columns=headers).to_string(index=False))
    print(f"(benchmark took {time.perf_counter() - t0:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
