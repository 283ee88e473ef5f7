"""Run every scale benchmark of ``docs/benchmarks.md`` (stage 1 vs peers, scaling, stage 2).

Usage::

    python benchmarks/run_all.py --quick     # small sizes, a few minutes
    python benchmarks/run_all.py             # the sizes of docs/benchmarks.md (~10 min;
                                             # metafor only up to k = 2,000: it is O(k^3))
    python benchmarks/run_all.py --only peers scaling

The Cox benchmark of 100 trials x 10,000 is ``benchmarks/stage1_cox.py``; the
permutation test ``benchmarks/permutation.py``.

Example (the plan of the quick run):
    >>> [name for name, _ in plan(quick=True)][:3]
    ['peers', 'peers', 'peers']
"""

from __future__ import annotations

import argparse
import sys

import scaling
import stage1_peers
import stage2_scale


def plan(quick: bool) -> list[tuple[str, list[str]]]:
    """(benchmark, arguments) of every run."""
    trials, n, many = (20, 2_000, 500) if quick else (100, 10_000, 5_000)
    peers = [["--model", m, "--trials", str(trials), "--n", str(n)] for m in
             ("linear", "logistic")]
    peers += [["--model", m, "--trials", str(many), "--n", "200"] for m in ("logistic", "cox")]
    scale = (["--sizes", "1e5", "1e6", "--engines", "serial"] if quick else
             ["--sizes", "1e6", "1e7", "--engines", "serial", "processes",
              "--dask-sizes", "1e7", "5e7"])
    stage2 = [["--k", "1000"]] if quick else [["--k", "2000"], ["--k", "10000", "--no-metafor"]]
    return ([("peers", [*a, "--markdown"]) for a in peers]
            + [("scaling", [*scale, "--markdown"])]
            + [("stage2", [*a, "--markdown"]) for a in stage2])


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks one after the other; non-zero if any disagreed with a peer."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", nargs="*", choices=["peers", "scaling", "stage2"])
    args = ap.parse_args(argv)
    mains = {"peers": stage1_peers.main, "scaling": scaling.main, "stage2": stage2_scale.main}
    status = 0
    for name, arguments in plan(args.quick):
        if args.only and name not in args.only:
            continue
        print(f"\n## {name}: {' '.join(arguments)}\n", flush=True)
        status |= mains[name](arguments)
    return status


if __name__ == "__main__":
    sys.exit(main())
