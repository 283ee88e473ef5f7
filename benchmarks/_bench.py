"""Shared helpers of the benchmark scripts: simulated trials, peers, timing, memory, tables.

Example:
    >>> d = simulate(trials=3, n=40, model="logistic", seed=1)
    >>> d.columns.tolist(), len(d), sorted(d["y"].unique().tolist())
    (['trial', 'treat', 'x1', 'x2', 'x3', 'x4', 'y'], 120, [0, 1])
    >>> table(["a", "b"], [[1, "x"]])
    '| a | b |\\n|---|---|\\n| 1 | x |'
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

COVS = ["treat", "x1", "x2", "x3", "x4"]
BETA = np.array([-0.5, 0.3, -0.2, 0.1, 0.0])
RHS = " + ".join(COVS)
FORMULAS = {"linear": f"y ~ {RHS}", "logistic": f"y ~ {RHS}", "poisson": f"y ~ {RHS}",
            "cox": f"Surv(time, status) ~ {RHS}"}


# ----------------------------------------------------------------------------- data
def simulate(trials: int, n: int, model: str, seed: int = 2024, unit: float = 0.25,
             tau: float = 0.0, intercept_sd: float = 0.0) -> pd.DataFrame:
    """``trials`` trials of ``n`` participants: a 0/1 treatment and four normal
    covariates (5 covariates), and an outcome of ``model`` (Cox: times rounded up to
    multiples of ``unit``, so there are ties (0: not rounded); uniform censoring on
    5-30).  ``tau`` > 0 adds a normal random treatment effect with that sd per trial and
    ``intercept_sd`` trial-specific intercepts (drawn from a second stream, so the data
    with both 0 are unchanged)."""
    rng = np.random.default_rng(seed)
    N = trials * n
    X = rng.normal(size=(N, 5))
    X[:, 0] = rng.integers(0, 2, N)
    lp = X @ BETA
    if tau > 0 or intercept_sd > 0:
        extra = np.random.default_rng([seed, 1])
        b = extra.normal(0, tau, trials)
        a = extra.normal(0, intercept_sd, trials)
        lp = lp + np.repeat(a, n) + X[:, 0] * np.repeat(b, n)
    out = {"trial": np.repeat(np.arange(1, trials + 1, dtype=np.int64), n),
           **{c: X[:, j] for j, c in enumerate(COVS)}}
    out["treat"] = X[:, 0].astype(np.int64)
    if model == "linear":
        out["y"] = 1.0 + lp + rng.normal(size=N)
    elif model == "logistic":
        out["y"] = (rng.random(N) < 1 / (1 + np.exp(-(lp - 0.5)))).astype(np.int64)
    elif model == "poisson":
        out["y"] = rng.poisson(np.exp(lp)).astype(np.int64)
    else:
        t = rng.exponential(10.0 * np.exp(-lp))
        c = rng.uniform(5, 30, N)
        tt = np.minimum(t, c)
        out["time"] = np.ceil(tt / unit) * unit if unit > 0 else tt
        out["status"] = (t <= c).astype(np.int64)
    return pd.DataFrame(out)


def split(data: pd.DataFrame, model: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per trial: outcome (Cox: time, status) and the covariates, as float arrays."""
    ycols = ["time", "status"] if model == "cox" else ["y"]
    return [(g[ycols].to_numpy(float).squeeze(), g[COVS].to_numpy(float))
            for _, g in data.groupby("trial", sort=True)]


# ----------------------------------------------------------------------------- peers
def fit_statsmodels(parts: list, model: str, ties: str = "efron") -> np.ndarray:
    """(estimate, se) of ``treat`` per trial with statsmodels (OLS, GLM, PHReg)."""
    import statsmodels.api as sm
    from statsmodels.duration.hazard_regression import PHReg

    out = []
    for y, X in parts:
        if model == "cox":
            r = PHReg(y[:, 0], X, status=y[:, 1], ties=ties).fit()
            out.append((r.params[0], r.bse[0]))
            continue
        Xc = sm.add_constant(X, has_constant="add")
        if model == "linear":
            r = sm.OLS(y, Xc).fit()
        else:
            fam = sm.families.Binomial() if model == "logistic" else sm.families.Poisson()
            r = sm.GLM(y, Xc, family=fam).fit(tol=1e-10)
        out.append((r.params[1], r.bse[1]))
    return np.array(out)


def fit_lifelines(data: pd.DataFrame) -> np.ndarray:
    """(estimate, se) of ``treat`` per trial with lifelines' CoxPHFitter (Efron; full Newton
    steps and ``precision=1e-14``: with its defaults it stops about 1e-6 short)."""
    from lifelines import CoxPHFitter

    out = []
    for _, g in data.groupby("trial", sort=True):
        cph = CoxPHFitter().fit(g[["time", "status", *COVS]], "time", "status",
                                fit_options={"precision": 1e-14, "step_size": 1.0})
        out.append((cph.params_["treat"], cph.standard_errors_["treat"]))
    return np.array(out)


