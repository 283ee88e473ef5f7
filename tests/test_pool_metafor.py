"""Stage 2 against R's metafor: ``ipd.pool()`` must match to an absolute 1e-6.

The reference values and the input data come from ``tests/reference/stage2_metafor.json``,
written by ``tests/reference/stage2_metafor.R`` (metafor 3.8.1, tight convergence); R is
not needed to run these tests.  Every test collects all the quantities that differ and
reports them together ("quantity: ours=..., metafor=..."), so one failure says what is off.

A ``null`` in the JSON is a quantity metafor leaves undefined (for example the
Higgins-Thompson-Spiegelhalter prediction interval with k = 2, which has k - 2 = 0 df);
ours must then be ``None`` or NaN.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import ipdmeta as ipd

REF_PATH = Path(__file__).parent / "reference" / "stage2_metafor.json"
REF: dict[str, Any] = json.loads(REF_PATH.read_text())
DATASETS: dict[str, Any] = REF["datasets"]
ATOL = 1e-6

# metafor method name -> ipdmeta method name
METHOD = {"FE": "common"}

# fields of m.overall compared in every fit (when the reference has them)
BASE_FIELDS = ("estimate", "se", "ci_low", "ci_high", "z_or_t", "pvalue",
               "Q", "Q_df", "Q_pvalue", "I2", "H2", "k", "pi_low", "pi_high")
RANDOM_FIELDS = ("tau2", "tau", "tau2_ci", "tau_ci", "I2_ci", "H2_ci")
PL_FIELDS = ("estimate", "ci_low", "ci_high", "pvalue", "tau2",
             "Q", "Q_df", "Q_pvalue", "I2", "H2", "k")
TABLE_FIELDS = ("estimate", "se", "z_or_t", "pvalue", "ci_low", "ci_high",
                "Q", "Q_pvalue", "tau2", "I2", "H2")


# ---------------------------------------------------------------- helpers
def frame_of(name: str, se: bool = False) -> pd.DataFrame:
    """The input table of a reference data set (study, yi, vi or sei, subgroup)."""
    data = DATASETS[name]["data"]
    frame = pd.DataFrame({"study": data["study"], "yi": data["yi"], "vi": data["vi"]})
    if "subgroup" in data:
        frame["subgroup"] = data["subgroup"]
    if se:
        frame["sei"] = np.sqrt(frame.pop("vi"))
    return frame


@cache
def run_pool(name: str, method: str, ci: str, level: float = 0.95, pi: str = "metafor",
             tau2_ci: str = "qp", by: str | None = None) -> ipd.MetaResult:
    """``ipd.pool()`` on a reference data set (cached: several tests read one fit)."""
    return ipd.pool(frame_of(name), estimate="yi", variance="vi", study="study", by=by,
                    method=METHOD.get(method, method), ci=ci, level=level, pi=pi,
                    tau2_ci=tau2_ci)


def undefined(x: Any) -> bool:
    """None or NaN: what we accept where metafor gives NA."""
    if x is None:
        return True
    try:
        return math.isnan(float(x))
    except (TypeError, ValueError):
        return False


def diffs(ours: Any, ref: Any, name: str, atol: float = ATOL) -> list[str]:
    """Messages for the parts of ``ours`` that differ from ``ref`` (scalars or pairs)."""
    if isinstance(ref, list):
        try:
            pairs = list(ours)
        except TypeError:
            return [f"{name}: ours={ours!r}, metafor={ref!r} (ours is not a pair)"]
        if len(pairs) != len(ref):
            return [f"{name}: ours={ours!r}, metafor={ref!r} (length differs)"]
        out: list[str] = []
        for i, (o, r) in enumerate(zip(pairs, ref, strict=True)):
            out += diffs(o, r, f"{name}[{i}]", atol)
        return out
    if ref is None:
        return [] if undefined(ours) else [f"{name}: ours={ours!r}, metafor=NA (undefined)"]
    try:
        value = float(ours)
    except (TypeError, ValueError):
        return [f"{name}: ours={ours!r}, metafor={ref!r} (not a number)"]
    if not math.isfinite(value) or abs(value - ref) > atol:
        return [f"{name}: ours={value!r}, metafor={ref!r}, diff={value - ref:.3g}"]
    return []


def compare_record(obj: Any, ref: dict[str, Any], fields: tuple[str, ...],
                   prefix: str = "") -> list[str]:
    """Compare the attributes ``fields`` of ``obj`` present in ``ref``."""
    out: list[str] = []
    for f in fields:
        if f not in ref:
            continue
        if not hasattr(obj, f):
            out.append(f"{prefix}{f}: missing on ours")
            continue
        out += diffs(getattr(obj, f), ref[f], prefix + f)
    return out


def report(problems: list[str], what: str) -> None:
    if problems:
        pytest.fail(f"{what}: {len(problems)} difference(s) from metafor\n  "
                    + "\n  ".join(problems), pytrace=False)


def fit_cases(ci_filter=None):
    cases = []
    for name, ds in DATASETS.items():
        for rec in ds["fits"]:
            if ci_filter is not None and not ci_filter(rec["ci"]):
                continue
            level = rec["level"]
            tag = f"{name}-{rec['method']}-{rec['ci']}" + ("" if level == 0.95 else f"-{level}")
            cases.append(pytest.param(name, rec, id=tag))
    return cases


def table_cases(key: str):
    return [pytest.param(name, rec, id=f"{name}-{rec['method']}-{rec['ci']}")
            for name, ds in DATASETS.items() for rec in ds.get(key, [])]


# ---------------------------------------------------------------- the overall result
@pytest.mark.parametrize(("name", "rec"), fit_cases(lambda ci: ci != "pl"))
def test_overall(name: str, rec: dict[str, Any]) -> None:
    """Estimate, se, CI, test, tau², its Q-profile CI, I², H², Q and metafor's PI."""
    m = run_pool(name, rec["method"], rec["ci"], rec["level"])
    ref = rec["overall"]
    fields = BASE_FIELDS + (() if rec["method"] == "FE" else RANDOM_FIELDS)
    problems = compare_record(m.overall, ref, fields)
    if ref["df"] is not None:  # t-based intervals: k - 1 df
        problems += diffs(m.overall.df, ref["df"], "df")
    report(problems, f"{name} {rec['method']} ci={rec['ci']} level={rec['level']}")


