"""Tests of stage 1 (ipdmeta.stage1): per-study fits, failure rows, options, engines."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.duration.hazard_regression import PHReg

import ipdmeta as ipd
from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.models.base import Fit
from ipdmeta.stage1 import stage1

REFERENCE = json.loads((Path(__file__).parent / "reference" / "stage1_pipeline.json")
                       .read_text())
TOL = {"rtol": 1e-8, "atol": 1e-10}


def simulate(seed: int = 1, sizes: tuple[int, ...] = (60, 90, 45, 120, 75, 50)
             ) -> pd.DataFrame:
    """Multi-study IPD with a 0/1 treatment, age, region, a count and a survival outcome."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, n in enumerate(sizes):
        treat = rng.permutation(np.arange(n) % 2)
        age = rng.normal(55 + k, 8, n)
        region = rng.choice(["east", "north", "south"], n)
        lin = -0.4 * treat + 0.03 * (age - 55) + 0.2 * (region == "north")
        time_event = rng.exponential(1 / np.exp(lin))
        censor = rng.exponential(1.5, n)
        exposure = rng.uniform(0.5, 3, n)
        parts.append(pd.DataFrame({
            "trial": f"T{k + 1:02d}", "treat": treat, "age": age.round(1), "region": region,
            "y": 10 - 1.5 * treat + 0.1 * age + rng.normal(0, 2, n),
            "bin": rng.binomial(1, 1 / (1 + np.exp(-(lin - 0.5)))),
            "count": rng.poisson(exposure * np.exp(lin)), "exposure": exposure,
            "time": np.minimum(time_event, censor).round(2),
            "event": (time_event <= censor).astype(int),
            "design": "parallel" if k % 2 else "cluster", "year": 2000 + k}))
    frame = pd.concat(parts, ignore_index=True)
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)  # studies interleaved


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return simulate()


def per_study(data: pd.DataFrame, fit) -> pd.DataFrame:
    """statsmodels estimate and se of the first covariate, per trial (sorted)."""
    rows = []
    for trial, d in data.groupby("trial", sort=True):
        est, se = fit(d)
        rows.append({"study": trial, "estimate": est, "se": se})
    return pd.DataFrame(rows)


def design(d: pd.DataFrame, cols: list[str], intercept: bool = True) -> np.ndarray:
    X = d[cols].to_numpy(dtype=float)
    return sm.add_constant(X, has_constant="add") if intercept else X


def check(ad, expected: pd.DataFrame) -> None:
    got = ad.to_frame()
    assert got["study"].tolist() == expected["study"].tolist()
    np.testing.assert_allclose(got["estimate"], expected["estimate"], **TOL)
    np.testing.assert_allclose(got["se"], expected["se"], **TOL)


# ------------------------------------------------------------------ agreement with statsmodels
def test_linear_matches_ols(data: pd.DataFrame) -> None:
    ad = stage1(data, study="trial", formula="y ~ treat + age", model="linear")
    exp = per_study(data, lambda d: (lambda r: (r.params[1], r.bse[1]))(
        sm.OLS(d["y"].to_numpy(), design(d, ["treat", "age"])).fit()))
    check(ad, exp)
    assert ad.measure == "MD" and ad.model == "linear" and ad.ties is None
    assert "events" not in ad.columns
    t = ad.to_frame()
    assert (t["n"] == data.groupby("trial").size().sort_index().to_numpy()).all()
    assert (t["n_0"] + t["n_1"] == t["n"]).all()
    crit = 1.959963984540054
    np.testing.assert_allclose(t["ci_low"], t["estimate"] - crit * t["se"], rtol=1e-12)


def test_logistic_matches_glm(data: pd.DataFrame) -> None:
    ad = stage1(data, study="trial", formula="bin ~ treat + age", model="logistic")
    exp = per_study(data, lambda d: (lambda r: (r.params[1], r.bse[1]))(
        sm.GLM(d["bin"].to_numpy(), design(d, ["treat", "age"]),
               family=sm.families.Binomial()).fit(tol=1e-13)))
    check(ad, exp)
    t = ad.to_frame()
    assert ad.measure == "OR"
    assert (t["events"] == data.groupby("trial")["bin"].sum().sort_index().to_numpy()).all()
    assert (t["events_0"] + t["events_1"] == t["events"]).all()


