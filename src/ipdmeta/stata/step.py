"""``Step``: one translated Stata command — what to call, with what, and what came out.

Example:
    >>> step = Step(command="metan es se", kind="pool", call={"estimate": "es", "se": "se"})
    >>> step.kind, step.forest is None
    ('pool', True)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipdmeta.stata.codegen import python_code
from ipdmeta.stata.expressions import Selection

#: the kinds of step and the ipdmeta function each calls
KINDS = {"ipdmeta": "ipd.ipdmeta", "pool": "ipd.pool", "arms": "ipd.summarise_arms + ipd.pool",
         "metareg": "ipd.metareg", "ipdover": "ipd.ipdover",
         "forestplot": "ipd.forest_from_results", "use": "ipd.read_data", "stset": "(none)",
         "sort": "DataFrame.sort_values", "tabulate": "dummies",
         "onestage": "ipd.onestage", "bias": "ipd.pool + a bias test or plot"}


@dataclass
class Step:
    """One translated command.

    Attributes:
        command: the Stata line.
        kind: one of :data:`KINDS`.
        call: keyword arguments of the ipdmeta function.
        forest: keyword arguments of ``res.forest()`` (None: no plot).
        saving, replace: ``saving(FILE [, replace])``: the results set to write.
        clear: ``clear``: the results set replaces the data in memory.
        eform, measure: display scale and effect measure.
        selection, rows: the ``if`` selection and ``in`` range (0-based start, stop).
        stset_time: the survival time of a model under ``stset``: records with time
            <= 0 are left out, as Stata's ``stset`` does.
        models: further pooling models (``model(a \\ b)``, ``second()``).
        study_level: ``ilevel()``: the level of the study intervals.
        analysis: "cumulative" or "influence" (the plot and table shown instead).
        order: ``sortby()``: the order of the studies (a column).
        aggregate: ``ad()``: path, selection, columns and options of the aggregate data.
        arms: ipdmetan's Syntax 2: the options of ``ipd.summarise_arms``.
        label: metan's ``label(namevar= yearvar=)``: the columns of the "name (year)"
            labels in a column ``_label``.
        quiet: ``notable``: the results are not printed.
        bias: metabias/metatrim: the method of the pooled result that runs the test and
            its keywords (``{"method": "egger", "options": {"model": "lm"}}``).
        plot: the plot of a bias step: what draws it (``"res"``, ``"tf"`` the trim-and-fill
            result, ``"tf.result"``) and its method (``"radial"``, ``"funnel"``,
            ``"forest"``); its keywords are ``forest``.
        back_transform: keywords of ``res.back_transformed()`` (metaprop: the results
            shown as proportions), or None.
        notes: what the translation wants the user to know.
        forest_path, saving_path: the files (set by :class:`ipdmeta.stata.StataSession`).
        result, output, files: after running: the result object, the printed text, the
            files written.
    """

    command: str
    kind: str
    call: dict[str, Any] = field(default_factory=dict)
    forest: dict[str, Any] | None = None
    saving: str | None = None
    replace: bool = False
    clear: bool = False
    eform: bool | None = None
    measure: str | None = None
    selection: Selection | None = None
    rows: tuple[int | None, int | None] | None = None
    stset_time: str | None = None
    models: list[Any] = field(default_factory=list)
    study_level: float | None = None
    analysis: str | None = None
    order: str | None = None
    aggregate: dict[str, Any] | None = None
    arms: dict[str, str] | None = None
    label: tuple[str, str] | None = None
    quiet: bool = False
    bias: dict[str, Any] | None = None
    plot: dict[str, str] | None = None
    back_transform: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    forest_path: Path | None = None
    saving_path: Path | None = None
    result: Any = None
    output: str = ""
    files: list[Path] = field(default_factory=list)

    @property
    def python(self) -> str:
        """The equivalent ipdmeta Python code (``data`` is the data in memory)."""
        return python_code(self)