@pytest.mark.parametrize(("name", "rec"), [
    c for c in fit_cases(lambda ci: ci != "pl") if c.values[1]["method"] != "FE"])
def test_prediction_interval_hts(name: str, rec: dict[str, Any]) -> None:
    """pi="hts": b ± t(k−2) · sqrt(se² + tau²), se of the fit (HKSJ-adjusted under hksj).

    Random-effects methods only (no prediction interval for the common-effect model, as in
    metafor); undefined (NaN) for k = 2.
    """
    m = run_pool(name, rec["method"], rec["ci"], rec["level"], pi="hts")
    ref = rec["overall"]
    problems = diffs(m.overall.pi_low, ref["hts_pi_low"], "pi_low")
    problems += diffs(m.overall.pi_high, ref["hts_pi_high"], "pi_high")
    report(problems, f"{name} {rec['method']} ci={rec['ci']} pi=hts")


@pytest.mark.parametrize(("name", "rec"), fit_cases(lambda ci: ci != "pl"))
def test_study_weights(name: str, rec: dict[str, Any]) -> None:
    """m.studies.weight (percent) against metafor's weights(res), matched by study label."""
    m = run_pool(name, rec["method"], rec["ci"], rec["level"])
    studies = m.studies.set_index("study")
    ref = dict(zip(DATASETS[name]["data"]["study"], rec["weights"], strict=True))
    assert sorted(studies.index) == sorted(ref), "studies table does not list the input studies"
    problems: list[str] = []
    for study, w in ref.items():
        problems += diffs(studies.loc[study, "weight"], w, f"weight[{study}]")
    report(problems, f"{name} {rec['method']} ci={rec['ci']} weights")


