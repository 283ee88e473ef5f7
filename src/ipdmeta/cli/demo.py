"""The demo analyses run by ``ipdmeta demo`` on the bundled example data.

Three two-stage IPD meta-analyses, as in the projects ipdmeta was written for:

1. **hypertension** — Cox model per trial, pooled hazard ratio of ``treat``,
   REML with the Hartung-Knapp-Sidik-Jonkman interval; forest plot with the axis
   "Hazard ratio" and ticks 0.2, 0.5, 1, 2.
2. **weight_gain** — linear model per trial, pooled mean difference in final
   weight; forest plot with the columns intervention, study name and n.
3. **weight_gain_binary** — logistic model per trial, pooled odds ratio with
   subgroups by intervention type; trials with no events or complete separation
   are listed with their reason; the aggregate data are saved (``.dta`` with
   Stata ipdmetan names, and ``.csv``), read back, and a meta-regression on the
   intervention type is run (exponentiated: ratios of odds ratios).

Each writes its printed summary (``*_summary.txt``), its forest plot
(``*_forest.png``) and its stage-1 table into the output folder, and one HTML
report (``report.html``) holds them all.

Example:
    >>> from pathlib import Path; import tempfile
    >>> files = run_demo(Path(tempfile.mkdtemp()), quiet=True)
    >>> sorted(f.name for f in files)[-3:]
    ['weight_gain_forest.png', 'weight_gain_stage1.csv', 'weight_gain_summary.txt']
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ipdmeta import datasets
from ipdmeta.analysis import ipdmeta
from ipdmeta.pooling.metareg import metareg
from ipdmeta.report.html import ReportSection, write_report
from ipdmeta.stage1.table import read_aggregate

#: the analyses: (name, title, ipdmeta() arguments, forest options)
ANALYSES: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = [
    ("hypertension", "Antihypertensive treatment and cardiovascular events (Cox, HR)",
     {"study": "trial", "formula": "Surv(time, event) ~ treat + smk + sbpi + age + bmi",
      "model": "cox", "poolvar": "treat", "method": "REML", "ci": "hksj"},
     {"xlabel": "Hazard ratio", "xticks": [0.2, 0.5, 1, 2],
      "favours": ("Favours treatment", "Favours control")}),
    ("weight_gain", "Interventions in pregnancy and final weight (linear, mean difference)",
     {"study": "studyid", "formula": "final_wt ~ trt + baseline_wt", "model": "linear",
      "poolvar": "trt", "keep": ["intervention", "study_name"], "method": "REML",
      "ci": "hksj"},
     {"left_columns": ["intervention", "study_name", "n"], "effect": "MD (95% CI)",
      "xlabel": "Mean difference in final weight (kg)", "xticks": [-5, -4, -3, -2, -1, 0, 1, 2],
      "left_headers": {"study": "Trial", "intervention": "Intervention",
                       "study_name": "Study", "n": "n"}}),
    ("weight_gain_binary", "Interventions in pregnancy and gestational diabetes "
                           "(logistic, OR), subgroups by intervention",
     {"study": "studyid", "formula": "gdm ~ trt + baseline_wt", "model": "logistic",
      "poolvar": "trt", "keep": ["study_name"], "by": "intervention", "method": "REML",
      "ci": "hksj"},
     {"xlabel": "Odds ratio", "xticks": [0.05, 0.2, 1, 5, 20]}),
]


def _call(name: str, kwargs: dict[str, Any], forest: dict[str, Any]) -> str:
    from ipdmeta.stata.codegen import py
    args = ", ".join(f"{k}={py(v)}" for k, v in kwargs.items())
    fargs = ", ".join(f"{k}={py(v)}" for k, v in forest.items())
    return (f"import ipdmeta as ipd\n\ndata = ipd.datasets.load({py(name)})\n"
            f"res = ipd.ipdmeta(data, {args})\nprint(res.summary())\n"
            f"res.forest({fargs}, path={py(name + '_forest.png')})\n")


def run_demo(out: Path, quiet: bool = False) -> list[Path]:
    """Run the three example analyses; write summaries, plots, data and a report to ``out``.

    Summaries are printed on standard output and progress on standard error
    unless ``quiet``.  Returns the files written.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    sections: list[ReportSection] = []

    def say(text: str) -> None:
        if not quiet:
            print(f"ipdmeta demo: {text}", file=sys.stderr, flush=True)

    for name, title, kwargs, forest in ANALYSES:
        say(f"{name}: {kwargs['formula']} ({kwargs['model']}), {kwargs['method']} + "
            f"{kwargs['ci']}")
        res = ipdmeta(datasets.load(name), **kwargs)
        text = res.summary()
        files.append(out / f"{name}_summary.txt")
        files[-1].write_text(text + "\n", encoding="utf-8")
        fig = res.forest(**forest, path=out / f"{name}_forest.png", dpi=200)
        fig.clf()
        files.append(out / f"{name}_forest.png")
        files.append(res.aggregate.save(out / f"{name}_stage1.csv"))
        sections.append(ReportSection(title, res, call=_call(name, kwargs, forest),
                                      forest=forest))
        if not quiet:
            print(f"== {title} ==\n\n{text}\n")
        if name == "weight_gain_binary":
            sections.append(_metareg_section(res, out, files, quiet, say))
    files.append(write_report(sections, out / "report.html",
                              title="ipdmeta demo: three two-stage IPD meta-analyses",
                              command="ipdmeta demo --out " + str(out)))
    say(f"{len(files)} files written to {out}/ (open report.html)")
    return files


def _metareg_section(res: Any, out: Path, files: list[Path], quiet: bool,
                     say: Any) -> ReportSection:
    """Save the aggregate data as Stata would, read them back, meta-regress on type."""
    path = res.aggregate.save(out / "weight_gain_binary_AD.dta", names="ipdmetan")
    files.append(path)
    say(f"aggregate data saved to {path.name} (ipdmetan names); meta-regression on "
        "intervention type")
    ad = read_aggregate(path)
    mr = metareg(ad, "~ C(intervention)", method="REML", ci="hksj")
    text = mr.summary(eform=True)
    files.append(out / "weight_gain_binary_metareg.txt")
    files[-1].write_text(text + "\n", encoding="utf-8")
    if not quiet:
        print(f"== Meta-regression of the log odds ratio on intervention type ==\n\n{text}\n")
    call = ('ad = ipd.read_aggregate("weight_gain_binary_AD.dta")\n'
            'mr = ipd.metareg(ad, "~ C(intervention)", method="REML", ci="hksj")\n'
            "print(mr.summary(eform=True))\n")
    return ReportSection("Meta-regression of the odds ratio on intervention type", mr,
                         call=call, eform=True,
                         notes=["Coefficients are ratios of odds ratios relative to diet "
                                "(exp(b)); the saved file is read back first, as in Stata."])