def test_poisson_with_exposure_matches_glm(data: pd.DataFrame) -> None:
    ad = stage1(data, study="trial", formula="count ~ treat + age", model="poisson",
                exposure="exposure")
    exp = per_study(data, lambda d: (lambda r: (r.params[1], r.bse[1]))(
        sm.GLM(d["count"].to_numpy(), design(d, ["treat", "age"]),
               family=sm.families.Poisson(), exposure=d["exposure"].to_numpy())
        .fit(tol=1e-13)))
    check(ad, exp)
    assert ad.measure == "IRR"
    # offset= log(exposure) is the same model
    same = stage1(data.assign(logexp=np.log(data["exposure"])), study="trial",
                  formula="count ~ treat + age", model="poisson", offset="logexp")
    np.testing.assert_allclose(same["estimate"], ad["estimate"], rtol=1e-10)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_matches_phreg(data: pd.DataFrame, ties: str) -> None:
    ad = stage1(data, study="trial", formula="Surv(time, event) ~ treat + age", ties=ties)
    exp = per_study(data, lambda d: (lambda r: (r.params[0], r.bse[0]))(
        PHReg(d["time"].to_numpy(), design(d, ["treat", "age"], False),
              status=d["event"].to_numpy(), ties=ties).fit(tol=1e-13)))
    check(ad, exp)
    assert ad.model == "cox" and ad.measure == "HR" and ad.ties == ties
    t = ad.to_frame()
    assert (t["events"] == data.groupby("trial")["event"].sum().sort_index().to_numpy()).all()


def test_cox_strata_matches_phreg(data: pd.DataFrame) -> None:
    ad = stage1(data, study="trial", formula="Surv(time, event) ~ treat + age + strata(region)")
    exp = per_study(data, lambda d: (lambda r: (r.params[0], r.bse[0]))(
        PHReg(d["time"].to_numpy(), design(d, ["treat", "age"], False),
              status=d["event"].to_numpy(), strata=d["region"].to_numpy(), ties="efron")
        .fit(tol=1e-13)))
    check(ad, exp)
    same = stage1(data, study="trial", formula="Surv(time, event) ~ treat + age",
                  strata="region")
    pd.testing.assert_frame_equal(same.to_frame(), ad.to_frame())


def test_keyword_form_equals_formula(data: pd.DataFrame) -> None:
    a = stage1(data, study="trial", time="time", event="event", covariates=["treat", "age"])
    b = stage1(data, study="trial", formula="Surv(time, event) ~ treat + age")
    pd.testing.assert_frame_equal(a.to_frame(), b.to_frame())
    assert a.formula == b.formula == "Surv(time, event) ~ treat + age"


def test_pooling_the_stage1_table(data: pd.DataFrame) -> None:
    ad = stage1(data, study="trial", formula="y ~ treat + age", model="linear")
    m = ipd.pool(ad, method="REML")
    ref = ipd.pool(pd.DataFrame({"study": ad["study"], "yi": ad["estimate"],
                                 "vi": ad["se"] ** 2}), method="REML")
    assert m.overall.estimate == pytest.approx(ref.overall.estimate, rel=1e-12)
    assert m.measure == "MD"


# ------------------------------------------------------------------ R references (datasets)
def _reference_check(ad, ref: dict, rtol: float = 1e-7) -> None:
    t = ad.to_frame().set_index("study").loc[ref["study"]]
    np.testing.assert_allclose(t["estimate"], ref["estimate"], rtol=rtol, atol=1e-10)
    np.testing.assert_allclose(t["se"], ref["se"], rtol=rtol, atol=1e-10)
    m = ipd.pool(ad, method="REML")
    assert m.overall.estimate == pytest.approx(ref["pooled"]["REML"]["estimate"], rel=1e-6)
    assert m.overall.tau2 == pytest.approx(ref["pooled"]["REML"]["tau2"], rel=1e-5, abs=1e-10)
    h = ipd.pool(ad, method="DL", ci="hksj")
    assert h.overall.ci_low == pytest.approx(ref["pooled"]["DL_hksj"]["ci_low"], rel=1e-6)
    assert h.overall.ci_high == pytest.approx(ref["pooled"]["DL_hksj"]["ci_high"], rel=1e-6)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_hypertension_cox_matches_r(ties: str) -> None:
    ad = stage1(ipd.datasets.load("hypertension"), study="trial", ties=ties,
                formula="Surv(time, event) ~ treat + smk + sbpi + age + bmi")
    _reference_check(ad, REFERENCE[f"cox_{ties}"])


