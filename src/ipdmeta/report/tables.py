"""Printed tables and result frames, in the spirit of Stata's metan output.

Example:
    >>> import pandas as pd, ipdmeta as ipd
    >>> m = ipd.pool(pd.DataFrame({"yi": [0.1, 0.5, 0.3], "vi": [0.01, 0.02, 0.03]}),
    ...              method="DL")
    >>> "Heterogeneity" in m.summary()
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from ipdmeta.pooling.metareg import MetaRegResult
    from ipdmeta.pooling.results import MetaResult, Pooled

MODEL_LABELS = {"common": "Common effect (IV)", "MH": "Mantel-Haenszel",
                "peto": "Peto", "DL": "Random (DL)", "REML": "Random (REML)",
                "ML": "Random (ML)", "PM": "Random (PM)", "PMM": "Random (PMM)",
                "EB": "Random (EB)", "HE": "Random (HE)", "SJ": "Random (SJ)",
                "HS": "Random (HS)", "GENQ": "Random (GENQ)", "mult": "Multiplicative (IV)",
                "IVhet": "IVhet (IV)", "t": "Robust (t)", "mixture": "Robust (mixture)"}
CI_LABELS = {"z": "Wald z", "t": "t", "hksj": "HKSJ", "hksj-trunc": "HKSJ (truncated)",
             "hksj-zovert": "HKSJ (z/t truncated)", "pl": "profile likelihood",
             "pl-bartlett": "PL, Bartlett", "pl-skovgaard": "PL, Skovgaard",
             "kr": "Kenward-Roger", "kr-oim": "Kenward-Roger, OIM", "hc": "Henmi-Copas"}


#: Peto's common effect by measure: one-step OR of 2x2 tables, log-rank HR of IPD
PETO_LABELS = {"OR": "Peto (one-step OR)", "HR": "Peto (log-rank)"}


def model_label(p: Pooled, measure: str | None = None) -> str:
    """Short label of a pooled row, e.g. 'Random (REML, HKSJ)'; Mantel-Haenszel and Peto
    rows as metan names them ('Mantel-Haenszel', 'Peto (one-step OR)' for ``measure``
    OR, 'Peto (log-rank)' for HR).

    Example:
        >>> import pandas as pd, ipdmeta as ipd
        >>> t = pd.DataFrame({"d1": [5, 10], "n1": [50, 60], "d0": [9, 14], "n0": [50, 62]})
        >>> m = ipd.pool(t, events=("d1", "d0"), n=("n1", "n0"), measure="OR", method="peto")
        >>> model_label(m.overall, m.measure)
        'Peto (one-step OR)'
    """
    base = MODEL_LABELS.get(p.method, f"Random ({p.method})")
    if p.method == "peto":
        base = PETO_LABELS.get(str(measure).upper(), base)
    if p.method in ("t", "mixture") or p.ci_method == "z":
        return base
    ci = CI_LABELS[p.ci_method]
    return base[:-1] + f", {ci})" if base.endswith(")") else f"{base} ({ci})"


def fmt(x: float, digits: int, eform: bool = False) -> str:
    """Number for display, exponentiated when ``eform``."""
    if x is None or not np.isfinite(x):
        return "." if x is None or np.isnan(x) else ("inf" if x > 0 else "-inf")
    if eform and x >= 709.0:
        return "inf"
    value = float(np.exp(x)) if eform else float(x)
    return f"{value:.{digits}f}" if abs(value) < 1e7 else f"{value:.{max(digits, 1)}e}"


def fmt_p(p: float) -> str:
    """p-value as Stata prints it in a table column."""
    if p is None or not np.isfinite(p):
        return "."
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def p_text(p: float) -> str:
    """A p-value in a sentence: ``p < 0.001`` or ``p = 0.123``.

    Example:
        >>> p_text(0.0004), p_text(0.0456)
        ('p < 0.001', 'p = 0.046')
    """
    text = fmt_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


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
    lines = [f"  Heterogeneity: Q = {p.Q:.2f} on {p.Q_df} df, {p_text(p.Q_pvalue)}; "
             f"I² = {p.I2:.1f}%" + (f" [{p.I2_ci[0]:.1f}%, {p.I2_ci[1]:.1f}%]"
                                   if np.isfinite(p.I2_ci[0]) else "")
             + f"; H² = {p.H2:.2f}"]
    if p.model == "random":
        ci = (f" [{p.tau2_ci[0]:.{digits + 1}f}, {p.tau2_ci[1]:.{digits + 1}f}]"
              if np.isfinite(p.tau2_ci[0]) else "")
        lines.append(f"  Between-study variance ({p.method}): tau² = {p.tau2:.{digits + 1}f}"
                     f"{ci}; tau = {p.tau:.{digits + 1}f}")
    return lines


def robust_lines(fit: Any, digits: int = 3) -> list[str]:
    """The variance parameters of a robust (t or mixture) random-effects fit."""
    d = digits + 1
    if fit.model == "t":
        df = "inf" if fit.vinv == 0 else f"{1 / fit.vinv:.{d}g}"
        return [f"  t random effects: scale² = {fit.tau2:.{d}g}, 1/df = {fit.vinv:.{d}g} "
                f"(df = {df}); logLik = {fit.loglik:.4f}, AIC = {fit.aic:.3f}"]
    return [f"  Normal mixture: tau² = {fit.tau2:.{d}g}, outlier tau² = {fit.tau2_out:.{d}g}, "
            f"outlier proportion = {fit.p_outlier:.{d}g}; logLik = {fit.loglik:.4f}, "
            f"AIC = {fit.aic:.3f}",
            "  (each study's outlier probability: result.outlier_probabilities())"]


def test_line(p: Pooled, eform: bool) -> str:
    """Test of the null hypothesis of no effect."""
    null = "1" if eform else "0"
    stat = "t" if p.df is not None else ("LR z" if p.ci_method == "pl" else "z")
    df = f" ({p.df:g} df)" if p.df is not None else ""
    return f"  Test of effect = {null}: {stat}{df} = {p.z_or_t:.2f}, {p_text(p.pvalue)}"


def meta_summary(result: MetaResult, eform: bool = False, digits: int = 3,
                 show_studies: bool = True) -> str:
    """The printed table of a MetaResult: studies, pooled rows, heterogeneity, tests.

    ``show_studies=False`` leaves out the study rows (not the subgroup totals) when a
    per-study table has been printed already.
    """
    o = result.overall
    effect = (result.measure or ("exp(ES)" if eform else "ES"))

    def label(p: Pooled) -> str:
        return model_label(p, result.measure)

    scale = ("exponentiated" if eform else "proportions"
             if (result.measure or "").upper() == "PR" else "analysis scale")

    pct = round(o.level * 100)
    studies = result.studies
    label_width = min(40, max([24] + [len(str(s)) + 1 for s in studies["study"]]))
    table = TextTable("Study", [effect, f"[{pct}% Conf.", "Interval]", "% Weight"],
                      label_width=label_width, width=11)
    subgroups = result.subgroups
    groups = ([(None, studies)] if subgroups is None else
              [(g, studies[studies[subgroups.by] == g]) for g in subgroups.pooled])
    for g, rows in groups:
        if g is not None and subgroups is not None:
            table.add(f"{subgroups.by} = {g}", [""] * 4)
        for _, r in rows.iterrows() if show_studies else ():
            table.add(r["study"], [fmt(r.estimate, digits, eform), fmt(r.ci_low, digits, eform),
                                   fmt(r.ci_high, digits, eform), f"{r.weight:.2f}"])
        if g is not None and subgroups is not None:
            sub = subgroups.pooled[g]
            table.add("  Subtotal",
                      _pooled_cells(sub, digits, eform, f"{rows.weight.sum():.2f}"))
            table.add_rule()
    if result.subgroups is None and show_studies:
        table.add_rule()
    if o.model == "random":
        table.add(label(result.common), _pooled_cells(result.common, digits, eform, "."))
    table.add(label(o), _pooled_cells(o, digits, eform))
    if np.isfinite(o.pi_low):
        table.add("  Prediction interval",
                  ["", fmt(o.pi_low, digits, eform), fmt(o.pi_high, digits, eform), ""])
    shown = {label(result.common), label(o)} if o.model == "random" else set()
    extra = [p for p in result.models if label(p) not in shown]
    for p in extra:              # further models (MetaResult.with_models)
        table.add(label(p), _pooled_cells(p, digits, eform, "."))
    table.add_rule()
    lines = [f"Meta-analysis of {o.k} studies ({label(o)}; "
             f"{scale})", "", str(table), ""]
    lines += [*heterogeneity_lines(o, digits), test_line(o, eform)]
    for p in extra:
        lines.append(f"  {label(p)}: tau² = {p.tau2:.4g}; {test_line(p, eform).strip()}")
    if result.robust_model is not None:
        lines += robust_lines(result.robust_model, digits)
    for test in getattr(result, "tests", {}).values():
        lines.append(f"  {test.name}: chi2({test.df}) = {test.statistic:.2f}, "
                     f"p = {fmt_p(test.pvalue)}")
    if result.subgroups is not None:
        s = result.subgroups
        lines.append(f"  Test of subgroup differences ({s.by}): Q = {s.Q_between:.2f} on "
                     f"{s.Q_between_df} df, {p_text(s.Q_between_pvalue)}")
    if len(result.excluded):
        lines += ["", "Not pooled (not estimable):"]
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
    rows += [_pooled_row(p, model_label(p, result.measure), "pooled")
             for p in [*pooled, *result.models]]
    if np.isfinite(result.overall.pi_low):
        rows.append({"study": "Prediction interval", "row_type": "prediction",
                     "ci_low": result.overall.pi_low, "ci_high": result.overall.pi_high})
    return pd.concat([studies, pd.DataFrame(rows)], ignore_index=True)


def _pooled_row(p: Pooled, label: str, row_type: str, **extra: Any) -> dict[str, Any]:
    return {"study": label, "estimate": p.estimate, "se": p.se, "ci_low": p.ci_low,
            "ci_high": p.ci_high, "weight": 100.0, "row_type": row_type, "k": p.k,
            "pvalue": p.pvalue, "tau2": p.tau2, "I2": p.I2, "Q": p.Q, **extra}


CI_WORDS = {"z": "Wald z", "t": "t on {df} df", "hksj": "Knapp-Hartung t on {df} df",
            "hksj-trunc": "Knapp-Hartung t (truncated) on {df} df",
            "hksj-zovert": "Knapp-Hartung t (truncated at z/t) on {df} df",
            "pl": "profile likelihood (signed root of the LR)"}


def regression_summary(result: MetaRegResult, eform: bool = False, digits: int = 4) -> str:
    """The printed table of a ``MetaRegResult`` (coefficients, heterogeneity, tests)."""
    spec, fit = result.spec, result.fit
    model = ("common effect" if spec.is_common
             else f"{spec.method} random effects (ML)" if result.robust_model is not None
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
    r: Any
    for r in result.coef.itertuples():
        se = np.exp(r.estimate) * r.se if eform else r.se     # delta method, as Stata
        cells = [fmt(r.estimate, digits, eform), fmt(se, digits),
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
        ci = f" [{lo:.{digits}f}, {hi:.{digits}f}]" if np.isfinite(lo) else ""
        lines.append(f"  Residual heterogeneity: tau² = {result.tau2:.{digits}f}{ci}; "
                     f"I² = {result.I2:.2f}%; H² = {result.H2:.2f}")
    else:
        lines.append(f"  Residual heterogeneity: I² = {result.I2:.2f}%; H² = {result.H2:.2f}")
    if np.isfinite(result.R2):
        lines.append(f"  Heterogeneity accounted for: R² = {result.R2:.2f}%")
    if result.robust_model is not None:
        lines += robust_lines(result.robust_model, digits - 1)
    lines.append(f"  Test of residual heterogeneity: QE = {result.QE:.3f} on {result.QE_df} "
                 f"df, {p_text(result.QE_pvalue)}")
    moderators = ", ".join(result.terms[j] for j in fit.btt)
    lines.append(f"  Test of moderators ({moderators}): {qm}, {p_text(result.QM_pvalue)}")
    if perm is not None:
        lines.append(f"  Permutation test ({'exact, ' if perm.exact else ''}{perm.permutations}"
                     f" {perm.kind}): QM {p_text(perm.QM_pvalue)}; adj. p = Westfall-Young "
                     "max-|t| over the moderators")
        if perm.joint is not None:
            names = ", ".join(result.terms[j] for j in perm.joint)
            lines.append(f"  Joint permutation test of {names}: {p_text(perm.joint_pvalue)}")
    notes = list(result.messages)
    if eform:
        notes.append("exp(b) and its interval are exponentiated; its standard error is "
                     "exp(b) × se(b) (delta method, as Stata's metareg, eform); the tests "
                     "are on the log scale")
    if notes:
        lines += ["", "Notes:"] + [f"  - {msg}" for msg in notes]
    return "\n".join(lines)
