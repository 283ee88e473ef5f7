"""Benchmark: stage 1 at scale, time and peak memory for 1M to 50M participants.

Trials of 1,000 participants (5 covariates, as ``benchmarks/stage1_peers.py``); each
run is a fresh Python process that simulates the data in memory, then times
``stage1()`` while a thread samples the resident memory every 20 ms.  For the
processes and dask engines the memory is that of the whole process tree (parent,
workers, dask scheduler; proportional set sizes, so pages a forked worker shares
with its parent count once), sampled every 100 ms in a second run (sampling a tree
costs CPU, so the time is that of a first run without it).  Reported: the size of
the input DataFrame, the memory before stage 1 and the peak during stage 1.

The dask runs read partitioned Parquet instead (written once to ``--parquet-dir``,
one file of 1,000 whole trials each, sorted by trial, so that
``read_parquet(..., index="trial", calculate_divisions=True)`` knows that every
trial lies in one partition and no shuffle is needed); the data are never in
memory as a whole.

Usage::

    python benchmarks/scaling.py                              # 1M and 10M, logistic and Cox
    python benchmarks/scaling.py --sizes 1e6 --models cox --engines serial processes
    python benchmarks/scaling.py --dask-sizes 1e7 5e7 --parquet-dir /work/tmp/ipd
    python benchmarks/scaling.py --markdown

Example (the size parser):
    >>> size("1e6"), size("50M"), size("2,000")
    (1000000, 50000000, 2000)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from _bench import FORMULAS, PeakMemory, machine, simulate, table

PER_TRIAL = 1_000
PER_FILE = 1_000     # trials per Parquet file


def size(text: str) -> int:
    """``"1e6"``, ``"10M"`` or ``"2,000"`` as a number of participants."""
    t = text.replace(",", "").replace("_", "").strip().upper()
    mult = {"K": 10**3, "M": 10**6}.get(t[-1], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def write_parquet(n: int, model: str, folder: Path) -> Path:
    """``n`` participants in Parquet files of ``PER_FILE`` whole trials (made once)."""
    path = folder / f"{model}_{n}"
    done = path / "_complete"
    if done.exists():
        return path
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    trials = n // PER_TRIAL
    for i, first in enumerate(range(0, trials, PER_FILE)):
        k = min(PER_FILE, trials - first)
        part = simulate(k, PER_TRIAL, model, seed=1000 + i)
        part["trial"] += first
        part.to_parquet(path / f"part_{i:05d}.parquet", index=False)
    done.touch()
    return path


def child(model: str, n: int, engine: str, parquet: str | None) -> dict:
    """One run (in a fresh process): seconds, input bytes, memory before and peak."""
    from ipdmeta.stage1 import stage1

    kw = {"study": "trial", "formula": FORMULAS[model], "model": model}
    stage1(simulate(30, 200, model), **kw)              # warm up imports
    if parquet is not None:
        import dask.dataframe as dd

        data = dd.read_parquet(parquet, index="trial", calculate_divisions=True)
        nbytes = 0
        files = sorted(Path(parquet).glob("*.parquet"))
        disk = sum(f.stat().st_size for f in files)
    else:
        data = simulate(n // PER_TRIAL, PER_TRIAL, model)
        nbytes, disk = int(data.memory_usage(deep=True).sum()), 0
    run_kw = {**kw, "engine": engine, "n_jobs": 2 if engine != "serial" else None}
    tree = engine != "serial"
    if tree:   # sampling a process tree's memory costs CPU: time a run without it first
        t0 = time.perf_counter()
        stage1(data, **run_kw)
        secs = time.perf_counter() - t0
    with PeakMemory(children=tree) as mem:
        t0 = time.perf_counter()
        ad = stage1(data, **run_kw)
        secs = secs if tree else time.perf_counter() - t0
    return {"model": model, "n": n, "engine": engine, "seconds": secs, "input": nbytes,
            "disk": disk, "before": mem.start, "peak": mem.peak, "studies": len(ad),
            "ok": int(ad["status"].eq("ok").sum())}


def run(model: str, n: int, engine: str, parquet: str | None = None) -> dict:
    """:func:`child` in a fresh Python process."""
    cmd = [sys.executable, __file__, "--child", model, str(n), engine]
    if parquet is not None:
        cmd.append(parquet)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def gb(b: float) -> str:
    """Bytes as GB with two decimals."""
    return f"{b / 1e9:.2f}"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        model, n, engine, *rest = sys.argv[2:]
        print(json.dumps(child(model, int(n), engine, rest[0] if rest else None)))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", nargs="*", type=size, default=[10**6, 10**7])
    ap.add_argument("--models", nargs="*", default=["logistic", "cox"],
                    choices=["linear", "logistic", "poisson", "cox"])
    ap.add_argument("--engines", nargs="*", default=["serial"],
                    choices=["serial", "processes"])
    ap.add_argument("--dask-sizes", nargs="*", type=size, default=[])
    ap.add_argument("--parquet-dir", type=Path, default=Path("/tmp/ipdmeta-bench"))
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    print(machine())
    rows = []
    jobs = [(m, n, e, None) for m in args.models for e in args.engines for n in args.sizes]
    for m in args.models:
        for n in args.dask_sizes:
            t0 = time.perf_counter()
            path = write_parquet(n, m, args.parquet_dir)
            print(f"parquet {path} ready ({time.perf_counter() - t0:.0f} s)", flush=True)
            jobs.append((m, n, "dask", str(path)))
    for m, n, e, pq in jobs:
        r = run(m, n, e, pq)
        src = f"Parquet, {gb(r['disk'])} GB on disk" if pq else f"{gb(r['input'])} GB"
        rows.append([m, f"{n:,}", f"{r['studies']:,}", e, src, f"{r['seconds']:.1f}",
                     f"{n / r['seconds'] / 1e6:.2f}", gb(r["before"]), gb(r["peak"])])
        print(" | ".join(rows[-1]), flush=True)
    headers = ["model", "participants", "trials", "engine", "input", "time (s)",
               "M participants / s", "memory before (GB)", "peak memory (GB)"]
    print(table(headers, rows) if args.markdown else
          pd.DataFrame(rows, columns=headers).to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