def test_hypertension_interaction_matches_r() -> None:
    ad = stage1(ipd.datasets.load("hypertension"), study="trial",
                formula="Surv(time, event) ~ treat + age", interaction=("treat", "age"))
    assert ad.poolvar == "treat:age" and ad.interaction == ("treat", "age")
    assert ad.measure == "HR" and "n_1" not in ad.columns
    _reference_check(ad, REFERENCE["cox_interaction"])


def test_weight_gain_linear_matches_r() -> None:
    ad = stage1(ipd.datasets.load("weight_gain"), study="study_name",
                formula="final_wt ~ trt + baseline_wt", model="linear", keep="intervention")
    _reference_check(ad, REFERENCE["linear"])
    assert set(ad["intervention"]) == {"diet", "exercise", "mixed"}


def test_weight_gain_binary_matches_r_and_flags_failures() -> None:
    ad = stage1(ipd.datasets.load("weight_gain_binary"), study="study_name",
                formula="gdm ~ trt + baseline_wt", model="logistic")
    ref = REFERENCE["logistic"]
    t = ad.to_frame().set_index("study")
    assert sorted(t.index[t["status"] != "ok"]) == sorted(ref["not_estimable"])
    assert set(t.loc[ref["not_estimable"], "status"]) == {"separation", "no_events"}
    _reference_check(ad.ok, ref, rtol=1e-6)


# ------------------------------------------------------------------ failure rows
@pytest.fixture(scope="module")
def troubled() -> pd.DataFrame:
    """Six good trials plus trials that cannot be estimated, each for its own reason."""
    base = simulate(seed=7)
    rng = np.random.default_rng(2)
    const = base[base["trial"] == "T01"].assign(trial="X-const", treat=1)
    nopool = base[base["trial"] == "T02"].assign(trial="X-nopool", treat=np.nan)
    t03 = base[base["trial"] == "T03"]
    tiny = t03.groupby("treat").head(1).assign(trial="X-tiny")     # one per arm
    noev = base[base["trial"] == "T04"].assign(trial="X-noevents", bin=0, event=0)
    frame = pd.concat([base, const, nopool, tiny, noev], ignore_index=True)
    # some missing ages in T05: complete cases within the trial
    idx = frame.index[frame["trial"] == "T05"][:7]
    frame.loc[idx, "age"] = np.nan
    return frame.sample(frac=1, random_state=rng.integers(1000)).reset_index(drop=True)


@pytest.mark.parametrize("model,formula", [
    ("logistic", "bin ~ treat + age"),
    ("cox", "Surv(time, event) ~ treat + age"),
])
def test_failure_rows(troubled: pd.DataFrame, model: str, formula: str) -> None:
    ad = stage1(troubled, study="trial", formula=formula, model=model)
    t = ad.to_frame().set_index("study")
    assert t.loc["X-const", "status"] == "constant_poolvar"
    assert "'treat' is 1 for all" in t.loc["X-const", "reason"]
    assert t.loc["X-nopool", "status"] == "no_complete_cases"
    assert "'treat' is missing for all" in t.loc["X-nopool", "reason"]
    assert t.loc["X-nopool", "n"] == 0
    assert t.loc["X-nopool", "n_dropped"] == (troubled["trial"] == "X-nopool").sum()
    assert t.loc["X-tiny", "status"] == "too_few_rows"
    assert t.loc["X-noevents", "status"] == "no_events"
    assert t.loc["X-noevents", "events"] == 0
    assert t.loc["X-nopool", ["n_0", "n_1"]].tolist() == [0, 0]    # per-arm counts kept
    assert (t["n_0"] + t["n_1"] == t["n"]).all()
    bad = t[t["status"] != "ok"]
    assert bad["estimate"].isna().all() and bad["se"].isna().all()
    assert (bad["reason"].str.len() > 10).all()
    assert (t.drop(index=bad.index)["status"] == "ok").all()
    m = ipd.pool(ad)
    assert m.k == 6
    assert sorted(m.excluded["study"]) == sorted(bad.index)
    assert any("not pooled" in msg for msg in m.messages)


