"""The Stata options users type every day, translated and run: numbers against R where the
option computes something (wgt, rfdist/rflevel, cumulative, influence; see
tests/reference/stata_options.R), the API call otherwise, and refusals by name."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.plots._forest_rows import TableOptions, build_table
from ipdmeta.stata import StataSession, StataSyntaxError, translate

matplotlib.use("Agg")

REF = json.loads((Path(__file__).parent / "reference" / "stata_options.json")
                 .read_text(encoding="utf-8"))


def _bcg() -> pd.DataFrame:
    b = REF["bcg"]
    frame = pd.DataFrame({k: b[k] for k in ("trial", "year", "yi", "vi", "n")})
    frame["sei"] = np.sqrt(frame["vi"])
    frame["author"] = [f"Trial {t}" for t in frame["trial"]]
    return frame


def _run(line: str, tmp_path: Path, data: pd.DataFrame | None = None,
         stset: tuple[str, str] | None = None):
    session = StataSession(_bcg() if data is None else data, workdir=tmp_path,
                           graph_dir=tmp_path, stset=stset)
    return session, session.run(line)


def _exec(session: StataSession, data: pd.DataFrame, monkeypatch, cwd: Path) -> dict:
    """Run the session's Python script (as printed) on ``data``."""
    monkeypatch.chdir(cwd)
    script = session.python().replace("import ipdmeta as ipd\n", "")
    ns: dict = {"ipd": ipd, "data": data, "print": lambda *a, **k: None}
    exec(script, ns)
    return ns


# ---------------------------------------------------------------- computed: against R
@pytest.mark.parametrize(("options", "key"), [
    ("wgt(n) fixed", "FE_z"), ("wgt(n) random", "DL_z"), ("wgt(n) re(reml)", "REML_z"),
    ("model(mpaule, wgt(n))", "PM_z"), ("re(dl, t) wgt(n)", "DL_t"),
])
def test_wgt_matches_metafor_weights(options, key, tmp_path, monkeypatch) -> None:
    session, step = _run(f"metan yi sei, study(trial) {options} nograph", tmp_path)
    ref, o = REF["wgt"][key], step.result.overall
    assert step.call["weights"] == "n"
    for ours, theirs in ((o.estimate, "estimate"), (o.se, "se"), (o.ci_low, "ci_low"),
                         (o.ci_high, "ci_high"), (o.pvalue, "pvalue"), (o.tau2, "tau2")):
        assert ours == pytest.approx(ref[theirs], abs=1e-6), theirs
    np.testing.assert_allclose(step.result.studies["weight"], ref["weight"], atol=1e-6)
    ns = _exec(session, _bcg(), monkeypatch, tmp_path)
    assert ns["res"].overall.se == pytest.approx(o.se, abs=1e-12)


def test_ipdmetan_wgt_e_n_weights_by_participants(tmp_path) -> None:
    wg = ipd.datasets.load("weight_gain")
    _, step = _run("ipdmetan, study(studyid) wgt(e(N)) nograph : regress final_wt trt "
                   "baseline_wt", tmp_path, wg)
    assert step.call["pool_options"] == {"weights": "n"}
    table = step.result.aggregate.to_frame()
    expected = np.sum(table["n"] * table["estimate"]) / table["n"].sum()
    assert step.result.meta.overall.estimate == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("options", "key"), [("rfdist", "pi95"),
                                              ("rfdist rflevel(80)", "pi80")])
def test_rfdist_and_rflevel_match_the_hts_interval(options, key, tmp_path) -> None:
    _, step = _run(f"metan yi sei, study(trial) re(reml) {options}", tmp_path)
    o = step.result.overall
    assert (o.pi_low, o.pi_high) == pytest.approx(tuple(REF["rfdist"][key]), abs=1e-6)
    assert (o.ci_low, o.ci_high) == pytest.approx(
        (REF["rfdist"]["ci_low"], REF["rfdist"]["ci_high"]), abs=1e-6)   # CI stays at 95%
    assert step.forest["show_pi"] is True
    assert translate("metan yi sei, re(reml)").forest["show_pi"] is False   # Stata's default


