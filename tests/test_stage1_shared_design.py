"""The families of issue 16 on the shared-design route of stage 1 (ipdmeta.stage1.blocks,
ipdmeta.models.screens): the design is built once per block and sliced per study, the
outcome screens run on all studies at once, and the table is the per-study route's
(batch=False, the reference) on data with failing trials of every kind."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdmeta.models import binomial_links, negbin, ordinal, parametric_survival
from ipdmeta.models.batched_mle import MLE_MODELS, fit_batched, positive_definite
from ipdmeta.models.batched_ordinal import categories, fit_ordinal
from ipdmeta.models.screens import outcome_screen, screened_failures
from ipdmeta.stage1 import blocks, stage1, study
from test_stage1_families import CASES as R_CASES
from test_stage1_families import _data

K = 30
RTOL = 1e-10


def simulate(seed: int = 11) -> pd.DataFrame:
    """``K`` trials of 40-90 participants with an outcome of every new family."""
    rng = np.random.default_rng(seed)
    parts = []
    for j in range(K):
        n = int(rng.integers(40, 90))
        treat = rng.permutation(np.arange(n) % 2)
        age = rng.normal(55, 8, n).round(1)
        region = rng.choice(["east", "north", "south"], n)
        lin = -0.4 * treat + 0.03 * (age - 55) + 0.2 * (region == "north")
        t = rng.exponential(1 / np.exp(lin))
        c = rng.exponential(1.5, n)
        exposure = rng.uniform(0.5, 3, n)
        event = (t <= c).astype(int)
        parts.append(pd.DataFrame({
            "trial": f"S{j:03d}", "treat": treat, "age": age, "region": region,
            "bin": (rng.random(n) < 0.3 * np.exp(0.5 * lin - 0.3)).astype(int),
            "count": rng.poisson(rng.gamma(2.0, exposure * np.exp(lin) / 2.0)),
            "exposure": exposure,
            "ord": np.digitize(lin + rng.logistic(size=n), [-1.0, 0.0, 1.0]),
            "time": np.minimum(t, c).round(3) + 0.001, "event": event,
            "fg": np.where(event == 1, 1 + (rng.random(n) < 0.3), 0),
            "centre": rng.integers(0, 3, n)}))
    return pd.concat(parts, ignore_index=True)


def troubled(d: pd.DataFrame) -> pd.DataFrame:
    """S000 no complete case, S001 constant treat, S002 too few rows, S003 no events (one
    ordinal category), S004 separation, S005 a region absent, S006 constant age, S007
    missing ages, S008 all events, S009 treat collinear with age, S010 no events in the
    control arm (a boundary or diverging estimate)."""
    d = d.copy()
    at = {s: d["trial"] == s for s in (f"S{j:03d}" for j in range(11))}
    d.loc[at["S000"], "treat"] = np.nan
    d.loc[at["S001"], "treat"] = 1
    d = d[~(at["S002"] & (d.groupby("trial").cumcount() > 2))]
    at = {s: d["trial"] == s for s in at}
    d.loc[at["S003"], ["bin", "count", "event", "ord"]] = 0
    d.loc[at["S003"], "fg"] = 2 * d.loc[at["S003"], "fg"].clip(0, 1)
    s4 = at["S004"]
    d.loc[s4, "bin"] = d.loc[s4, "treat"]
    d.loc[s4, "ord"] = 3 * d.loc[s4, "treat"]
    d.loc[s4, "event"] = 1 - d.loc[s4, "treat"]
    d.loc[s4, "fg"] = np.where(d.loc[s4, "treat"] == 1, 0, 1)
    d.loc[s4 & (d["treat"] == 1), "count"] = 0
    d = d[~((d["trial"] == "S005") & (d["region"] == "north"))]
    d.loc[d["trial"] == "S006", "age"] = 60.0
    s7 = d.index[d["trial"] == "S007"]
    d.loc[s7[:5], "age"] = np.nan
    d.loc[d["trial"] == "S008", "bin"] = 1
    s9 = d["trial"] == "S009"
    d.loc[s9, "age"] = 50 + 10 * d.loc[s9, "treat"]
    s10 = d["trial"] == "S010"
    d.loc[s10, "bin"] = np.where(d.loc[s10, "treat"] == 1, d.loc[s10, "bin"], 0)
    d.loc[s10 & (d["treat"] == 0), ["count", "event"]] = 0
    return d.sample(frac=1, random_state=3).reset_index(drop=True)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return troubled(simulate())


CASES = [
    {"formula": "bin ~ treat + age + C(region)", "model": "rr"},
    {"formula": "bin ~ treat + age", "model": "rd"},
    {"formula": "count ~ treat + age + C(region)", "model": "negbin", "exposure": "exposure"},
    {"formula": "ord ~ treat + age + C(region)", "model": "ordinal"},
    {"formula": "Surv(time, event) ~ treat + age + C(region)", "model": "weibull"},
    {"formula": "Surv(time, event) ~ treat + age", "model": "exponential", "scale": "aft"},
    {"formula": "Surv(time, fg) ~ treat + age", "model": "finegray"},
    {"formula": "Surv(time, event) ~ treat", "model": "weibull", "interaction": ("treat", "age")},
    {"formula": "bin ~ treat + age", "model": "rr", "cluster": "centre"},
]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the per-study path ran, and built a study's design itself."""
    count = {"fit_study": 0, "study_design": 0}
    for module, name in ((blocks, "fit_study"), (study, "study_design")):
        original = getattr(module, name)

        def counting(*args, _name=name, _original=original, **kwargs):
            count[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, name, counting)
    return count


def assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    numbers = [c for c in ("estimate", "se", "ci_low", "ci_high") if c in a.columns]
    pd.testing.assert_frame_equal(a.drop(columns=numbers), b.drop(columns=numbers))
    for c in numbers:
        np.testing.assert_allclose(a[c], b[c], rtol=RTOL, atol=1e-12)


@pytest.mark.parametrize("kw", CASES, ids=[f"{c['model']}-{i}" for i, c in enumerate(CASES)])
def test_shared_design_gives_the_per_study_table(data: pd.DataFrame, kw: dict,
                                                 calls: dict[str, int]) -> None:
    kw = {"study": "trial", **kw}
    shared = stage1(data, batch=True, **kw).to_frame()
    fitted, built = calls["fit_study"], calls["study_design"]
    reference = stage1(data, batch=False, **kw).to_frame()
    assert_same(shared, reference)
    assert built == 0                                  # no study built its own design
    assert calls["study_design"] - built >= K - 1      # the reference did, one by one
    assert calls["fit_study"] - fitted == K
    statuses = set(reference["status"])
    assert {"ok", "no_complete_cases", "constant_poolvar"} <= statuses
    assert len(statuses) >= 5
    screened = reference["status"].isin(["no_events", "all_events", "constant_outcome"])
    assert fitted <= K - int(screened.sum())           # screened studies were not fitted
    assert screened.any()
    if kw["model"] in (*MLE_MODELS, "ordinal") and "cluster" not in kw:   # batched fits
        assert fitted <= int(reference["status"].ne("ok").sum()) + 4


@pytest.mark.parametrize("case", R_CASES, ids=[c[1] for c in R_CASES])
def test_shared_design_on_the_real_data_sets(case: tuple) -> None:
    """The data sets of the R references (MASS, survival...; the R values are checked in
    test_stage1_families): both routes give the same table."""
    _, _, file, formula, model, opts, _ = case
    kw = {"study": "cluster", "formula": formula, "model": model, **opts}
    data = _data(file)
    assert_same(stage1(data, batch=True, **kw).to_frame(),
                stage1(data, batch=False, **kw).to_frame())


@pytest.mark.parametrize("kw", [CASES[3], CASES[4]], ids=["ordinal", "weibull"])
def test_shared_design_with_imputations(data: pd.DataFrame, kw: dict) -> None:
    """Rubin's rules take the number of parameters of each fit (the complete-data degrees
    of freedom): the batched fits report the per-study fits' count."""
    rng = np.random.default_rng(8)
    imps = [data.assign(age=data["age"] + rng.normal(0, 1, len(data))) for _ in range(2)]
    kw = {"study": "trial", **kw}
    shared = stage1(None, imputation=imps, batch=True, **kw).to_frame()
    reference = stage1(None, imputation=imps, batch=False, **kw).to_frame()
    assert_same(shared, reference)
    np.testing.assert_allclose(shared["df"], reference["df"], rtol=1e-8)
    assert shared["status"].eq("ok").sum() >= 15


