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

import pandas as pd
from scipy import stats

from ipdmeta.analysis import ipdmeta
from ipdmeta.errors import InputError
from ipdmeta.io import read_data
from ipdmeta.io.output import output_path, writing
from ipdmeta.ipdover import ipdover
from ipdmeta.onestage.api import onestage
from ipdmeta.pooling.metareg import metareg
from ipdmeta.pooling.options import normalise_level
from ipdmeta.pooling.pool import pool
from ipdmeta.report.results_set import forest_from_results
from ipdmeta.stage1.arms import summarise_arms
from ipdmeta.stata.codegen import formula_variables as _formula_variables
from ipdmeta.stata.codegen import label_code, py
from ipdmeta.stata.parse import StataSyntaxError
from ipdmeta.stata.step import Step
from ipdmeta.stata.translate import translate

_PLOTS = ("ipdmeta", "pool", "arms", "ipdover", "forestplot", "bias")


class StataSession:
    """Runs translated Stata commands one after another on the data in memory.

    Like a Stata session: ``use`` loads a file, ``stset`` declares the survival
    outcome, ``sort`` and ``tabulate ..., generate()`` change the data, ``saving()``
    writes results sets (relative to ``workdir``; an existing file only with
    ``saving(FILE, replace)``, the data file never), and forest plots are written to
    ``graph_dir`` as ``forest1.png``, ``forest2.png``... (metareg's graph as
    ``bubble1.png`` ...): the session's own files, which replace those of an earlier
    session unless ``replace_graphs=False``, and are never written over a file the
    session read.  A model under ``stset`` leaves out the records with time <= 0, as
    ``stset`` does, and says how many.  :meth:`python` is the equivalent Python
    script, with the same file names.
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
        self._graphs = {"forest": 0, "bubble": 0}

    # ------------------------------------------------------------------ translating
    def translate(self, line: str) -> Step:
        """Translate ``line`` with this session's stset and give it its file names
        (does not run it)."""
        step = translate(line, self.stset)
        if step.kind == "stset":
            self.stset = (step.call["time"], step.call["event"])
        if step.kind == "use":
            step.call["resolved"] = str(self._path(step.call["path"]))
        if step.aggregate is not None:
            step.aggregate["resolved"] = str(self._path(step.aggregate["path"]))
        if step.saving:
            step.saving_path = self._path(step.saving)
        if self.graph_dir is not None and ((step.forest is not None and step.kind in _PLOTS)
                                           or (step.kind == "metareg" and step.forest)):
            kind = ("bubble" if step.kind == "metareg" else
                    step.plot["method"] if step.plot is not None else "forest")
            self._graphs[kind] = self._graphs.get(kind, 0) + 1
            step.forest_path = self.graph_dir / f"{kind}{self._graphs[kind]}.{self.graph_format}"
        return step

    def python(self) -> str:
        """The Python script equivalent to all commands run so far."""
        head = ["import ipdmeta as ipd"]
        if any(s.kind in ("pool", "arms") and "ci_low" in s.call for s in self.steps):
            head.append("import scipy.stats")
        if self.data_path is not None:
            head += ["", f"data = ipd.read_data({py(str(self.data_path))})"]
        return "\n".join(head + [""] + [s.python for s in self.steps]) + "\n"

    # ------------------------------------------------------------------ running
    def run(self, line: str) -> Step:
        """Translate and run one command; returns the Step with ``result`` and ``output``."""
        step = self.translate(line)
        if step.kind not in ("use", "stset") and self.data is None:
            raise StataSyntaxError(f"no data in memory for {step.command!r}: give --data FILE "
                                   "or run 'use FILE' first")
        getattr(self, f"_run_{step.kind}")(step)
        self.steps.append(step)
        return step

    def _run_onestage(self, step: Step) -> None:
        res = onestage(self.data, **step.call)
        step.result = res
        step.output = res.summary(eform=step.eform)

    def _path(self, name: str) -> Path:
        p = Path(name)
        if not p.suffix:
            p = p.with_suffix(".dta")
        return p if p.is_absolute() else self.workdir / p

    def _rows(self, step: Step, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows the step's ``in`` range, ``stset`` sample and ``if`` expression select
        (``in`` counts the rows of the data, as Stata's observation numbers)."""
        if step.rows is not None:
            frame = frame.iloc[slice(*step.rows)]
        time = step.stset_time
        if time is not None and time in frame.columns:
            early = (pd.to_numeric(frame[time], errors="coerce") <= 0).to_numpy()
            if early.any():
                step.notes.append(f"{int(early.sum())} record(s) with {time} <= 0 excluded, "
                                  "as Stata's stset does (obs. end on or before enter())")
                frame = frame.loc[~early]
        if step.selection is not None:
            frame = frame[step.selection.mask(frame)]
        return frame

    def _save(self, step: Step, result: Any) -> None:
        """saving(): Stata's rules (an existing file needs replace; never the data file)."""
        path = step.saving_path
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            output_path(path, inputs=self.inputs, overwrite=step.replace, interface="stata",
                        what="saving() file")
        except InputError as err:
            if path.exists() and not step.replace and "input" not in str(err):
                raise InputError(f"file {path.name} already exists (Stata r(602)); add "
                                 f"replace: saving({step.saving}, replace)") from err
            raise
        with writing(path):
            step.files.append(result.save(path))
        step.output += f"\n\n(results set saved to {path})"

    def _plot(self, step: Step, draw: Any, options: dict[str, Any] | None = None) -> None:
        """Draw with ``draw(**options)`` (default: the step's forest options) into the
        step's file, if any."""
        if step.forest_path is None:
            return
        step.forest_path.parent.mkdir(parents=True, exist_ok=True)
        output_path(step.forest_path, inputs=self.inputs, overwrite=self.replace_graphs,
                    interface="cli", what="graph")
        if options is None:
            options = {k: v for k, v in (step.forest or {}).items() if not k.startswith("__")}
        fig = draw(**options, path=str(step.forest_path))
        fig.clf()
        step.files.append(step.forest_path)
        step.output += f"\n\n(graph written to {step.forest_path})"

    def _finish(self, step: Step, res: Any) -> None:
        """Models, study level, summary, plot (or cumulative/influence), files, clear."""
        if step.models:
            res = res.with_models(*step.models)
        if step.study_level is not None:
            res = res.with_study_level(step.study_level)
        if step.back_transform is not None:
            res = res.back_transformed(**step.back_transform)
        step.result = res
        meta = getattr(res, "meta", res)
        if not step.quiet:
            step.output = res.summary(eform=step.eform)
        if step.analysis == "cumulative":
            table = meta.cumulative(step.order)
            step.output += "\n\nCumulative meta-analysis:\n" + table.to_string(index=False)
            self._plot(step, lambda **o: meta.cumulative_forest(
                step.order, **{k: v for k, v in o.items() if k != "show_pi"}))
        elif step.analysis == "influence":
            table = meta.leave_one_out()
            step.output += "\n\nInfluence (each study left out):\n" + table.to_string(
                index=False)
            self._plot(step, lambda **o: meta.leave_one_out_forest(
                **{k: v for k, v in o.items() if k != "show_pi"}))
        elif step.forest is not None:
            options = {}
            if step.forest.get("__keeporder__") and hasattr(res, "aggregate"):
                options["sort_by"] = res.aggregate.to_frame()["study"].tolist()
            self._plot(step, lambda **o: res.forest(**o, **options))
        self._save(step, res)
        if step.clear:
            self.data = res.results_set().to_frame()

    def _run_use(self, step: Step) -> None:
        path = Path(step.call["resolved"])
        self.data = read_data(path)
        self.inputs.append(path)
        step.output = f"(loaded {path.name}: {len(self.data)} rows, {self.data.shape[1]} columns)"

    def _run_stset(self, step: Step) -> None:
        step.output = f"(survival outcome: time {step.call['time']}, event {step.call['event']})"

    def _run_sort(self, step: Step) -> None:
        _require(self.data, step.call["columns"])
        self.data = self.data.sort_values(step.call["columns"], kind="stable").reset_index(
            drop=True)

    def _run_tabulate(self, step: Step) -> None:
        var, stub = step.call["variable"], step.call["stub"]
        _require(self.data, [var])
        values = self.data[var].where(self.data[var].ne(""))     # "" is missing in Stata
        made = []
        for i, level in enumerate(sorted(values.dropna().unique()), start=1):
            self.data[f"{stub}{i}"] = (values == level).astype(float).where(values.notna())
            made.append(f"{stub}{i} = ({var} == {level})")
        step.output = "(new dummies: " + "; ".join(made) + ")"

    def _aggregate(self, step: Step) -> pd.DataFrame | None:
        agg = step.aggregate
        if agg is None:
            return None
        path = Path(agg["resolved"])
        frame = read_data(path)
        self.inputs.append(path)
        missing = [c for c in step.call["aggregate_columns"].values() if c not in frame.columns]
        if missing:
            raise StataSyntaxError(f"ad({agg['path']}): no column {missing[0]!r} in the "
                                   f"aggregate file (columns: {', '.join(map(str, frame.columns))}"
                                   "); the study variable must have the same name in both "
                                   "files (ipdmetan's help: clonevar _STUDY = trialid)")
        if agg.get("rows") is not None:
            frame = frame.iloc[slice(*agg["rows"])]
        if agg.get("selection") is not None:
            frame = frame[agg["selection"].mask(frame)]
        return frame

    def _run_ipdmeta(self, step: Step) -> None:
        _require(self.data, [step.call["study"]])
        frame = self._rows(step, self.data)
        ad = self._aggregate(step)
        res = ipdmeta(frame, **step.call, **({} if ad is None else {"aggregate": ad}))
        self._finish(step, res)

    def _run_arms(self, step: Step) -> None:
        assert step.arms is not None
        _require(self.data, [step.arms[k] for k in ("study", "outcome", "treatment")])
        arms = summarise_arms(self._rows(step, self.data), **step.arms)
        if arms.attrs.get("dropped"):
            step.notes.append(f"{arms.attrs['dropped']} participant(s) with a missing study, "
                              "outcome or treatment left out")
        self._pool(step, arms)

    def _run_pool(self, step: Step) -> None:
        frame = self._rows(step, self.data)
        if step.label is not None:
            _require(frame, list(step.label))
            frame = frame.assign(_label=eval(label_code(step.label, "frame"),
                                             {"frame": frame}))
        self._pool(step, frame)

    def _pool(self, step: Step, frame: pd.DataFrame) -> None:
        self._finish(step, self._pooled(step, frame))

    def _pooled(self, step: Step, frame: pd.DataFrame) -> Any:
        """``pool()`` on the rows with an estimate and standard error (as Stata)."""
        call = dict(step.call)
        _require(frame, _columns(call))
        if "ci_low" in call:
            lo, hi = call.pop("ci_low"), call.pop("ci_high")
            z = stats.norm.ppf(0.5 + normalise_level(call.get("level", 0.95)) / 2)
            frame = frame.assign(_seES=(frame[hi] - frame[lo]) / (2 * z))
            call["se"] = "_seES"
        if "estimate" in call:
            used = [call["estimate"], call.get("se") or call["variance"]]
            keep = frame[used].notna().all(axis=1)
            if not keep.all():
                step.notes.append(f"{int((~keep).sum())} row(s) with a missing estimate or "
                                  "standard error left out (as Stata does)")
                frame = frame[keep]
        return pool(frame, measure=step.measure, **call)

    def _run_bias(self, step: Step) -> None:
        """metabias / metatrim / metafunnel: pool, run the test, draw the plot."""
        res = self._pooled(step, self._rows(step, self.data))
        objects = {"res": res}
        if step.bias is None:
            step.result = res
            step.output = f"(funnel plot of {res.overall.k} studies)"
        else:
            out = step.result = getattr(res, step.bias["method"])(**step.bias["options"])
            if step.bias["method"] == "trimfill":
                objects.update({"tf": out, "tf.result": out.result})
                step.output = (res.summary(eform=step.eform) + "\n\n"
                               + out.summary(eform=step.eform))
            else:
                step.output = out.summary()
        if step.plot is not None:
            self._plot(step, getattr(objects[step.plot["target"]], step.plot["method"]))

    def _run_metareg(self, step: Step) -> None:
        call = dict(step.call)
        formula = call.pop("formula")
        columns = [call["estimate"], call.get("se") or call["variance"],
                   *_formula_variables(formula)]
        _require(self.data, columns, metareg=True)
        frame = self._rows(step, self.data)
        keep = frame[columns].notna().all(axis=1)
        if not keep.all():
            step.notes.append(f"{int((~keep).sum())} row(s) with a missing value of "
                              f"{', '.join(columns)} left out (as Stata does)")
        res = metareg(frame[keep], formula, **call)
        step.result = res
        if not step.quiet:
            step.output = res.summary(eform=bool(step.eform))
        if step.forest is not None:
            graph = dict(step.forest)
            moderator = graph.pop("moderator")
            self._plot(step, lambda **o: res.bubble(moderator, **o), graph)

    def _run_ipdover(self, step: Step) -> None:
        res = ipdover(self._rows(step, self.data), **step.call)
        step.result = res
        if not step.quiet:
            step.output = res.summary(eform=step.eform)
        self._plot(step, res.forest)
        self._save(step, res)

    def _run_forestplot(self, step: Step) -> None:
        frame = self._rows(step, self.data)
        step.output = f"(forest plot of a results set of {len(frame)} rows)"
        self._plot(step, lambda **o: forest_from_results(frame, **o))


_COLUMN_KEYS = ("estimate", "se", "variance", "ci_low", "ci_high", "study", "by", "events",
                "nonevents", "n", "means", "sds", "weights")


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

