"""The ipdmeta Python code equivalent to a translated Stata command.

Each :class:`~ipdmeta.stata.step.Step` becomes a few lines of plain ipdmeta and pandas
(``data`` is the data in memory, ``res`` the latest result), which do what the
translator does when it runs the step: the same rows (``if``/``in``, rows with a
missing estimate left out as Stata does), the same call, the same files.

Example:
    >>> from ipdmeta.stata.translate import translate
    >>> print(python_code(translate("metan es se, random")))
    sample = data.dropna(subset=["es", "se"])  # rows with a missing value are left out
    res = ipd.pool(sample, estimate="es", se="se", method="DL")
    print(res.summary())
    res.forest(show_pi=False)
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipdmeta.pooling.options import normalise_level

if TYPE_CHECKING:
    from ipdmeta.stata.step import Step


def py(value: Any) -> str:
    """A value as Python source: strings in double quotes, whole floats without '.0'.

    Example:
        >>> py(["a", 1.0, 0.5, ("x", "y"), {"b": 2}])
        '["a", 1, 0.5, ("x", "y"), {"b": 2}]'
    """
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(py(v) for v in value) + "]"
    if isinstance(value, tuple):
        return "(" + ", ".join(py(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{py(k)}: {py(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Path):
        return py(str(value))
    return repr(value)


def kwargs(d: dict[str, Any]) -> str:
    """``k=v, ...`` as Python source."""
    return ", ".join(f"{k}={py(v)}" for k, v in d.items())


def formula_variables(formula: str) -> list[str]:
    """The variables of a moderator formula: ``"~ C(a) + b:c"`` -> ``["a", "b", "c"]``."""
    names = re.findall(r"[A-Za-z_]\w*", re.sub(r"\bC\(", "(", formula))
    return list(dict.fromkeys(n for n in names if n != "C"))


def rows(step: Step, frame: str = "data") -> tuple[list[str], str]:
    """Lines selecting the step's rows (``in``, the ``stset`` sample, then ``if``) and the
    name of the selection."""
    return _select(frame, "sample", step.rows, step.selection, step.stset_time)


def _select(frame: str, name: str, span: tuple[int | None, int | None] | None,
            selection: Any, stset_time: str | None = None) -> tuple[list[str], str]:
    lines = []
    if span is not None:
        start, stop = span
        lines.append(f"{name} = {frame}.iloc[{'' if start is None else start}:"
                     f"{'' if stop is None else stop}]")
        frame = name
    if stset_time is not None:
        t = py(stset_time)
        lines.append(f"stset = {frame}[~({frame}[{t}] <= 0)]  # stset excludes records with "
                     "time <= 0")
        frame = "stset"
    if selection is not None:
        lines.append(f"{name} = {frame}[{selection.code.replace('data[', frame + '[')}]"
                     f"  # if {selection.stata}")
        frame = name
    return lines, frame


def _aggregate(step: Step) -> list[str]:
    agg = step.aggregate
    if agg is None:
        return []
    lines = [f"ad = ipd.read_data({py(str(agg.get('resolved', agg['path'])))})"]
    return lines + _select("ad", "ad", agg.get("rows"), agg.get("selection"))[0]


def _with_path(options: dict[str, Any], path: Path | None) -> dict[str, Any]:
    return {**options, "path": str(path)} if path is not None else dict(options)


def _forest(step: Step, meta: str) -> list[str]:
    """The plot (or the cumulative / leave-one-out plot and table) of a pooled result."""
    if step.forest is None and step.analysis is None:
        return []
    options = {k: v for k, v in (step.forest or {}).items() if not k.startswith("__")}
    if (step.forest or {}).get("__keeporder__"):
        options["sort_by"] = "__KEEPORDER__"
    out = []
    if step.analysis == "cumulative":
        order = f"order={py(step.order)}" if step.order else ""
        out.append(f"print({meta}.cumulative({order}))")
        if step.forest is not None:
            options.pop("show_pi", None)
            args = ", ".join(a for a in (order, kwargs(_with_path(options, step.forest_path)))
                             if a)
            out.append(f"{meta}.cumulative_forest({args})")
    elif step.analysis == "influence":
        out.append(f"print({meta}.leave_one_out())")
        if step.forest is not None:
            options.pop("show_pi", None)
            out.append(f"{meta}.leave_one_out_forest("
                       f"{kwargs(_with_path(options, step.forest_path))})")
    else:
        text = kwargs(_with_path(options, step.forest_path))
        text = text.replace('"__KEEPORDER__"', 'res.aggregate.to_frame()["study"].tolist()')
        out.append(f"res.forest({text})")
    return out


def _after(step: Step, meta: str, summary: bool = True) -> list[str]:
    """The lines after the call: further models, study level, summary, plot, files."""
    out = []
    if step.models:
        out.append(f"res = res.with_models({', '.join(py(m) for m in step.models)})")
    if step.study_level is not None:
        out.append(f"res = res.with_study_level({py(step.study_level)})")
    if step.back_transform is not None:
        out.append(f"res = res.back_transformed({kwargs(step.back_transform)})"
                   "  # shown as proportions")
    if summary and not step.quiet:
        out.append(f"print(res.summary({'eform=True' if step.eform else ''}))")
    out += _forest(step, meta)
    if step.saving:
        out.append(f"res.save({py(str(step.saving_path or step.saving))})")
    if step.clear:
        out.append("data = res.results_set().to_frame()  # clear: the results set in memory")
    return out


def label_code(label: tuple[str, str], frame: str) -> str:
    """The "name (year)" labels of metan's ``label(namevar= yearvar=)`` as Python."""
    name, year = label
    return (f'{frame}[{py(name)}].astype(str) + " (" + {frame}[{py(year)}].astype(str) + ")"')


