"""A self-contained HTML report of one or more analyses.

One file, nothing external: the CSS is inline and the forest plots are embedded
as base64 PNG images, so the report can be e-mailed or archived as it is.  Each
analysis is a section with

* the data: studies, participants, events, rows dropped for missing values;
* the stage-1 table, with the studies that could not be estimated and why;
* the pooled results (common and random effects, prediction interval), the
  heterogeneity statistics and, with ``by=``, the subgroups and their test;
* the forest plot;
* how to reproduce it: the command line and/or the Python call;

and the report ends with the versions of ipdmeta, numpy, scipy, pandas,
matplotlib and Python that produced it.  The report reads result objects only:
it computes no statistics.

Example:
    >>> import ipdmeta as ipd, tempfile, os
    >>> m = ipd.pool(ipd.datasets.load_bcg(), estimate="yi", variance="vi",
    ...              study="trial", measure="RR")
    >>> path = write_report(m, os.path.join(tempfile.mkdtemp(), "r.html"), forest=False)
    >>> "<table" in open(path, encoding="utf-8").read()
    True
"""

from __future__ import annotations

import base64
import html
import io
import math
import platform
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.io.output import writing
from ipdmeta.report.tables import fmt_p, model_label, p_text

__all__ = ["ReportSection", "package_versions", "render_report", "write_report"]

PACKAGES = ("ipdmeta", "numpy", "scipy", "pandas", "matplotlib", "formulaic")

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:2rem auto;max-width:70rem;padding:0 1rem;color:#1a1a1a;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.3rem;margin-top:2.5rem;
 border-bottom:2px solid #3d6a96;padding-bottom:.2rem}h3{font-size:1.05rem;margin-top:1.4rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:right;vertical-align:top}
