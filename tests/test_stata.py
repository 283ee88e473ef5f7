"""Stata command-line translation: parser, option abbreviations, refusals, and the three
mission command lines translated and run on the example data."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest

from ipdmeta import datasets
from ipdmeta.analysis import ipdmeta
from ipdmeta.errors import InputError
from ipdmeta.io import read_data
from ipdmeta.pooling.metareg import metareg
from ipdmeta.pooling.pool import pool
from ipdmeta.stata import StataSession, StataSyntaxError, parse_command, read_do_file, translate
from ipdmeta.stata.forest_options import FOREST_OPTIONS
from ipdmeta.stata.options import IPDMETAN_OPTIONS
from ipdmeta.stata.parse import (
    fv_term,
    match,
    match_first,
    numlist,
    parse_options,
    split_top,
    words,
)

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
    ("texts", "textsize"), ("xtick", "xtick"),
    ("ast", "astext"), ("lcol", "lcols"), ("noov", "nooverall"), ("nosu", "nosubgroup")])
def test_forest_abbreviations(word: str, name: str) -> None:
    assert match(word, FOREST_OPTIONS, "forest()").name == name


@pytest.mark.parametrize(("word", "name"), [
    ("s", "study"), ("pool", "poolvar"), ("inter", "interaction"), ("nogr", "nograph"),
    ("eff", "effect"), ("ef", "eform"), ("re", "re"), ("ra", "random"),
    ("forestplot", "forestplot"), ("forest", "forestplot"), ("keep", "keep"),
    ("keepall", "keepall"), ("keepo", "keeporder"), ("cumul", "cumulative"), ("inf", "influence"),
    ("sa", "saving"), ("sortby", "sortby"), ("rfdist", "rfdist"), ("nohet", "nohet"),
    ("summaryonly", "summaryonly"), ("st", "study"), ("hk", "hksj"), ("il", "ilevel")])
def test_ipdmetan_abbreviations(word: str, name: str) -> None:
    assert match_first(word, [IPDMETAN_OPTIONS, FOREST_OPTIONS], "ipdmetan").name == name


@pytest.mark.parametrize(("line", "name"), [
    ("ipdmetan, study(trial) robust : regress y x", "robust"),
    ("ipdmetan, study(trial) forest(boxsca(30) astxt(40)) : regress y x", "astxt"),
    ("ipdmetan, study(trial) bo(30) : regress y x", "bo"),
    ("ipdmetan, study(trial) : regress y x, beta", "beta"),
    ("ipdmetan, study(trial) : stcox treat, exactp", "exactp"),
    ("metareg _ES x, wsse(_seES) tau2test", "tau2test"),
    ("metan es se, sgwt", "sgwt"),
    ("metan es se, forest(xtick(1 2))", "xtick"),
    ("metan es se, forest(scheme(economist))", "scheme"),
])
def test_unknown_options_are_refused_by_name(line: str, name: str) -> None:
    with pytest.raises(StataSyntaxError, match=rf"option '{name}'"):
        translate(line, stset=("time", "event"))


def test_other_refusals() -> None:
    with pytest.raises(StataSyntaxError, match=r"sub-option .*qwt"):
        translate("ipdmetan, study(t) re(reml, qwt(q)) : regress y x")
    with pytest.raises(StataSyntaxError, match=r"model 'qe'.*quality"):
        translate("ipdmetan, study(t) re(qe) : regress y x")
    with pytest.raises(StataSyntaxError, match="function year"):
        translate("ipdmetan, study(t) : regress y x if year(d) > 50")
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


def test_interaction_routes_agree() -> None:
    """``interaction`` (stage 1's ``interaction=``), ``poolvar(treat#c.age)`` (the product
    term pooled) and both together give the same within-trial interactions and pooled
    estimate."""
    session = StataSession(datasets.load("hypertension"), stset=("time", "event"),
                           graph_dir=None)
    lines = ["ipdmetan, study(trial) nograph interaction : stcox i.treat##c.age",
             "ipdmetan, study(trial) nograph poolvar(treat#c.age) : stcox treat age "
             "treat#c.age",
             "ipdmetan, study(trial) nograph interaction poolvar(treat#c.age) : stcox "
             "treat##c.age"]
    steps = [session.run(line) for line in lines]
    assert steps[0].call["interaction"] == ("treat", "age") == steps[2].call["interaction"]
    assert steps[1].call["poolvar"] == "treat:age" and "interaction" not in steps[1].call
    first = steps[0].result.aggregate.to_frame().set_index("study")
    for step in steps[1:]:
        other = step.result.aggregate.to_frame().set_index("study")
        np.testing.assert_allclose(other.loc[first.index, ["estimate", "se"]],
                                   first[["estimate", "se"]], rtol=1e-8)
        assert step.result.meta.overall.estimate == pytest.approx(
            steps[0].result.meta.overall.estimate, rel=1e-8)


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



# ---------------------------------------------------------------- issue 12
def test_stset_excludes_nonpositive_times_and_says_so(tmp_path) -> None:
    data = datasets.load("hypertension")
    data.loc[[0, 5, 9], "time"] = [0.0, -2.0, 0.0]
    session = StataSession(data, stset=("time", "event"), workdir=tmp_path, graph_dir=None)
    step = session.run("ipdmetan, study(trial) hr : stcox treat age")
    assert any("3 record(s) with time <= 0 excluded" in n for n in step.notes)
    direct = ipdmeta(data[data.time > 0], study="trial",
                     formula="Surv(time, event) ~ treat + age", ties="breslow",
                     method="common")
    assert step.result.meta.overall.estimate == pytest.approx(direct.meta.overall.estimate,
                                                               abs=1e-12)
    assert step.python.splitlines()[0] == (
        'stset = data[~(data["time"] <= 0)]  # stset excludes records with time <= 0')
    ns = {"ipd": _fake_ipd(), "data": data}
    exec(step.python, {**ns, "print": lambda *a, **k: None}, ns)
    assert ns["res"].meta.overall.estimate == pytest.approx(direct.meta.overall.estimate,
                                                             abs=1e-12)


def test_saving_needs_replace_as_in_stata(tmp_path) -> None:
    session = StataSession(datasets.load("weight_gain"), workdir=tmp_path, graph_dir=None)
    line = "ipdmetan, study(studyid) saving(AD.dta) : regress final_wt trt baseline_wt"
    session.run(line)
    first = (tmp_path / "AD.dta").read_bytes()
    with pytest.raises(InputError, match=r"file AD.dta already exists.*saving\(AD.dta, "
                                         r"replace\)"):
        session.run(line)
    assert (tmp_path / "AD.dta").read_bytes() == first
    session.run(line.replace("saving(AD.dta)", "saving(AD.dta, replace)"))
    datasets.load("weight_gain").to_csv(tmp_path / "wg.csv", index=False)
    session.run("use wg.csv, clear")
    with pytest.raises(InputError, match="input of this analysis"):
        session.run(line.replace("saving(AD.dta)", "saving(wg.csv, replace)"))


def test_numlists_are_capped() -> None:
    with pytest.raises(StataSyntaxError, match=r"makes 9,000,001 numbers, more than 1,000"):
        translate("ipdmetan, study(trial) hr forest(xlab(0.1(0.0000001)1)) : stcox treat",
                  stset=("time", "event"))
    with pytest.raises(StataSyntaxError, match="more than 1,000"):
        numlist("1/100000000")


def test_study_missing_suboption_groups_missing_ids() -> None:
    step = translate("ipdmetan, study(trial, missing) hr : stcox treat", stset=("time", "event"))
    assert step.call["missing_study"] == "group"
    data = datasets.load("hypertension")
    data.loc[:19, "trial"] = None
    res = StataSession(data, stset=("time", "event"), graph_dir=None).run(step.command).result
    assert res.aggregate["study"].tolist()[-1] == "Missing"
