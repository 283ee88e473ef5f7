"""ipdover (treatment effects within subgroups) against R: glm, coxph and metafor.

tests/reference/ipdover.R: Stata's ipdover example 1 (MASS::birthwt = Stata's lbw,
over(race smoke ht): logistic low age) and a two-stage subgroup analysis of four
breast-cancer "studies" from survival (gbsg, rotterdam by era) with coxph + rma.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.ipdover import IPDOverResult, ipdover
from ipdmeta.plots.forest import forest_axes
from ipdmeta.report.results_set import read_results_set

matplotlib.use("Agg")

REF = Path(__file__).parent / "reference"
R = json.loads((REF / "ipdover.json").read_text())
BIRTHWT = pd.read_csv(REF / "data" / "ipdover_birthwt.csv")
BREAST = pd.read_csv(REF / "data" / "ipdover_breast.csv")
COX = "Surv(time, status) ~ hormon + age"


@pytest.fixture(scope="module")
def breast() -> IPDOverResult:
    return ipdover(BREAST, over=["meno", "grade"], study="study", formula=COX, method="REML",
                   labels={"meno": "Menopausal", "grade": "Grade"})


def test_stata_example_one_model_per_subgroup_matches_glm() -> None:
    ov = ipdover(BIRTHWT, over=["race", "smoke", "ht"], formula="low ~ age", model="logistic")
    ref = R["birthwt"]
    t = ov.table
    assert t["over"].tolist() == ref["over"] and t["level"].tolist() == ref["level"]
    np.testing.assert_allclose(t["estimate"], ref["est"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(t["se"], ref["se"], rtol=1e-7)
    assert t["n"].tolist() == ref["n"] and t["events"].tolist() == ref["events"]
    assert t["status"].eq("ok").all() and t["k"].eq(1).all()
    o = ov.overall.iloc[0]
    assert o["estimate"] == pytest.approx(ref["overall"]["est"][0], rel=1e-8)
    assert o["se"] == pytest.approx(ref["overall"]["se"][0], rel=1e-7)
    assert (o["n"], o["events"]) == (ref["overall"]["n"], ref["overall"]["events"])
    z = 1.959963984540054
    np.testing.assert_allclose(t["ci_low"], t["estimate"] - z * t["se"], rtol=1e-12)


def test_two_stage_within_subgroups_matches_coxph_and_rma(breast: IPDOverResult) -> None:
    for cell in R["breast"]["cells"]:
        row = breast.table[(breast.table["over"] == cell["over"])
                           & (breast.table["level"] == cell["level"])].iloc[0]
        trials = breast.trials[(breast.trials["over"] == cell["over"])
                               & (breast.trials["level"] == cell["level"])]
        assert trials["study"].tolist() == cell["study"]
        np.testing.assert_allclose(trials["estimate"], cell["est"], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(trials["se"], cell["se"], rtol=1e-6)
        assert trials["n"].tolist() == cell["n"] and trials["events"].tolist() == cell["events"]
        assert row["k"] == len(cell["study"]) and row["n"] == sum(cell["n"])
        if "REML" in cell:
            ref = cell["REML"]
            assert row["estimate"] == pytest.approx(ref["estimate"][0], rel=1e-6, abs=1e-8)
            assert row["se"] == pytest.approx(ref["se"][0], rel=1e-6)
            assert row["ci_high"] == pytest.approx(ref["ci_high"][0], rel=1e-6, abs=1e-8)
            assert row["tau2"] == pytest.approx(ref["tau2"][0], rel=1e-5, abs=1e-9)
        else:   # one trial in the subgroup (grade 1: GBSG only): that trial's estimate
            assert row["estimate"] == pytest.approx(cell["est"][0], rel=1e-7)
            assert np.isnan(row["tau2"])
    ref = R["breast"]["overall"]["REML"]
    o = breast.overall.iloc[0]
    assert o["estimate"] == pytest.approx(ref["estimate"][0], rel=1e-6)
    assert o["tau2"] == pytest.approx(ref["tau2"][0], rel=1e-5)


def test_common_effect_pooling_matches_rma_fe() -> None:
    ov = ipdover(BREAST, over="meno", study="study", formula=COX, method="common")
    for cell in R["breast"]["cells"][:2]:
        row = ov.table[ov.table["level"] == cell["level"]].iloc[0]
        assert row["estimate"] == pytest.approx(cell["FE"]["estimate"][0], rel=1e-7)
        assert row["se"] == pytest.approx(cell["FE"]["se"][0], rel=1e-7)


def test_trial_by_subgroup_table() -> None:
    ov = ipdover(BREAST, over="meno", study="study", by="study", formula=COX)
    for cell in R["breast"]["cells"][:2]:
        rows = ov.table[ov.table["level"] == cell["level"]]
        assert rows["by"].tolist() == cell["study"]
        np.testing.assert_allclose(rows["estimate"], cell["est"], rtol=1e-7, atol=1e-9)
        assert rows["k"].eq(1).all()
    # the overall rows: each trial on all its participants, then pooled over trials
    assert ov.overall["by"].tolist()[:4] == ["GBSG", "ROT78", "ROT85", "ROT89"]
    grand = ov.overall.iloc[-1]
    assert grand["estimate"] == pytest.approx(R["breast"]["overall"]["REML"]["estimate"][0],
                                              rel=1e-6)
    rs = ov.results_set().to_frame()
    assert rs["_USE"].tolist().count(3) == 4 and rs["_USE"].tolist()[-1] == 5
    assert rs.loc[rs["_USE"].eq(0), "_LABELS"].tolist() == ["GBSG", "ROT78", "ROT85", "ROT89"]
    assert rs.loc[rs["_USE"].eq(1), "_LABELS"].iloc[0] == "meno = 0"


def test_results_set_and_forest(breast: IPDOverResult, tmp_path: Path) -> None:
    rs = breast.results_set()
    f = rs.to_frame()
    assert f["_USE"].tolist() == [0, 1, 1, 6, 0, 1, 1, 1, 6, 5]
    assert f.loc[f["_USE"].eq(0), "_LABELS"].tolist() == ["Menopausal", "Grade"]
    assert f.loc[f["_USE"].eq(1), "_OVER"].tolist() == [1, 1, 2, 2, 2]
    assert f.loc[f["_USE"].eq(1), "_LEVEL"].tolist() == [1, 2, 1, 2, 3]
    levels = f[f["_USE"].eq(1)]
    # boxes sized by participants: _WT is the percent of all participants
    np.testing.assert_allclose(levels["_WT"], 100 * levels["_NN"] / len(BREAST))
    np.testing.assert_array_equal(levels["_ES"], breast.table["estimate"])
    path = breast.save(tmp_path / "over.dta")
    back = read_results_set(path)
    assert back.left_columns == ("_NN",) and back.eform
    fig = breast.forest(path=tmp_path / "over.png", dpi=60)
    ax = forest_axes(fig)
    boxes = next(c for c in ax.collections if c.get_gid() == "forest-boxes")
    assert len(boxes.get_offsets()) == 5
    texts = {t.get_text() for t in ax.texts}
    assert {"Menopausal", "Grade", "No. pts", "2349"} <= texts
    assert "Weight (%)" not in texts
    assert ax.get_xscale() == "log"


def test_summary_and_repr(breast: IPDOverResult) -> None:
    text = breast.summary()
    assert "two-stage within each subgroup" in text and "Grade" in text
    assert f"{np.exp(breast.table['estimate'].iloc[0]):.3f}" in text
    assert "IPDOverResult(HR of 'hormon'" in repr(breast)
    frame = breast.to_frame()
    assert frame["row_type"].tolist() == ["subgroup"] * 5 + ["overall"]
    assert breast.to_dict()["over"] == ["meno", "grade"]


def test_subgroup_that_cannot_be_estimated() -> None:
    wgb = ipd.datasets.load("weight_gain_binary")
    wgb["heavy"] = np.where(wgb["baseline_wt"] > 80, "heavy", "not heavy")
    ov = ipdover(wgb, over="heavy", study="studyid", formula="gdm ~ trt", model="logistic")
    heavy = ov.table[ov.table["level"] == "heavy"].iloc[0]
    per_trial = ov.trials[ov.trials["level"] == "heavy"]
    assert heavy["k"] == per_trial["status"].eq("ok").sum() < len(per_trial)
    assert heavy["status"] == "ok"
    only_events = wgb[wgb["gdm"].eq(0) | wgb["studyid"].ne(1)]
    ov2 = ipdover(only_events[only_events["studyid"].eq(1)], over="heavy", study="studyid",
                  formula="gdm ~ trt", model="logistic", overall=False)
    assert ov2.table["status"].eq("no_estimable_study").all()
    assert "no trial could be estimated" in ov2.table["reason"].iloc[0]
    assert ov2.results_set().to_frame()["_USE"].tolist() == [0, 2, 2, 6]


def test_missing_values_of_the_covariate() -> None:
    d = BIRTHWT.assign(race=BIRTHWT["race"].astype(float))
    d.loc[:9, "race"] = np.nan
    ov = ipdover(d, over="race", formula="low ~ age", model="logistic")
    assert ov.table["n"].sum() == len(d) - 10
    ovm = ipdover(d, over="race", formula="low ~ age", model="logistic", missing=True)
    assert ovm.table["n"].sum() == len(d) and ovm.table["level"].isna().sum() == 1


def test_bad_input() -> None:
    with pytest.raises(InputError, match="over column 'sex'"):
        ipdover(BREAST, over="sex", formula=COX)
    with pytest.raises(InputError, match="by='study'"):
        ipdover(BREAST, over="study", study="study", formula=COX)
    with pytest.raises(InputError, match="over="):
        ipdover(BREAST, over=[], formula=COX)


def test_categorical_levels_keep_their_order() -> None:
    d = BIRTHWT.assign(agegrp=pd.Categorical(
        pd.cut(BIRTHWT["age"], [0, 19, 29, 99], labels=["teen", "20s", "30+"])))
    ov = ipdover(d, over="agegrp", formula="low ~ smoke", model="logistic")
    assert ov.table["level"].tolist() == ["teen", "20s", "30+"]
    assert ov.table["n"].tolist() == [int((d["age"] <= 19).sum()),
                                      int(d["age"].between(20, 29).sum()),
                                      int((d["age"] >= 30).sum())]