th{background:#f2f5f8;border-bottom:2px solid #999}td.l,th.l{text-align:left}
td.n{white-space:nowrap;font-variant-numeric:tabular-nums}
tr.excluded td{color:#8c1d1d;background:#fff6f6}tr.pooled td{font-weight:600}
.meta{color:#555;font-size:.9rem}figure{margin:1rem 0}figure img{max-width:100%;
 height:auto;border:1px solid #eee}figcaption{color:#555;font-size:.85rem}
pre{background:#f6f8fa;padding:.8rem;overflow-x:auto;font-size:.82rem;border-radius:4px}
pre.call,pre.command{white-space:pre-wrap;overflow-wrap:anywhere}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}.note{color:#7a4a00}
"""


@dataclass
class ReportSection:
    """One analysis in a report.

    Attributes:
        title: the section heading.
        result: an ``IPDMetaResult`` (``ipd.ipdmeta``), a ``MetaResult``
            (``ipd.pool``) or a ``MetaRegResult`` (``ipd.metareg``).
        command: the command line that produced it (shown verbatim).
        call: the equivalent Python code.
        forest: forest-plot options (a dict), True for the defaults, False for none.
        eform: show exponentiated estimates (default: for ratio measures).
        notes: extra remarks printed under the heading.
    """

    title: str
    result: Any
    command: str | None = None
    call: str | None = None
    forest: dict[str, Any] | bool = True
    eform: bool | None = None
    notes: list[str] = field(default_factory=list)


def package_versions() -> dict[str, str]:
    """Versions of ipdmeta, its main dependencies and Python.

    Example:
        >>> "numpy" in package_versions() and "Python" in package_versions()
        True
    """
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["Python"] = f"{platform.python_version()} ({platform.platform(terse=True)})"
    return out


# ---------------------------------------------------------------------------- formatting
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _num(x: Any, digits: int = 3, eform: bool = False) -> str:
    if x is None:
        return "."
    try:
        v = float(x)
    except (TypeError, ValueError):
        return _e(x)
    if not math.isfinite(v):
        return "."
    v = math.exp(v) if eform else v
    return f"{v:.{digits}f}".replace("-", "\u2212")


def _p(p: Any) -> str:
    return html.escape(fmt_p(p))


def _p_text(p: Any) -> str:
    return html.escape(p_text(p))


def _ci(lo: Any, hi: Any, eform: bool) -> str:
    a, b = _num(lo, 3, eform), _num(hi, 3, eform)
    return "." if a == b == "." else f"{a} to {b}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, css: str = "",
           text: Collection[int] = (0,), row_classes: Sequence[str] | None = None) -> str:
    """An HTML table; cells are HTML already; columns ``text`` are left-aligned text."""
    th = "".join(f'<th class="{"l" if i in text else ""}" scope="col">{h}</th>'
                 for i, h in enumerate(header))
    body = []
    for j, row in enumerate(rows):
        cls = f' class="{row_classes[j]}"' if row_classes and row_classes[j] else ""
        tds = "".join(f'<td class="{"l" if i in text else "n"}">{c}</td>'
                      for i, c in enumerate(row))
        body.append(f"<tr{cls}>{tds}</tr>")
    return (f'<table class="{css}"><thead><tr>{th}</tr></thead><tbody>{"".join(body)}'
            "</tbody></table>")


def _facts(items: Sequence[tuple[str, str]]) -> str:
    return '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>"
                                          for k, v in items) + "</dl>"


def figure_png(fig: Any, dpi: int = 220) -> str:
    """A matplotlib figure as a base64 PNG data URI (the figure is then cleared); drawn at
    twice the usual screen resolution so that it stays sharp on high-density screens."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    fig.clf()
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# ---------------------------------------------------------------------------- sections
def _meta_of(result: Any) -> Any:
    return result.meta if hasattr(result, "meta") and hasattr(result, "aggregate") else result


def _data_facts(result: Any) -> str:
    ad = getattr(result, "aggregate", None)
    meta = _meta_of(result)
    if ad is None:
        k_all = meta.k + len(meta.excluded)
        return _facts([("Studies", f"{k_all} ({meta.k} pooled)"),
                       ("Input", "aggregate data (one estimate and standard error per "
                                 "study)")])
    t = ad.table
    ok = int(t["status"].eq("ok").sum())
    items = [("Model", _e(f"{ad.model} — {ad.formula}")),
             ("Pooled term", _e(f"{ad.poolvar} ({ad.measure})")),
             ("Studies", f"{len(t)} ({ok} estimated, {len(t) - ok} not estimable)")]
    if "n" in t.columns:
        items.append(("Participants", f"{int(t['n'].sum()):,} in the models"))
    if "events" in t.columns:
        items.append(("Events", f"{int(t['events'].sum()):,}"))
    if "n_dropped" in t.columns:
        dropped = int(t["n_dropped"].sum())
        where = t.loc[t["n_dropped"] > 0, "study"].astype(str).tolist()
        text = f"{dropped:,} rows dropped for missing values"
        if where:
            text += " (studies: " + _e(", ".join(where[:20])) + (" …" if len(where) > 20
                                                                 else "") + ")"
        items.append(("Missing values", text))
    if ad.model == "cox":
        items.append(("Ties", _e(ad.ties or "efron")))
    if ad.firth:
        items.append(("Estimation", "Firth-penalised likelihood"))
    return _facts(items)


def _stage1_table(result: Any, eform: bool) -> str:
    if not hasattr(result, "aggregate"):
        rows = [[_e(r.study), _num(r.estimate, 3, eform), _ci(r.ci_low, r.ci_high, eform),
                 _num(r.weight, 2), "ok", ""] for r in result.studies.itertuples()]
        bad = [[_e(r.study), ".", ".", ".", _e(r.status), _e(r.reason)]
               for r in result.excluded.itertuples()]
        return _table(["Study", "Estimate", "95% CI", "Weight (%)", "Status", "Reason"],
                      rows + bad, css="stage1", text=(0, 4, 5),
                      row_classes=[""] * len(rows) + ["excluded"] * len(bad))
    table = result.stage1_table()
    has_events = "events" in table.columns
    header = ["Study", "N", *(["Events"] if has_events else []), _e(result.aggregate.measure
                                                                      or "Estimate"),
              "95% CI", "Weight (%)", "Status", "Reason / note"]
    rows, classes = [], []
    for r in table.itertuples():
        row = [_e(r.study), _e(r.n) if "n" in table.columns else ".",
               *([_e(r.events)] if has_events else []), _num(r.estimate, 3, eform),
               _ci(r.ci_low, r.ci_high, eform),
               _num(r.weight, 2) if np.isfinite(r.weight) else ".", _e(r.status),
               _e(r.reason)]
        rows.append(row)
        classes.append("" if r.status == "ok" else "excluded")
    return _table(header, rows, css="stage1", row_classes=classes,
                  text=(0, len(header) - 2, len(header) - 1))


def _pooled_table(meta: Any, eform: bool) -> str:
    rows, pooled = [], [meta.common] + ([meta.overall] if meta.overall.model == "random"
                                       else [])
    for p in pooled:
        stat = "t" if p.df is not None else "z"
        rows.append([_e(model_label(p, meta.measure)), str(p.k), _num(p.estimate, 3, eform),
                     _ci(p.ci_low, p.ci_high, eform), f"{stat} = {_num(p.z_or_t, 2)}",
                     _p(p.pvalue)])
    o = meta.overall
    if np.isfinite(o.pi_low):
        rows.append(["Prediction interval", "", "", _ci(o.pi_low, o.pi_high, eform), "", ""])
    return _table(["Model", "k", "Estimate" + (" (exp)" if eform else ""), "95% CI",
                   "Test", "p"], rows, css="pooled", row_classes=["pooled"] * len(rows))


def _heterogeneity(meta: Any) -> str:
    o = meta.overall
    items = [("Cochran's Q", f"{_num(o.Q, 2)} on {o.Q_df} df, {_p_text(o.Q_pvalue)}"),
             ("I²", f"{_num(o.I2, 1)}%" + (f" (95% CI {_num(o.I2_ci[0], 1)}% to "
                                            f"{_num(o.I2_ci[1], 1)}%)"
                                            if np.isfinite(o.I2_ci[0]) else "")),
             ("H²", _num(o.H2, 2))]
    if o.model == "random":
        items.append(("τ²", f"{_num(o.tau2, 4)} ({_e(o.method)})" + (
            f", 95% CI {_num(o.tau2_ci[0], 4)} to {_num(o.tau2_ci[1], 4)}"
            if np.isfinite(o.tau2_ci[0]) else "")))
        items.append(("τ", _num(o.tau, 4)))
    for test in getattr(meta, "tests", {}).values():   # MH odds ratios: Breslow-Day, CMH
        items.append((_e(test.name), f"χ²({test.df}) = {_num(test.statistic, 2)}, "
                                     f"p = {_p(test.pvalue)}"))
    return _facts(items)


def _subgroups(meta: Any, eform: bool) -> str:
    s = meta.subgroups
    if s is None:
        return ""
    rows = [[_e(g), str(p.k), _num(p.estimate, 3, eform), _ci(p.ci_low, p.ci_high, eform),
             f"{_num(p.I2, 1)}%", _num(p.tau2, 4)] for g, p in s.pooled.items()]
    return (f"<h3>Subgroups by {_e(s.by)}</h3>"
            + _table(["Subgroup", "k", "Estimate", "95% CI", "I²", "τ²"], rows,
                     css="subgroups")
            + f"<p>Test of subgroup differences: Q = {_num(s.Q_between, 2)} on "
              f"{s.Q_between_df} df, {_p_text(s.Q_between_pvalue)}</p>")


def _metareg_body(result: Any, eform: bool) -> str:
    rows = [[_e(r.term), _num(r.estimate, 4, eform), _num(r.se, 4),
             _ci(r.ci_low, r.ci_high, eform), _p(r.pvalue)] for r in result.coef.itertuples()]
    df = result.QM_df
    qm = (f"F({df[0]}, {df[1]}) = {_num(result.QM, 2)}" if df[1] is not None
          else f"χ²({df[0]}) = {_num(result.QM, 2)}")
    facts = _facts([("Studies", str(result.k)), ("Formula", _e(result.formula)),
                    ("Method", _e(f"{result.spec.method}, {result.spec.ci}")),
                    ("Residual τ²", _num(result.tau2, 4)), ("Residual I²",
                                                           f"{_num(result.I2, 1)}%"),
                    ("R²", f"{_num(result.R2, 1)}%"),
                    ("Test of moderators", f"{qm}, {_p_text(result.QM_pvalue)}"),
                    ("Residual heterogeneity", f"QE = {_num(result.QE, 2)} on "
                                               f"{result.QE_df} df, {_p_text(result.QE_pvalue)}")])
    excluded = ""
    if len(result.excluded):
        excluded = ("<h3>Studies left out</h3>" + _table(
            ["Study", "Status", "Reason"], [[_e(r.study), _e(r.status), _e(r.reason)]
                                            for r in result.excluded.itertuples()],
            css="excluded", text=(0, 1, 2)))
    head = ["Term", "Estimate" + (" (exp)" if eform else ""), "SE (log scale)" if eform
            else "SE", "95% CI", "p"]
    return (facts + "<h3>Coefficients</h3>" + _table(head, rows, css="metareg") + excluded)


def result_html(result: Any, eform: bool | None = None) -> str:
    """An HTML fragment of a result (no figure): data, stage-1 table, pooled results,
    heterogeneity and subgroups — what Jupyter shows for a result object.

    Example:
        >>> import pandas as pd, ipdmeta as ipd
        >>> m = ipd.pool(pd.DataFrame({"yi": [0.1, 0.4, 0.2], "vi": [0.01, 0.02, 0.03]}))
        >>> "<table" in result_html(m)
        True
    """
    meta = _meta_of(result)
    eform = meta.eform_default if eform is None else eform
    return "".join([_data_facts(result), _stage1_table(result, eform),
                    _pooled_table(meta, eform), _heterogeneity(meta), _subgroups(meta, eform)])


def _forest(section: ReportSection, eform: bool, index: int) -> str:
    if section.forest is False or not hasattr(_meta_of(section.result), "overall"):
        return ""
    options = {} if section.forest is True else dict(section.forest)
    options.pop("path", None)
    options.setdefault("eform", eform)
    fig = section.result.forest(**options)
    src = figure_png(fig)
    return (f'<figure><img id="forest-{index}" class="forest" alt="Forest plot: '
            f'{_e(section.title)}" src="{src}"><figcaption>Forest plot. Squares: study '
            "estimates (area proportional to weight); lines: 95% confidence intervals; "
            "diamonds: pooled estimates.</figcaption></figure>")


def _reproduce(section: ReportSection) -> str:
    parts = []
    if section.command:
        parts.append("<h3>Command</h3><pre class=\"command\">" + _e(section.command) + "</pre>")
    if section.call:
        parts.append("<h3>Python</h3><pre class=\"call\">" + _e(section.call) + "</pre>")
    return "".join(parts)


def _section(section: ReportSection, index: int) -> str:
    result = section.result
    meta = _meta_of(result)
    is_metareg = hasattr(result, "coef") and not hasattr(meta, "overall")
    eform = section.eform
    if eform is None:
        eform = bool(getattr(meta, "eform_default", False))
    out = [f'<section id="analysis-{index}"><h2>{_e(section.title)}</h2>']
    out += [f'<p class="note">{_e(n)}</p>' for n in section.notes]
    if is_metareg:
        out.append(_metareg_body(result, eform))
    else:
        out += ["<h3>Data</h3>", _data_facts(result), "<h3>Stage 1: study estimates</h3>",
                _stage1_table(result, eform), "<h3>Pooled results</h3>",
                _pooled_table(meta, eform), "<h3>Heterogeneity</h3>", _heterogeneity(meta),
                _subgroups(meta, eform), _forest(section, eform, index)]
    messages = [m for m in getattr(meta, "messages", ()) if m]
    if messages:
        out.append("<h3>Notes</h3><ul>" + "".join(f"<li>{_e(m)}</li>" for m in messages)
                   + "</ul>")
    out.append("<details><summary>Printed summary</summary><pre class=\"summary\">"
               + _e(result.summary(eform=eform)) + "</pre></details>")
    out.append(_reproduce(section))
    out.append("</section>")
    return "\n".join(out)


def render_report(sections: ReportSection | Sequence[ReportSection], *,
                  title: str = "ipdmeta report", command: str | None = None) -> str:
    """The report as one HTML string (see :func:`write_report`).

    Example:
        >>> import ipdmeta as ipd
        >>> m = ipd.pool(ipd.datasets.load_bcg(), estimate="yi", variance="vi")
        >>> text = render_report(ReportSection("BCG", m, forest=False))
        >>> text.startswith("<!DOCTYPE html>"), "Heterogeneity" in text
        (True, True)
    """
    if isinstance(sections, ReportSection):
        sections = [sections]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="meta">Written by ipdmeta on {when}.</p>']
    if len(sections) > 1:
        body.append("<nav><ol>" + "".join(f'<li><a href="#analysis-{i}">{_e(s.title)}</a></li>'
                                          for i, s in enumerate(sections, 1)) + "</ol></nav>")
    body += [_section(s, i) for i, s in enumerate(sections, 1)]
    versions = package_versions()
    body.append('<section id="reproduce"><h2>Reproducibility</h2>')
    if command:
        body.append("<h3>Command</h3><pre class=\"command\">" + _e(command) + "</pre>")
    body.append(_table(["Package", "Version"], [[_e(k), _e(v)] for k, v in versions.items()],
                       css="versions", text=(0, 1)))
    body.append("</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<meta name=\"generator\" content=\"ipdmeta {_e(versions['ipdmeta'])}\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_report(result: Any | Sequence[ReportSection], path: str | Path, *,
                 title: str = "ipdmeta report", command: str | None = None,
                 call: str | None = None, forest: dict[str, Any] | bool = True,
                 eform: bool | None = None) -> Path:
    """Write a self-contained HTML report to ``path``.

    Args:
        result: an ``IPDMetaResult``, ``MetaResult`` or ``MetaRegResult``, or a list
            of :class:`ReportSection` for several analyses in one report.
        path: the ``.html`` file to write.
        title: the report's title (and the section heading of a single result).
        command: the command line that produced it, shown verbatim.
        call: the equivalent Python code.
        forest: forest-plot options (dict), True (defaults) or False (no plot).
        eform: show exponentiated estimates (default: for ratio measures).

    Returns:
        The path written.

    Example:
        >>> import ipdmeta as ipd, tempfile, os
        >>> m = ipd.pool(ipd.datasets.load_bcg(), estimate="yi", variance="vi")
        >>> p = write_report(m, os.path.join(tempfile.mkdtemp(), "bcg.html"),
        ...                  call='ipd.pool(bcg, estimate="yi", variance="vi")')
        >>> "data:image/png;base64," in p.read_text(encoding="utf-8")
        True
    """
    if isinstance(result, Sequence) and not isinstance(result, str | pd.DataFrame):
        sections = list(result)
    else:
        sections = [ReportSection(title, result, command=None, call=call, forest=forest,
                                  eform=eform)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = render_report(sections, title=title, command=command)
    with writing(path):
        path.write_text(text, encoding="utf-8")
    return path
