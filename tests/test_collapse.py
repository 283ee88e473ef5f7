"""ipdmetan's lcols()/rcols() column lists (ipdmeta.stage1.columns), checked against R.

tests/reference/collapse_stats.R computes the collapse statistics per institution of
survival::lung with base R (percentiles with quantile(type = 2), Stata's definition).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.stage1.columns import (
    collapse_columns,
    column_labels,
    column_totals,
    parse_columns,
    strtoname,
)

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "collapse_stats.json").read_text())
LUNG = pd.read_csv(REF / "data" / "collapse_lung.csv", keep_default_na=False,
                   na_values={"age": [""], "wt.loss": [""], "meal.cal": [""]})
STATS = ["mean", "median", "p10", "p25", "p90", "p99", "iqr", "sd", "semean", "sum", "count",
         "min", "max", "first", "last", "firstnm", "lastnm", "percent"]


def _none_to_nan(values: list) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@pytest.mark.parametrize("var", ["age", "wt.loss", "meal.cal"])
def test_statistics_match_r(var: str) -> None:
    col = var.replace(".", "_")
    data = LUNG.rename(columns={var: col})
    spec = " ".join(f"({s}) {s}_{col}={col}" for s in STATS)
    out = collapse_columns(data, "inst", spec)
    assert out["inst"].tolist() == R["study"]
    for s in STATS:
        np.testing.assert_allclose(out[f"{s}_{col}"].to_numpy(dtype=float),
                                   _none_to_nan(R["variables"][var][s]), rtol=1e-12,
                                   atol=1e-12, err_msg=f"{var} {s}")
    totals = column_totals(data, " ".join(f"({s}) {s}_{col}={col}" for s in
                                          ("mean", "median", "sd", "count", "p90")))
    for s in ("mean", "median", "sd", "count", "p90"):
        assert totals[f"{s}_{col}"].iloc[0] == pytest.approx(
            R["variables"][var]["overall"][s][0], rel=1e-12)


def test_binomial_poisson_and_text_match_r() -> None:
    out = collapse_columns(LUNG, "inst", '(sebinomial) sb=dead (sepoisson) sp=dead name')
    np.testing.assert_allclose(out["sb"], R["sebinomial_dead"], rtol=1e-12)
    np.testing.assert_allclose(out["sp"], R["sepoisson_dead"], rtol=1e-12)
    assert out["name"].tolist() == R["first_name"]   # first non-empty text ("" if none)


def test_parse_stat_carries_over_and_names() -> None:
    specs = parse_columns(["(mean) age", "bmi", "(sd) sd_age = age", "(e(N_fail))",
                           'region %10s "Region"'])
    assert [(s.name, s.kind, s.stat, s.column) for s in specs] == [
        ("age", "variable", "mean", None), ("bmi", "variable", "mean", None),
        ("sd_age", "variable", "sd", None), ("_e_N_fail__", "returned", None, "events"),
        ("region", "variable", "sd", None)]
    assert specs[-1].fmt == "%10s" and specs[-1].label == "Region"
    assert column_labels(specs)["region"] == "Region"
    assert strtoname("(e(N))") == "_e_N__"
    assert parse_columns("(p50) x")[0].stat == "median"


def test_parse_errors_are_clear() -> None:
    with pytest.raises(SpecificationError, match="twice"):
        parse_columns("age age")
    with pytest.raises(SpecificationError, match="no stage-1 column"):
        parse_columns("(e(ll))")
    with pytest.raises(SpecificationError, match="unbalanced"):
        parse_columns("(mean age")
    with pytest.raises(SpecificationError, match="neither a variable"):
        parse_columns("1age")


def test_the_book_lines_columns_on_the_bundled_data() -> None:
    wg = ipd.datasets.load("weight_gain")
    ad = ipd.stage1(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
                    model="linear")
    out = collapse_columns(wg, "studyid", "intervention study_name n (mean) baseline_wt "
                           "(e(N))", stage1=ad)
    first = wg.groupby("studyid").first()
    assert out["intervention"].tolist() == first["intervention"].tolist()
    assert out["study_name"].tolist() == first["study_name"].tolist()
    assert out["n"].tolist() == wg.groupby("studyid").size().tolist()   # trial-constant
    assert out["_e_N__"].tolist() == ad["n"].tolist()
    np.testing.assert_allclose(out["baseline_wt"],
                               wg.groupby("studyid")["baseline_wt"].mean(), rtol=1e-14)
    tot = column_totals(wg, "intervention (mean) baseline_wt (e(N))", by="intervention",
                        stage1=ad.to_frame().assign(intervention=first["intervention"]
                                                    .to_numpy()))
    assert tot["group"].tolist() == ["diet", "exercise", "mixed", "Overall"]
    assert tot["intervention"].eq("").all()
    assert tot["_e_N__"].iloc[-1] == ad["n"].sum()
    assert tot["baseline_wt"].iloc[-1] == pytest.approx(wg["baseline_wt"].mean(), rel=1e-14)


def test_missing_pieces_are_named() -> None:
    wg = ipd.datasets.load("weight_gain")
    with pytest.raises(InputError, match=r"'weight' .*not in the data"):
        collapse_columns(wg, "studyid", "weight")
    with pytest.raises(SpecificationError, match="stage1="):
        collapse_columns(wg, "studyid", "(e(N))")