def test_cumulative_sortby_matches_metafor_cumul(tmp_path, monkeypatch) -> None:
    session, step = _run("metan yi sei, study(trial) re(reml) cumulative sortby(year)",
                         tmp_path)
    ref = REF["cumulative"]
    table = step.result.cumulative(step.order)
    assert table["added"].tolist() == ref["order"]
    for col in ("estimate", "se", "ci_low", "ci_high", "tau2", "I2"):
        np.testing.assert_allclose(table[col], ref[col], atol=1e-6, err_msg=col)
    assert "Cumulative meta-analysis" in step.output
    assert (tmp_path / "forest1.png").exists()
    assert 'res.cumulative(order="year")' in session.python()
    ns = _exec(session, _bcg(), monkeypatch, tmp_path)
    assert ns["res"].overall.estimate == pytest.approx(step.result.overall.estimate)


def test_influence_matches_metafor_leave1out(tmp_path) -> None:
    _, step = _run("metan yi sei, study(trial) re(reml) influence", tmp_path)
    ref = REF["influence"]
    table = step.result.leave_one_out()
    for col in ("estimate", "se", "ci_low", "ci_high", "tau2", "I2", "Q"):
        np.testing.assert_allclose(table[col], ref[col], atol=1e-6, err_msg=col)
    assert "each study left out" in step.output
    assert (tmp_path / "forest1.png").exists()


# ---------------------------------------------------------------- mapped to the API
def test_several_models_in_one_table_and_plot(tmp_path) -> None:
    _, step = _run("metan yi sei, study(trial) model(fe \\ dl \\ reml, hksj) eform", tmp_path)
    res = step.result
    assert [p.method for p in (res.overall, *res.models)] == ["common", "DL", "REML"]
    reml = ipd.pool(_bcg(), estimate="yi", se="sei", method="REML", ci="hksj").overall
    assert res.models[1].ci_low == pytest.approx(reml.ci_low, abs=1e-12)
    assert "Random (REML, HKSJ)" in step.output
    assert translate("metan yi sei, second(random)").models == ["DL"]
    with pytest.raises(StataSyntaxError, match="first model"):
        translate("metan yi sei, model(reml \\ mh)")


def test_if_in_select_rows_as_stata(tmp_path, monkeypatch) -> None:
    session, step = _run("metan yi sei if year >= 1960 in 2/12, study(trial) re(reml)",
                         tmp_path)
    bcg = _bcg()
    sub = bcg.iloc[1:12]
    sub = sub[sub.year >= 1960]
    direct = ipd.pool(sub, estimate="yi", se="sei", study="trial", method="REML")
    assert step.result.k == direct.k == len(sub)
    assert step.result.overall.estimate == pytest.approx(direct.overall.estimate, abs=1e-12)
    ns = _exec(session, bcg, monkeypatch, tmp_path)
    assert ns["res"].overall.estimate == pytest.approx(direct.overall.estimate, abs=1e-12)


def test_label_and_study_level(tmp_path) -> None:
    _, step = _run("metan yi sei, label(namevar=author, yearvar=year) ilevel(90) olevel(95)",
                   tmp_path)
    res = step.result
    assert res.studies["study"].iloc[0] == "Trial 1 (1948)"
    z90 = 1.6448536269514722
    np.testing.assert_allclose(res.studies["ci_low"], res.studies["estimate"] - z90 *
                               res.studies["se"], atol=1e-12)
    assert res.overall.level == 0.95


def test_forest_options_reach_the_plot(tmp_path) -> None:
    line = ("metan yi sei, study(trial) re(reml) sortby(year) hetinfo(q pvalue isq) nohet "
            "summaryonly forest(textsize(120) dp(3) nobox null(0.5) ciopts(rcap lcolor(navy)) "
            "xlabel(0.2 0.5 1 2, force) boxsca(50) favours(BCG # Control)) eform")
    step = translate(line)
    f = step.forest
    assert (f["font_size"], f["digits"], f["show_boxes"], f["null"], f["ci_caps"]) == (
        pytest.approx(10.8), 3, False, 0.5, True)
    assert f["colors"] == {"ci": "navy"} and f["xlim"] == (0.2, 2)
    assert f["het_stats"] == ["Q", "p", "I2"] and f["show_heterogeneity"] is False
    assert f["show_studies"] is False and f["sort_by"] == "year"
    assert f["favours"] == ("BCG", "Control")
    _, run = _run(line.replace(" summaryonly", ""), tmp_path)
    assert (tmp_path / "forest1.png").stat().st_size > 10_000
    table = build_table(run.result, TableOptions(sort_by="year", het_stats=["Q", "p"]))
    years = dict(zip(_bcg().trial, _bcg().year, strict=True))
    shown = [years[int(r.label)] for r in table.rows if r.kind == "study"]
    assert shown == sorted(shown)


