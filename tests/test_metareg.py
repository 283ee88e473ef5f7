"""Meta-regression (``metareg``) and its permutation test against R's metafor.

Reference values: ``tests/reference/stage2_metareg.json``, written by
``tests/reference/stage2_metareg.R`` (metafor 3.8.1, convergence threshold 1e-12); the
input data are stored there, so R is not needed.  Numbers must agree to 1e-6 absolute;
exact permutation p-values must be equal.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.pooling.metareg import MetaRegResult, metareg
from ipdmeta.pooling.permutation import batch_statistics, count_arrangements
from ipdmeta.pooling.pool import pool

matplotlib.use("Agg")

REF: dict[str, Any] = json.loads(
    (Path(__file__).parent / "reference" / "stage2_metareg.json").read_text())
ATOL = 1e-6
METHOD = {"FE": "common"}
SCALARS = ("tau2", "I2", "H2", "R2", "QM", "QM_pvalue", "QE", "QE_df", "QE_pvalue", "k")
VECTORS = ("estimate", "se", "z_or_t", "pvalue", "ci_low", "ci_high")


def frame_of(name: str) -> pd.DataFrame:
    """The input table of a reference data set (null -> NaN)."""
    data = REF["datasets"][name]["data"]
    return pd.DataFrame({key: [np.nan if x is None else x for x in col]
                         for key, col in data.items()})


@cache
def run(name: str, formula: str, method: str, ci: str, level: float = 0.95,
        rows: tuple[int, ...] | None = None, **options: Any) -> MetaRegResult:
    frame = frame_of(name)
    if rows is not None:
        frame = frame.iloc[list(rows)]
    return metareg(frame, formula, estimate="yi", variance="vi", study="study",
                   method=METHOD.get(method, method), ci=ci, level=level, **options)


def problems(ours: dict[str, Any], ref: dict[str, Any], atol: float = ATOL) -> list[str]:
    """'name: ours=..., metafor=...' for every value further than ``atol`` apart."""
    out = []
    for key, want in ref.items():
        got = ours[key]
        wants = want if isinstance(want, list) else [want]
        gots = list(np.atleast_1d(np.asarray(got, dtype=float)))
        if len(gots) != len(wants):
            out.append(f"{key}: ours={gots}, metafor={wants} (length)")
            continue
        for i, (g, w) in enumerate(zip(gots, wants, strict=True)):
            if w is None:
                if not (g is None or math.isnan(g)):
                    out.append(f"{key}[{i}]: ours={g}, metafor=NA")
            elif not (abs(g - w) <= atol or g == w):
                out.append(f"{key}[{i}]: ours={g!r}, metafor={w!r}, diff={g - w:.3g}")
    return out


def assert_close(ours: dict[str, Any], ref: dict[str, Any], what: str,
                 atol: float = ATOL) -> None:
    bad = problems(ours, ref, atol)
    if bad:
        pytest.fail(f"{what}: differs from metafor\n  " + "\n  ".join(bad), pytrace=False)


def fit_id(rec: dict[str, Any]) -> str:
    lev = "" if rec["level"] == 0.95 else f"-{rec['level']}"
    return f"{rec['data']}[{rec['formula']}]-{rec['method']}-{rec['ci']}{lev}"


# ---------------------------------------------------------------- fits
@pytest.mark.parametrize("rec", REF["fits"], ids=fit_id)
def test_fit_matches_metafor(rec: dict[str, Any]) -> None:
    mr = run(rec["data"], rec["formula"], rec["method"], rec["ci"], rec["level"])
    ours = {**{key: getattr(mr, key) for key in SCALARS},
            **{key: mr.coef[key].to_numpy() for key in VECTORS},
            "df": np.nan if mr.df is None else mr.df, "QM_df": mr.QM_df,
            "tau2_ci": mr.tau2_ci}
    ref = {key: rec[key] for key in (*SCALARS, *VECTORS, "df", "QM_df", "tau2_ci")
           if key in rec}
    assert len(mr.terms) == rec["p"]
    if "R2" not in rec:
        assert math.isnan(mr.R2)
    assert_close(ours, ref, fit_id(rec))


@pytest.mark.parametrize("rec", REF["predict"], ids=lambda r: f"{r['formula']}-{r['method']}")
def test_predict_matches_metafor(rec: dict[str, Any]) -> None:
    mr = run(rec["data"], rec["formula"], rec["method"], rec["ci"])
    pred = mr.predict(None if rec["newdata"] is None else pd.DataFrame(rec["newdata"]))
    ref = {"pred": rec["pred"], "se": rec["se"], "ci_low": rec["ci_low"],
           "ci_high": rec["ci_high"]}
    if rec["pi_low"]:
        ref.update(pi_low=rec["pi_low"], pi_high=rec["pi_high"])
    else:  # common effect: metafor gives no prediction interval, nor do we
        assert pred["pi_low"].isna().all()
    assert_close({c: pred[c].to_numpy() for c in ref}, ref, "predict")


def test_bangertdrowns_drops_missing_moderators() -> None:
    mr = run("bangertdrowns2004", "~ length + C(meta) + C(grade)", "REML", "hksj")
    assert mr.k == 44
    assert any("left out (missing moderator values)" in m for m in mr.messages)


def test_intercept_only_equals_pool() -> None:
    frame = frame_of("bcg")
    for method, ci in [("REML", "hksj"), ("DL", "z"), ("common", "t"), ("PM", "hksj-trunc")]:
        mr = metareg(frame, "~ 1", estimate="yi", variance="vi", study="study",
                     method=method, ci=ci)
        o = pool(frame, estimate="yi", variance="vi", study="study", method=method, ci=ci).overall
        row = mr.coef.iloc[0]
        for key in ("estimate", "se", "ci_low", "ci_high", "pvalue"):
            assert row[key] == pytest.approx(getattr(o, key), abs=1e-12), (method, ci, key)
        assert mr.tau2 == pytest.approx(o.tau2, abs=1e-12)
        assert math.isclose(mr.I2, o.I2, abs_tol=1e-10)


# ---------------------------------------------------------------- permutation tests
@pytest.mark.parametrize("rec", REF["permutest"],
                         ids=lambda r: f"{r['data']}[{r['formula']}]-{r['method']}-{r['ci']}")
def test_exact_permutation_matches_permutest(rec: dict[str, Any]) -> None:
    mr = run(rec["data"], rec["formula"], rec["method"], rec["ci"], rows=tuple(rec["rows"]),
             permutations=10**6)
    perm = mr.permutation
    assert perm is not None and perm.exact
    # refits that do not converge are left out, by metafor too (one ML refit here)
    assert perm.permutations + perm.failed == rec["n_permutations"]
    assert perm.failed <= (1 if rec["method"] == "ML" else 0)
    assert count_arrangements(mr.X, len(mr.terms) == 1) == rec["n_permutations"]
    assert_close({"z_or_t": mr.coef["z_or_t"].to_numpy(), "QM": mr.QM},
                 {"z_or_t": rec["z_or_t"], "QM": rec["QM"]}, "observed statistics")
    assert mr.coef["pvalue_perm"].tolist() == rec["pvalue_perm"]
    assert perm.QM_pvalue == rec["QM_pvalue_perm"]


def test_random_permutations_reproducible_and_close_to_exact() -> None:
    rec = REF["permutest"][0]  # bcg rows 0-7, ~ ablat, REML, Knapp-Hartung
    rows = tuple(rec["rows"])
    a = run("bcg", "~ ablat", "REML", "hksj", rows=rows, permutations=4000, seed=11)
    b = run("bcg", "~ ablat", "REML", "hksj", rows=rows, permutations=4000,
            seed=np.random.default_rng(11))
    c = run("bcg", "~ ablat", "REML", "hksj", rows=rows, permutations=4000, seed=12)
    assert a.permutation is not None and not a.permutation.exact
    assert a.permutation.permutations == 4000
    np.testing.assert_array_equal(a.coef["pvalue_perm"], b.coef["pvalue_perm"])
    assert not np.array_equal(a.permutation.statistics, c.permutation.statistics)
    for res in (a, c):
        p = res.coef["pvalue_perm"].to_numpy()
        sd = np.sqrt(np.array(rec["pvalue_perm"]) * (1 - np.array(rec["pvalue_perm"])) / 4000)
        assert np.all(np.abs(p - rec["pvalue_perm"]) < 4 * sd + 1e-3)
    # the observed arrangement is always the first one
    np.testing.assert_allclose(a.permutation.statistics[0], a.coef["z_or_t"], atol=1e-9)


def test_exact_false_samples_and_exact_true_enumerates() -> None:
    rows = tuple(range(8))
    sampled = run("bcg", "~ 1", "DL", "z", rows=rows, permutations=300, seed=1, exact=False)
    full = run("bcg", "~ 1", "DL", "z", rows=rows, permutations=10, exact=True)
    assert not sampled.permutation.exact and sampled.permutation.permutations == 300
    assert full.permutation.exact and full.permutation.permutations == 2**8
    assert full.permutation.kind == "sign flips"


def test_westfall_young_adjustment() -> None:
    mr = run("bcg", "~ ablat + year + C(alloc)", "REML", "hksj", permutations=2000, seed=3)
    adj = mr.coef["pvalue_perm_adj"].to_numpy()
    raw = mr.coef["pvalue_perm"].to_numpy()
    assert math.isnan(adj[0])  # intercept: not among the tested coefficients
    assert np.all(adj[1:] >= raw[1:])
    one = run("bcg", "~ ablat", "REML", "hksj", permutations=2000, seed=3)
    assert one.coef["pvalue_perm_adj"].iloc[1] == one.coef["pvalue_perm"].iloc[1]


def test_batch_refit_equals_single_fit() -> None:
    frame = frame_of("raudenbush1985")
    for method in ("common", "DL", "HE", "HS", "SJ", "PM", "PMM", "REML", "ML", "EB"):
        for ci in ("z", "t", "hksj", "hksj-trunc"):
            mr = metareg(frame, "~ C(tester) + weeks", estimate="yi", variance="vi",
                         study="study", method=method, ci=ci)
            z, qm = batch_statistics(mr.spec.method, ci, mr.estimates[None], mr.variances[None],
                                     mr.X, mr.fit.btt)
            np.testing.assert_allclose(z[0], mr.coef["z_or_t"], rtol=1e-9, atol=1e-9)
            assert qm[0] == pytest.approx(mr.QM, rel=1e-9)


def test_permutation_speed() -> None:
    """10,000 permutations of a 50-study REML meta-regression in a few seconds at most."""
    import time

    rng = np.random.default_rng(5)
    k = 50
    frame = pd.DataFrame({"yi": rng.normal(0, 0.4, k), "vi": rng.uniform(0.01, 0.2, k),
                          "x1": rng.normal(size=k), "g": rng.choice(["a", "b"], k)})
    start = time.perf_counter()
    mr = metareg(frame, "~ x1 + C(g)", permutations=10_000, seed=1)
    assert time.perf_counter() - start < 8
    assert mr.permutation.permutations + mr.permutation.failed == 10_000


# ---------------------------------------------------------------- input handling
class FakeAggregate:
    """Anything with ``to_frame()`` and a status column, like stage 1's AggregateData."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()