def _pool(step: Step) -> list[str]:
    call = dict(step.call)
    lines, frame = rows(step)
    if step.label is not None:
        lines.append(f"sample = {frame}.assign(_label={label_code(step.label, frame)})")
        frame = "sample"
    if step.kind == "arms" and step.arms is not None:
        lines.append(f"arms = ipd.summarise_arms({frame}, {kwargs(step.arms)})")
        frame = "arms"
    if "ci_low" in call:
        lo, hi = call.pop("ci_low"), call.pop("ci_high")
        level = normalise_level(call.get("level", 0.95))
        lines.append(f"z = scipy.stats.norm.ppf(0.5 + {py(level)} / 2)")
        lines.append(f"sample = {frame}.assign(_seES=({frame}[{py(hi)}] - {frame}[{py(lo)}])"
                     " / (2 * z))")
        frame = "sample"
        call["se"] = "_seES"
    if "estimate" in call:
        used = [call["estimate"], call["se"] if "se" in call else call["variance"]]
        lines.append(f"sample = {frame}.dropna(subset={py(used)})"
                     "  # rows with a missing value are left out")
        frame = "sample"
    if step.measure:
        call["measure"] = step.measure
    lines.append(f"res = ipd.pool({frame}, {kwargs(call)})")
    return lines + _after(step, "res")


def _metareg(step: Step) -> list[str]:
    call = dict(step.call)
    formula = call.pop("formula")
    lines, frame = rows(step)
    used = [call["estimate"], call.get("se") or call["variance"],
            *formula_variables(formula)]
    lines.append(f"sample = {frame}.dropna(subset={py(used)})"
                 "  # rows with a missing value are left out, as Stata does")
    lines.append(f"res = ipd.metareg(sample, {py(formula)}, {kwargs(call)})")
    if not step.quiet:
        lines.append(f"print(res.summary({'eform=True' if step.eform else ''}))")
    if step.forest is not None:
        graph = dict(step.forest)
        moderator = graph.pop("moderator")
        lines.append(f"res.bubble({py(moderator)}, "
                     f"{kwargs(_with_path(graph, step.forest_path))})")
    return lines


def _bias(step: Step) -> list[str]:
    """metabias / metatrim / metafunnel: the pooled result, the test, the plot."""
    lines = _pool(replace(step, kind="pool", forest=None, quiet=True, models=[],
                          analysis=None, saving=None, clear=False))
    eform = "eform=True" if step.eform else ""
    if step.bias is not None:
        name = "tf" if step.bias["method"] == "trimfill" else "test"
        lines.append(f"{name} = res.{step.bias['method']}({kwargs(step.bias['options'])})")
        if name == "tf":
            lines += [f"print(res.summary({eform}))", f"print(tf.summary({eform}))"]
        else:
            lines.append("print(test.summary())")
    if step.plot is not None:
        options = _with_path(step.forest or {}, step.forest_path)
        lines.append(f"{step.plot['target']}.{step.plot['method']}({kwargs(options)})")
    return lines


def _tabulate(step: Step) -> str:
    v, stub = py(step.call["variable"]), step.call["stub"]
    return (f"values = data[{v}].where(data[{v}].ne(\"\"))  # \"\" is missing, as in Stata\n"
            f"for i, level in enumerate(sorted(values.dropna().unique()), start=1):\n"
            f"    data[f{py(stub + '{i}')}] = (values == level).astype(float)"
            f".where(values.notna())")


def python_code(step: Step) -> str:
    """The ipdmeta Python code that does what ``step`` does (``data``: the data in memory).
    """
    c = step.call
    if step.kind == "use":
        return f"data = ipd.read_data({py(c.get('resolved', c['path']))})"
    if step.kind == "stset":
        return f"# stset: survival outcome Surv({c['time']}, {c['event']}) in the formulas"
    if step.kind == "sort":
        return (f"data = data.sort_values({py(c['columns'])}, kind=\"stable\")"
                ".reset_index(drop=True)")
    if step.kind == "tabulate":
        return _tabulate(step)
    if step.kind in ("pool", "arms"):
        return "\n".join(_pool(step))
    if step.kind == "metareg":
        return "\n".join(_metareg(step))
    if step.kind == "bias":
        return "\n".join(_bias(step))
    if step.kind == "onestage":
        return (f"res = ipd.onestage(data, {kwargs(c)})\n"
                f"print(res.summary({'eform=True' if step.eform else ''}))")
    lines, frame = rows(step)
    if step.kind == "forestplot":
        options = _with_path(step.forest or {}, step.forest_path)
        lines.append(f"ipd.forest_from_results({', '.join([frame, kwargs(options)]).strip(', ')})")
        return "\n".join(lines)
    if step.kind == "ipdover":
        lines.append(f"res = ipd.ipdover({frame}, {kwargs(c)})")
        if not step.quiet:
            lines.append(f"print(res.summary({'eform=True' if step.eform else ''}))")
        if step.forest is not None:
            lines.append(f"res.forest({kwargs(_with_path(step.forest, step.forest_path))})")
        if step.saving:
            lines.append(f"res.save({py(str(step.saving_path or step.saving))})")
        return "\n".join(lines)
    lines += _aggregate(step)
    call = kwargs(c) + (", aggregate=ad" if step.aggregate is not None else "")
    lines.append(f"res = ipd.ipdmeta({frame}, {call})")
    return "\n".join(lines + _after(step, "res.meta"))