def test_plotid_group_colours(tmp_path) -> None:
    bcg = _bcg().assign(era=lambda d: np.where(d.year < 1965, "early", "late"))
    _, step = _run("metan yi sei, study(trial) plotid(era) box2opts(mcolor(red)) "
                   "ci2opts(lcolor(red))", tmp_path, bcg)
    assert step.forest["plot_id"] == "era" and step.forest["group_colors"] == {2: "red"}
    table = build_table(step.result, TableOptions(plot_id="era", group_colors={2: "red"}))
    colours = {r.label: r.color for r in table.rows if r.kind == "study"}
    late = bcg.loc[bcg.era == "late", "trial"].astype(str)
    assert {colours[t] for t in late} == {"red"}
    assert {colours[t] for t in bcg.loc[bcg.era == "early", "trial"].astype(str)} == {None}


def test_keeporder_places_the_not_estimable_studies_in_data_order(tmp_path) -> None:
    wgb = ipd.datasets.load("weight_gain_binary")
    session, step = _run("ipdmetan, study(studyid) or keeporder : logit gdm trt", tmp_path,
                         wgb)
    order = step.result.aggregate.to_frame()["study"].tolist()
    table = build_table(step.result.meta, TableOptions(sort_by=order))
    rows = [r.label for r in table.rows if r.kind in ("study", "excluded")]
    assert rows == [str(s) for s in order]
    assert 'sort_by=res.aggregate.to_frame()["study"].tolist()' in session.python()


def test_output_and_file_options(tmp_path) -> None:
    session, step = _run("metan yi sei, study(trial) re(reml) notable nograph "
                         "saving(ma, replace) clear", tmp_path)
    assert step.output.strip().startswith("(results set saved to")
    assert not (tmp_path / "forest1.png").exists()
    assert (tmp_path / "ma.dta").exists()
    assert list(session.data.columns[:2]) == ["_USE", "_STUDY"]       # clear
    plot = session.run("forestplot, eform xlabel(0.2 1 5) nowt")
    assert plot.kind == "forestplot" and (tmp_path / "forest1.png").exists()
    assert "ipd.forest_from_results(data, eform=True" in session.python()


# ---------------------------------------------------------------- ipdmetan and ipdover
def test_ipdmetan_columns_label_and_factor_poolvar(tmp_path) -> None:
    hyp = ipd.datasets.load("hypertension")
    step = translate("ipdmetan, study(trial) poolvar(treat#c.age) hr npts "
                     "lcols((mean) age (count) id=age) label(namevar=trial) : "
                     "stcox treat age treat#c.age", stset=("time", "event"))
    assert step.call["poolvar"] == "treat:age"
    assert step.call["formula"] == "Surv(time, event) ~ treat + age + treat:age"
    assert step.call["left_columns"] == '(mean) age (count) id=age npts=(e(N)) "No. pts"'
    _, run = _run(step.command, tmp_path, hyp, ("time", "event"))
    table = run.result.aggregate.to_frame().set_index("study")
    by_trial = hyp.groupby("trial")
    np.testing.assert_allclose(table.loc[by_trial.groups.keys(), "age"],
                               by_trial["age"].mean(), atol=1e-12)
    assert (table["npts"] == table["n"]).all()
    interaction = translate("ipdmetan, study(trial) interaction : stcox i.treat##c.age",
                            stset=("time", "event"))
    assert interaction.call["interaction"] == ("treat", "age")


def test_ad_adds_published_rows_as_a_subgroup(tmp_path) -> None:
    hyp = ipd.datasets.load("hypertension")
    pd.DataFrame({"trial": ["KAPPA-HT", "LUMEN-HT", "MESA-HT"], "loghr": [-0.2, -0.1, 0.1],
                  "se": [0.15, 0.2, 0.3], "nn": [400, 300, 50]}).to_csv(
        tmp_path / "published.csv", index=False)
    session, step = _run("ipdmetan, study(trial) hr ad(published.csv if nn > 100, "
                         "vars(loghr se) npts(nn) byad) : stcox treat", tmp_path, hyp,
                         ("time", "event"))
    table = step.result.aggregate.to_frame()
    assert table["source"].astype(str).tolist().count("AD") == 2
    assert step.call["by"] == "source" and step.result.meta.subgroups is not None
    ad_rows = table[table["source"] == "AD"]
    assert ad_rows["estimate"].tolist() == [-0.2, -0.1]
    assert 'ad = ad[(ad["nn"] > 100) | ad["nn"].isna()]' in session.python()