def test_aggregate_data_pools_ok_rows_only() -> None:
    frame = frame_of("bcg").rename(columns={"yi": "estimate"})
    frame["se"] = np.sqrt(frame.pop("vi"))
    frame["status"] = "ok"
    frame["reason"] = ""
    frame.loc[2, ["status", "reason"]] = ["separation", "no events in one arm"]
    mr = metareg(FakeAggregate(frame), "~ ablat", method="DL", ci="z")
    assert mr.k == 12
    assert mr.excluded["study"].tolist() == [frame.loc[2, "study"]]
    ref = metareg(frame.drop(index=2), "~ ablat", method="DL", ci="z")
    np.testing.assert_allclose(mr.coef["estimate"], ref.coef["estimate"], rtol=1e-12)


def test_formula_left_hand_side_names_the_estimate() -> None:
    frame = frame_of("bcg")
    a = metareg(frame, "yi ~ ablat", variance="vi", study="study")
    b = metareg(frame, "~ ablat", estimate="yi", variance="vi", study="study")
    np.testing.assert_allclose(a.coef["estimate"], b.coef["estimate"])


def test_no_intercept() -> None:
    mr = metareg(frame_of("bcg"), "~ C(alloc)", estimate="yi", variance="vi", study="study",
                 intercept=False, method="DL", ci="z")
    assert mr.terms == ["C(alloc)[alternate]", "C(alloc)[random]", "C(alloc)[systematic]"]
    assert mr.QM_df == (3, None) and math.isnan(mr.R2)