@pytest.mark.parametrize(("name", "rec"), fit_cases(lambda ci: ci == "pl"))
def test_profile_likelihood_ci(name: str, rec: dict[str, Any]) -> None:
    """ci="pl": CI for the mean from the ML likelihood with tau² profiled out, LR p-value."""
    m = run_pool(name, rec["method"], "pl", rec["level"])
    problems = compare_record(m.overall, rec["overall"], PL_FIELDS)
    report(problems, f"{name} {rec['method']} ci=pl")


@pytest.mark.parametrize(
    ("name", "rec"),
    [pytest.param(name, rec, id=f"{name}-{rec['method']}")
     for name, ds in DATASETS.items() for rec in ds["tau2_pl"]],
)
def test_tau2_ci_profile_likelihood(name: str, rec: dict[str, Any]) -> None:
    """tau2_ci="pl": metafor's confint(type="PL") for tau², tau, I², H²."""
    m = run_pool(name, rec["method"], "z", tau2_ci="pl")
    problems = compare_record(m.overall, rec, ("tau2", "tau2_ci", "tau_ci", "I2_ci", "H2_ci"))
    report(problems, f"{name} {rec['method']} tau2_ci=pl")


# ---------------------------------------------------------------- the studies table
@pytest.mark.parametrize("name", list(DATASETS))
def test_study_rows(name: str) -> None:
    """Study estimates and standard errors are the input; study CIs are Wald (normal)."""
    m = run_pool(name, "REML", "z")
    studies = m.studies.set_index("study")
    data = DATASETS[name]["data"]
    zcrit = stats.norm.ppf(0.975)
    problems: list[str] = []
    for study, y, v in zip(data["study"], data["yi"], data["vi"], strict=True):
        row = studies.loc[study]
        se = math.sqrt(v)
        problems += diffs(row["estimate"], y, f"estimate[{study}]")
        problems += diffs(row["se"], se, f"se[{study}]")
        problems += diffs(row["ci_low"], y - zcrit * se, f"ci_low[{study}]")
        problems += diffs(row["ci_high"], y + zcrit * se, f"ci_high[{study}]")
    report(problems, f"{name} studies table")


# ---------------------------------------------------------------- leave-one-out, cumulative
def compare_table(frame: pd.DataFrame, ref: dict[str, Any], label: str) -> list[str]:
    studies = ref[label]
    problems: list[str] = []
    if label not in frame.columns:
        return [f"column {label!r} missing (columns: {list(frame.columns)})"]
    if list(frame[label]) != studies:
        problems.append(f"{label}: ours={list(frame[label])}, metafor={studies}")
        return problems
    if len(frame) != len(studies):
        return [f"rows: ours={len(frame)}, metafor={len(studies)}"]
    fields = TABLE_FIELDS if ref["method"] != "FE" else tuple(
        f for f in TABLE_FIELDS if f != "tau2")
    for f in fields:
        if f not in ref:
            continue
        if f not in frame.columns:
            problems.append(f"column {f!r} missing")
            continue
        for i, (o, r) in enumerate(zip(frame[f], ref[f], strict=True)):
            problems += diffs(o, r, f"{f}[{label}={studies[i]}]")
    if "k" in ref:
        if "k" not in frame.columns:
            problems.append("column 'k' missing")
        else:
            for i, (o, r) in enumerate(zip(frame["k"], ref["k"], strict=True)):
                problems += diffs(o, r, f"k[{label}={studies[i]}]")
    return problems


@pytest.mark.parametrize(("name", "rec"), table_cases("leave1out"))
def test_leave_one_out(name: str, rec: dict[str, Any]) -> None:
    """m.leave_one_out() against metafor's leave1out(res), data order."""
    m = run_pool(name, rec["method"], rec["ci"])
    report(compare_table(m.leave_one_out(), rec, "omitted"),
           f"{name} {rec['method']} ci={rec['ci']} leave-one-out")


