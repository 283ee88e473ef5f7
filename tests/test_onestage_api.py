"""ipd.onestage(): options, errors, statuses, invariances, internals, comparison and plot."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from scipy import stats

import ipdmeta as ipd
from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.onestage import OneStageResult, linear, onestage
from ipdmeta.onestage._blocks import Arrow
from ipdmeta.onestage.design import build_design
from ipdmeta.onestage.glmm import Problem
from ipdmeta.plots._text import new_figure

REF = Path(__file__).parent / "reference" / "data"
SLEEP = pd.read_csv(REF / "onestage_sleepstudy.csv")


def _binary(trials: int = 12, n: int = 60, tau: float = 0.5, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"trial": np.repeat(np.arange(1, trials + 1), n),
                       "treat": np.tile([0, 1], trials * n // 2),
                       "age": rng.normal(50, 10, trials * n)})
    b = rng.normal(0, tau, trials)
    eta = -0.3 + 0.1 * (df.trial % 4) + (-0.5 + b[df.trial - 1]) * df.treat + 0.02 * (
        df.age - 50)
    df["y"] = (rng.random(len(df)) < 1 / (1 + np.exp(-eta))).astype(int)
    return df


# ----------------------------------------------------------------- internals
def test_arrow_against_dense() -> None:
    rng = np.random.default_rng(0)
    K, a, g = 4, 2, 3
    M = rng.normal(size=(K * a + g, K * a + g + 5))
    H = M @ M.T
    for i in range(K):       # zero the couplings between different trials' locals
        for j in range(K):
            if i != j:
                H[i * a:(i + 1) * a, j * a:(j + 1) * a] = 0
    A = np.stack([H[i * a:(i + 1) * a, i * a:(i + 1) * a] for i in range(K)])
    B = np.stack([H[i * a:(i + 1) * a, K * a:] for i in range(K)])
    arrow = Arrow(A, B, H[K * a:, K * a:])
    inv = np.linalg.inv(H)
    np.testing.assert_allclose(arrow.inv_WW, inv[K * a:, K * a:], rtol=1e-10)
    np.testing.assert_allclose(arrow.inv_LL[2], inv[4:6, 4:6], rtol=1e-10)
    np.testing.assert_allclose(arrow.inv_LW[1], inv[2:4, K * a:], rtol=1e-10)
    np.testing.assert_allclose(arrow.logdet, np.linalg.slogdet(H)[1], rtol=1e-12)
    r = rng.normal(size=K * a + g)
    xl, xw = arrow.solve(r[:K * a].reshape(K, a), r[K * a:])
    np.testing.assert_allclose(np.r_[xl.ravel(), xw], np.linalg.solve(H, r), rtol=1e-9)


def _check_gradient(fun, x: np.ndarray, h: float = 1e-6, rtol: float = 1e-5) -> None:
    _, g = fun(x)
    num = np.array([(fun(x + e)[0] - fun(x - e)[0]) / (2 * h) for e in np.eye(x.size) * h])
    np.testing.assert_allclose(g, num, rtol=rtol, atol=1e-5 * max(1.0, np.abs(num).max()))


@pytest.mark.parametrize("nagq", [1, 5])
def test_glmm_gradient_single_random_effect(nagq: int) -> None:
    d = build_design(_binary(), study="trial", formula="y ~ treat + age", model="logistic",
                     covariates_by_study=True)
    prob = Problem(d, nagq)
    x = prob.start()
    x[-1] = 0.6
    x[-2] = -0.4
    _check_gradient(prob.fun, x)


def test_glmm_gradient_random_intercepts_laplace() -> None:
    d = build_design(_binary(), study="trial", formula="y ~ treat + age", model="logistic",
                     intercepts="random")
    prob = Problem(d, 1)
    x = np.zeros(prob.size)
    x[:3] = [-0.2, -0.4, 0.01]
    x[-3:] = [0.5, 0.2, 0.3]
    _check_gradient(prob.fun, x)


@pytest.mark.parametrize("by_study", [False, True])
def test_linear_gradient(by_study: bool) -> None:
    cp = linear.cross_products(build_design(SLEEP, study="Subject", formula="Reaction ~ Days",
                                            model="linear", intercepts="random"))
    fun = linear.absolute_fun(cp, reml=True, by_study=by_study)
    x = np.r_[[6.0, 3.0, 20.0], np.log(np.full(cp.K if by_study else 1, 600.0))]
    _check_gradient(fun, x, h=1e-5)


def test_quadrature_one_point_is_laplace_and_converges() -> None:
    d = build_design(_binary(), study="trial", formula="y ~ treat", model="logistic")
    x = Problem(d, 1).start()
    x[-1] = 0.8
    lap = Problem(d, 1).fun(x)[0]
    assert Problem(d, 1).fun(x)[0] == lap
    many = [Problem(d, q).fun(x)[0] for q in (15, 25, 41)]
    assert abs(many[1] - many[2]) < 1e-9 < abs(lap - many[2])


# ----------------------------------------------------------------- errors
@pytest.mark.parametrize(("kwargs", "err", "words"), [
    ({"study": "trail"}, InputError, "study column 'trail'"),
    ({"formula": "Reaction ~ dayz"}, InputError, "'dayz'"),
    ({"intercepts": "fixed"}, SpecificationError, "intercepts='fixed'"),
    ({"method": "GLS"}, SpecificationError, "method='GLS'"),
    ({"df": "bw"}, SpecificationError, "df='bw'"),
    ({"df": "kenward-roger", "method": "ML"}, SpecificationError, "REML"),
    ({"residual_variance": "several"}, SpecificationError, "residual_variance"),
    ({"nagq": 5}, SpecificationError, "nagq= is for logistic"),
    ({"formula": "Reaction ~ Days + strata(Subject)"}, SpecificationError, "strata()"),
])
def test_bad_options_name_the_problem(kwargs: dict, err: type, words: str) -> None:
    args = {"study": "Subject", "formula": "Reaction ~ Days", "model": "linear", **kwargs}
    with pytest.raises(err, match=words.replace("(", r"\(").replace(")", r"\)")):
        onestage(SLEEP, **args)


def test_trial_level_covariate_is_aliased_with_stratified_intercepts() -> None:
    data = SLEEP.assign(site=SLEEP["Subject"].astype(str).str[-1].astype(int))
    with pytest.raises(SpecificationError, match=r"'site'.*does not vary within any"):
        onestage(data, study="Subject", formula="Reaction ~ Days + site", model="linear")
    res = onestage(data, study="Subject", formula="Reaction ~ Days + site", model="linear",
                   intercepts="random", tau2_ci=False)
    assert "site" in res.coef["term"].tolist()


def test_logistic_outcome_checks_and_quadrature_options() -> None:
    df = _binary()
    with pytest.raises(InputError, match="must be 0/1"):
        onestage(df.assign(y=df.y * 2), study="trial", formula="y ~ treat", model="logistic")
    with pytest.raises(SpecificationError, match="nagq=1"):
        onestage(df, study="trial", formula="y ~ treat", model="logistic",
                 intercepts="random", nagq=7)
    with pytest.raises(SpecificationError, match="ties="):
        onestage(datasets_hyp(), study="trial", formula="Surv(time, event) ~ treat",
                 ties="exact")
    with pytest.raises(SpecificationError, match="intercepts='random'"):
        onestage(datasets_hyp(), study="trial", formula="Surv(time, event) ~ treat",
                 intercepts="random")


def datasets_hyp() -> pd.DataFrame:
    return ipd.datasets.load("hypertension")


def test_reml_for_a_glmm_is_a_note_not_an_error() -> None:
    res = onestage(_binary(), study="trial", formula="y ~ treat", model="logistic",
                   method="REML", nagq=1, tau2_ci=False)
    assert res.method == "ML" and any("maximum likelihood" in n for n in res.notes)
    assert res.nagq == 1 and "Laplace" in res.estimation


# ----------------------------------------------------------------- statuses, trials left out
def test_uninformative_trials_are_left_out_exactly() -> None:
    df = _binary()
    extra = pd.DataFrame({"trial": 99, "treat": [0, 1] * 5, "age": 50.0, "y": 0})
    res = onestage(pd.concat([df, extra]), study="trial", formula="y ~ treat",
                   model="logistic", nagq=3, tau2_ci=False)
    ref = onestage(df, study="trial", formula="y ~ treat", model="logistic", nagq=3,
                   tau2_ci=False)
    assert res.dropped["study"].tolist() == [99] and "no events among 10" in res.dropped[
        "reason"].iloc[0]
    np.testing.assert_allclose(res.estimate, ref.estimate, rtol=1e-10)
    np.testing.assert_allclose(res.loglik, ref.loglik, rtol=1e-12)
    assert "no events" in res.summary()


def test_homogeneous_effects_give_boundary_status() -> None:
    rng = np.random.default_rng(4)
    df = pd.DataFrame({"trial": np.repeat(np.arange(6), 40), "treat": np.tile([0, 1], 120)})
    df["y"] = df.trial + 0.5 * df.treat + rng.normal(size=240)
    res = onestage(df, study="trial", formula="y ~ treat", model="linear")
    assert res.tau2 < 1e-12 * res.sigma2
    assert res.status == "boundary" and "boundary" in res.reason
    assert res.tau2_ci[0] == 0 and res.tau2_ci[1] > 0
    assert "Status: boundary" in res.summary()


def test_separation_is_a_status_naming_the_term() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"trial": np.repeat(np.arange(6), 40), "treat": np.tile([0, 1], 120)})
    df["y"] = np.where(df.treat == 1, 1, (rng.random(240) < 0.3).astype(int))
    res = onestage(df, study="trial", formula="y ~ treat", model="logistic", nagq=3,
                   tau2_ci=False)
    assert res.status == "not_converged" and "'treat' runs away" in res.reason
    assert "separation" in res.summary()


def test_exam_sex_effect_is_homogeneous_across_schools() -> None:
    exam = pd.read_csv(REF / "onestage_exam.csv")
    res = onestage(exam, study="school", formula="normexam ~ male + standLRT",
                   model="linear", tau2_ci=False)
    assert res.status == "boundary" and res.tau2 < 1e-12
    assert "does not vary within 30 of the 65 trials" in " ".join(res.notes)


def test_local_covariate_constant_in_one_trial_is_left_out_there() -> None:
    df = _binary()
    df.loc[df.trial == 3, "age"] = 45.0
    res = onestage(df, study="trial", formula="y ~ treat + age", model="logistic",
                   covariates_by_study=True, nagq=1, tau2_ci=False)
    ages = res.study_coef[res.study_coef["term"] == "age"]
    assert ages.loc[ages["study"] == 3, "estimate"].isna().all()
    assert ages["estimate"].notna().sum() == 11
    assert any("'age' is constant or aliased within trial(s) 3" in n for n in res.notes)


# ----------------------------------------------------------------- definitions
def test_profile_interval_is_where_the_likelihood_drops_by_chi2() -> None:
    res = onestage(SLEEP, study="Subject", formula="Reaction ~ Days", model="linear")
    cp = linear.cross_products(build_design(SLEEP, study="Subject", formula="Reaction ~ Days",
                                            model="linear"))
    crit = stats.chi2.ppf(0.95, 1) / 2
    for tau2 in res.tau2_ci:
        x0 = np.array([np.sqrt(tau2), np.log(res.sigma2)])
        prof = linear.fit_absolute(cp, True, False, x0, free=np.array([False, True]))
        np.testing.assert_allclose(res.loglik - prof.loglik, crit, rtol=1e-7)


def test_row_and_label_invariance() -> None:
    df = _binary(seed=3)
    a = onestage(df, study="trial", formula="y ~ treat + age", model="logistic", nagq=5,
                 tau2_ci=False)
    shuffled = df.sample(frac=1, random_state=2).assign(trial=lambda f: "T" + f.trial.astype(str))
    b = onestage(shuffled, study="trial", formula="y ~ treat + age", model="logistic", nagq=5,
                 tau2_ci=False)
    np.testing.assert_allclose(a.coef["estimate"], b.coef["estimate"], rtol=1e-8)
    np.testing.assert_allclose(a.tau2, b.tau2, rtol=1e-7)
    np.testing.assert_allclose(a.loglik, b.loglik, rtol=1e-12)


def test_poisson_with_exposure_and_by_study_residuals_run() -> None:
    mm = pd.read_csv(REF / "onestage_mmmec.csv")
    res = onestage(mm, study="nation", formula="deaths ~ uvb", model="poisson",
                   exposure="expected", nagq=1, tau2_ci=False)
    off = onestage(mm.assign(lexp=np.log(mm.expected)), study="nation",
                   formula="deaths ~ uvb", model="poisson", offset="lexp", nagq=1,
                   tau2_ci=False)
    np.testing.assert_allclose(res.estimate, off.estimate, rtol=1e-10)
    assert res.measure == "IRR" and res.events == int(mm.deaths.sum())
    het = onestage(SLEEP, study="Subject", formula="Reaction ~ Days", model="linear",
                   residual_variance="by_study", tau2_ci=False)
    assert het.sigma2 is None and len(het.sigma2_study) == 18


# ----------------------------------------------------------------- result, comparison, plot
def test_result_object() -> None:
    res = onestage(SLEEP, study="Subject", formula="Reaction ~ Days", model="linear",
                   df="kenward-roger")
    assert isinstance(res, OneStageResult)
    assert repr(res).startswith("OneStageResult(linear, stratified intercepts, REML: Days")
    text = res.summary()
    assert "Kenward Roger" in text and "profile-likelihood CI" in text
    assert res.to_frame().columns.tolist() == ["term", "estimate", "se", "df", "statistic",
                                               "ci_low", "ci_high", "pvalue"]
    d = res.to_dict()
    assert d["measure"] == "MD" and isinstance(d["coef"], list) and d["aic"] == res.aic
    with pytest.raises(AttributeError):
        res.tau2 = 0.0
    blups = res.blups
    np.testing.assert_allclose(blups["effect"], res.estimate + blups["blup"])


@pytest.fixture(scope="module")
def comparison():
    hyp = ipd.datasets.load("hypertension")
    one = onestage(hyp, study="trial", formula="Surv(time, event) ~ treat + age",
                   tau2_ci=False)
    two = ipd.ipdmeta(hyp, study="trial", formula="Surv(time, event) ~ treat + age")
    return one, two, one.compare(two)


def test_compare_table(comparison) -> None:
    one, two, c = comparison
    t = c.table.set_index("approach")
    assert t.loc["two-stage", "estimate"] == two.meta.overall.estimate
    assert t.loc["one-stage", "estimate"] == one.estimate
    assert t.loc["one-stage", "tau2"] == one.tau2 and t.loc["two-stage", "k"] == 10
    assert c.studies["study"].tolist() == two.meta.studies["study"].tolist()
    assert np.all(np.isfinite(c.studies[["two_stage", "one_stage"]].to_numpy()))
    assert "One-stage versus two-stage" in c.summary() and c.measure == "HR"
    from_meta = one.compare(two.meta).table      # no stage-1 table: n unknown
    assert from_meta.drop(columns="n").equals(c.table.drop(columns="n"))
    assert np.isnan(from_meta["n"].iloc[0]) and c.table["n"].iloc[0] == 4410
    with pytest.raises(InputError, match="two-stage result"):
        one.compare(pd.DataFrame())


def test_compare_plot(comparison, tmp_path) -> None:
    _, _, c = comparison
    path = tmp_path / "compare.png"
    fig = c.plot(path=path)
    assert isinstance(fig, Figure) and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.axes[0].get_xscale() == "log"
    host = new_figure(figsize=(8, 6))
    ax = host.add_axes((0.2, 0.1, 0.4, 0.8))
    assert c.plot(ax=ax, eform=False) is host and ax.has_data()
