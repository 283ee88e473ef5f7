"""ipdmetan's results set (ipdmeta.report.results_set): rows, _USE codes, files, redrawing."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.plots.forest import forest_axes
from ipdmeta.report.results_set import (
    USE,
    ResultsSet,
    forest_from_results,
    read_results_set,
    results_set,
)
from ipdmeta.stage1.columns import collapse_columns, column_totals

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def hyp_res() -> ipd.IPDMetaResult:
    hyp = ipd.datasets.load("hypertension")
    return ipd.ipdmeta(hyp, study="trial", formula="Surv(time, event) ~ treat + age",
                       method="REML", ci="hksj")


@pytest.fixture(scope="module")
def wg_res() -> ipd.IPDMetaResult:
    wg = ipd.datasets.load("weight_gain")
    return ipd.ipdmeta(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
                       model="linear", by="intervention", keep=["study_name"], method="REML")


@pytest.fixture(scope="module")
def binary_res() -> ipd.IPDMetaResult:
    wgb = ipd.datasets.load("weight_gain_binary")
    return ipd.ipdmeta(wgb, study="studyid", formula="outcm_comp_exclbase ~ trt2",
                       model="logistic", keep=["intervention", "study_name"], ci="hksj")


def test_rows_of_a_plain_analysis(hyp_res: ipd.IPDMetaResult) -> None:
    rs = results_set(hyp_res, left_columns=["n", "events"])
    f = rs.to_frame()
    assert f["_USE"].tolist() == [1] * 10 + [USE["blank"], USE["overall"], USE["text"]]
    studies = hyp_res.meta.studies
    s = f[f["_USE"].eq(1)]
    assert s["_LABELS"].tolist() == studies["study"].tolist()
    np.testing.assert_array_equal(s["_ES"], studies["estimate"])
    np.testing.assert_array_equal(s["_seES"], studies["se"])
    np.testing.assert_array_equal(s["_LCI"], studies["ci_low"])
    np.testing.assert_array_equal(s["_WT"], studies["weight"])
    assert s["_WT"].sum() == pytest.approx(100.0)
    assert s["_NN"].tolist() == hyp_res.aggregate["n"].tolist()
    assert s["_STUDY"].tolist() == list(range(1, 11))          # text labels -> 1..k
    assert rs.value_labels["_STUDY"][3] == studies["study"].iloc[2]
    o = f[f["_USE"].eq(5)].iloc[0]
    ov = hyp_res.overall
    assert (o["_ES"], o["_seES"], o["_LCI"], o["_UCI"]) == (ov.estimate, ov.se, ov.ci_low,
                                                            ov.ci_high)
    assert (o["_rfLCI"], o["_rfUCI"]) == (ov.pi_low, ov.pi_high)
    assert o["_WT"] == 100.0 and o["_NN"] == hyp_res.aggregate["n"].sum()
    assert o["_EFFECT"] == (f"{np.exp(ov.estimate):.2f} ({np.exp(ov.ci_low):.2f}, "
                            f"{np.exp(ov.ci_high):.2f})")
    assert "I² = " in f["_LABELS"].iloc[-1]
    assert list(f.columns[:5]) == ["_USE", "_STUDY", "_LABELS", "n", "events"]
    assert rs.eform and rs.measure == "HR"


def test_subgroup_rows(wg_res: ipd.IPDMetaResult) -> None:
    rs = results_set(wg_res, left_columns=["study_name", "n"])
    f = rs.to_frame()
    sub = wg_res.meta.subgroups
    heads = f[f["_USE"].eq(0)]
    assert heads["_LABELS"].tolist() == list(sub.pooled)
    assert rs.value_labels["_BY"] == {1: "diet", 2: "exercise", 3: "mixed"}
    for code, (g, p) in enumerate(sub.pooled.items(), start=1):
        block = f[f["_BY"].eq(code)]
        assert block["_USE"].iloc[0] == 0 and block["_USE"].iloc[-1] == USE["blank"]
        st = block[block["_USE"].eq(3)].iloc[0]
        assert st["_ES"] == p.estimate and st["_UCI"] == p.ci_high
        studies = block[block["_USE"].eq(1)]
        assert st["_WT"] == pytest.approx(studies["_WT"].sum())
        assert st["_NN"] == studies["_NN"].sum()
        assert set(studies["study_name"]) == set(
            wg_res.aggregate.table.loc[wg_res.aggregate["intervention"].eq(g), "study_name"])
        assert (st["study_name"], np.isnan(st["n"])) == ("", True)    # nothing carried
    test_row = f[f["_LABELS"].str.startswith("Test for subgroup")].iloc[0]
    assert f"Q = {sub.Q_between:.2f}" in test_row["_LABELS"]
    assert f["_USE"].tolist()[-2:] == [5, 4]


def test_not_estimable_studies_keepall(binary_res: ipd.IPDMetaResult) -> None:
    bad = binary_res.aggregate.excluded
    assert len(bad) >= 2
    f = results_set(binary_res).to_frame()
    ex = f[f["_USE"].eq(2)]
    assert ex["_LABELS"].tolist() == [str(s) for s in bad["study"]]
    assert ex["_ES"].isna().all() and ex["_WT"].isna().all() and ex["_NN"].notna().all()
    short = results_set(binary_res, keep_all=False).to_frame()
    assert not short["_USE"].eq(2).any() and len(short) == len(f) - len(bad)


def test_dta_labels_and_round_trip(tmp_path: Path, wg_res: ipd.IPDMetaResult,
                                   hyp_res: ipd.IPDMetaResult) -> None:
    rs = results_set(wg_res, left_columns=["study_name", "n"],
                     labels={"study_name": "Study name"})
    path = rs.save(tmp_path / "AD.dta")
    with pd.io.stata.StataReader(path) as reader:
        var_labels = reader.variable_labels()
        value_labels = reader.value_labels()
        assert reader.data_label.startswith("ipdmeta results set")
    assert var_labels["study_name"] == "Study name" and var_labels["_WT"] == "% Weight"
    assert var_labels["_BY"] == "intervention"
    assert value_labels["_BY"] == {1: "diet", 2: "exercise", 3: "mixed"}
    stata = pd.read_stata(path)            # as Stata users see it: labelled _BY
    assert stata["_BY"].iloc[0] == "diet"
    back = read_results_set(path)
    assert back.left_columns == ("study_name", "n") and back.measure == "MD"
    assert back.value_labels == rs.value_labels and back.labels["study_name"] == "Study name"
    for c in ("_ES", "_seES", "_LCI", "_UCI", "_WT", "_NN", "_rfLCI"):
        np.testing.assert_array_equal(back.frame[c], rs.frame[c].astype(float))
    assert back.frame["_LABELS"].tolist() == rs.frame["_LABELS"].tolist()
    # text study labels get value labels
    p2 = results_set(hyp_res).save(tmp_path / "hyp.dta")
    assert pd.read_stata(p2)["_STUDY"].iloc[0] == "ARBOR-HT"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_csv_and_parquet_round_trip(tmp_path: Path, wg_res: ipd.IPDMetaResult,
                                    suffix: str) -> None:
    rs = results_set(wg_res, left_columns=["study_name"], right_columns=["n"])
    back = read_results_set(rs.save(tmp_path / f"AD{suffix}"))
    # a plain CSV keeps no settings: the column order tells left from right
    assert back.left_columns == ("study_name",) and back.right_columns == ("n",)
    np.testing.assert_allclose(back.frame["_ES"], rs.frame["_ES"], rtol=1e-15)
    assert back.frame["_USE"].tolist() == rs.frame["_USE"].tolist()


def test_saved_results_set_feeds_the_metareg_of_the_do_file(
        tmp_path: Path, binary_res: ipd.IPDMetaResult) -> None:
    # saving(AD.dta) / use AD.dta / metareg _ES int_type2 int_type3, wsse(_seES)
    path = results_set(binary_res, left_columns=["intervention", "study_name"]).save(
        tmp_path / "AD.dta")
    ad = ipd.read_aggregate(path)
    assert len(ad) == len(binary_res.aggregate)
    direct = ipd.metareg(binary_res.aggregate, "~ C(intervention)", ci="hksj")
    via_file = ipd.metareg(ad, "~ C(intervention)", ci="hksj")
    np.testing.assert_allclose(via_file.coef["estimate"], direct.coef["estimate"], rtol=1e-12)
    np.testing.assert_allclose(via_file.coef["se"], direct.coef["se"], rtol=1e-12)


def test_collapse_columns_and_totals(wg_res: ipd.IPDMetaResult) -> None:
    wg = ipd.datasets.load("weight_gain")
    cols = collapse_columns(wg, "studyid", "(mean) mean_bw=baseline_wt (count) count=trt")
    totals = column_totals(wg, "(mean) mean_bw=baseline_wt (count) count=trt",
                           by="intervention")
    rs = results_set(wg_res, columns=cols.rename(columns={"studyid": "study"}),
                     totals=totals, right_columns=["mean_bw", "count"])
    f = rs.to_frame()
    over = f[f["_USE"].eq(5)].iloc[0]
    assert over["mean_bw"] == pytest.approx(wg["baseline_wt"].mean(), rel=1e-14)
    assert over["count"] == len(wg)
    sub = f[f["_USE"].eq(3)]
    assert sub["count"].tolist() == wg.groupby("intervention").size().tolist()
    rows = f[f["_USE"].eq(1)]
    sizes = wg.groupby("studyid").size()
    assert rows["count"].tolist() == [sizes[int(s)] for s in rows["_LABELS"]]


def test_log_rank_columns_are_carried() -> None:
    ad = ipd.AggregateData(pd.DataFrame({"study": ["A", "B", "C"], "oe": [-2.0, 1.0, -0.5],
                                         "v": [8.0, 5.0, 4.0]}).assign(
        estimate=lambda d: d.oe / d.v, se=lambda d: d.v ** -0.5), measure="HR")
    f = results_set(ipd.pool(ad, method="common")).to_frame()
    rows = f[f["_USE"].eq(1)]
    assert rows["_OE"].tolist() == [-2.0, 1.0, -0.5] and rows["_V"].tolist() == [8.0, 5.0, 4.0]
    o = f[f["_USE"].eq(5)].iloc[0]
    assert o["_ES"] == pytest.approx(-1.5 / 17)      # Peto: sum(O - E) / sum(V)


def test_show_common_adds_rows(hyp_res: ipd.IPDMetaResult) -> None:
    f = results_set(hyp_res, show_common=True).to_frame()
    over = f[f["_USE"].eq(5)]
    assert len(over) == 2
    assert over["_ES"].tolist() == [hyp_res.meta.common.estimate, hyp_res.overall.estimate]
    assert np.isnan(over["_WT"].iloc[0]) and over["_WT"].iloc[1] == 100.0


def test_forest_from_results_draws_every_row(tmp_path: Path, wg_res: ipd.IPDMetaResult) -> None:
    rs = results_set(wg_res, left_columns=["study_name"])
    path = rs.save(tmp_path / "AD.dta")
    fig = forest_from_results(path, xticks=[-6, -3, 0, 3], path=tmp_path / "f.png", dpi=60)
    ax = forest_axes(fig)
    boxes = [c for c in ax.collections if c.get_gid() == "forest-boxes"]
    assert len(boxes[0].get_offsets()) == 33
    diamonds = [p for p in ax.patches if str(p.get_gid()).startswith("forest-diamond")]
    assert len(diamonds) == 4
    texts = {t.get_text() for t in ax.texts}
    assert {"diet", "exercise", "mixed", "Abernethy 1998"} <= texts
    assert (tmp_path / "f.png").stat().st_size > 10_000
    assert ax.get_xscale() == "linear"


def test_a_results_set_written_by_stata(tmp_path: Path) -> None:
    # the variables ipdmetan's saving() writes, no ipdmeta note: eform from the caller
    frame = pd.DataFrame({
        "_USE": [1, 1, 2, 5, 4], "_STUDY": [1, 2, 3, np.nan, np.nan],
        "_LABELS": ["Trial A", "Trial B", "Trial C", "Overall, IV", "(I-squared = 0.0%)"],
        "region": ["North", "South", "South", "", ""],
        "_ES": [np.log(0.8), np.log(0.9), np.nan, np.log(0.85), np.nan],
        "_seES": [0.1, 0.2, np.nan, 0.09, np.nan],
        "_LCI": [np.log(0.66), np.log(0.61), np.nan, np.log(0.71), np.nan],
        "_UCI": [np.log(0.97), np.log(1.33), np.nan, np.log(1.01), np.nan],
        "_WT": [80.0, 20.0, np.nan, 100.0, np.nan], "_NN": [200, 80, 10, 290, np.nan]})
    path = tmp_path / "stata.dta"
    frame.to_stata(path, write_index=False, variable_labels={"region": "Region"})
    rs = read_results_set(path, eform=True)
    assert rs.left_columns == ("region",) and rs.labels["region"] == "Region"
    fig = forest_from_results(path, eform=True, path=tmp_path / "s.png", dpi=60)
    ax = forest_axes(fig)
    assert ax.get_xscale() == "log"
    assert "(Insufficient data)" in {t.get_text() for t in ax.texts}


def test_errors_are_clear(hyp_res: ipd.IPDMetaResult, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"'region'.*not in the stage-1 table"):
        results_set(hyp_res, left_columns=["region"])
    with pytest.raises(InputError, match="_USE, _ES"):
        read_results_set(pd.DataFrame({"_ES": [0.1]}))
    with pytest.raises(InputError, match="format"):
        results_set(hyp_res).save(tmp_path / "AD.xlsx")
    with pytest.raises(InputError, match="does not exist"):
        read_results_set(tmp_path / "missing.dta")
    assert isinstance(results_set(hyp_res), ResultsSet)
    assert "10 studies" in repr(results_set(hyp_res))
    assert "Random (REML, HKSJ)" in results_set(hyp_res).summary()
