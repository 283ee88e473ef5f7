"""The issue-16 families, model=callable, cluster-robust SEs and multiple imputation through
stage1() and ipdmeta(), against the R references of tests/reference/stage1_families.R."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError, SpecificationError

REF = Path(__file__).parent / "reference"
J = json.loads((REF / "stage1_families.json").read_text())


def _data(name: str) -> pd.DataFrame:
    d = pd.read_csv(REF / "data" / name, dtype={"cluster": str})
    return d.rename(columns=lambda c: c.replace(".", "_"))


def _ref(section: str, name: str, j: int, key: str = "coef") -> dict:
    return {c["cluster"]: c[key][j] for c in J[section][name]["clusters"] if key in c}


CASES = [  # (section, reference, data file, formula, model, options, coefficient index)
    ("negbin", "quine", "fam_quine.csv", "y ~ EthN + SexM", "negbin", {}, 1),
    ("negbin", "cbpp", "fam_cbpp.csv", "y ~ period2 + period3 + period4", "negbin",
     {"offset": "offset"}, 1),
    ("ordinal", "housing", "fam_housing.csv", "y ~ ContHigh + InflMedium + InflHigh",
     "ordinal", {}, 2),
    ("binomial", "rr_respiratory", "fam_respiratory.csv",
     "y ~ treatmenttreatment + gendermale + age", "rr", {}, 1),
    ("binomial", "rd_birthwt", "fam_birthwt.csv", "y ~ smoke + ht", "rd", {}, 1),
    ("survreg", "weibull_veteran", "fam_veteran.csv", "Surv(time, event) ~ trt + karno + age",
     "weibull", {}, 1),
    ("survreg", "exponential_lung", "fam_lung.csv", "Surv(time, event) ~ age + ph_ecog",
     "exponential", {}, 1),
    ("finegray", "melanoma", "fam_melanoma.csv", "Surv(time, status) ~ ulcer + thickness + age",
     "finegray", {}, 0),
]


@pytest.mark.parametrize(("section", "name", "file", "formula", "model", "opts", "j"), CASES,
                         ids=[c[1] for c in CASES])
def test_stage1_families_match_r(section, name, file, formula, model, opts, j):
    ad = ipd.stage1(_data(file), study="cluster", formula=formula, model=model, **opts)
    key = "ph_coef" if section == "survreg" else "coef"
    ref = _ref(section, name, j, key)
    se_key = "ph_se" if section == "survreg" else "se"
    ref_se = _ref(section, name, j, se_key)
    t = ad.to_frame().set_index("study")
    if model == "ordinal":   # the slopes' order in R: InflMedium, InflHigh, ContHigh
        ref = {k: J["ordinal"]["housing"]["clusters"][i]["coef"][2]
               for i, k in enumerate(c["cluster"] for c in J["ordinal"]["housing"]["clusters"])}
        ref_se = {k: J["ordinal"]["housing"]["clusters"][i]["se"][2]
                  for i, k in enumerate(c["cluster"] for c in J["ordinal"]["housing"]["clusters"])}
    statuses = {c["cluster"]: c["status"] for c in J[section][name]["clusters"]}
    for study, status in statuses.items():
        assert t.loc[study, "status"] == status, t.loc[study, "reason"]
        if status == "ok":
            assert t.loc[study, "estimate"] == pytest.approx(ref[study], rel=1e-7, abs=1e-9)
            assert t.loc[study, "se"] == pytest.approx(ref_se[study], rel=1e-7)


def test_measures_and_aft_scale():
    vet = _data("fam_veteran.csv")
    f = "Surv(time, event) ~ trt + karno + age"
    ph = ipd.stage1(vet, study="cluster", formula=f, model="weibull")
    aft = ipd.stage1(vet, study="cluster", formula=f, model="weibull", scale="aft")
    assert (ph.measure, aft.measure) == ("HR", "TR")
    ref = _ref("survreg", "weibull_veteran", 1, "aft_coef")
    for study, est in aft.to_frame().set_index("study")["estimate"].items():
        assert est == pytest.approx(ref[study], rel=1e-8)
    assert ipd.stage1(_data("fam_birthwt.csv"), study="cluster", formula="y ~ smoke",
                      model="log-binomial").measure == "RR"
    with pytest.raises(SpecificationError, match="needs a Surv"):
        ipd.stage1(vet, study="cluster", formula="time ~ trt", model="weibull")
    with pytest.raises(SpecificationError, match="scale='aft' is for"):
        ipd.stage1(vet, study="cluster", formula="event ~ trt", model="logistic", scale="aft")


def test_boundary_and_separation_rows():
    ad = ipd.stage1(_data("fam_binomial_constructed.csv"), study="cluster", formula="y ~ x",
                    model="rr")
    t = ad.to_frame().set_index("study")
    assert t.loc["boundary", "status"] == "boundary"
    assert t.loc["zero_arm", "status"] == "separation"
    with pytest.raises(InputError, match="no study can be pooled"):
        ipd.pool(ad)


# ----------------------------------------------------------------------------- cluster-robust
def test_cluster_robust_through_stage1():
    resp = _data("fam_respiratory.csv")
    ad = ipd.stage1(resp, study="centre", formula="y ~ treatmenttreatment + gendermale + age",
                    model="logistic", cluster="subject")
    ref = {c["cluster"]: c["stata"][1] for c in J["robust"]["logistic_respiratory"]["clusters"]}
    for study, se in ad.to_frame().set_index("study")["se"].items():
        assert se == pytest.approx(ref[str(study)], rel=1e-7)
    rats = _data("fam_rats.csv")
    cox = ipd.stage1(rats, study="cluster", formula="Surv(time, event) ~ rx", cluster="litter",
                     adjust="none")
    t = cox.to_frame().set_index("study")
    ref_f = J["robust"]["cox_rats_efron"]["clusters"][0]
    assert t.loc["f", "se"] == pytest.approx(ref_f["none"][0], rel=1e-7)
    assert t.loc["m", "status"] == "separation"
    with pytest.raises(SpecificationError, match="is the study column"):
        ipd.stage1(rats, study="cluster", formula="Surv(time, event) ~ rx", cluster="cluster")


def test_one_cluster_in_a_study_is_a_row():
    rats = _data("fam_rats.csv").assign(ward=lambda d: np.where(d.cluster == "f", 1,
                                                                d.litter))
    t = ipd.stage1(rats, study="cluster", formula="Surv(time, event) ~ rx",
                   cluster="ward").to_frame().set_index("study")
    assert t.loc["f", "status"] == "too_few_rows" and "at least 2 clusters" in t.loc["f", "reason"]


# ----------------------------------------------------------------------------- imputation
@pytest.mark.parametrize(("which", "formula", "model"),
                         [("linear", "chl ~ bmi + age", "linear"),
                          ("logistic", "hyp2 ~ bmi + age", "logistic")])
def test_imputation_matches_mice_pool(which, formula, model):
    long = _data("fam_nhanes_long.csv")
    ref = J["mice"][which]
    ad = ipd.stage1(long, study="cluster", formula=formula, model=model, imputation="imp")
    row = ad.to_frame().iloc[0]
    assert row["status"] == "ok" and row["m"] == 5
    assert row["estimate"] == pytest.approx(ref["estimate"], rel=1e-8)
    assert row["se"] ** 2 == pytest.approx(ref["t"], rel=1e-8)
    assert row["df"] == pytest.approx(ref["df"], rel=1e-8)
    assert row["fmi"] == pytest.approx(ref["fmi"], rel=1e-8)
    frames = [d.drop(columns="imp") for _, d in long.groupby("imp")]
    again = ipd.stage1(None, study="cluster", formula=formula, model=model,
                       imputation=frames)
    assert again.to_frame().iloc[0]["estimate"] == pytest.approx(ref["estimate"], rel=1e-12)


def test_imputation_failures_and_checks():
    long = _data("fam_nhanes_long.csv")
    long.loc[long.imp == 3, "chl"] = 200.0          # constant outcome in imputation 3
    ad = ipd.stage1(long, study="cluster", formula="hyp2 ~ chl", model="logistic",
                    imputation="imp")
    row = ad.to_frame().iloc[0]
    assert row["status"] == "constant_poolvar" and row["reason"].startswith("in imputation 3")
    with pytest.raises(InputError, match="at least 2 imputed"):
        ipd.stage1(long[long.imp == 1], study="cluster", formula="chl ~ bmi", model="linear",
                   imputation="imp")
    with pytest.raises(InputError, match="not in the data"):
        ipd.stage1(long, study="cluster", formula="chl ~ bmi", model="linear",
                   imputation="_mi_m")


# ----------------------------------------------------------------------------- model=callable
def mean_difference(d: pd.DataFrame):
    """A module-level function, so that the processes engine can pickle it."""
    a, b = d.y[d.smoke == 1], d.y[d.smoke == 0]
    if len(a) < 2:
        raise ValueError("fewer than 2 smokers")
    return {"estimate": a.mean() - b.mean(), "se": np.sqrt(a.var() / len(a) + b.var() / len(b)),
            "events": int(d.y.sum())}


def test_callable_model_rows_and_engines():
    bw = _data("fam_birthwt.csv")
    bw.loc[(bw.cluster == "2") & (bw.smoke == 1), "smoke"] = [1] + [0] * int(
        ((bw.cluster == "2") & (bw.smoke == 1)).sum() - 1)
    ad = ipd.stage1(bw, study="cluster", model=mean_difference, measure="RD")
    t = ad.to_frame().set_index("study")
    assert ad.measure == "RD" and ad.model == "custom"
    assert t.loc["2", "status"] == "model_error"
    assert t.loc["2", "reason"] == "ValueError: fewer than 2 smokers"
    one = bw[bw.cluster == "1"]
    assert t.loc["1", "estimate"] == pytest.approx(one.y[one.smoke == 1].mean()
                                                   - one.y[one.smoke == 0].mean())
    assert t.loc["1", "events"] == int(one.y.sum())
    par = ipd.stage1(bw, study="cluster", model=mean_difference, engine="processes", n_jobs=2)
    pd.testing.assert_frame_equal(par.to_frame(), ad.to_frame())
    with pytest.raises(InputError, match="cannot be sent to worker processes"):
        ipd.stage1(bw, study="cluster", model=lambda d: (0.0, 1.0), engine="processes")


def test_callable_with_formula_takes_complete_cases_and_nonfinite():
    bw = _data("fam_birthwt.csv").astype({"ht": float})
    bw.loc[bw.index[:5], "ht"] = np.nan
    seen = []

    def size(d):
        seen.append(len(d))
        return (np.nan, 1.0) if d.cluster.iloc[0] == "3" else (1.0, 0.5)

    ad = ipd.stage1(bw, study="cluster", formula="y ~ smoke + ht", model=size, poolvar="x")
    t = ad.to_frame().set_index("study")
    assert t.loc["3", "status"] == "not_converged"
    assert int(t["n_dropped"].sum()) == 5 and sum(seen) == len(bw) - 5


def test_ipdmeta_passes_the_new_options():
    res = ipd.ipdmeta(_data("fam_quine.csv"), study="cluster", formula="y ~ EthN + SexM",
                      model="negbin", method="DL")
    assert res.aggregate.measure == "IRR" and res.meta.overall.k == 4


# ----------------------------------------------------------------------------- CLI
def test_cli_cluster_and_imputation(tmp_path, capsys):
    from ipdmeta.cli import main

    resp = tmp_path / "resp.csv"
    _data("fam_respiratory.csv").to_csv(resp, index=False)
    out = tmp_path / "ad.csv"
    assert main(["run", str(resp), "--study", "centre", "--formula",
                 "y ~ treatmenttreatment + gendermale + age", "--model", "logistic",
                 "--cluster", "subject", "--save", str(out)]) == 0
    ref = {c["cluster"]: c["stata"][1] for c in J["robust"]["logistic_respiratory"]["clusters"]}
    for _, r in pd.read_csv(out, dtype={"study": str}).iterrows():
        assert r["se"] == pytest.approx(ref[r["study"]], rel=1e-7)
    long = _data("fam_nhanes_long.csv")
    two = pd.concat([long.assign(cluster="A"), long.assign(cluster="B")])
    path = tmp_path / "long.csv"
    two.to_csv(path, index=False)
    out2 = tmp_path / "mi.csv"
    assert main(["run", str(path), "--study", "cluster", "--formula", "chl ~ bmi + age",
                 "--model", "linear", "--imputation", "imp", "--save", str(out2)]) == 0
    t = pd.read_csv(out2)
    assert t["m"].tolist() == [5, 5]
    assert t["estimate"].tolist() == pytest.approx([J["mice"]["linear"]["estimate"]] * 2)
    capsys.readouterr()


@pytest.mark.parametrize("dist", ["weibull", "exponential"])
def test_parametric_survival_cluster_robust_matches_survreg(dist):
    """Robust variance on the PH form, converted to AFT: survreg(cluster = inst)."""
    lung = _data("fam_lung_inst.csv")
    ref = J["robust"][f"{dist}_lung_inst"]["clusters"]
    for j in (1, 2):
        term = ("age", "ph_ecog")[j - 1]
        ad = ipd.stage1(lung, study="cluster", formula="Surv(time, event) ~ age + ph_ecog",
                        model=dist, scale="aft", cluster="inst", adjust="none", poolvar=term)
        t = ad.to_frame().set_index("study")
        for c in ref:
            assert t.loc[c["cluster"], "estimate"] == pytest.approx(c["aft_coef"][j], rel=1e-8)
            assert t.loc[c["cluster"], "se"] == pytest.approx(c["none"][j], rel=1e-7)
