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
from ipdmeta.errors import InputError
from ipdmeta.io import read_data
from ipdmeta.io.output import output_path, writing
from ipdmeta.pooling.metareg import metareg
from ipdmeta.pooling.options import normalise_level
from ipdmeta.pooling.pool import pool
from ipdmeta.stage1.arms import summarise_arms
from ipdmeta.stata.codegen import py
from ipdmeta.stata.parse import StataSyntaxError
from ipdmeta.stata.translate import Step, translate


class StataSession:
    """Runs translated Stata commands one after another on the data in memory.

    Like a Stata session: ``use`` loads a file, ``stset`` declares the survival
    outcome (``stcox`` then leaves out records with time <= 0, as ``stset`` does,
    and says how many), ``tabulate ..., generate()`` adds dummies, ``saving()``
    writes files (relative to ``workdir``; an existing file only with ``saving(FILE,
    replace)``, a file the session read never), and forest plots are written to
    ``graph_dir`` as ``forest1.png``, ``forest2.png``... (the session's own graph
    files: they replace those of an earlier session unless ``replace_graphs=False``,
    and are never written over a file the session read).
    """

    def __init__(self, data: pd.DataFrame | None = None, *, stset: tuple[str, str] | None = None,
                 workdir: str | Path = ".", graph_dir: str | Path | None = ".",
                 graph_format: str = "png", data_path: str | Path | None = None,
                 replace_graphs: bool = True) -> None:
        self.data = data
        self.stset = tuple(stset) if stset else None
        self.workdir = Path(workdir)
        self.graph_dir = None if graph_dir is None else Path(graph_dir)
        self.graph_format = graph_format
        self.steps: list[Step] = []
        self.data_path = data_path
        self.inputs: list[Path] = [Path(data_path)] if data_path is not None else []
        self.replace_graphs = replace_graphs
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
        if step.kind in ("ipdmeta", "pool", "arms", "metareg", "tabulate") and self.data is None:
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
        output_path(path, inputs=self.inputs, overwrite=self.replace_graphs,
                    interface="cli", what="forest plot")
        step.forest = {**step.forest, "path": str(path)}
        fig = result.forest(**step.forest)
        fig.clf()
        step.files.append(path)

    def _run_use(self, step: Step) -> None:
        path = self._path(step.call["path"])
        self.data = read_data(path)
        self.inputs.append(path)
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

    def _saving(self, step: Step, path: Path) -> Path:
        """The saving() file, checked as Stata does: an existing file needs ``replace``
        (the session's folder is made when missing)."""
        if not path.parent.exists() and path.parent == self.workdir:
            self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            return output_path(path, inputs=self.inputs, overwrite=step.replace,
                               interface="stata", what="saving() file")
        except InputError as err:
            if path.exists() and not step.replace and "input" not in str(err):
                raise InputError(f"file {path.name} already exists (Stata r(602)); add "
                                 f"replace: saving({step.saving}, replace)") from err
            raise

    def _run_ipdmeta(self, step: Step) -> None:
        saving = self._saving(step, self._path(step.saving)) if step.saving else None
        _require(self.data, [step.call["study"]])
        data = self.data
        if step.stset_time is not None and step.stset_time in data.columns:
            time = pd.to_numeric(data[step.stset_time], errors="coerce")
            early = (time <= 0).to_numpy()
            if early.any():
                step.notes.append(f"{int(early.sum())} record(s) with {step.stset_time} <= 0 "
                                  "excluded, as Stata's stset does (obs. end on or before "
                                  "enter())")
                data = data.loc[~early]
        res = ipdmeta(data, **step.call)
        step.result = res
        step.output = res.summary(eform=step.eform)
        self._graph(step, res)
        if saving is not None:
            path = res.aggregate.save(saving, names="ipdmetan")
            step.files.append(path)
            step.output += f"\n\n(aggregate data saved to {path})"

    def _run_arms(self, step: Step) -> None:
        assert step.arms is not None
        _require(self.data, [step.arms[k] for k in ("study", "outcome", "treatment")])
        arms = summarise_arms(self.data, **step.arms)
        self._run_pool(step, arms)
        if arms.attrs.get("dropped"):
            step.notes.append(f"{arms.attrs['dropped']} participant(s) with a missing study, "
                              "outcome or treatment left out")

    def _run_pool(self, step: Step, frame: pd.DataFrame | None = None) -> None:
        call, frame = dict(step.call), self.data if frame is None else frame
        _require(frame, _columns(call))
        if "ci_low" in call:
            lo, hi = call.pop("ci_low"), call.pop("ci_high")
            z = stats.norm.ppf(0.5 + normalise_level(call.get("level", 0.95)) / 2)
            frame = frame.assign(_seES=(frame[hi] - frame[lo]) / (2 * z))
            call["se"] = "_seES"
        if "status" not in frame.columns and "estimate" in call:
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
            path = self._saving(step, self._path(step.saving).with_suffix(".csv"))
            with writing(path):
                res.to_frame().to_csv(path, index=False)
            step.files.append(path)

    def _run_metareg(self, step: Step) -> None:
        call = dict(step.call)
        formula = call.pop("formula")
        columns = _columns(call)
        columns += re.findall(r"[A-Za-z_]\w*", re.sub(r"C\(([^)]*)\)", r"\1", formula))
        _require(self.data, columns, metareg=True)
        res = metareg(self.data, formula, **call)
        step.result = res
        step.output = res.summary(eform=bool(step.eform))


_COLUMN_KEYS = ("estimate", "se", "variance", "ci_low", "ci_high", "study", "by", "events",
                "nonevents", "n", "means", "sds")


def _columns(call: dict[str, Any]) -> list[str]:
    """The data columns a call names (pairs of summary-data columns flattened)."""
    out: list[str] = []
    for key, value in call.items():
        if key in _COLUMN_KEYS:
            out += list(value) if isinstance(value, tuple | list) else [value]
    return out


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