R_SCRIPT = r"""
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
model <- args[3]
ties <- if (length(args) >= 4) args[4] else "efron"
parts <- split(d, d$trial)
rhs <- "treat + x1 + x2 + x3 + x4"
fit <- switch(model,
  linear = function(p)
    summary(lm(as.formula(paste("y ~", rhs)), data = p))$coefficients["treat", 1:2],
  logistic = function(p) summary(glm(as.formula(paste("y ~", rhs)), family = binomial, data = p,
      control = glm.control(epsilon = 1e-14, maxit = 100)))$coefficients["treat", 1:2],
  poisson = function(p) summary(glm(as.formula(paste("y ~", rhs)), family = poisson, data = p,
      control = glm.control(epsilon = 1e-14, maxit = 100)))$coefficients["treat", 1:2],
  cox = function(p) {
    m <- coxph(as.formula(paste("Surv(time, status) ~", rhs)), data = p, ties = ties,
               control = coxph.control(eps = 1e-10, iter.max = 100))
    c(coef(m)[["treat"]], sqrt(vcov(m)["treat", "treat"]))
  })
t0 <- proc.time()[["elapsed"]]
res <- lapply(parts, fit)
secs <- proc.time()[["elapsed"]] - t0
write.csv(do.call(rbind, res), args[2], row.names = FALSE)
cat(secs, "\n")
"""


def run_rscript(code: str, data: pd.DataFrame, *args: str, check: bool = True
                ) -> tuple[str, pd.DataFrame | None] | None:
    """Run the R ``code`` as ``Rscript script data.csv out.csv *args``; its standard output
    and the CSV it wrote to ``out.csv`` (None if none).  None without Rscript (or, with
    ``check=False``, when R fails: the last line of its error is printed)."""
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src, out, script = (Path(tmp) / f for f in ("data.csv", "out.csv", "bench.R"))
        data.to_csv(src, index=False, float_format="%.17g")
        script.write_text(code)
        res = subprocess.run(["Rscript", str(script), str(src), str(out), *map(str, args)],
                             capture_output=True, text=True, check=check)
        if res.returncode != 0:
            print("R failed:", res.stderr.strip().splitlines()[-1:])
            return None
        return res.stdout, (pd.read_csv(out) if out.exists() else None)


def fit_r(data: pd.DataFrame, model: str, ties: str = "efron"
          ) -> tuple[float, np.ndarray] | None:
    """Seconds of R's loop of ``lm``/``glm``/``coxph`` over the trials (only the loop is
    timed) and (estimate, se) of ``treat``; None without Rscript.  ``glm`` takes its
    standard errors from the weights of the last-but-one iteration, hence its
    ``epsilon = 1e-14`` (with 1e-10 they differ by up to 4e-6 in small trials)."""
    res = run_rscript(R_SCRIPT, data, model, ties)
    if res is None:
        return None
    stdout, frame = res
    return float(stdout.split()[-1]), frame.to_numpy(float)


def r_version(package: str | None = None) -> str:
    """``R 4.2.2`` (with ``package``'s version), or "" without Rscript."""
    if shutil.which("Rscript") is None:
        return ""
    version = f'format(packageVersion("{package}"))' if package else "NULL"
    expr = f'cat(paste(R.version$major, R.version$minor, sep = "."), {version})'
    out = subprocess.run(["Rscript", "-e", expr], capture_output=True, text=True).stdout
    parts = out.split()
    return f"R {parts[0]}" + (f" with {package} {parts[1]}" if package and len(parts) > 1
                              else "")


# ----------------------------------------------------------------------------- measuring
def best_of(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    """The shortest wall time of ``repeat`` calls, and the last result."""
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def rss_bytes(pid: int | None = None, children: bool = False) -> int:
    """Resident memory of a process; with ``children``, the proportional set size (PSS:
    shared pages split between the processes that share them, so that forked workers
    do not count their parent's pages again) of the process and all its descendants."""
    try:
        import psutil
    except ImportError:   # Linux without psutil: this process only
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    proc = psutil.Process(pid)
    if not children:
        return proc.memory_info().rss
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_full_info().pss
    return total


class PeakMemory:
    """Samples the resident memory every ``interval`` seconds (five times that for the
    whole process tree, ``children=True``: see :func:`rss_bytes`) while in the ``with``
    block; ``.peak`` and ``.start`` in bytes."""

    def __init__(self, interval: float = 0.02, children: bool = False) -> None:
        self.interval, self.children = (interval * 5 if children else interval), children
        self.start = self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self.start = self.peak = rss_bytes(children=self.children)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(children=self.children))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(children=self.children))


# ----------------------------------------------------------------------------- reporting
def machine() -> str:
    """Cores, RAM, CPU and load of this machine, and the main software versions."""
    ram, cpu = "?", platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration, ValueError):
        kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text()
                      .splitlines() if line.startswith("MemTotal")))
        ram = f"{kb / 2**20:.0f} GB"
    with contextlib.suppress(OSError, StopIteration):
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo")
                   .read_text().splitlines() if line.startswith("model name"))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import scipy

    return (f"{os.cpu_count()} cores ({cpu}), {ram} RAM, {platform.system()}; load "
            f"{load:.1f}; Python {platform.python_version()}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}, pandas {pd.__version__}")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table."""
    lines = ["| " + " | ".join(map(str, headers)) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(map(str, r)) + " |" for r in rows]
    return "\n".join(lines)


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Largest absolute difference over the finite entries of ``a``."""
    good = np.isfinite(a)
    return float(np.max(np.abs(a[good] - b[good]))) if good.any() else float("nan")