def test_processes_engine_gives_the_same_table(data: pd.DataFrame) -> None:
    kw = {"study": "trial", **CASES[3]}
    assert_same(stage1(data, engine="processes", n_jobs=2, **kw).to_frame(),
                stage1(data, batch=False, **kw).to_frame())


def test_statuses_of_the_troubled_trials(data: pd.DataFrame) -> None:
    rows = {m: stage1(data, study="trial", **kw).to_frame().set_index("study")
            for m, kw in (("rr", CASES[0]), ("ordinal", CASES[3]), ("finegray", CASES[6]))}
    rr, ordinal, fg = rows["rr"], rows["ordinal"], rows["finegray"]
    assert rr.loc["S003", "status"] == "no_events"
    assert rr.loc["S008", "status"] == "all_events"
    assert rr.loc["S009", "status"] == "collinear"
    assert rr.loc["S010", "status"] in ("separation", "boundary")
    assert "C(region)[T.north]" in rr.loc["S005", "reason"]
    assert "'age' (the same for every participant)" in rr.loc["S006", "reason"]
    assert rr.loc["S007", "n_dropped"] == 5
    assert ordinal.loc["S003", "status"] == "constant_outcome"
    assert ordinal.loc["S003", "reason"].startswith("all ")
    assert ordinal.loc["S004", "status"] == "separation"
    assert fg.loc["S003", "reason"].startswith("no events of interest among the ")


def test_screens_match_the_fitters_one_by_one() -> None:
    from ipdmeta.models.registry import fitter

    rng = np.random.default_rng(5)
    sizes = np.array([12, 9, 15, 11])
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = int(sizes.sum())
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(size=n)])
    names = ("Intercept", "treat", "x")
    time = rng.uniform(1, 5, n)
    ys = {"rr": rng.integers(0, 2, n).astype(float), "negbin": rng.poisson(2.0, n) * 1.0,
          "ordinal": rng.integers(0, 3, n) * 1.0,
          "weibull": np.column_stack([time, rng.integers(0, 2, n)]),
          "finegray": np.column_stack([time, rng.integers(0, 3, n)])}
    s0, s2 = slice(0, 12), slice(starts[2], starts[2] + 15)
    ys["rr"][s0], ys["rr"][s2] = 0, 1
    ys["negbin"][s0] = ys["ordinal"][s0] = 0
    ys["weibull"][s0, 1] = 0
    ys["finegray"][s0, 1] = 2
    for model, y in ys.items():
        cols = slice(1, None) if model == "finegray" else slice(None)
        found = screened_failures(model, y, X[:, cols], starts, names[cols])
        assert 0 in found
        for i, (a, m) in enumerate(zip(starts, sizes, strict=True)):
            f = fitter(model)(y[a:a + m], X[a:a + m, cols], names=names[cols])
            if i in found:
                assert (f.problem, f.reason) == found[i]
            else:
                assert f.problem is None or f.problem not in ("no_events", "all_events",
                                                              "constant_outcome")
    valid, _, _ = outcome_screen("weibull", np.column_stack([np.r_[time[:3], -1.0],
                                                             np.ones(4)]),
                                 np.array([0, 2]), np.array([2, 2]))
    assert valid.tolist() == [True, False]    # a negative time: the fitter raises


PER_STUDY = {"rr": binomial_links.fit_rr, "rd": binomial_links.fit_rd, "negbin": negbin.fit,
             "weibull": parametric_survival.fit_weibull,
             "exponential": parametric_survival.fit_exponential}


@pytest.mark.parametrize(("model", "scale"), [(m, "ph") for m in MLE_MODELS]
                         + [("weibull", "aft"), ("exponential", "aft")])
