"""``effect_sizes()`` against R's metafor::escalc (and by-hand metan formulas) at 1e-8.

Reference values and input columns: ``tests/reference/effects_escalc.json``, written by
``tests/reference/effects_escalc.R`` (metafor 3.8.1, metadat 1.2.0).  Every case names the
data set, the measure, the column roles and the options; NaN in R (NA, or +-Inf that
escalc recodes to NA) must be NaN here with a status other than "ok".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import ipdmeta.effects as fx
from ipdmeta.errors import InputError

REF: dict[str, Any] = json.loads(
    (Path(__file__).parent / "reference" / "effects_escalc.json").read_text())
CASES = {case["name"]: case for case in REF["cases"]}
RTOL, ATOL = 1e-8, 1e-10


def dataset(name: str) -> pd.DataFrame:
    data = REF["datasets"][name]
    return pd.DataFrame({k: v for k, v in data.items() if k != "description"})


def run_case(case: dict[str, Any]) -> pd.DataFrame:
    roles = {k: (v if len(v) == 2 else v[0]) if isinstance(v, list) else v
             for k, v in case["roles"].items()}
    options = case["options"] or {}
    return fx.effect_sizes(dataset(case["data"]), case["measure"], study="study",
                           **roles, **options)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_escalc(name: str) -> None:
    case = CASES[name]
    es = run_case(case)
    ref_y = np.array(case["yi"], dtype=float)
    ref_v = np.array(case["vi"], dtype=float)
    np.testing.assert_allclose(es["estimate"], ref_y, rtol=RTOL, atol=ATOL, equal_nan=True,
                               err_msg=f"{name}: estimate ({case['call']})")
    np.testing.assert_allclose(es["variance"], ref_v, rtol=RTOL, atol=ATOL, equal_nan=True,
                               err_msg=f"{name}: variance ({case['call']})")
    usable = np.isfinite(ref_y) & np.isfinite(ref_v) & (ref_v > 0)
    assert (es["status"] == "ok").tolist() == usable.tolist(), es[["status", "reason"]]
    assert all(es.loc[~usable, "reason"].str.len() > 0)
    np.testing.assert_allclose(es["se"] ** 2, es["variance"], rtol=1e-12, equal_nan=True)
    half = 1.959963984540054 * es["se"]
    np.testing.assert_allclose(es["ci_high"] - es["estimate"], half, rtol=1e-10,
                               equal_nan=True)
    assert es.attrs["measure"] == fx.normalise_measure(case["measure"])


def test_the_reference_covers_every_measure_and_option() -> None:
    measures = {case["measure"] for case in REF["cases"]}
    assert measures == set(fx.MEASURES)
    seen = {(k, str(v)) for case in REF["cases"] for k, v in (case["options"] or {}).items()}
    for option in [("to", "all"), ("to", "if0all"), ("to", "none"),
                   ("drop_double_zero", "True"), ("correction_type", "opposite"),
                   ("correction_type", "empirical")]:
        assert option in seen


# ---------------------------------------------------------------- back-transforms
def test_back_transforms_match_metafor() -> None:
    bt = REF["back_transforms"]
    np.testing.assert_allclose(
        fx.pft_to_proportion(bt["pft_z"], fx.harmonic_mean(bt["pft_each_n"])), bt["pft_hm"],
        rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fx.back_transform(bt["pft_z"], "PFT", n=bt["pft_each_n"]),
                               bt["pft_hm"], rtol=1e-10, atol=1e-12)
    case = CASES["pritz_PFT_default"]
    np.testing.assert_allclose(fx.pft_to_proportion(case["yi"], bt["pft_each_n"]),
                               bt["pft_each"], rtol=1e-10, atol=1e-12)
    assert fx.harmonic_mean(bt["pft_each_n"]) == pytest.approx(bt["harmonic_mean_n"],
                                                               rel=1e-14)
    for key, measure in [("pas", "PAS"), ("plo", "PLO"), ("zcor", "ZCOR")]:
        np.testing.assert_allclose(fx.back_transform(bt[f"{key}_z"], measure), bt[key],
                                   rtol=1e-12)
    assert float(fx.back_transform(np.log(2.5), "OR")) == pytest.approx(2.5)
    assert float(fx.back_transform(0.3, "MD")) == 0.3


def test_pft_back_transform_of_each_study_returns_its_proportion() -> None:
    data = dataset("pritz")
    es = fx.effect_sizes(data, "PFT", events="xi", n="ni")
    p = fx.pft_to_proportion(es["estimate"].to_numpy(), data["ni"].to_numpy())
    np.testing.assert_allclose(p, data["xi"] / data["ni"], atol=1e-12)
    with pytest.raises(InputError, match="sample size"):
        fx.back_transform([0.5], "PFT")


# ---------------------------------------------------------------- behaviour
def test_nonevents_and_n_give_the_same_tables() -> None:
    data = dataset("nielweise")
    data["bi"], data["di"] = data.n1i - data.ai, data.n2i - data.ci
    by_n = fx.effect_sizes(data, "OR", events=("ai", "ci"), n=("n1i", "n2i"))
    by_non = fx.effect_sizes(data, "or", events=("ai", "ci"), nonevents=("bi", "di"))
    pd.testing.assert_frame_equal(by_n, by_non)


def test_row_order_does_not_matter() -> None:
    data = dataset("collins_death")
    es = fx.effect_sizes(data, "RR", events=("ai", "ci"), n=("n1i", "n2i"), to="if0all")
    rev = fx.effect_sizes(data.iloc[::-1], "RR", events=("ai", "ci"), n=("n1i", "n2i"),
                          to="if0all")
    pd.testing.assert_frame_equal(es, rev.iloc[::-1])


def test_status_reason_and_attrs_describe_what_was_done() -> None:
    data = dataset("nielweise")
    es = fx.effect_sizes(data, "OR", events=("ai", "ci"), n=("n1i", "n2i"),
                         drop_double_zero=True, study="study")
    yucel = es.study == "Yucel 2004"
    assert es.loc[yucel, "status"].item() == "double_zero"
    assert "drop_double_zero" in es.loc[yucel, "reason"].item()
    info = es.attrs["effect_sizes"]
    assert info["corrected"] == ((data.ai == 0) | (data.ci == 0)).where(~yucel, False).tolist()
    assert any("double-zero" in note for note in info["notes"])
    assert any("0.5 added" in note for note in info["notes"])
    res = fx.compute(data, "OR", events=("ai", "ci"), n=("n1i", "n2i"), to="none")
    assert "zero count and no continuity correction" in res.summary()
    assert "usable=12" in repr(res)
    assert res.to_dict()["status"].count("not_estimable") == 6


def test_missing_values_are_reported_not_refused() -> None:
    data = dataset("normand")
    data.loc[2, "sd1i"] = np.nan
    es = fx.effect_sizes(data, "MD", means=("m1i", "m2i"), sds=("sd1i", "sd2i"),
                         n=("n1i", "n2i"))
    assert es.status[2] == "missing" and "sd1i" in es.reason[2]
    assert np.isnan(es.estimate[2]) and es.status.drop(2).eq("ok").all()


def test_not_estimable_means_and_correlations_say_why() -> None:
    frame = pd.DataFrame({"m1": [5.0, -1.0, 5.0], "m0": [4.0, 2.0, 4.0],
                          "s1": [1.0, 1.0, 0.0], "s0": [1.0, 1.0, 0.0], "n1": [10, 10, 10],
                          "n0": [12, 12, 12]})
    rom = fx.effect_sizes(frame, "ROM", means=("m1", "m0"), sds=("s1", "s0"), n=("n1", "n0"))
    assert rom.status.tolist() == ["ok", "not_estimable", "not_estimable"]
    assert "positive means" in rom.reason[1] and "variance of the" in rom.reason[2]
    smd = fx.effect_sizes(frame, "cohen", means=("m1", "m0"), sds=("s1", "s0"),
                          n=("n1", "n0"))
    assert smd.status.tolist() == ["ok", "ok", "not_estimable"]
    assert "standard deviation of zero" in smd.reason[2]
    cor = fx.effect_sizes(pd.DataFrame({"r": [0.3, 1.0, 0.2], "n": [50, 40, 3]}), "ZCOR",
                          cor="r", n="n")
    assert cor.status.tolist() == ["ok", "not_estimable", "not_estimable"]
    assert "exactly" in cor.reason[1] and "3 or less" in cor.reason[2]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"measure": "XYZ", "events": ("d1", "d0"), "n": ("n1", "n0")}, "not known"),
    ({"measure": "OR", "events": ("d1", "dx"), "n": ("n1", "n0")}, "'dx' is not in"),
    ({"measure": "OR", "events": "d1", "n": ("n1", "n0")}, "pair of column names"),
    ({"measure": "OR", "events": ("d1", "d0")}, "needs n="),
    ({"measure": "OR", "events": ("d1", "d0"), "n": ("n1", "n0"), "means": ("a", "b")},
     "does not use means="),
    ({"measure": "OR", "events": ("d1", "d0"), "n": ("n1", "n0"),
      "nonevents": ("n1", "n0")}, "not both"),
    ({"measure": "OR", "events": ("d1", "d0"), "n": ("n1", "n0"), "to": "zeros"},
     "to='zeros'"),
    ({"measure": "OR", "events": ("d1", "d0"), "n": ("n1", "n0"), "correction": -1},
     ">= 0"),
    ({"measure": "OR", "events": ("d1", "d0"), "n": ("n1", "n0"),
      "correction_type": "magic"}, "correction_type"),
    ({"measure": "RR", "events": ("d1", "d0"), "n": ("n1", "n0"),
      "correction_type": "empirical"}, "odds ratio only"),
    ({"measure": "PETO", "events": ("d1", "d0"), "n": ("n1", "n0"),
      "correction_type": "opposite"}, "Peto"),
    ({"measure": "PR", "events": "d1", "n": "n1", "correction_type": "opposite"},
     "2x2 tables"),
])
def test_bad_arguments_get_clear_errors(kwargs: dict, message: str) -> None:
    frame = pd.DataFrame({"d1": [3, 4], "n1": [20, 22], "d0": [5, 6], "n0": [21, 19]})
    measure = kwargs.pop("measure")
    with pytest.raises(InputError, match=message):
        fx.effect_sizes(frame, measure, **kwargs)


@pytest.mark.parametrize(("column", "value", "message"), [
    ("d1", -1, "'d1' \\(events\\) must be zero or more in row 1 \\(study 'B', value -1\\)"),
    ("d1", 30, "events 'd1' exceed the group size 'n1' in row 1 \\(study 'B'"),
    ("n1", "many", "'n1' is not numeric in row 1"),
])
def test_bad_counts_name_column_row_and_study(column: str, value: Any, message: str) -> None:
    frame = pd.DataFrame({"trial": ["A", "B"], "d1": [3, 4], "n1": [20, 22], "d0": [5, 6],
                          "n0": [21, 19]}).astype(object)
    frame.loc[1, column] = value
    with pytest.raises(InputError, match=message):
        fx.effect_sizes(frame, "OR", events=("d1", "d0"), n=("n1", "n0"), study="trial")


def test_other_families_refuse_impossible_values() -> None:
    with pytest.raises(InputError, match="outside \\[-1, 1\\]"):
        fx.effect_sizes(pd.DataFrame({"r": [1.2], "n": [10]}), "COR", cor="r", n="n")
    with pytest.raises(InputError, match="'t' \\(time\\) must be positive"):
        fx.effect_sizes(pd.DataFrame({"x": [2], "t": [0.0]}), "IR", events="x", time="t")
    with pytest.raises(InputError, match="'s0' \\(sds\\) must be zero or more"):
        fx.effect_sizes(pd.DataFrame({"m1": [1.0], "m0": [2.0], "s1": [1.0], "s0": [-1.0],
                                      "n1": [5], "n0": [5]}), "MD", means=("m1", "m0"),
                        sds=("s1", "s0"), n=("n1", "n0"))
    with pytest.raises(InputError, match="no rows"):
        fx.effect_sizes(pd.DataFrame({"x": [], "n": []}), "PR", events="x", n="n")
    with pytest.raises(InputError, match="needs a pandas DataFrame"):
        fx.effect_sizes({"x": [1]}, "PR", events="x", n="n")  # type: ignore[arg-type]


def test_empirical_correction_needs_a_table_without_zeros() -> None:
    frame = pd.DataFrame({"d1": [0, 2], "n1": [20, 22], "d0": [5, 0], "n0": [21, 19]})
    with pytest.raises(InputError, match="at least one study without a zero cell"):
        fx.effect_sizes(frame, "OR", events=("d1", "d0"), n=("n1", "n0"),
                        correction_type="empirical")


def test_an_empty_arm_is_not_a_comparison() -> None:
    frame = pd.DataFrame({"d1": [0, 2], "n1": [0, 22], "d0": [5, 3], "n0": [21, 19]})
    es = fx.effect_sizes(frame, "RR", events=("d1", "d0"), n=("n1", "n0"), to="if0all")
    assert es.status.tolist() == ["not_estimable", "ok"]
    assert "no participants" in es.reason[0]
    # the empty arm neither counts as a zero cell for if0all nor is corrected
    assert es.attrs["effect_sizes"]["corrected"] == [False, False]
