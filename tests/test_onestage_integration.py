"""The one-stage model through ipd.ipdmeta(one_stage=...), the command line and Stata lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.cli import main
from ipdmeta.errors import SpecificationError
from ipdmeta.stata import StataSession
from ipdmeta.stata.parse import StataSyntaxError
from ipdmeta.stata.translate import translate

REF = Path(__file__).parent / "reference" / "data"
SLEEP = pd.read_csv(REF / "onestage_sleepstudy.csv")


def test_ipdmeta_one_stage_attaches_fit_and_comparison() -> None:
    wg = ipd.datasets.load("weight_gain")
    res = ipd.ipdmeta(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
                      model="linear", one_stage={"covariates_by_study": True,
                                                 "tau2_ci": False})
    alone = ipd.onestage(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
                         model="linear", covariates_by_study=True, tau2_ci=False)
    assert res.one_stage.estimate == alone.estimate
    assert res.comparison.table["estimate"].tolist() == [res.meta.overall.estimate,
                                                         alone.estimate]
    text = res.summary()
    assert "One-stage IPD meta-analysis" in text and "One-stage versus two-stage" in text
    plain = ipd.ipdmeta(wg, study="studyid", formula="final_wt ~ trt", model="linear")
    assert plain.one_stage is None and plain.comparison is None


def test_ipdmeta_one_stage_shares_the_interaction() -> None:
    wg = ipd.datasets.load("weight_gain")
    res = ipd.ipdmeta(wg, study="studyid", formula="final_wt ~ trt + baseline_wt",
                      model="linear", interaction=("trt", "baseline_wt"),
                      one_stage={"covariates_by_study": True, "tau2_ci": False})
    assert res.aggregate.poolvar == res.one_stage.poolvar == "trt:baseline_wt"
    assert res.one_stage.random == "trt"
    assert res.comparison.studies["one_stage"].isna().all()   # no BLUPs of an interaction


def test_ipdmeta_one_stage_refuses_what_it_cannot_mirror() -> None:
    hyp = ipd.datasets.load("hypertension")
    with pytest.raises(SpecificationError, match="firth"):
        ipd.ipdmeta(hyp, study="trial", formula="Surv(time, event) ~ treat", firth=True,
                    one_stage=True)


def test_cli_run_one_stage(tmp_path, capsys) -> None:
    data = tmp_path / "sleep.csv"
    SLEEP.to_csv(data, index=False)
    plot = tmp_path / "cmp.png"
    code = main(["run", str(data), "--study", "Subject", "--formula", "Reaction ~ Days",
                 "--model", "linear", "--one-stage", "--df", "kenward-roger",
                 "--compare-plot", str(plot), "--json", "--quiet"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["result"]["one_stage"]["df_method"] == "kenward-roger"
    assert [r["approach"] for r in out["result"]["comparison"]] == ["two-stage", "one-stage"]
    assert 'one_stage={"df": "kenward-roger"}' in out["python"]
    assert plot.read_bytes()[:4] == b"\x89PNG"
    assert main(["run", str(data), "--study", "Subject", "--formula", "Reaction ~ Days",
                 "--model", "linear", "--nagq", "3", "--quiet"]) == 2
    assert "--nagq need --one-stage" in capsys.readouterr().err


def test_stata_mixed_line_runs_the_textbook_model() -> None:
    session = StataSession(SLEEP)
    step = session.run("mixed Reaction i.Subject Days || Subject: Days, nocons reml "
                       "dfmethod(kroger)")
    ref = ipd.onestage(SLEEP, study="Subject", formula="Reaction ~ Days", model="linear",
                       method="REML", df="kenward-roger")
    assert step.result.estimate == ref.estimate and step.result.coef["df"].equals(
        ref.coef["df"])
    assert "ipd.onestage(data, study=\"Subject\"" in session.python()
    ml = translate("mixed Reaction i.Subject Days || Subject: Days, nocons")
    assert ml.call["method"] == "ML" and ml.call["df"] == "z"   # Stata's defaults


@pytest.mark.parametrize(("line", "expected"), [
    ("melogit y i.trial trt || trial: trt, nocons or",
     {"model": "logistic", "intercepts": "stratified", "nagq": 7}),
    ("melogit y trt age || trial: trt, cov(unstructured) intmethod(laplace)",
     {"intercepts": "random", "nagq": 1, "formula": "y ~ trt + age"}),
    ("mepoisson d i.nation uvb || nation: uvb, nocons exposure(expected) intpoints(9)",
     {"model": "poisson", "nagq": 9, "exposure": "expected"}),
    ("mixed y i.trial i.trial#c.age trt || trial: trt, nocons residuals(independent, "
     "by(trial))", {"covariates_by_study": True, "residual_variance": "by_study",
                    "formula": "y ~ trt + age"}),
])
def test_stata_one_stage_translations(line: str, expected: dict) -> None:
    call = translate(line).call
    assert {k: call[k] for k in expected} == expected


@pytest.mark.parametrize(("line", "words"), [
    ("mestreg trt i.trial || trial: trt, nocons distribution(weibull)", "parametric"),
    ("mixed y trt || trial: trt", "cov(unstructured)"),
    ("mixed y i.trial trt || trial: trt", "add nocons"),
    ("mixed y trt || trial: trt, nocons", "common intercept"),
    ("mixed y i.trial trt || trial: trt, nocons || centre:", "exactly one random part"),
    ("mixed y i.trial trt##c.age || trial: trt, nocons", "interaction"),
    ("mixed y i.trial trt || trial: age, nocons", "also a fixed effect"),
    ("melogit y trt || trial: trt, cov(un) intpoints(7)", "intmethod(laplace)"),
    ("mixed y i.trial trt || trial: trt, nocons vce(robust)", "option 'vce'"),
    ("melogit y i.trial trt || trial: trt, nocons intmethod(ghermite)", "intmethod(ghermite)"),
])
def test_stata_refusals_name_the_problem(line: str, words: str) -> None:
    with pytest.raises(StataSyntaxError, match=words.replace("(", r"\(").replace(")", r"\)")):
        translate(line)


def test_stata_melogit_runs() -> None:
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"trial": np.repeat(np.arange(8), 50), "trt": np.tile([0, 1], 200)})
    df["y"] = (rng.random(400) < 1 / (1 + np.exp(-(-0.5 + 0.4 * df.trt)))).astype(int)
    step = StataSession(df).run("melogit y i.trial trt || trial: trt, nocons or intpoints(5)")
    ref = ipd.onestage(df, study="trial", formula="y ~ trt", model="logistic", nagq=5)
    assert step.result.estimate == ref.estimate and "exp(b)" in step.output


def test_two_stage_n_counts_the_pooled_trials_only() -> None:
    # 5 of the 33 trials cannot be estimated in stage 1 (no events, separation): the
    # two-stage row of the comparison counts the participants of the 28 pooled trials
    data = ipd.datasets.load("weight_gain_binary")
    res = ipd.ipdmeta(data, study="studyid", formula="outcm_comp_exclbase ~ trt2",
                      model="logistic", one_stage={"nagq": 1})
    table = res.aggregate.to_frame()
    pooled = table.loc[table["status"].eq("ok"), "n"]
    row = res.comparison.to_frame().set_index("approach").loc["two-stage"]
    assert row["k"] == len(pooled) == 28
    assert row["n"] == pooled.sum() < len(data)