@pytest.mark.parametrize(("kwargs", "error", "words"), [
    ({"formula": "~ nonsense"}, SpecificationError, "nonsense"),
    ({"formula": "~ ablat + I(2 * ablat)"}, SpecificationError, "collinear"),
    ({"formula": "~ ablat", "method": "GENQ"}, InputError, "not available"),
    ({"formula": "~ ablat", "ci": "pl"}, InputError, "not available"),
    ({"formula": "~ C(study)"}, InputError, "more studies than coefficients"),
    ({"formula": "~ ablat", "permutations": 1}, InputError, "at least 2"),
])
def test_errors(kwargs: dict[str, Any], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        metareg(frame_of("bcg"), estimate="yi", variance="vi", study="study", **kwargs)


def test_exact_too_many_refused() -> None:
    with pytest.raises(InputError, match="exact=True"):
        run("bangertdrowns2004", "~ length", "DL", "z", permutations=10, exact=True)


# ---------------------------------------------------------------- output
def test_summary_dict_and_bubble() -> None:
    mr = run("bcg", "~ ablat + year + C(alloc)", "REML", "hksj", permutations=500, seed=1)
    text = mr.summary()
    for words in ("Meta-regression", "Knapp-Hartung", "R² =", "QE =", "F(4, 8)", "perm. p"):
        assert words in text
    assert "exp(b)" in mr.summary(eform=True)
    d = mr.to_dict()
    assert d["k"] == 13 and len(d["coef"]) == 5 and "QM_pvalue_perm" in d
    assert mr.vcov.shape == (5, 5)
    points, line = mr.bubble_data("ablat", n=25)
    assert len(points) == 13 and len(line) == 25
    assert line["ci_low"].le(line["pred"]).all()
    fig = mr.bubble("ablat")
    assert len(fig.axes) == 1
    with pytest.raises(InputError, match="not a column"):
        mr.bubble_data("latitude")


# ---------------------------------------------------------------- invariances
@st.composite
def regression_tables(draw) -> pd.DataFrame:
    k = draw(st.integers(5, 9))
    floats = st.floats(-2, 2, allow_nan=False, allow_subnormal=False)
    yi = draw(st.lists(floats, min_size=k, max_size=k))
    x = draw(st.lists(floats, min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(0.01, 1.0), min_size=k, max_size=k))
    assume(np.ptp(x) > 0.1 and np.ptp(yi) > 1e-3)
    return pd.DataFrame({"study": [f"S{i}" for i in range(k)], "yi": yi, "vi": vi, "x": x})


@settings(max_examples=25, deadline=None, derandomize=True)
@given(regression_tables(), st.sampled_from(["DL", "REML", "PM", "common"]),
       st.floats(-1, 1, allow_nan=False))
def test_order_and_shift_invariance(frame: pd.DataFrame, method: str, c: float) -> None:
    def fit(f: pd.DataFrame) -> MetaRegResult:
        return metareg(f, "~ x", estimate="yi", variance="vi", method=method, ci="hksj")

    try:
        base = fit(frame)
    except Exception:  # non-convergence of an estimator on a pathological draw
        assume(False)
        raise
    rev = fit(frame.iloc[::-1])
    np.testing.assert_allclose(rev.coef["estimate"], base.coef["estimate"], atol=1e-7)
    assert rev.tau2 == pytest.approx(base.tau2, abs=1e-8)
    shifted = fit(frame.assign(yi=frame.yi + c * frame.x))
    assert shifted.coef["estimate"].iloc[1] == pytest.approx(
        base.coef["estimate"].iloc[1] + c, abs=1e-6)
    assert shifted.tau2 == pytest.approx(base.tau2, abs=1e-7)


def test_eform_summary_prints_delta_method_standard_errors() -> None:
    """Stata's metareg, eform prints exp(b) with se = exp(b) * se(b); so do we (was '.')."""
    from ipdmeta import datasets

    bcg = datasets.load_bcg()
    mr = metareg(bcg, "~ ablat", estimate="yi", variance="vi", study="trial", method="REML")
    text = mr.summary(eform=True, digits=4)
    row = next(line for line in text.splitlines() if line.startswith("ablat"))
    b, se = mr.coef.set_index("term").loc["ablat", ["estimate", "se"]]
    cells = row.split("|")[1].split()
    assert cells[0] == f"{np.exp(b):.4f}" and cells[1] == f"{np.exp(b) * se:.4f}"
    assert "delta method" in text