@pytest.mark.parametrize(("name", "rec"), table_cases("cumul"))
def test_cumulative(name: str, rec: dict[str, Any]) -> None:
    """m.cumulative() against metafor's cumul(res), data order (first row has k = 1)."""
    m = run_pool(name, rec["method"], rec["ci"])
    report(compare_table(m.cumulative(), rec, "added"),
           f"{name} {rec['method']} ci={rec['ci']} cumulative")


# ---------------------------------------------------------------- subgroups
@pytest.mark.parametrize(("name", "rec"), table_cases("subgroups"))
def test_subgroups(name: str, rec: dict[str, Any]) -> None:
    """Separate fits per subgroup (own tau²) and Q between subgroups on G − 1 df."""
    m = run_pool(name, rec["method"], rec["ci"], by="subgroup")
    assert m.subgroups is not None, "by= given but m.subgroups is None"
    table = m.subgroups.table.set_index("group")
    ref = rec["table"]
    problems: list[str] = []
    if sorted(map(str, table.index)) != sorted(ref["group"]):
        problems.append(f"groups: ours={list(table.index)}, metafor={ref['group']}")
    else:
        fields = ["k", "estimate", "se", "ci_low", "ci_high", "pvalue", "I2",
                  "Q", "Q_df", "Q_pvalue"]
        if "tau2" in ref:
            fields.append("tau2")
        for i, g in enumerate(ref["group"]):
            for f in fields:
                if f not in table.columns:
                    problems.append(f"column {f!r} missing")
                    continue
                problems += diffs(table.loc[g, f], ref[f][i], f"{f}[{g}]")
    for f in ("Q_between", "Q_between_df", "Q_between_pvalue"):
        problems += diffs(getattr(m.subgroups, f, None), rec[f], f)
    report(problems, f"{name} {rec['method']} ci={rec['ci']} subgroups")


# ---------------------------------------------------------------- input variants
def _ref_fit(name: str, method: str, ci: str) -> dict[str, Any]:
    return next(r for r in DATASETS[name]["fits"]
                if r["method"] == method and r["ci"] == ci and r["level"] == 0.95)


@pytest.mark.parametrize(("method", "ci"), [("REML", "z"), ("DL", "hksj"), ("FE", "z")])
def test_standard_error_input(method: str, ci: str) -> None:
    """se="sei" instead of variance="vi" gives the same (metafor) result."""
    m = ipd.pool(frame_of("bcg", se=True), estimate="yi", se="sei", study="study",
                 method=METHOD.get(method, method), ci=ci, pi="metafor")
    rec = _ref_fit("bcg", method, ci)
    fields = BASE_FIELDS + (() if method == "FE" else RANDOM_FIELDS)
    report(compare_record(m.overall, rec["overall"], fields), f"bcg {method} ci={ci} se=")


@pytest.mark.parametrize("alias", ["FE", "EE", "IV", "common"])
def test_common_aliases(alias: str) -> None:
    """"FE", "EE", "IV" are the common-effect model (metafor's method="FE")."""
    m = ipd.pool(frame_of("bcg"), estimate="yi", variance="vi", study="study",
                 method=alias, ci="z", pi="metafor")
    rec = _ref_fit("bcg", "FE", "z")
    report(compare_record(m.overall, rec["overall"], BASE_FIELDS), f"bcg method={alias}")


def test_reference_file_is_complete() -> None:
    """The JSON holds every method × ci for every data set (guards against a stale file)."""
    methods = {"FE", "DL", "REML", "ML", "PM", "PMM", "EB", "HE", "SJ", "HS", "GENQ"}
    cis = {"z", "t", "hksj", "hksj-trunc"}
    for name, ds in DATASETS.items():
        got = {(r["method"], r["ci"]) for r in ds["fits"] if r["level"] == 0.95}
        want = {(m, c) for m in methods for c in cis} | {("ML", "pl"), ("REML", "pl")}
        assert want <= got, f"{name}: missing {sorted(want - got)}"
        assert len(ds["data"]["yi"]) == len(ds["data"]["vi"]) == len(ds["data"]["study"])
    assert REF["notes"]["metafor_version"] == "3.8.1"
