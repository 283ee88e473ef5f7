"""Tests of stage-1 formula parsing and per-study design matrices (ipdmeta.formula)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdmeta.errors import SpecificationError
from ipdmeta.stage1.formula import (
    apply_levels,
    baseline_columns,
    build_formula,
    categorical_levels,
    parse_formula,
    reduce_design,
    study_design,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 40
    return pd.DataFrame({
        "y": rng.normal(size=n), "treat": np.tile([0, 1], n // 2),
        "age": rng.normal(50, 8, n).round(1), "region": rng.choice(["south", "north", "east"], n),
        "time": rng.exponential(2, n), "event": rng.integers(0, 2, n),
        "centre": rng.integers(1, 4, n), "status": rng.integers(1, 3, n)})


def test_plain_formula() -> None:
    f = parse_formula("y ~ treat + age + C(region)")
    assert not f.survival
    assert f.lhs == ("y",)
    assert f.terms == ("treat", "age", "C(region)")
    assert f.variables == ("y", "treat", "age", "region")
    assert f.outcome_variables == ("y",)
    assert f.categorical_candidates() == ("region",)


def test_whitespace_normalised() -> None:
    assert parse_formula("  y~treat\n +  age ").text == "y~treat + age"


def test_surv_and_strata() -> None:
    f = parse_formula("Surv(time, event) ~ treat + age + strata(centre)")
    assert f.survival and f.lhs == ("time", "event")
    assert f.rhs == "treat + age" and f.strata == ("centre",)
    assert f.variables == ("time", "event", "treat", "age", "centre")
    assert f.outcome_variables == ("time", "event")
    two = parse_formula("Surv(time, event) ~ treat + strata(centre, region)")
    assert two.strata == ("centre", "region")


def test_surv_expression_outcome(frame: pd.DataFrame) -> None:
    f = parse_formula("Surv(time, status == 2) ~ treat")
    y, _X, names, _ = f.matrices(frame, intercept=False)
    assert y.shape == (len(frame), 2)
    np.testing.assert_array_equal(y[:, 1], (frame["status"] == 2).astype(float))
    np.testing.assert_array_equal(y[:, 0], frame["time"])
    assert names == ("treat",)


@pytest.mark.parametrize("bad", ["y treat", "y ~ x ~ z", "~ treat", "Surv(time) ~ treat",
                                 "Surv(a, b, c) ~ treat", "y ~ treat + strata(centre)",
                                 "y ~ treat +", "Surv(t, e) ~ treat + strata(a + b)"])
def test_malformed(bad: str) -> None:
    with pytest.raises(SpecificationError):
        parse_formula(bad)


def test_keyword_form_is_the_same() -> None:
    a = build_formula(time="time", event="event", covariates=["treat", "age"],
                      strata="centre")
    b = parse_formula("Surv(time, event) ~ treat + age + strata(centre)")
    assert a == b
    assert build_formula(outcome="y", covariates=["treat", "C(region)"]) == \
        parse_formula("y ~ treat + C(region)")


@pytest.mark.parametrize("kwargs", [{"outcome": "y"}, {"time": "t", "covariates": ["x"]},
                                    {"outcome": "y", "time": "t", "event": "e",
                                     "covariates": ["x"]}, {"covariates": ["x"]}])
def test_keyword_form_errors(kwargs: dict) -> None:
    with pytest.raises(SpecificationError):
        build_formula(**kwargs)


def test_interactions_and_term_columns(frame: pd.DataFrame) -> None:
    f = parse_formula("y ~ treat*age + C(region)")
    y, X, names, terms = f.matrices(frame)
    assert names == ("Intercept", "treat", "age", "C(region)[T.north]", "C(region)[T.south]",
                     "treat:age")
    assert terms["C(region)"] == ["C(region)[T.north]", "C(region)[T.south]"]
    np.testing.assert_allclose(X[:, 5], frame["treat"] * frame["age"])
    np.testing.assert_array_equal(y, frame["y"])


def test_cox_design_keeps_treatment_coding(frame: pd.DataFrame) -> None:
    f = parse_formula("Surv(time, event) ~ treat + C(region)")
    _, X, names, _ = f.matrices(frame, intercept=False)
    # the intercept is removed after coding: still one column per non-reference level
    assert names == ("treat", "C(region)[T.north]", "C(region)[T.south]")
    assert X.shape == (len(frame), 3)


def test_global_levels_keep_the_reference_level(frame: pd.DataFrame) -> None:
    f = parse_formula("y ~ treat + C(region)")
    levels = categorical_levels(frame, f)
    assert levels == {"region": ["east", "north", "south"]}
    study = apply_levels(frame, levels)
    study = study[study["region"] != "south"]
    _, X, names, _ = f.matrices(study)
    # a level absent from this study gives an all-zero column, same names everywhere
    assert names == ("Intercept", "treat", "C(region)[T.north]", "C(region)[T.south]")
    assert not X[:, 3].any()


def test_numeric_column_only_in_C_is_categorical(frame: pd.DataFrame) -> None:
    assert categorical_levels(frame, parse_formula("y ~ C(centre)")) == {"centre": [1, 2, 3]}
    # used as a number elsewhere in the formula: left alone
    assert categorical_levels(frame, parse_formula("y ~ C(centre) + centre:treat")) == {}
    cat = frame.assign(region=pd.Categorical(frame["region"], ["south", "north", "east"]))
    assert categorical_levels(cat, parse_formula("y ~ region")) == {
        "region": ["south", "north", "east"]}


def test_interaction_column_centred_within_study(frame: pd.DataFrame) -> None:
    f = parse_formula("y ~ treat + age")
    _y, X, names = study_design(f, frame, interaction=("treat", "age"))
    assert names == ["Intercept", "treat", "age", "treat:age"]
    agec = frame["age"] - frame["age"].mean()
    np.testing.assert_allclose(X[:, 3], frame["treat"] * agec)
    _, X2, _ = study_design(f, frame, interaction=("treat", "age"), center=False)
    np.testing.assert_allclose(X2[:, 3], frame["treat"] * frame["age"])


def test_interaction_adds_missing_main_effect_and_replaces_term(frame: pd.DataFrame) -> None:
    _, X, names = study_design(parse_formula("y ~ treat"), frame, interaction=("treat", "age"))
    assert names == ["Intercept", "treat", "age", "treat:age"]
    np.testing.assert_allclose(X[:, 2], frame["age"] - frame["age"].mean())
    _, X, names = study_design(parse_formula("y ~ treat*age"), frame,
                               interaction=("treat", "age"))
    assert names == ["Intercept", "treat", "age", "treat:age"]
    np.testing.assert_allclose(X[:, 3], frame["treat"] * (frame["age"] - frame["age"].mean()))


def test_reduce_design_drops_nuisance_reports_pooled() -> None:
    rng = np.random.default_rng(0)
    n = 30
    treat = np.tile([0.0, 1.0], n // 2)
    age = rng.normal(size=n)
    X = np.column_stack([np.ones(n), treat, age, 2 * age, np.zeros(n)])
    names = ["Intercept", "treat", "age", "age2", "lvl"]
    base, bn, bi = baseline_columns(X, names)
    Xr, kept, notes, why = reduce_design(X, names, 1, base, bn, bi)
    assert why is None
    assert kept == ["Intercept", "treat", "age"]
    assert notes == ["'lvl' (0 for every participant)", "'age2' (collinear with the other terms)"]
    np.testing.assert_array_equal(Xr, X[:, :3])
    # the pooled term aliased with a nuisance term: reported, nothing dropped
    X2 = np.column_stack([np.ones(n), treat, 1 - treat, age])
    base, bn, bi = baseline_columns(X2, ["Intercept", "treat", "ctrl", "age"])
    _, _, _, why = reduce_design(X2, ["Intercept", "treat", "ctrl", "age"], 1, base, bn, bi)
    assert why is not None and "'treat'" in why and "ctrl" in why


def test_cox_baseline_is_per_stratum() -> None:
    X = np.column_stack([np.array([0.0, 1, 0, 1]), np.array([1.0, 1, 2, 2])])
    strata = np.array([0, 0, 1, 1])
    base, names, idx = baseline_columns(X, ["treat", "site_x"], cox=True, strata=strata)
    assert names == ["stratum 1", "stratum 2"] and idx == []
    np.testing.assert_array_equal(base, [[1, 0], [1, 0], [0, 1], [0, 1]])
    # a covariate constant within each stratum is aliased with the baseline hazards
    _Xr, kept, notes, why = reduce_design(
        np.column_stack([X, [0.3, 0.1, 0.2, 0.5]]), ["treat", "site_x", "z"], 0, base,
        names, idx)
    assert kept == ["treat", "z"] and "site_x" in notes[0] and why is None
