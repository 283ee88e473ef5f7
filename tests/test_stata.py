"""Stata command-line translation: parser, option abbreviations, refusals, and the three
mission command lines translated and run on the example data."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from ipdmeta import datasets
from ipdmeta.analysis import ipdmeta
from ipdmeta.io import read_data
from ipdmeta.pooling.metareg import metareg
from ipdmeta.pooling.pool import pool
from ipdmeta.stata import StataSession, StataSyntaxError, parse_command, read_do_file, translate
from ipdmeta.stata.options import FOREST_OPTIONS, IPDMETAN_OPTIONS
from ipdmeta.stata.parse import fv_term, match, numlist, parse_options, split_top, words

COX_LINE = ("ipdmetan, study(trial) re(reml, hksj) forest(xtitle(hazard ratio) boxsca(30) "
            "xlab(0.2 0.5 1 2) astext(40)) hr effect(HR) : stcox treat smk sbpi age bmi")
LINEAR_LINE = ("ipdmetan, study(studyid) re(reml) forest(spacing(2) boxsca(30) effect(mean "
               "difference) lcols(intervention study_name n) xlab(-5 -4 -3 -2 -1 0 1 2) "
               "astext(70)) keep(intervention study_name) : regress final_wt trt baseline_wt")
LOGISTIC_LINE = ("ipdmetan, study(studyid) by(intervention) re(reml) or saving(AD.dta) : "
                 "logistic gdm trt baseline_wt")
METAREG_LINE = "metareg _ES int_type2 int_type3, wsse(_seES) eform"


def _fake_ipd() -> types.SimpleNamespace:
    """What ``import ipdmeta as ipd`` will provide, without relying on ``__init__``."""
    return types.SimpleNamespace(ipdmeta=ipdmeta, pool=pool, metareg=metareg,
                                 read_data=read_data)


# ---------------------------------------------------------------------------- parser
def test_split_top_respects_parentheses_and_quotes() -> None:
    assert split_top('a(b, c(d, e)), f("g, h") `"i, j"\'', ",") == [
        "a(b, c(d, e))", 'f("g, h") `"i, j"\'']
    assert words('"Favours A" x(1, 2), y') == ["Favours A", "x(1, 2)", "y"]


def test_parse_options_nested_and_quoted() -> None:
    opts = parse_options('forest(xtitle("Hazard (ratio)") xlab(1 2)) hr re(reml, hksj)')
    assert [o.name for o in opts] == ["forest", "hr", "re"]
    assert opts[0].args == 'xtitle("Hazard (ratio)") xlab(1 2)'
    assert opts[2].args == "reml, hksj"


@pytest.mark.parametrize("bad", ["ipdmetan, study(trial : regress y x",
                                 'ipdmetan, study(trial) effect("HR) : regress y x',
                                 "ipdmetan, study(trial)) : regress y x"])
def test_unbalanced_text_is_refused(bad: str) -> None:
    with pytest.raises(StataSyntaxError):
        translate(bad)


def test_numlists() -> None:
    assert numlist("0.2 0.5 1 2") == [0.2, 0.5, 1, 2]
    assert numlist("-5(1)2") == [-5, -4, -3, -2, -1, 0, 1, 2]
    assert numlist("1/3, 10") == [1, 2, 3, 10]
    with pytest.raises(StataSyntaxError, match="'x' is not a number"):
        numlist("1 x")


@pytest.mark.parametrize(("word", "name"), [
    ("boxsca", "boxscale"), ("boxscale", "boxscale"), ("xlab", "xlabel"), ("xti", "xtitle"),
    ("ast", "astext"), ("lcol", "lcols"), ("noov", "nooverall"), ("nosu", "nosubgroup")])
def test_forest_abbreviations(word: str, name: str) -> None:
    assert match(word, FOREST_OPTIONS, "forest()").name == name


@pytest.mark.parametrize(("word", "name"), [
    ("s", "study"), ("pool", "poolvar"), ("inter", "interaction"), ("nogr", "nograph"),
    ("eff", "effect"), ("ef", "eform"), ("re", "re"), ("ra", "random"), ("forestplot", "forest"),
    ("keep", "keep"), ("keepall", "keepall")])
def test_ipdmetan_abbreviations(word: str, name: str) -> None:
    assert match(word, IPDMETAN_OPTIONS, "ipdmetan").name == name


@pytest.mark.parametrize(("line", "name"), [
    ("ipdmetan, study(trial) robust : regress y x", "robust"),
    ("ipdmetan, study(trial) forest(boxsca(30) astxt(40)) : regress y x", "astxt"),
    ("ipdmetan, study(trial) bo(30) : regress y x", "bo"),
    ("ipdmetan, study(trial) : regress y x, vce(robust)", "vce"),
    ("ipdmetan, study(trial) : stcox treat, exactp", "exactp"),
    ("metareg _ES x, wsse(_seES) graph", "graph"),
    ("metan es se, sortby(year)", "sortby"),
])
def test_unknown_options_are_refused_by_name(line: str, name: str) -> None:
    with pytest.raises(StataSyntaxError, match=rf"option '{name}'"):
        translate(line, stset=("time", "event"))


def test_other_refusals() -> None:
    with pytest.raises(StataSyntaxError, match="kr"):
        translate("ipdmetan, study(t) re(reml, kr) : regress y x")
    with pytest.raises(StataSyntaxError, match="random-effects model 'bdl'"):
        translate("ipdmetan, study(t) re(bdl) : regress y x")
    with pytest.raises(StataSyntaxError, match="'if' qualifiers"):
        translate("ipdmetan, study(t) : regress y x if age > 50")
    with pytest.raises(StataSyntaxError, match="stset"):
        translate("ipdmetan, study(t) : stcox treat")
    with pytest.raises(StataSyntaxError, match="study"):
        translate("ipdmetan, re : regress y x")
    with pytest.raises(StataSyntaxError, match="command 'xtreg'"):
        translate("xtreg y x")
    with pytest.raises(StataSyntaxError, match="command 'probit'"):
        translate("ipdmetan, study(t) : probit y x")
    with pytest.raises(StataSyntaxError, match="option 'nohr' is not supported in ipdmetan"):
        translate("ipdmetan, study(t) nohr : stcox x", stset=("a", "b"))


def test_factor_variables() -> None:
    assert fv_term("i.treat##c.age") == "C(treat)*age"
    assert fv_term("i.region#c.age") == "C(region):age"
    with pytest.raises(StataSyntaxError, match="ib2"):
        fv_term("ib2.region")
    step = translate("ipdmetan, study(t) poolvar(1.treat) : logit y i.treat age")
    assert step.call["formula"] == "y ~ C(treat) + age"
    assert step.call["poolvar"] == "C(treat)[T.1]"


# ---------------------------------------------------------------------------- pooling options
@pytest.mark.parametrize(("options", "method", "ci"), [
    ("", "common", None), ("re", "DL", None), ("random", "DL", None),
    ("re(reml, hksj)", "REML", "hksj"), ("random(reml) hksj", "REML", "hksj"),
    ("model(pl)", "ML", "pl"), ("fixed", "common", None), ("re(pm)", "PM", None),
    ("model(reml, t)", "REML", "t")])
def test_random_effects_options(options: str, method: str, ci: str | None) -> None:
    step = translate(f"metan es se, {options}" if options else "metan es se")
    assert step.call["method"] == method
    assert step.call.get("ci") == ci


# ---------------------------------------------------------------------------- mission lines
def test_cox_line_translates_to_expected_call() -> None:
    step = translate(COX_LINE, stset=("time", "event"))
    assert step.kind == "ipdmeta"
    assert step.call == {"study": "trial",
                         "formula": "Surv(time, event) ~ treat + smk + sbpi + age + bmi",
                         "model": "cox", "poolvar": "treat", "ties": "breslow",
                         "method": "REML", "ci": "hksj"}
    assert step.forest == {"eform": True, "effect": "HR", "xlabel": "hazard ratio",
                           "xticks": [0.2, 0.5, 1, 2], "box_scale": 0.3,
                           "text_fraction": 0.4}
    assert step.eform is True
    assert step.python.splitlines()[0] == (
        'res = ipd.ipdmeta(data, study="trial", formula="Surv(time, event) ~ treat + smk + '
        'sbpi + age + bmi", model="cox", poolvar="treat", ties="breslow", method="REML", '
        'ci="hksj")')


def test_cox_line_runs_and_matches_the_python_call(tmp_path) -> None:
    data = datasets.load("hypertension")
    session = StataSession(data, stset=("time", "event"), workdir=tmp_path, graph_dir=tmp_path)
    step = session.run(COX_LINE)
    res = step.result
    assert res.meta.k == 10 and res.aggregate.ties == "breslow"
    assert res.meta.overall.ci_method == "hksj" and res.meta.overall.method == "REML"
    assert (tmp_path / "forest1.png").stat().st_size > 10_000
    assert "HR" in step.output
    # the printed Python code does the same thing
    ns = {"ipd": _fake_ipd(), "data": data}
    exec(step.python.splitlines()[0], ns)
    assert ns["res"].meta.overall.estimate == pytest.approx(res.meta.overall.estimate, abs=1e-12)


def test_linear_line_translates_and_runs(tmp_path) -> None:
    step = translate(LINEAR_LINE)
    assert step.call == {"study": "studyid", "formula": "final_wt ~ trt + baseline_wt",
                         "model": "linear", "poolvar": "trt",
                         "keep": ["intervention", "study_name"], "method": "REML"}
    assert step.forest == {"effect": "mean difference", "xticks": [-5, -4, -3, -2, -1, 0, 1, 2],
                           "box_scale": 0.3, "text_fraction": 0.7, "spacing": 2,
                           "left_columns": ["intervention", "study_name", "n"]}
    session = StataSession(datasets.load("weight_gain"), workdir=tmp_path, graph_dir=tmp_path)
    res = session.run(LINEAR_LINE).result
    assert res.meta.k == 33 and res.aggregate.measure == "MD"
    assert {"intervention", "study_name", "n"} <= set(res.meta.data.columns)
    assert (tmp_path / "forest1.png").exists()


def test_logistic_line_saving_then_metareg(tmp_path) -> None:
    session = StataSession(datasets.load("weight_gain_binary"), workdir=tmp_path,
                           graph_dir=None, data_path="wgb.csv")
    first = session.run(LOGISTIC_LINE)
    assert first.call["by"] == "intervention" and first.eform is True
    assert (tmp_path / "AD.dta").exists()
    assert first.result.meta.subgroups is not None
    assert len(first.result.aggregate.excluded) > 0          # sparse trials are listed
    session.run("use AD.dta, clear")
    tab = session.run("tabulate intervention, generate(int_type)")
    assert "int_type2 = (intervention == exercise)" in tab.output
    reg = session.run(METAREG_LINE)
    assert reg.call == {"estimate": "_ES", "se": "_seES", "formula": "~ int_type2 + int_type3",
                        "method": "REML", "ci": "hksj"}
    coef = reg.result.coef.set_index("term")
    # the same model written with a factor variable
    fv = session.run("metareg _ES i.intervention, wsse(_seES) eform").result.coef
    fv = fv.set_index("term")
    assert coef.loc["int_type2", "estimate"] == pytest.approx(
        fv.loc["C(intervention)[T.exercise]", "estimate"], abs=1e-10)
    # ... and the same as meta-regression on the stage-1 result directly
    direct = metareg(first.result.aggregate, "~ C(intervention)").coef.set_index("term")
    assert coef.loc["int_type3", "estimate"] == pytest.approx(
        direct.loc["C(intervention)[T.mixed]", "estimate"], abs=1e-8)
    assert "exp(b)" in reg.output
    script = session.python()
    assert 'res.aggregate.save("AD.dta", names="ipdmetan")' in script
    assert 'ipd.metareg(data, "~ int_type2 + int_type3", estimate="_ES", se="_seES"' in script


def test_metareg_unknown_dummy_explains_tabulate(tmp_path) -> None:
    frame = pd.DataFrame({"_ES": [0.1, 0.2, 0.3], "_seES": [0.1, 0.1, 0.2],
                          "intervention": ["a", "b", "c"]})
    session = StataSession(frame, graph_dir=None)
    with pytest.raises(StataSyntaxError, match=r"tabulate VAR, generate\(int_type\)"):
        session.run(METAREG_LINE)


def test_metan_with_confidence_limits_and_missing_rows() -> None:
    frame = pd.DataFrame({"study": list("ABCD"), "es": [0.1, 0.3, -0.2, np.nan],
                          "se": [0.1, 0.2, 0.15, 0.1]})
    frame["lci"], frame["uci"] = frame.es - 1.959964 * frame.se, frame.es + 1.959964 * frame.se
    session = StataSession(frame, graph_dir=None)
    a = session.run("metan es lci uci, study(study) re(reml) nograph").result
    b = session.run("metan es se, study(study) re(reml) nograph")
    assert a.overall.estimate == pytest.approx(b.result.overall.estimate, abs=1e-6)
    assert b.result.k == 3
    assert any("1 row(s) with a missing estimate" in n for n in b.notes)
    assert "scipy.stats" in session.python()


def test_interaction_becomes_stage1_interaction() -> None:
    step = translate("ipdmetan, study(trial) interaction re : stcox i.treat##c.age smk",
                     stset=("time", "event"))
    assert step.call["formula"] == "Surv(time, event) ~ treat + age + smk"
    assert step.call["interaction"] == ("treat", "age")
    assert "poolvar" not in step.call
    with pytest.raises(StataSyntaxError, match="no interaction term"):
        translate("ipdmetan, study(trial) interaction : regress y treat age")


def test_firthlogit_runs_firth() -> None:
    step = translate("ipdmetan, study(studyid) re(reml) nograph : firthlogit gdm trt baseline_wt")
    assert step.call["model"] == "logistic" and step.call["firth"] is True
    session = StataSession(datasets.load("weight_gain_binary"), graph_dir=None)
    res = session.run(step.command).result
    assert set(res.aggregate.excluded["status"]) == {"no_events"}   # separation is estimable


def test_poisson_exposure_and_stset_command(tmp_path) -> None:
    step = translate("ipdmetan, study(s) : poisson y treat, exposure(t) irr")
    assert step.call["exposure"] == "t" and step.call["model"] == "poisson"
    session = StataSession(datasets.load("hypertension"), graph_dir=None)
    session.run("stset time, failure(event)")
    step = session.run("ipdmetan, study(trial) fixed nograph : stcox treat, efron")
    assert step.call["ties"] == "efron" and step.forest is None
    assert step.result.meta.overall.model == "common"


def test_parse_command_and_do_file(tmp_path) -> None:
    cmd = parse_command("metareg _ES x1 x2, wsse(_seES) eform")
    assert cmd.words == ("_ES", "x1", "x2") and [o.name for o in cmd.options] == ["wsse",
                                                                                   "eform"]
    do = tmp_path / "a.do"
    do.write_text("* comment\nuse AD.dta, clear // load\n/* block */\nmetareg _ES x, ///\n"
                  "  wsse(_seES) eform\n", encoding="utf-8")
    assert read_do_file(do) == ["use AD.dta, clear", "metareg _ES x, wsse(_seES) eform"]


def test_printed_script_reproduces_the_session(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    datasets.load("weight_gain_binary").to_csv("wgb.csv", index=False)
    session = StataSession(read_data("wgb.csv"), workdir=".", graph_dir=None,
                           data_path="wgb.csv")
    for line in (LOGISTIC_LINE.replace("or saving", "or nograph saving"), "use AD.dta",
                 "tabulate intervention, generate(int_type)", METAREG_LINE):
        last = session.run(line)
    script = session.python()
    assert script.startswith("import ipdmeta as ipd\n")
    ns: dict = {"print": lambda *a, **k: None}
    exec(script.replace("import ipdmeta as ipd\n", ""), {**ns, "ipd": _fake_ipd()}, ns)
    pd.testing.assert_frame_equal(ns["res"].coef, last.result.coef)
