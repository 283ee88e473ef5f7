"""Printed tables and result frames, in the spirit of Stata's metan output.

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> m = ipd.pool(pd.DataFrame({"yi": [0.1, 0.5, 0.3], "vi": [0.01, 0.02, 0.03]}),
    ...              method="DL")
    >>> "Heterogeneity" in m.summary()
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ipdmeta.pooling.metareg import MetaRegResult
    from ipdmeta.pooling.results import MetaResult, Pooled

MODEL_LABELS = {"common": "Common effect (IV)", "DL": "Random (DL)", "REML": "Random (REML)",
                "ML": "Random (ML)", "PM": "Random (PM)", "PMM": "Random (PMM)",
                "EB": "Random (EB)", "HE": "Random (HE)", "SJ": "Random (SJ)",
                "HS": "Random (HS)", "GENQ": "Random (GENQ)"}
CI_LABELS = {"z": "Wald z", "t": "t", "hksj": "HKSJ", "hksj-trunc": "HKSJ (truncated)",
             "pl": "profile likelihood"}


def model_label(p: Pooled) -> str:
    """Short label of a pooled row, e.g. 'Random (REML, HKSJ)'."""
    base = MODEL_LABELS.get(p.method, p.method)
    if p.ci_method != "z":
        base = base[:-1] + f", {CI_LABELS[p.ci_method]})" if base.endswith(")") else base
    return base


def fmt(x: float, digits: int, eform: bool = False) -> str:
    """Number for display, exponentiated when ``eform``."""
    if x is None or not np.isfinite(x):
        return "." if x is None or np.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{np.exp(x) if eform else x:.{digits}f}"


def fmt_p(p: float) -> str:
    """p-value as Stata prints it."""
    if p is None or not np.isfinite(p):
        return "."
    return "<0.001" if p < 0.001 else f"{p:.3f}"


class TextTable:
    """A fixed-width table: a label column and numeric columns, with rules."""

    def __init__(self, label: str, columns: list[str], label_width: int = 22,
                 width: int = 10) -> None:
        self.label_width, self.width, self.columns = label_width, width, columns
        self.lines = [self._row(label, columns), self.rule()]

    def _row(self, label: str, cells: list[str]) -> str:
        label = str(label)
        if len(label) > self.label_width:
            label = label[: self.label_width - 1] + "~"
        return f"{label:<{self.label_width}} |" + "".join(f"{c:>{self.width}}" for c in cells)

    def rule(self) -> str:
        """A horizontal rule as wide as the table."""
        return "-" * (self.label_width + 1) + "+" + "-" * (self.width * len(self.columns))

    def add(self, label: str, cells: list[str]) -> None:
        """Append one row."""
        self.lines.append(self._row(label, cells))

    def add_rule(self) -> None:
        """Append a rule."""
        self.lines.append(self.rule())

    def __str__(self) -> str:
        return "\n".join(self.lines)


def _pooled_cells(p: Pooled, digits: int, eform: bool, weight: str = "100.00") -> list[str]:
    return [fmt(p.estimate, digits, eform), fmt(p.ci_low, digits, eform),
            fmt(p.ci_high, digits, eform), weight]


def heterogeneity_lines(p: Pooled, digits: int = 3) -> list[str]:
    """Heterogeneity, tau² and the test of the pooled effect in words."""
    lines = [f"  Heterogeneity: Q = {p.Q:.2f} on {p.Q_df} df, p = {fmt_p(p.Q_pvalue)}; "
             f"I² = {p.I2:.1f}%" + (f" [{p.I2_ci[0]:.1f}%, {p.I2_ci[1]:.1f}%]"
                                   if np.isfinite(p.I2_ci[0]) else "")
             + f"; H² = {p.H2:.2f}"]
    if p.model == "random":
        ci = (f" [{p.tau2_ci[0]:.{digits + 1}f}, {p.tau2_ci[1]:.{digits + 1}f}]"
              if np.isfinite(p.tau2_ci[0]) else "")
        lines.append(f"  Between-study variance ({p.method}): tau² = {p.tau2:.{digits + 1}f}"
                     f"{ci}; tau = {p.tau:.{digits + 1}f}")
    return lines


def test_line(p: Pooled, eform: bool) -> str:
    """Test of the null hypothesis of no effect."""
    null = "1" if eform else "0"
    stat = "t" if p.df is not None else ("LR z" if p.ci_method == "pl" else "z")
    df = f" ({p.df:g} df)" if p.df is not None else ""
    return f"  Test of effect = {null}: {stat}{df} = {p.z_or_t:.2f}, p = {fmt_p(p.pvalue)}"


def meta_summary(result: MetaResult, eform: bool = False, digits: int = 3,
                 show_studies: bool = True) -> str:
    """The printed table of a MetaResult: studies, pooled rows, heterogeneity, tests.

    ``show_studies=False`` leaves out the study rows (not the subgroup totals) when a
    per-study table has been printed already.
    """
    o = result.overall
    effect = (result.measure or ("exp(ES)" if eform else "ES"))
    pct = round(o.level * 100)
    studies = result.studies
    label_width = min(40, max([24] + [len(str(s)) + 1 for s in studies["study"]]))
    table = TextTable("Study", [effect, f"[{pct}% Conf.", "Interval]", "% Weight"],
                      label_width=label_width, width=11)
    groups = ([(None, studies)] if result.subgroups is None else
              [(g, studies[studies[result.subgroups.by] == g])
               for g in result.subgroups.pooled])
    for g, rows in groups:
        if g is not None:
            table.add(f"{result.subgroups.by} = {g}", [""] * 4)
        for _, r in rows.iterrows() if show_studies else ():
            table.add(r["study"], [fmt(r.estimate, digits, eform), fmt(r.ci_low, digits, eform),
                                   fmt(r.ci_high, digits, eform), f"{r.weight:.2f}"])
        if g is not None:
            sub = result.subgroups.pooled[g]
            table.add("  Subtotal",
                      _pooled_cells(sub, digits, eform, f"{rows.weight.sum():.2f}"))
            table.add_rule()
    if result.subgroups is None and show_studies:
        table.add_rule()
    if o.model == "random":
        table.add(model_label(result.common), _pooled_cells(result.common, digits, eform, "."))
    table.add(model_label(o), _pooled_cells(o, digits, eform))
    if np.isfinite(o.pi_low):
        table.add("  Prediction interval",
                  ["", fmt(o.pi_low, digits, eform), fmt(o.pi_high, digits, eform), ""])
    table.add_rule()
    lines = [f"Meta-analysis of {o.k} studies ({model_label(o)}; "
             f"{'exponentiated' if eform else 'analysis scale'})", "", str(table), ""]
    lines += [*heterogeneity_lines(o, digits), test_line(o, eform)]
    if result.subgroups is not None:
        s = result.subgroups
        lines.append(f"  Test of subgroup differences ({s.by}): Q = {s.Q_between:.2f} on "
                     f"{s.Q_between_df} df, p = {fmt_p(s.Q_between_pvalue)}")
    if len(result.excluded):
        lines += ["", "Not pooled (not estimable in stage 1):"]
        lines += [f"  {r.study}: {r.reason}" for r in result.excluded.itertuples()]
    notes = [m for m in result.messages if "not pooled" not in m]
    if notes:
        lines += ["", "Notes:"] + [f"  - {m}" for m in notes]
    return "\n".join(lines)


def result_frame(result: MetaResult) -> pd.DataFrame:
    """Study rows plus pooled rows with a ``row_type`` column (metan's results set)."""
    studies = result.studies.assign(row_type="study")
    rows = []
    if result.subgroups is not None:
        for g, p in result.subgroups.pooled.items():
            rows.append(_pooled_row(p, f"Subtotal {g}", "subgroup", **{result.subgroups.by: g}))
    pooled = [result.common] + ([result.overall] if result.overall.model == "random" else [])
    rows += [_pooled_row(p, model_label(p), "pooled") for p in pooled]
    if np.isfinite(result.overall.pi_low):
        rows.append({"study": "Prediction interval", "row_type": "prediction",
                     "ci_low": result.overall.pi_low, "ci_high": result.overall.pi_high})
    return pd.concat([studies, pd.DataFrame(rows)], ignore_index=True)


def _pooled_row(p: Pooled, label: str, row_type: str, **extra) -> dict:
    return {"study": label, "estimate": p.estimate, "se": p.se, "ci_low": p.ci_low,
            "ci_high": p.ci_high, "weight": 100.0, "row_type": row_type, "k": p.k,
            "pvalue": p.pvalue, "tau2": p.tau2, "I2": p.I2, "Q": p.Q, **extra}


CI_WORDS = {"z": "Wald z", "t": "t on {df} df", "hksj": "Knapp-Hartung t on {df} df",
            "hksj-trunc": "Knapp-Hartung t (truncated) on {df} df"}


def regression_summary(result: MetaRegResult, eform: bool = False, digits: int = 4) -> str:
    """The printed table of a ``MetaRegResult`` (coefficients, heterogeneity, tests)."""
    def pv(p: float) -> str:
        text = fmt_p(p)
        return f"p {text}" if text.startswith("<") else f"p = {text}"

    spec, fit = result.spec, result.fit
    model = ("common effect" if spec.is_common
             else f"mixed effects, tau² by {spec.method}")
    tests = CI_WORDS[spec.ci].format(df=fit.df)
    pct = round(100 * spec.level)
    stat = "z" if fit.df is None else "t"
    cols = ["exp(b)" if eform else "Coef.", "Std. err.", stat, f"P>|{stat}|", f"[{pct}% Conf.",
            "Interval]"]
    perm = result.permutation
    if perm is not None:
        cols += ["perm. p", "adj. p"]
    table = TextTable("Term", cols, label_width=max(14, *(len(t) + 1 for t in result.terms)),
                      width=11)
    for r in result.coef.itertuples():
        cells = [fmt(r.estimate, digits, eform), "." if eform else fmt(r.se, digits),
                 f"{r.z_or_t:.2f}", fmt_p(r.pvalue), fmt(r.ci_low, digits, eform),
                 fmt(r.ci_high, digits, eform)]
        if perm is not None:
            cells += [fmt_p(r.pvalue_perm), fmt_p(r.pvalue_perm_adj)]
        table.add(r.term, cells)
    table.add_rule()
    m, df2 = result.QM_df
    qm = f"chi²({m}) = {result.QM:.2f}" if df2 is None else f"F({m}, {df2}) = {result.QM:.2f}"
    lines = [f"Meta-regression ({model}; {tests})   k = {result.k}",
             f"Formula: {result.formula}", "", str(table), ""]
    if not spec.is_common:
        lo, hi = result.tau2_ci
        lines.append(f"  Residual heterogeneity: tau² = {result.tau2:.{digits}f} "
                     f"[{lo:.{digits}f}, {hi:.{digits}f}]; I² = {result.I2:.2f}%; "
                     f"H² = {result.H2:.2f}")
    else:
        lines.append(f"  Residual heterogeneity: I² = {result.I2:.2f}%; H² = {result.H2:.2f}")
    if np.isfinite(result.R2):
        lines.append(f"  Heterogeneity accounted for: R² = {result.R2:.2f}%")
    lines.append(f"  Test of residual heterogeneity: QE = {result.QE:.3f} on {result.QE_df} "
                 f"df, {pv(result.QE_pvalue)}")
    moderators = ", ".join(result.terms[j] for j in fit.btt)
    lines.append(f"  Test of moderators ({moderators}): {qm}, {pv(result.QM_pvalue)}")
    if perm is not None:
        lines.append(f"  Permutation test ({'exact, ' if perm.exact else ''}{perm.permutations}"
                     f" {perm.kind}): QM {pv(perm.QM_pvalue)}; adj. p = Westfall-Young "
                     "max-|t| over the moderators")
    if result.messages:
        lines += ["", "Notes:"] + [f"  - {msg}" for msg in result.messages]
    return "\n".join(lines)
