"""Tests of the batched stage-1 fitters (ipdmeta.models.batched, batched_cox, padded):
every study they return as ok equals the per-study fitter's result to 1e-10, and every
study the per-study fitter fails is left to it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipdmeta.models import cox, linear, logistic, poisson
from ipdmeta.models.batched import BatchFit, fit_glm, full_rank
from ipdmeta.models.batched_cox import fit_cox
from ipdmeta.models.padded import Padded, batched_inv, batched_solve, gather

RTOL = 1e-10
FITTERS = {"linear": linear, "logistic": logistic, "poisson": poisson}


def stacked(seed: int, k: int = 60, lo: int = 8, hi: int = 150, scale: float = 1.0):
    """``k`` studies of random sizes: intercept, 0/1 treatment, two covariates."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(lo, hi, k)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = int(sizes.sum())
    X = np.column_stack([np.ones(n), rng.integers(0, 2, n), rng.normal(50, 10, n) * scale,
                         rng.normal(size=n)])
    eta = -0.8 + 0.6 * X[:, 1] + 0.03 * (X[:, 2] / scale - 50) + 0.4 * X[:, 3]
    off = np.log(rng.uniform(0.5, 3, n))
    ys = {"linear": eta + rng.normal(size=n),
          "logistic": rng.binomial(1, 1 / (1 + np.exp(-eta))).astype(float),
          "poisson": rng.poisson(np.exp(eta + off)).astype(float)}
    return X, ys, off, starts, sizes


def add_trouble(X: np.ndarray, ys: dict, starts: np.ndarray, sizes: np.ndarray) -> None:
    """Study 0: aliased column; 1: no events / constant outcome; 2: separation;
    3: too few rows is made by the caller's sizes; 4: a constant covariate."""
    s = [slice(a, a + b) for a, b in zip(starts, sizes, strict=True)]
    X[s[0], 3] = 2 * X[s[0], 1]
    ys["logistic"][s[1]] = 0.0
    ys["poisson"][s[1]] = 0.0
    ys["linear"][s[1]] = 1.0
    ys["logistic"][s[2]] = X[s[2], 1]
    X[s[4], 2] = 7.0


def per_study(model: str, y, X, starts, sizes, offset=None, **kw):
    fits = []
    for a, b in zip(starts, sizes, strict=True):
        o = {} if offset is None else {"offset": offset[a:a + b]}
        fits.append(FITTERS[model].fit(y[a:a + b], X[a:a + b], names=("I", "t", "a", "b"),
                                       **o, **kw))
    return fits


def assert_matches(res: BatchFit, fits: list) -> None:
    for i, f in enumerate(fits):
        if not f.ok:
            assert not res.ok[i], (i, f.problem)   # a failure is never batched
        if res.ok[i]:
            np.testing.assert_allclose(res.coef[i], f.coef, rtol=RTOL, atol=1e-12)
            np.testing.assert_allclose(res.cov[i], f.cov, rtol=RTOL, atol=1e-14)


@pytest.mark.parametrize("model", ["linear", "logistic", "poisson"])
def test_glm_equals_per_study(model: str) -> None:
    X, ys, off, starts, sizes = stacked(1)
    sizes[3] = 4     # too few rows for the logistic / Poisson fits of study 3
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = int(sizes.sum())
    X, off = X[:n], off[:n]
    ys = {m: v[:n] for m, v in ys.items()}
    add_trouble(X, ys, starts, sizes)
    offset = off if model == "poisson" else None
    res = fit_glm(model, ys[model], X, starts, offset=offset)
    fits = per_study(model, ys[model], X, starts, sizes, offset)
    assert_matches(res, fits)
    assert not res.ok[[0, 1, 4]].any()
    assert res.ok.sum() >= len(fits) - 8      # almost all studies are batched
    assert not np.isnan(res.coef[res.ok]).any() and np.isnan(res.coef[~res.ok]).all()


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.sampled_from([1e-3, 1.0, 1e4]),
       model=st.sampled_from(["linear", "logistic", "poisson"]))
def test_glm_property(seed: int, scale: float, model: str) -> None:
    X, ys, off, starts, sizes = stacked(seed, k=12, scale=scale)
    offset = off if model == "poisson" else None
    res = fit_glm(model, ys[model], X, starts, offset=offset)
    assert_matches(res, per_study(model, ys[model], X, starts, sizes, offset))


