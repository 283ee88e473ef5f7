"""``StataSession``: translated Stata commands run one after another on the data in memory.

Example:
    >>> import ipdmeta as ipd
    >>> s = StataSession(ipd.datasets.load("weight_gain"), graph_dir=None)
    >>> step = s.run("ipdmetan, study(studyid) re(reml) : regress final_wt trt baseline_wt")
    >>> step.result.meta.k
    33
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.analysis import ipdmeta
from ipdmeta.io import read_data
from ipdmeta.onestage.api import onestage
from ipdmeta.pooling.metareg import metareg
from ipdmeta.pooling.pool import pool
from ipdmeta.stata.codegen import fraction, py
from ipdmeta.stata.parse import StataSyntaxError
from ipdmeta.stata.translate import Step, translate


class StataSession:
    """Runs translated Stata commands one after another on the data in memory.

    Like a Stata session: ``use`` loads a file, ``stset`` declares the survival
    outcome, ``tabulate ..., generate()`` adds dummies, ``saving()`` writes files
    (relative to ``workdir``), and forest plots are written to ``graph_dir`` as
    ``forest1.png``, ``forest2.png``...
    """

    def __init__(self, data: pd.DataFrame | None = None, *, stset: tuple[str, str] | None = None,
                 workdir: str | Path = ".", graph_dir: str | Path | None = ".",
                 graph_format: str = "png", data_path: str | Path | None = None) -> None:
        self.data = data
        self.stset = tuple(stset) if stset else None
        self.workdir = Path(workdir)
        self.graph_dir = None if graph_dir is None else Path(graph_dir)
        self.graph_format = graph_format
        self.steps: list[Step] = []
        self.data_path = data_path
        self._graphs = 0

    def translate(self, line: str) -> Step:
        """Translate ``line`` with this session's stset (does not run it)."""
        step = translate(line, self.stset)
        if step.kind == "stset":
            self.stset = (step.call["time"], step.call["event"])
        return step

    def python(self) -> str:
        """The Python script equivalent to all commands run so far."""
        head = ["import ipdmeta as ipd"]
        if any(s.kind == "pool" and "ci_low" in s.call for s in self.steps):
            head.append("import scipy.stats")
        if self.data_path is not None:
            head += ["", f"data = ipd.read_data({py(str(self.data_path))})"]
        return "\n".join(head + [""] + [s.python for s in self.steps]) + "\n"

    def run(self, line: str) -> Step:
        """Translate and run one command; returns the Step with ``result`` and ``output``."""
        step = self.translate(line)
        if step.kind in ("ipdmeta", "pool", "metareg", "onestage", "tabulate") and (
                self.data is None):
            raise StataSyntaxError(f"no data in memory for {step.command!r}: give --data FILE "
                                   "or run 'use FILE' first")
        getattr(self, f"_run_{step.kind}")(step)
        self.steps.append(step)
        return step

    def _path(self, name: str) -> Path:
        p = Path(name)
        if not p.suffix:
            p = p.with_suffix(".dta")
        return p if p.is_absolute() else self.workdir / p

    def _graph(self, step: Step, result: Any) -> None:
        if step.forest is None or self.graph_dir is None:
            return
        self._graphs += 1
        self.graph_dir.mkdir(parents=True, exist_ok=True)
        path = self.graph_dir / f"forest{self._graphs}.{self.graph_format}"
        step.forest = {**step.forest, "path": str(path)}
        fig = result.forest(**step.forest)
        fig.clf()
        step.files.append(path)

    def _run_use(self, step: Step) -> None:
        path = self._path(step.call["path"])
        self.data = read_data(path)
        step.output = f"(loaded {path.name}: {len(self.data)} rows, {self.data.shape[1]} columns)"

    def _run_stset(self, step: Step) -> None:
        step.output = f"(survival outcome: time {step.call['time']}, event {step.call['event']})"

    def _run_tabulate(self, step: Step) -> None:
        var, stub = step.call["variable"], step.call["stub"]
        _require(self.data, [var])
        levels = sorted(self.data[var].dropna().unique())
        made = []
        for i, level in enumerate(levels, start=1):
            self.data[f"{stub}{i}"] = (self.data[var] == level).astype(float)
            self.data.loc[self.data[var].isna(), f"{stub}{i}"] = np.nan
            made.append(f"{stub}{i} = ({var} == {level})")
        step.output = "(new dummies: " + "; ".join(made) + ")"

    def _run_ipdmeta(self, step: Step) -> None:
        res = ipdmeta(self.data, **step.call)
        step.result = res
        step.output = res.summary(eform=step.eform)
        self._graph(step, res)
        if step.saving:
            path = res.aggregate.save(self._path(step.saving), names="ipdmetan")
            step.files.append(path)
            step.output += f"\n\n(aggregate data saved to {path})"

    def _run_onestage(self, step: Step) -> None:
        res = onestage(self.data, **step.call)
        step.result = res
        step.output = res.summary(eform=step.eform)

    def _run_pool(self, step: Step) -> None:
        call, frame = dict(step.call), self.data
        _require(frame, [v for k, v in call.items() if k in _COLUMN_KEYS])
        if "ci_low" in call:
            lo, hi = call.pop("ci_low"), call.pop("ci_high")
            z = stats.norm.ppf(0.5 + fraction(call.get("level", 0.95)) / 2)
            frame = frame.assign(_seES=(frame[hi] - frame[lo]) / (2 * z))
            call["se"] = "_seES"
        if "status" not in frame.columns:
            keep = frame[[call["estimate"], call["se"]]].notna().all(axis=1)
            if not keep.all():
                step.notes.append(f"{int((~keep).sum())} row(s) with a missing estimate or "
                                  "standard error left out (as Stata does)")
                frame = frame[keep]
        res = pool(frame, measure=step.measure, **call)
        step.result = res
        step.output = res.summary(eform=step.eform)
        self._graph(step, res)
        if step.saving:
            path = self._path(step.saving).with_suffix(".csv")
            res.to_frame().to_csv(path, index=False)
            step.files.append(path)

    def _run_metareg(self, step: Step) -> None:
        call = dict(step.call)
        formula = call.pop("formula")
        columns = [v for k, v in call.items() if k in _COLUMN_KEYS]
        columns += re.findall(r"[A-Za-z_]\w*", re.sub(r"C\(([^)]*)\)", r"\1", formula))
        _require(self.data, columns, metareg=True)
        res = metareg(self.data, formula, **call)
        step.result = res
        step.output = res.summary(eform=bool(step.eform))


_COLUMN_KEYS = ("estimate", "se", "variance", "ci_low", "ci_high", "study", "by")


def _require(data: pd.DataFrame, columns: list[str], metareg: bool = False) -> None:
    """Refuse unknown columns, listing close matches (and how to make dummies)."""
    for col in columns:
        if col in data.columns:
            continue
        close = difflib.get_close_matches(col, [str(c) for c in data.columns], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        m = re.fullmatch(r"([A-Za-z_]+?)(\d+)", col)
        if metareg and m:
            hint += (f" To make dummies {m.group(1)}1, {m.group(1)}2, ... run "
                     f"'tabulate VAR, generate({m.group(1)})' first, or write i.VAR")
        raise StataSyntaxError(f"variable {col!r} not found (columns: "
                               f"{', '.join(map(str, data.columns))}){hint}")