def test_batched_mle_equals_the_per_study_fitter(model: str, scale: str) -> None:
    rng = np.random.default_rng(17)
    sizes = rng.integers(6, 120, 80)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = int(sizes.sum())
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(50, 10, n),
                         rng.normal(size=n)])
    lin = 0.3 * X[:, 1] + 0.02 * (X[:, 2] - 50) + 0.2 * X[:, 3]
    off = np.log(rng.uniform(0.5, 3, n))
    if model == "negbin":
        y = rng.poisson(rng.gamma(1.5, np.exp(lin + off - 0.5) / 1.5)).astype(float)
        y[starts[5]:starts[5] + sizes[5]] = rng.poisson(2.0, sizes[5])   # no overdispersion?
    elif model in ("rr", "rd"):
        risk = 0.25 * np.exp(lin - lin.max()) * 3 if model == "rr" else 0.3 + 0.1 * X[:, 1]
        y = (rng.random(n) < np.clip(risk, 0, 1)).astype(float)
    else:
        t = rng.weibull(1.4, n) * np.exp(-lin / 1.4)
        c = rng.exponential(2.0, n)
        y = np.column_stack([np.minimum(t, c) + 1e-3, (t <= c).astype(float)])
    X[starts[3]:starts[3] + sizes[3], 3] = X[starts[3]:starts[3] + sizes[3], 1]  # aliased
    offset = off if model == "negbin" else None
    res = fit_batched(model, y, X, starts, scale=scale, offset=offset)
    names = ("Intercept", "treat", "age", "x")
    fitted = 0
    for i, (a, m) in enumerate(zip(starts, sizes, strict=True)):
        opts = {"offset": off[a:a + m]} if model == "negbin" else {"scale": scale}
        f = PER_STUDY[model](y[a:a + m], X[a:a + m], names=names, **opts)
        if not res.ok[i]:
            continue
        fitted += 1
        assert f.ok and not f.reason, (i, f.problem, f.reason)
        np.testing.assert_allclose(res.coef[i], f.coef, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.cov[i], f.cov, rtol=1e-8, atol=1e-14)
    assert not res.ok[3]
    assert fitted >= 50


def test_batched_ordinal_equals_the_per_study_fitter() -> None:
    rng = np.random.default_rng(23)
    sizes = rng.integers(5, 150, 80)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = int(sizes.sum())
    X = np.column_stack([rng.integers(0, 2, n), rng.normal(50, 10, n), rng.normal(size=n)])
    lin = 0.6 * X[:, 0] + 0.03 * (X[:, 1] - 50) + 0.3 * X[:, 2]
    # codes 0..3, some studies with fewer categories (K = 2, 3) or coded 10, 20, 30
    y = np.digitize(lin + rng.logistic(size=n), [-1.0, 0.0, 1.0]).astype(float)
    for i in range(0, 80, 7):
        y[starts[i]:starts[i] + sizes[i]] = np.minimum(y[starts[i]:starts[i] + sizes[i]], 1)
    for i in range(3, 80, 11):
        y[starts[i]:starts[i] + sizes[i]] *= 10
    X[starts[2]:starts[2] + sizes[2], 2] = X[starts[2]:starts[2] + sizes[2], 0]  # aliased
    y[starts[4]:starts[4] + sizes[4]] = 2.0                                     # one category
    res = fit_ordinal(y, X, starts)
    code, K = categories(y, starts, sizes)
    assert set(K.tolist()) >= {1, 2, 4}
    fitted = 0
    for i, (a, m) in enumerate(zip(starts, sizes, strict=True)):
        f = ordinal.fit(y[a:a + m], X[a:a + m], names=("treat", "age", "x"))
        assert code[a:a + m].max() == K[i] - 1
        if not res.ok[i]:
            continue
        fitted += 1
        assert f.ok, (i, f.problem, f.reason)
        q = len(f.coef)
        np.testing.assert_allclose(res.coef[i, :q], f.coef, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(res.cov[i, :q, :q], f.cov, rtol=1e-8, atol=1e-14)
        assert np.isnan(res.coef[i, q:]).all()
    assert not res.ok[2] and not res.ok[4]
    assert fitted >= 50


def test_positive_definite_is_choleskys_answer() -> None:
    rng = np.random.default_rng(2)
    A = rng.normal(size=(200, 4, 4))
    A = A @ A.transpose(0, 2, 1) - rng.uniform(0, 0.4, 200)[:, None, None] * np.eye(4)
    expected = []
    for a in A:
        try:
            np.linalg.cholesky(a)
            expected.append(True)
        except np.linalg.LinAlgError:
            expected.append(False)
    assert positive_definite(A).tolist() == expected
    assert 20 < sum(expected) < 180