def test_complete_cases_counted_and_used(troubled: pd.DataFrame) -> None:
    ad = stage1(troubled, study="trial", formula="y ~ treat + age", model="linear")
    t = ad.to_frame().set_index("study")
    assert t.loc["T05", "n_dropped"] == 7
    d = troubled[(troubled["trial"] == "T05")].dropna(subset=["age"])
    assert t.loc["T05", "n"] == len(d)
    r = sm.OLS(d["y"].to_numpy(), design(d, ["treat", "age"])).fit()
    assert t.loc["T05", "estimate"] == pytest.approx(r.params[1], rel=1e-10)
    # a column the model does not use does not drop rows
    with_unused = troubled.assign(unused=np.nan)
    again = stage1(with_unused, study="trial", formula="y ~ treat + age", model="linear")
    pd.testing.assert_frame_equal(again.to_frame(), ad.to_frame())
    assert (t.drop(index=["T05", "X-nopool"])["n_dropped"] == 0).all()


def test_runaway_guard(data: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    from ipdmeta.models import registry

    def fake(y, X, *, names, **_):
        coef = np.zeros(len(names))
        coef[names.index("treat")] = 15.0
        return Fit(coef=coef, cov=np.eye(len(names)) * 400.0, names=names, n=len(y))

    monkeypatch.setitem(registry.FITTERS, "logistic", fake)
    ad = stage1(data, study="trial", formula="bin ~ treat", model="logistic")
    assert set(ad["status"]) == {"runaway"}
    assert "implausibly large" in ad["reason"].iloc[0]


# ------------------------------------------------------------------ categorical covariates
def test_absent_nuisance_level_is_dropped_in_that_study(data: pd.DataFrame) -> None:
    d = data[~((data["trial"] == "T02") & (data["region"] == "north"))]
    ad = stage1(d, study="trial", formula="y ~ treat + C(region)", model="linear")
    t = ad.to_frame().set_index("study")
    assert (t["status"] == "ok").all()
    assert "C(region)[T.north]" in t.loc["T02", "reason"]
    assert (t.drop(index="T02")["reason"] == "").all()
    s = d[d["trial"] == "T02"]
    r = sm.OLS(s["y"].to_numpy(),
               design(s.assign(south=(s["region"] == "south") * 1.0), ["treat", "south"])).fit()
    assert t.loc["T02", "estimate"] == pytest.approx(r.params[1], rel=1e-10)


def test_constant_nuisance_covariate_is_dropped(data: pd.DataFrame) -> None:
    d = data.copy()
    d.loc[d["trial"] == "T03", "age"] = 60.0
    ad = stage1(d, study="trial", formula="Surv(time, event) ~ treat + age")
    t = ad.to_frame().set_index("study")
    assert t.loc["T03", "status"] == "ok"
    assert "'age' (the same for every participant)" in t.loc["T03", "reason"]
    alone = stage1(d[d["trial"] == "T03"], study="trial", formula="Surv(time, event) ~ treat")
    assert t.loc["T03", "estimate"] == pytest.approx(alone["estimate"].iloc[0], rel=1e-12)


def test_pooled_level_absent_is_constant_poolvar(data: pd.DataFrame) -> None:
    d = data[~((data["trial"] == "T04") & (data["region"] == "north"))]
    ad = stage1(d, study="trial", formula="y ~ C(region) + treat", model="linear",
                poolvar="C(region)[T.north]")
    t = ad.to_frame().set_index("study")
    assert t.loc["T04", "status"] == "constant_poolvar"
    assert ad.measure == "MD" and (t.drop(index="T04")["status"] == "ok").all()


def test_pooled_term_collinear_with_nuisance(data: pd.DataFrame) -> None:
    d = data.assign(ctrl=1 - data["treat"])
    ad = stage1(d, study="trial", formula="y ~ treat + ctrl", model="linear")
    assert set(ad["status"]) == {"collinear"}
    assert "'treat'" in ad["reason"].iloc[0]


def test_default_poolvar_rules(data: pd.DataFrame) -> None:
    with pytest.raises(SpecificationError, match=r"C\(region\)\[T.north\]"):
        stage1(data, study="trial", formula="y ~ C(region) + treat", model="linear")
    two = data.assign(arm=np.where(data["treat"] == 1, "active", "control"))
    ad = stage1(two, study="trial", formula="y ~ C(arm, contr.treatment('control')) + age",
                model="linear")
    assert ad.poolvar.endswith("[T.active]")
    by_var = stage1(two, study="trial", formula="y ~ age + C(arm)", model="linear",
                    poolvar="arm")
    assert by_var.poolvar == "C(arm)[T.control]"
    assert stage1(data, study="trial", formula="y ~ age + treat", model="linear",
                  poolvar="treat").poolvar == "treat"
    cont = stage1(data, study="trial", formula="y ~ age + treat", model="linear")
    assert cont.poolvar == "age" and cont.measure == "coef" and "n_1" not in cont.columns
    with pytest.raises(SpecificationError, match="not a column of the design"):
        stage1(data, study="trial", formula="y ~ age + treat", model="linear", poolvar="sex")


# ------------------------------------------------------------------ interaction
def test_interaction_centred_matches_manual_fit(data: pd.DataFrame) -> None:
    ad = stage1(data, study="trial", formula="y ~ treat + age", model="linear",
                interaction=("treat", "age"))
    assert ad.measure == "coef"

    def manual(d: pd.DataFrame) -> tuple[float, float]:
        agec = d["age"] - d["age"].mean()
        X = design(d.assign(inter=d["treat"] * agec), ["treat", "age", "inter"])
        r = sm.OLS(d["y"].to_numpy(), X).fit()
        return r.params[3], r.bse[3]

    check(ad, per_study(data, manual))
    raw = stage1(data, study="trial", formula="y ~ treat + age", model="linear",
                 interaction="treat:age", center=False)
    # centring changes the main effect only, not the interaction
    np.testing.assert_allclose(raw["estimate"], ad["estimate"], rtol=1e-8)


def test_interaction_constant_component(data: pd.DataFrame) -> None:
    d = data.copy()
    d.loc[d["trial"] == "T01", "treat"] = 0
    ad = stage1(d, study="trial", formula="bin ~ treat + age", model="logistic",
                interaction=("treat", "age"))
    t = ad.to_frame().set_index("study")
    assert t.loc["T01", "status"] == "constant_poolvar"
    assert "interaction" in t.loc["T01", "reason"]
    with pytest.raises(InputError, match="numeric"):
        stage1(data, study="trial", formula="bin ~ treat", model="logistic",
               interaction=("treat", "region"))


# ------------------------------------------------------------------ keep=, options, errors
def test_keep_columns(data: pd.DataFrame) -> None:
    ad = stage1(data, study="trial", formula="y ~ treat", model="linear",
                keep=["design", "year"])
    t = ad.to_frame()
    assert t.columns[-2:].tolist() == ["design", "year"]
    assert t.set_index("study").loc["T03", "year"] == 2002
    assert ad.keep == ("design", "year")
    bad = data.copy()
    bad.loc[bad.index[bad["trial"] == "T04"][0], "year"] = 1999
    with pytest.raises(InputError, match=r"'year' is not constant within study 'T04'"):
        stage1(bad, study="trial", formula="y ~ treat", model="linear", keep="year")
    with pytest.raises(InputError, match="overwrite"):
        stage1(data.assign(n=1), study="trial", formula="y ~ treat", model="linear", keep="n")


@pytest.mark.parametrize("kwargs,error", [
    ({"formula": "y ~ treat"}, SpecificationError),                        # no model
    ({"formula": "y ~ treat", "model": "cox"}, SpecificationError),
    ({"formula": "Surv(time, event) ~ treat", "model": "linear"}, SpecificationError),
    ({"formula": "y ~ treat", "model": "probit"}, SpecificationError),
    ({"formula": "Surv(time, event) ~ treat", "ties": "exact"}, SpecificationError),
    ({"formula": "y ~ treat", "model": "linear", "firth": True}, SpecificationError),
    ({"formula": "bin ~ treat", "model": "logistic", "strata": "region"}, SpecificationError),
    ({"formula": "bin ~ treat", "model": "logistic", "exposure": "exposure"},
     SpecificationError),
    ({"formula": "y ~ treat + agee", "model": "linear"}, InputError),
    ({"formula": "y ~ treat", "model": "linear", "outcome": "y"}, SpecificationError),
    ({"formula": "y ~ treat", "model": "linear", "engine": "threads"}, InputError),
])
def test_option_errors(data: pd.DataFrame, kwargs: dict, error: type) -> None:
    with pytest.raises(error):
        stage1(data, study="trial", **kwargs)


def test_error_messages_name_the_problem(data: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="did you mean 'age'"):
        stage1(data, study="trial", formula="y ~ treat + agee", model="linear")
    with pytest.raises(InputError, match="study column 'trial' is missing in 1 row"):
        stage1(data.assign(trial=data["trial"].where(data.index != 5)), study="trial",
               formula="y ~ treat", model="linear")
    with pytest.raises(InputError, match="study 'T0"):
        stage1(data.assign(bin=data["bin"] * 2), study="trial", formula="bin ~ treat",
               model="logistic")


def test_model_aliases_and_firth(data: pd.DataFrame) -> None:
    a = stage1(data, study="trial", formula="bin ~ treat", model="logit")
    assert a.model == "logistic" and not a.firth
    f = stage1(data, study="trial", formula="bin ~ treat", model="logistic", firth=True)
    assert f.firth
    assert not np.allclose(f["estimate"], a["estimate"])   # penalised estimates differ


# ------------------------------------------------------------------ ordering, engines, progress
def test_row_and_study_order_do_not_matter(data: pd.DataFrame) -> None:
    ad = stage1(data, study="trial", formula="Surv(time, event) ~ treat + age")
    shuffled = data.sample(frac=1, random_state=11).reset_index(drop=True)
    again = stage1(shuffled, study="trial", formula="Surv(time, event) ~ treat + age")
    pd.testing.assert_frame_equal(again.to_frame(), ad.to_frame(), rtol=1e-10)
    assert ad["study"].tolist() == sorted(data["trial"].unique())


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([0.01, 1.0, 1000.0]))
def test_invariant_to_row_order_and_covariate_scale(seed: int, scale: float) -> None:
    data = simulate(seed=3, sizes=(40, 55, 30))
    ad = stage1(data, study="trial", formula="bin ~ treat + age", model="logistic")
    moved = data.sample(frac=1, random_state=seed % 10_000).assign(age=data["age"] * scale)
    again = stage1(moved, study="trial", formula="bin ~ treat + age", model="logistic")
    np.testing.assert_allclose(again["estimate"], ad["estimate"], rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(again["se"], ad["se"], rtol=1e-8)


def test_numeric_study_labels(data: pd.DataFrame) -> None:
    d = data.assign(trial=data["trial"].str[1:].astype(int))
    ad = stage1(d, study="trial", formula="y ~ treat", model="linear")
    assert ad["study"].tolist() == [1, 2, 3, 4, 5, 6]
    assert ad["study"].dtype == np.int64


def test_processes_engine_equals_serial(data: pd.DataFrame) -> None:
    kw = {"study": "trial", "formula": "Surv(time, event) ~ treat + age + C(region)"}
    serial = stage1(data, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        parallel = stage1(data, engine="processes", n_jobs=2, **kw)
    pd.testing.assert_frame_equal(parallel.to_frame(), serial.to_frame())


def test_progress_bar_only_when_asked(data: pd.DataFrame, capsys: pytest.CaptureFixture
                                      ) -> None:
    stage1(data, study="trial", formula="y ~ treat", model="linear", progress=True)
    assert "stage 1" in capsys.readouterr().err
    stage1(data, study="trial", formula="y ~ treat", model="linear")
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
