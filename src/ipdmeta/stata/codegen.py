"""The ipdmeta Python code equivalent to a translated Stata command.

Example:
    >>> from ipdmeta.stata.translate import translate
    >>> print(python_code(translate("metan es se, random")))
    res = ipd.pool(data, estimate="es", se="se", method="DL")
    print(res.summary())
    res.forest()
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ipdmeta.stata.translate import Step


def py(value: Any) -> str:
    """A value as Python source: strings in double quotes, whole floats without '.0'.

    Example:
        >>> py(["a", 1.0, 0.5, ("x", "y")])
        '["a", 1, 0.5, ("x", "y")]'
        >>> py({"nagq": 1})
        '{"nagq": 1}'
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


def _kwargs(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={py(v)}" for k, v in d.items())


def python_code(step: Step) -> str:
    """The ipdmeta Python code that does what ``step`` does (``data``: the data in memory).
    """
    c, lines = step.call, []
    summary = f"print(res.summary({'eform=True' if step.eform else ''}))"
    if step.kind == "use":
        return f"data = ipd.read_data({py(c['path'])})"
    if step.kind == "stset":
        return f"# stset: survival outcome Surv({c['time']}, {c['event']}) in stcox formulas"
    if step.kind == "tabulate":
        v, stub = py(c["variable"]), c["stub"]
        return (f"for i, level in enumerate(sorted(data[{v}].dropna().unique()), start=1):\n"
                f"    data[f{py(stub + '{i}')}] = (data[{v}] == level).astype(float)")
    if step.kind == "ipdmeta":
        lines.append(f"res = ipd.ipdmeta(data, {_kwargs(c)})")
    elif step.kind == "pool":
        call = dict(c)
        if "ci_low" in call:
            lo, hi = call.pop("ci_low"), call.pop("ci_high")
            level = call.get("level", 0.95)
            lines.append(f"z = scipy.stats.norm.ppf(0.5 + {py(fraction(level))} / 2)")
            lines.append(f'data["_seES"] = (data[{py(hi)}] - data[{py(lo)}]) / (2 * z)')
            call["se"] = "_seES"
        if step.measure:
            call["measure"] = step.measure
        lines.append(f"res = ipd.pool(data, {_kwargs(call)})")
    elif step.kind == "onestage":
        lines.append(f"res = ipd.onestage(data, {_kwargs(c)})")
    elif step.kind == "metareg":
        call = dict(c)
        formula = call.pop("formula")
        lines.append(f"res = ipd.metareg(data, {py(formula)}, {_kwargs(call)})")
    lines.append(summary)
    if step.forest is not None and step.kind != "metareg":
        lines.append(f"res.forest({_kwargs(step.forest)})")
    if step.saving and step.kind == "ipdmeta":
        lines.append(f'res.aggregate.save({py(step.saving)}, names="ipdmetan")')
    elif step.saving:
        lines.append(f"res.to_frame().to_csv({py(step.saving)}, index=False)")
    return "\n".join(lines)


def fraction(level: float) -> float:
    return level / 100 if level > 1 else level