def test_glm_use_mask_and_input_screens() -> None:
    X, ys, _, starts, _ = stacked(2, k=6)
    use = np.array([True, False, True, True, True, True])
    y = ys["logistic"].copy()
    y[starts[2]] = 2.0                                   # invalid outcome: per-study raises
    res = fit_glm("logistic", y, X, starts, use=use)
    assert res.ok.tolist() == [True, False, False, True, True, True]
    bad = X.copy()
    bad[starts[3], 2] = np.nan
    assert not fit_glm("linear", ys["linear"], bad, starts).ok[3]
    two_ones = np.column_stack([X, np.ones(len(X))])
    assert not fit_glm("linear", ys["linear"], two_ones, starts).ok.any()


def simulate_cox(seed: int, k: int = 50, strata: bool = False, ties: int = 5):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(6, 200, k)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    n = int(sizes.sum())
    X = np.column_stack([rng.integers(0, 2, n), rng.normal(50, 10, n), rng.normal(size=n)])
    lp = -0.5 * X[:, 0] + 0.02 * (X[:, 1] - 50) + 0.3 * X[:, 2]
    t = np.ceil(rng.exponential(np.exp(-lp)) * ties)
    c = np.ceil(rng.uniform(0, 3, n) * ties)
    y = np.column_stack([np.minimum(t, c), (t <= c).astype(float)])
    s = rng.integers(0, 3, n) if strata else None
    return y, X, starts, sizes, s


@pytest.mark.parametrize("ties,strata", [("efron", False), ("breslow", False),
                                         ("efron", True), ("breslow", True)])
def test_cox_equals_per_study(ties: str, strata: bool) -> None:
    y, X, starts, sizes, s = simulate_cox(3, strata=strata)
    a0, n0 = starts[0], sizes[0]
    y[a0:a0 + n0, 1] = 0.0                                        # no events
    a1, n1 = starts[1], sizes[1]
    y[a1:a1 + n1, 1] = (X[a1:a1 + n1, 0] == 0).astype(float)      # no events when treated
    a2, n2 = starts[2], sizes[2]
    X[a2:a2 + n2, 2] = X[a2:a2 + n2, 0] * 3 - 1                   # aliased
    res = fit_cox(y, X, starts, strata=s, ties=ties)
    fits = [cox.fit(y[a:a + b], X[a:a + b], names=("t", "a", "b"), ties=ties,
                    strata=None if s is None else s[a:a + b])
            for a, b in zip(starts, sizes, strict=True)]
    assert [f.problem for f in fits[:3]] == ["no_events", "separation", "collinear"]
    assert not res.ok[:3].any()
    assert_matches(res, fits)
    assert res.ok.sum() >= len(fits) - 8


def test_cox_without_ties_and_with_use() -> None:
    y, X, starts, sizes, _ = simulate_cox(4, k=10, ties=0)
    y[:, 0] = np.random.default_rng(0).permutation(len(y)) + 1.0   # distinct times
    use = np.ones(10, bool)
    use[5] = False
    res = fit_cox(y, X, starts, use=use)
    assert not res.ok[5]
    fits = [cox.fit(y[a:a + b], X[a:a + b], names=("t", "a", "b"))
            for a, b in zip(starts, sizes, strict=True)]
    assert_matches(res, fits)
    assert not fit_cox(y, X, starts, ties="exact").ok.any()


def test_full_rank_screen() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    X[20:, 1] = 3 * X[20:, 0] + 1e-12 * rng.normal(size=20)      # study 2: collinear
    ok = full_rank(X, np.array([0, 20]), np.arange(2), 2, center=True)
    assert ok.tolist() == [True, False]
    X[:20, 0] = 5.0                                               # constant: aliased with 1
    assert full_rank(X, np.array([0, 20]), np.arange(2), 2, center=True).tolist() == [
        False, False]
    assert full_rank(X[:, :0], np.array([0, 20]), np.arange(2), 2, center=True).all()


def test_padded_helpers() -> None:
    lay = Padded(np.array([0, 3, 4, 10]), np.array([3, 1, 6, 2]))
    assert sorted(int(u) for b in lay.buckets for u in b.units) == [0, 1, 2, 3]
    for b in lay.buckets:
        vals = b.pad(np.arange(12.0), fill=-1.0)
        assert (vals[~b.mask] == -1).all()
        kept = b.take(np.ones(b.units.size, bool))
        assert kept.width == b.width
    rows, new = gather(np.array([0, 3, 4]), np.array([3, 1, 2]), np.array([0, 1, 1], bool))
    assert rows.tolist() == [3, 4, 5] and new.tolist() == [0, 1]
    A = np.stack([np.eye(2), np.ones((2, 2))])
    x, ok = batched_solve(A, np.ones((2, 2)))
    np.testing.assert_allclose(x[0], [1.0, 1.0])
    assert ok.tolist() == [True, False]
    inv = batched_inv(A)
    np.testing.assert_allclose(inv[0], np.eye(2))
    assert np.isnan(inv[1]).all()
