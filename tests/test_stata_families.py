"""Stata's stage-1 commands of issue 16 in the translator and a session: ologit, nbreg,
glm with link(log)/link(identity), streg dist(), vce(robust)/vce(cluster x), mi estimate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdmeta.stata.parse import StataSyntaxError
from ipdmeta.stata.session import StataSession
from ipdmeta.stata.translate import translate

REF = Path(__file__).parent / "reference"
J = json.loads((REF / "stage1_families.json").read_text())

TRANSLATIONS = [
    ("ipdmetan, study(trial) : ologit grade treat age",
     {"model": "ordinal", "formula": "grade ~ treat + age"}),
    ("ipdmetan, study(trial) : nbreg n treat, exposure(py) vce(cluster ward)",
     {"model": "negbin", "exposure": "py", "cluster": "ward"}),
    ("ipdmetan, study(trial) : glm y treat age, family(binomial) link(log)", {"model": "rr"}),
    ("ipdmetan, study(trial) : glm y treat, fam(bin) link(identity) vce(robust)",
     {"model": "rd", "robust": True}),
    ("ipdmetan, study(trial) : glm y treat, family(binomial)", {"model": "logistic"}),
    ("ipdmetan, study(trial) : streg treat age, dist(weibull)",
     {"model": "weibull", "formula": "Surv(t, d) ~ treat + age"}),
    ("ipdmetan, study(trial) : streg treat, d(exp) time",
     {"model": "exponential", "scale": "aft"}),
    ("ipdmetan, study(trial) : stcox treat, cluster(ward)", {"model": "cox", "cluster": "ward"}),
    ("ipdmetan, study(trial) : stcrreg treat, compete(d == 2)",
     {"model": "finegray", "formula": "Surv(t, d) ~ treat"}),
    ("ipdmetan, study(trial) : mi estimate, post: logit y treat",
     {"model": "logistic", "imputation": "_mi_m"}),
    ("mi estimate, post: ipdmetan, study(trial) : regress y treat",
     {"model": "linear", "imputation": "_mi_m"}),
]


@pytest.mark.parametrize(("line", "expected"), TRANSLATIONS, ids=[t[0] for t in TRANSLATIONS])
def test_translations(line, expected):
    call = translate(line, stset=("t", "d")).call
    assert {k: call.get(k) for k in expected} == expected


@pytest.mark.parametrize(("line", "message"), [
    ("ipdmetan, study(trial) : glm y treat, family(binomial) link(probit)", "link(probit)"),
    ("ipdmetan, study(trial) : streg treat", "dist(weibull)"),
    ("ipdmetan, study(trial) : streg treat, dist(gompertz)", "gompertz"),
    ("ipdmetan, study(trial) : nbreg n treat, dispersion(constant)", "NB1"),
    ("ipdmetan, study(trial) : logit y treat, vce(bootstrap)", "vce(bootstrap)"),
    ("ipdmetan, study(trial) : stcrreg treat, compete(cause == 3)", "recode it"),
    ("ipdmetan, study(trial) : stcrreg treat", "compete"),
])
def test_refusals_say_what_to_do(line, message):
    with pytest.raises(StataSyntaxError, match=message.replace("(", r"\(").replace(")", r"\)")):
        translate(line, stset=("t", "d"))


def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / "data" / name, dtype={"cluster": str})


def test_session_runs_nbreg_and_glm_log():
    s = StataSession(_data("fam_quine.csv"), graph_dir=None)
    step = s.run("ipdmetan, study(cluster) nograph : nbreg y EthN SexM")
    t = step.result.aggregate.to_frame().set_index("study")
    ref = {c["cluster"]: c["coef"][1] for c in J["negbin"]["quine"]["clusters"]}
    for study, est in t["estimate"].items():
        assert est == pytest.approx(ref[study], rel=1e-8)
    s = StataSession(_data("fam_respiratory.csv"), graph_dir=None)
    step = s.run("ipdmetan, study(centre) nograph : logit y treatmenttreatment gendermale age, "
                 "vce(cluster subject)")
    ref = {c["cluster"]: c["stata"][1] for c in J["robust"]["logistic_respiratory"]["clusters"]}
    for study, se in step.result.aggregate.to_frame().set_index("study")["se"].items():
        assert se == pytest.approx(ref[str(study)], rel=1e-7)


def test_session_streg_and_mi():
    vet = _data("fam_veteran.csv")
    s = StataSession(vet, graph_dir=None)
    s.run("stset time, failure(event)")
    step = s.run("ipdmetan, study(cluster) nograph : streg trt karno age, dist(weibull)")
    ref = {c["cluster"]: c["ph_coef"][1] for c in J["survreg"]["weibull_veteran"]["clusters"]}
    for study, est in step.result.aggregate.to_frame().set_index("study")["estimate"].items():
        assert est == pytest.approx(ref[study], rel=1e-8)
    s = StataSession(_data("fam_mgus2.csv"), graph_dir=None)
    s.run("stset time, failure(status)")
    step = s.run("ipdmetan, study(cluster) nograph : stcrreg age mspike, compete(status == 2)")
    ref = {c["cluster"]: c["coef"][0] for c in J["finegray"]["mgus2"]["clusters"]}
    t = step.result.aggregate.to_frame().set_index("study")
    assert step.result.aggregate.measure == "SHR"
    for study, est in t["estimate"].items():
        assert est == pytest.approx(ref[study], rel=1e-8)
    long = _data("fam_nhanes_long.csv").rename(columns={"imp": "_mi_m"})
    two = pd.concat([long.assign(cluster="A"), long.assign(cluster="B")])
    s = StataSession(two, graph_dir=None)
    step = s.run("mi estimate, post: ipdmetan, study(cluster) nograph : regress chl bmi age")
    t = step.result.aggregate.to_frame()
    assert np.allclose(t["estimate"], J["mice"]["linear"]["estimate"], rtol=1e-8)
    assert t["m"].tolist() == [5, 5]
