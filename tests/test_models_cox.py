"""Tests of the stage-1 Cox fitter (ipdmeta.models.cox and cox_firth).

Reference values come from R (survival::coxph; Firth: an independent R
implementation on top of coxph), written by tests/reference/stage1_cox.R to
tests/reference/stage1_cox.json together with the input data as CSV.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipdmeta.errors import InputError
from ipdmeta.models import cox, cox_firth

REF = Path(__file__).parent / "reference"
CASES = json.loads((REF / "stage1_cox.json").read_text())["cases"]


def _simulate(n=600, p=3, seed=1, ties=True, strata=None):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    X[:, 0] = rng.integers(0, 2, n)
    beta = np.linspace(0.6, -0.3, p)
    t = rng.exponential(np.exp(-X @ beta))
    c = rng.exponential(1.5, n)
    time = np.minimum(t, c)
    if ties:
        time = np.ceil(time * 8) / 8
    event = (t <= c).astype(float)
    s = rng.integers(0, strata, n) if strata else None
    return np.column_stack([time, event]), X, s


def _names(p):
    return tuple(f"x{j + 1}" for j in range(p))


# ----------------------------------------------------------------------------- R references
def _case_fits(case):
    d = pd.read_csv(REF / "data" / case["file"])
    if case["name"].startswith("firth_constructed"):
        d = d[d["set"] != "combo"]
    groups = ({"all": d} if case.get("cluster") is None
              else {str(k): g for k, g in d.groupby(case["cluster"])})
    covs = case["covariates"]
    for ref in case["fits"]:
        g = groups[ref["cluster"]]
        strata = g[case["strata"]].to_numpy() if case.get("strata") else None
        fit = cox_firth.fit if case["firth"] else cox.fit
        got = fit(g[["time", "status"]].to_numpy(float), g[covs].to_numpy(float),
                  names=tuple(covs), strata=strata, ties=case["ties"])
        yield ref, got


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_matches_r(case):
    tol = 1e-7 if case["firth"] else 1e-8   # the R Firth optimum is itself good to ~1e-9
    statuses = Counter()
    for ref, got in _case_fits(case):
        where = f"{case['name']} cluster {ref['cluster']}"
        statuses[(ref["status"], got.problem or "ok")] += 1
        assert got.n == ref["n"] and got.events == ref["events"], where
        if ref["status"] == "ok":
            assert got.ok, f"{where}: {got.problem}: {got.reason}"
            np.testing.assert_allclose(got.coef, ref["coef"], rtol=0, atol=tol, err_msg=where)
            se = np.sqrt(np.diag(got.cov))
            np.testing.assert_allclose(se, ref["se"], rtol=0, atol=tol, err_msg=where)
            assert got.loglik == pytest.approx(ref["loglik"], abs=1e-8), where
            if not case["firth"]:
                assert got.extra["loglik_null"] == pytest.approx(ref["loglik_null"], abs=1e-8)
            else:
                assert got.extra["loglik_unpenalised"] == pytest.approx(
                    ref["loglik_unpenalised"], abs=1e-7)
        elif ref["status"] == "no_events":
            assert got.problem == "no_events", where
        elif ref["status"] == "aliased":
            assert got.problem == "collinear", where
        elif ref["status"] == "infinite":
            assert got.problem == "separation", where
            assert "monotone likelihood" in got.reason
        else:  # coxph ran out of iterations: diverging, or nothing to estimate
            assert ref["status"] == "not_converged", where
            assert got.problem in ("separation", "collinear", "too_few_rows"), where
            diverged = np.max(np.abs(ref["coef_default"])) > 15
            assert diverged == (got.problem == "separation"), where
        assert not (got.ok and np.any(np.isnan(got.coef)))
    if case["name"].startswith("rats"):   # the tiny litters: most cannot be fitted
        assert statuses[("no_events", "no_events")] == 71
        assert statuses[("ok", "ok")] == 2
        assert statuses[("not_converged", "separation")] == 25


def test_reference_covers_the_required_cases():
    names = {c["name"] for c in CASES}
    for ties in ("efron", "breslow"):
        for stem in ("veteran", "rats", "lung_inst_strata", "lung_months", "sim_ties",
                     "constructed", "firth_constructed", "firth_veteran"):
            assert f"{stem}_{ties}" in names


def test_separation_reasons_name_the_term():
    case = next(c for c in CASES if c["name"] == "constructed_efron")
    got = {ref["cluster"]: fit for ref, fit in _case_fits(case)}
    assert got["arm_none"].reason.startswith("monotone likelihood: no events in x1=1")
    assert "log HR → −∞" in got["arm_none"].reason
    assert "no events in x1=0" in got["arm_all"].reason and "→ +∞" in got["arm_all"].reason
    assert "combination of 'x1', 'x2'" in got["combo"].reason
    assert "no events in x1=1" in got["strata_none"].reason
    assert all(not f.converged for k, f in got.items() if k != "small_ties")


# ----------------------------------------------------------------------------- statsmodels
@pytest.mark.parametrize("ties", ["efron", "breslow"])
@pytest.mark.parametrize("strata", [None, 3])
def test_matches_statsmodels_phreg(ties, strata):
    hr = pytest.importorskip("statsmodels.duration.hazard_regression")
    y, X, s = _simulate(n=800, p=4, seed=3, strata=strata)
    got = cox.fit(y, X, names=_names(4), strata=s, ties=ties)
    ref = hr.PHReg(y[:, 0], X, status=y[:, 1], ties=ties, strata=s).fit()
    assert got.ok and got.iterations >= 2
    np.testing.assert_allclose(got.coef, ref.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(np.sqrt(np.diag(got.cov)), ref.bse, rtol=0, atol=1e-8)
    assert got.loglik == pytest.approx(ref.llf, abs=1e-7)
    assert got.events == int(y[:, 1].sum())


def test_efron_equals_breslow_without_ties():
    y, X, _ = _simulate(n=300, seed=5, ties=False)
    a = cox.fit(y, X, names=_names(3), ties="efron")
    b = cox.fit(y, X, names=_names(3), ties="breslow")
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-12)
    np.testing.assert_allclose(a.cov, b.cov, atol=1e-12)


def test_segment_and_row_paths_agree():
    """Few distinct times use segment sums, many use row sums: same answer."""
    y, X, s = _simulate(n=2000, seed=9, strata=2)
    assert cox.prepare(y[:, 0], y[:, 1], X, None, "efron").seg is not None
    y2 = y.copy()
    y2[:, 0] += np.arange(y.shape[0]) * 1e-9      # break every tie
    assert cox.prepare(y2[:, 0], y2[:, 1], X, None, "breslow").seg is None
    beta = np.array([0.5, -0.2, 0.1])
    for ties in ("efron", "breslow"):
        P1 = cox.prepare(y[:, 0], y[:, 1], X, s, ties, segments=True)
        P2 = cox.prepare(y[:, 0], y[:, 1], X, s, ties, segments=False)
        e1, e2 = cox.evaluate(P1, beta), cox.evaluate(P2, beta)
        assert e1.loglik == pytest.approx(e2.loglik, abs=1e-10)
        np.testing.assert_allclose(e1.score, e2.score, atol=1e-9)
        np.testing.assert_allclose(e1.info, e2.info, atol=1e-9)


# ----------------------------------------------------------------------------- invariances
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), ties=st.sampled_from(["efron", "breslow"]))
def test_invariant_to_row_order_and_time_scale(seed, ties):
    y, X, s = _simulate(n=120, seed=seed, strata=2)
    a = cox.fit(y, X, names=_names(3), strata=s, ties=ties)
    perm = np.random.default_rng(seed).permutation(y.shape[0])
    b = cox.fit(y[perm], X[perm], names=_names(3), strata=s[perm], ties=ties)
    # the partial likelihood depends on the times only through their order
    y3 = y.copy()
    y3[:, 0] = np.exp(y3[:, 0]) * 10
    c = cox.fit(y3, X, names=_names(3), strata=s, ties=ties)
    assert a.problem == b.problem == c.problem
    if a.ok:
        np.testing.assert_allclose(a.coef, b.coef, atol=1e-9)
        np.testing.assert_allclose(a.cov, b.cov, atol=1e-9)
        np.testing.assert_allclose(a.coef, c.coef, atol=1e-9)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.floats(0.01, 100), shift=st.floats(-50, 50))
def test_covariate_scaling_and_shift(seed, k, shift):
    y, X, _ = _simulate(n=150, seed=seed)
    a = cox.fit(y, X, names=_names(3))
    X2 = X.copy()
    X2[:, 1] = X2[:, 1] * k + shift
    b = cox.fit(y, X2, names=_names(3))
    assert a.ok and b.ok
    assert b.coef[1] * k == pytest.approx(a.coef[1], abs=1e-8)
    assert b.se("x2") * k == pytest.approx(a.se("x2"), abs=1e-8)
    np.testing.assert_allclose(b.coef[[0, 2]], a.coef[[0, 2]], atol=1e-8)


# ----------------------------------------------------------------------------- failures
def test_failures_are_rows_not_exceptions():
    y, X, _ = _simulate(n=40, seed=2)
    names = _names(3)
    none = y.copy()
    none[:, 1] = 0
    f = cox.fit(none, X, names=names)
    assert f.problem == "no_events" and "40" in f.reason and np.all(np.isnan(f.coef))
    f = cox.fit(y[:3], X[:3], names=names)
    assert f.problem == "too_few_rows"
    f = cox.fit(y, np.column_stack([X, X[:, 1] - 2 * X[:, 2]]), names=(*names, "x4"))
    assert f.problem == "collinear" and "'x4'" in f.reason and "'x2', 'x3'" in f.reason
    assert f.extra["aliased"] == ("x4",)
    f = cox.fit(y, np.column_stack([X, np.full(40, 3.0)]), names=(*names, "c"))
    assert f.problem == "collinear" and "'c' does not vary" in f.reason
    # a covariate that varies only among participants censored before the first event
    x = np.zeros(40)
    early = np.argmin(y[:, 0])
    y2 = y.copy()
    y2[early, 1] = 0
    x[early] = 1.0
    y2[early, 0] = y2[:, 0].min() / 2
    f = cox.fit(y2, np.column_stack([X[:, :1], x]), names=("x1", "late"))
    assert f.problem == "collinear" and "'late'" in f.reason


def test_monotone_likelihood_single_arm():
    rng = np.random.default_rng(4)
    n = 60
    treat = np.repeat([0.0, 1.0], n // 2)
    age = rng.normal(60, 8, n)
    time = np.ceil(rng.exponential(5, n))
    event = ((treat == 0) & (rng.random(n) < 0.7)).astype(float)
    y = np.column_stack([time, event])
    for ties in ("efron", "breslow"):
        f = cox.fit(y, np.column_stack([treat, age]), names=("treat", "age"), ties=ties)
        assert f.problem == "separation" and not f.ok and not f.converged
        assert f.reason == ("monotone likelihood: no events in treat=1, so the hazard ratio "
                            "for 'treat' is 0 (log HR → −∞)")
        assert f.extra["last_coef"][0] < -10 and np.isnan(f.coef).all()
        # Firth: a finite estimate, not a failure
        g = cox_firth.fit(y, np.column_stack([treat, age]), names=("treat", "age"), ties=ties)
        assert g.ok and -6 < g.estimate("treat") < -1 and g.se("treat") < 3
        assert g.loglik > g.extra["loglik_unpenalised"] - 10


def test_monotone_in_a_combination_only():
    rng = np.random.default_rng(8)
    n = 40
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    time = np.argsort(np.argsort(-(x1 + 0.5 * x2))) + 1.0
    event = (rng.random(n) < 0.6).astype(float)
    f = cox.fit(np.column_stack([time, event]), np.column_stack([x1, x2]), names=("a", "b"))
    assert f.problem == "separation"
    assert "combination of 'a', 'b'" in f.reason


def test_combination_found_without_the_linear_programme(monkeypatch):
    """Very large studies skip the LP and check the directions the iterates ran away in."""
    monkeypatch.setattr(cox, "recession_lp", lambda P: (False, None))
    rng = np.random.default_rng(8)
    n = 40
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    time = np.argsort(np.argsort(-(x1 + 0.5 * x2))) + 1.0
    event = (rng.random(n) < 0.6).astype(float)
    f = cox.fit(np.column_stack([time, event]), np.column_stack([x1, x2]), names=("a", "b"))
    assert f.problem == "separation" and "combination of 'a', 'b'" in f.reason


def test_input_errors_raise():
    y, X, _ = _simulate(n=20, seed=1)
    with pytest.raises(InputError):
        cox.fit(y[:, 0], X, names=_names(3))
    with pytest.raises(InputError):
        cox.fit(y, X, names=_names(2))
    bad = y.copy()
    bad[0, 1] = 2
    with pytest.raises(InputError, match="1 \\(event\\) / 0"):
        cox.fit(bad, X, names=_names(3))
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(InputError, match="'x2'"):
        cox.fit(y, Xn, names=_names(3))
    with pytest.raises(InputError):
        cox.fit(y, X, names=_names(3), ties="exact")
    with pytest.raises(InputError):
        cox.fit(y, X, names=_names(3), strata=np.zeros(5))


def test_stratum_without_events_and_string_strata():
    y, X, s = _simulate(n=300, seed=12, strata=3)
    y = y.copy()
    y[s == 2, 1] = 0
    labels = np.array(["a", "b", "c"])[s]
    f = cox.fit(y, X, names=_names(3), strata=labels)
    keep = s != 2
    g = cox.fit(y[keep], X[keep], names=_names(3), strata=labels[keep])
    assert f.ok and f.extra["strata"] == 3
    np.testing.assert_allclose(f.coef, g.coef, atol=1e-10)
    np.testing.assert_allclose(f.cov, g.cov, atol=1e-10)


# ----------------------------------------------------------------------------- Firth
@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_firth_score_is_the_gradient_of_the_penalised_loglik(ties):
    y, X, s = _simulate(n=80, seed=6, strata=2)
    P = cox.prepare(y[:, 0], y[:, 1], X, s, ties)
    beta = np.array([0.3, -0.2, 0.1])
    st0 = cox_firth.pen_state(P, cox.evaluate(P, beta))
    h = 1e-5
    num = np.empty(3)
    for j in range(3):
        e = np.zeros(3)
        e[j] = h
        up = cox_firth.pen_state(P, cox.evaluate(P, beta + e)).pll
        dn = cox_firth.pen_state(P, cox.evaluate(P, beta - e)).pll
        num[j] = (up - dn) / (2 * h)
    np.testing.assert_allclose(st0.score, num, atol=1e-7)


def test_p_zero_and_extra():
    y, X, _ = _simulate(n=50, seed=1)
    f = cox.fit(y, np.zeros((50, 0)), names=())
    assert f.ok and f.coef.shape == (0,) and f.loglik == f.extra["loglik_null"]
    g = cox.fit(y, X, names=_names(3))
    assert g.loglik > g.extra["loglik_null"] and g.extra["ties"] == "efron"