def test_logrank_syntax2_is_the_logrank_model(tmp_path) -> None:
    hyp = ipd.datasets.load("hypertension")
    session = StataSession(hyp, workdir=tmp_path, graph_dir=None)
    session.run("stset time, failure(event)")
    step = session.run("ipdmetan treat, study(trial) logrank strata(smk) oev")
    assert step.call["model"] == "logrank" and step.call["strata"] == ["smk"]
    direct = ipd.ipdmeta(hyp, study="trial", formula="Surv(time, event) ~ treat",
                         model="logrank", strata=["smk"], method="common")
    assert step.result.meta.overall.estimate == pytest.approx(
        direct.meta.overall.estimate, abs=1e-12)
    assert step.forest["right_columns"] == ["oe", "v"]


def test_ipdover_line(tmp_path) -> None:
    hyp = ipd.datasets.load("hypertension")
    session = StataSession(hyp, workdir=tmp_path, graph_dir=tmp_path, stset=("time", "event"))
    step = session.run("ipdover, over(smk) over(trial) hr saving(over, replace) "
                       "forestplot(favours(Treatment better # Control better)) : stcox treat")
    direct = ipd.ipdover(hyp, over=["smk"], by="trial", formula="Surv(time, event) ~ treat",
                         ties="breslow")
    pd.testing.assert_frame_equal(step.result.table, direct.table)
    assert (tmp_path / "over.dta").exists() and (tmp_path / "forest1.png").exists()
    with pytest.raises(StataSyntaxError, match="over"):
        translate("ipdover, hr : stcox treat", stset=("time", "event"))


def test_metareg_options(tmp_path, monkeypatch) -> None:
    bcg = ipd.datasets.load_bcg().assign(sei=lambda d: np.sqrt(d.vi))
    session = StataSession(bcg, workdir=tmp_path, graph_dir=tmp_path)
    step = session.run("metareg yi ablat, wsse(sei) mm z graph eform")
    direct = ipd.metareg(bcg, "~ ablat", estimate="yi", se="sei", method="DL", ci="z")
    pd.testing.assert_frame_equal(step.result.coef, direct.coef)
    assert (tmp_path / "bubble1.png").exists()
    step = session.run("metareg yi ablat year, wsvar(vi) noconstant eb")
    assert step.result.terms == ["ablat", "year"] and step.result.spec.method == "EB"
    step = session.run("metareg yi ablat, wsse(sei) permute(50, univariable)")
    assert step.result.permutation is not None
    ns = _exec(session, bcg, monkeypatch, tmp_path)
    assert ns["res"].permutation is not None


# ---------------------------------------------------------------- refused by name
@pytest.mark.parametrize(("line", "message"), [
    ("metan yi sei, sgwt", "sgwt.*overall analysis"),
    ("metan yi sei, altwt", "altwt"),
    ("metan yi sei, by(era, missing)", "missing sub-option"),
    ("metan yi sei, citype(exact)", "citype"),
    ("metan yi sei, re(sa)", "sensitivity analysis"),
    ("metan yi sei, first(0.9 0.8 1.0)", "results set"),
    ("metan yi sei, forest(xtick(1 2))", "xlabel"),
    ("metan yi sei, forest(scheme(s1mono))", "twoway graph option"),
    ("metan yi sei, forest(boxopts(msymbol(D)))", "sub-option msymbol"),
    ("metan yi sei, robust", "res.robust"),
    ("metan yi sei, wgt(n) re(reml, hksj)", None),
    ("metareg yi x, wsse(sei) permute(100, bogus)", "bogus"),
    ("metareg yi x, wsse(sei) tau2test", "tau2test"),
    ("ipdmetan, study(t, mess) : regress y x", "sub-option 'mess'"),
    ("ipdmetan (_b[x]) (_se[x]), study(t) : regress y x", "exp_list"),
    ("ipdmetan, study(t) ad(, vars(a b)) : regress y x", "without a file"),
    ("metan yi sei if year(date) > 3", "function year"),
])
def test_refusals_name_the_option(line, message) -> None:
    if message is None:                # hksj with user weights: refused when pooling
        with pytest.raises(Exception, match="user weights"):
            _run(line, Path("."), _bcg().assign(era=1))
        return
    with pytest.raises(StataSyntaxError, match=message):
        translate(line)
