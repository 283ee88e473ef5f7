"""Log-rank (Peto) stage 1 (ipdmeta.models.logrank) against R's survival::survdiff.

The reference values come from tests/reference/logrank_survdiff.R: per study, O and E
of group 1 and V = var[2, 2] of survdiff (summed over strata), on lung, veteran,
colon, ovarian and nwtco (R's survival package) and the bundled hypertension data; and
metafor's rma(FE / REML) of (O - E)/V with variance 1/V.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.models import logrank
from ipdmeta.models.base import Fit

REF = Path(__file__).parent / "reference"
CASES = json.loads((REF / "logrank_survdiff.json").read_text())["cases"]


def _data(name: str) -> pd.DataFrame:
    base = name.removesuffix("_strata")
    if base == "hypertension":
        hyp = ipd.datasets.load("hypertension")
        return pd.DataFrame({"study": hyp["trial"], "time": hyp["time"],
                             "status": hyp["event"], "group": hyp["treat"], "s": hyp["smk"]})
    return pd.read_csv(REF / "data" / f"logrank_{base}.csv")


def _fits(name: str) -> tuple[dict, list[Fit]]:
    case = CASES[name]
    data = _data(name)
    out = []
    for label in case["study"]:
        d = data[data["study"].astype(str) == str(label)]
        y = d[["time", "status"]].to_numpy(dtype=float)
        out.append(logrank.fit(y, d[["group"]].to_numpy(dtype=float), names=("group",),
                               strata=d["s"].to_numpy() if case["strata"] else None))
    return case, out


@pytest.mark.parametrize("name", sorted(CASES))
def test_o_e_v_match_survdiff(name: str) -> None:
    case, fits = _fits(name)
    assert len(fits) == len(case["study"])
    for i, f in enumerate(fits):
        assert f.n == case["n"][i] and f.events == case["events"][i]
        assert case["estimable"][i]
        for key, ref in (("observed", "O"), ("expected", "E"), ("v", "V")):
            np.testing.assert_allclose(f.extra[key], case[ref][i], rtol=1e-10, atol=1e-8,
                                       err_msg=f"{name} study {case['study'][i]} {key}")
        oe = case["O"][i] - case["E"][i]
        if case["V"][i] > 0:
            assert f.ok
            np.testing.assert_allclose(f.estimate("group"), oe / case["V"][i], rtol=1e-9,
                                       atol=1e-10)
            np.testing.assert_allclose(f.se("group"), case["V"][i] ** -0.5, rtol=1e-9)
        else:  # every event with only one group at risk
            assert f.problem == "zero_variance" and "V is 0" in f.reason


def test_a_zero_variance_study_is_in_the_references() -> None:
    assert any(v == 0 for c in CASES.values() for v in c["V"])


@pytest.mark.parametrize("name", [n for n in sorted(CASES) if CASES[n]["pooled"]])
def test_peto_pooling_matches_metafor(name: str) -> None:
    case, fits = _fits(name)
    ok = [f for f in fits if f.ok]
    frame = pd.DataFrame({"estimate": [f.estimate("group") for f in ok],
                          "se": [f.se("group") for f in ok]})
    fe = ipd.pool(frame, method="common")
    ref = case["pooled"]["FE"]
    np.testing.assert_allclose(fe.overall.estimate, ref["estimate"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(fe.overall.se, ref["se"], rtol=1e-9)
    np.testing.assert_allclose(fe.overall.Q, ref["Q"], rtol=1e-9, atol=1e-10)
    # the Peto fixed effect is sum(O - E) / sum(V) with variance 1 / sum(V)
    oe = sum(f.extra["oe"] for f in ok)
    v = sum(f.extra["v"] for f in ok)
    np.testing.assert_allclose(fe.overall.estimate, oe / v, rtol=1e-12)
    reml = ipd.pool(frame, method="REML")
    ref = case["pooled"]["REML"]
    np.testing.assert_allclose(reml.overall.tau2, ref["tau2"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(reml.overall.estimate, ref["estimate"], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(reml.overall.se, ref["se"], rtol=1e-6, atol=1e-8)


def _toy(n: int = 400, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 2, n).astype(float)
    time = np.ceil(rng.exponential(1.0 / np.exp(-0.4 * group)) * 10) / 10   # tied times
    cens = np.ceil(rng.uniform(0, 3, n) * 10) / 10
    y = np.column_stack([np.minimum(time, cens), (time <= cens).astype(float)])
    return y, group[:, None], rng.integers(0, 3, n)


def test_row_order_does_not_matter() -> None:
    y, x, s = _toy()
    a = logrank.fit(y, x, names=("g",), strata=s)
    perm = np.random.default_rng(1).permutation(len(y))
    b = logrank.fit(y[perm], x[perm], names=("g",), strata=s[perm])
    for key in ("oe", "v", "observed", "expected"):
        assert a.extra[key] == pytest.approx(b.extra[key], rel=1e-12, abs=1e-12)


def test_group_coding_and_swapping() -> None:
    y, x, _ = _toy()
    a = logrank.fit(y, x, names=("g",))
    b = logrank.fit(y, x + 1.0, names=("g",))           # coded 1/2: group 1 is 2
    c = logrank.fit(y, 1.0 - x, names=("g",))           # groups swapped
    assert b.extra["oe"] == pytest.approx(a.extra["oe"], rel=1e-12)
    assert b.extra["group_value"] == 2.0
    assert c.extra["oe"] == pytest.approx(-a.extra["oe"], rel=1e-12)
    assert c.extra["v"] == pytest.approx(a.extra["v"], rel=1e-12)


def test_strata_sum_the_per_stratum_statistics() -> None:
    y, x, s = _toy()
    whole = logrank.fit(y, x, names=("g",), strata=s)
    parts = [logrank.fit(y[s == k], x[s == k], names=("g",)) for k in range(3)]
    for key in ("oe", "v", "observed", "expected"):
        assert whole.extra[key] == pytest.approx(sum(p.extra[key] for p in parts), rel=1e-12)
    assert whole.extra["strata"] == 3


def test_failures_are_rows_not_exceptions() -> None:
    y = np.array([[1.0, 0], [2, 0], [3, 0]])
    f = logrank.fit(y, np.array([[0.0], [1], [1]]), names=("treat",))
    assert f.problem == "no_events" and not f.ok and np.isnan(f.coef[0])
    f = logrank.fit(np.array([[1.0, 1], [2, 1]]), np.array([[1.0], [1]]), names=("treat",))
    assert f.problem == "constant_poolvar" and "treat" in f.reason
    f = logrank.fit(np.array([[1.0, 1]]), np.array([[1.0]]), names=("treat",))
    assert f.problem == "too_few_rows"


def test_bad_input_is_named() -> None:
    y = np.array([[1.0, 1], [2, 1], [3, 0]])
    with pytest.raises(InputError, match=r"two groups.*arm.*3 values"):
        logrank.fit(y, np.array([[0.0], [1], [2]]), names=("arm",))
    with pytest.raises(InputError, match=r"one column.*model=.cox."):
        logrank.fit(y, np.zeros((3, 2)), names=("a", "b"))
    with pytest.raises(InputError, match="event indicator"):
        logrank.fit(np.array([[1.0, 2], [2, 1]]), np.array([[0.0], [1]]), names=("a",))


# ---------------------------------------------------------------------- in stage 1
@pytest.mark.parametrize("name", ["hypertension", "hypertension_strata"])
def test_stage1_logrank_matches_survdiff(name: str) -> None:
    case = CASES[name]
    hyp = ipd.datasets.load("hypertension")
    formula = "Surv(time, event) ~ treat" + (" + strata(smk)" if case["strata"] else "")
    ad = ipd.stage1(hyp, study="trial", formula=formula, model="logrank")
    assert ad.model == "logrank" and ad.measure == "HR" and ad.ties is None
    assert ad["study"].tolist() == case["study"]
    oe = np.array(case["O"]) - np.array(case["E"])
    np.testing.assert_allclose(ad["oe"], oe, rtol=1e-10, atol=1e-8)
    np.testing.assert_allclose(ad["v"], case["V"], rtol=1e-10)
    np.testing.assert_allclose(ad["estimate"], oe / np.array(case["V"]), rtol=1e-9)
    assert ad["events"].tolist() == case["events"]
    res = ipd.ipdmeta(hyp, study="trial", formula=formula, model="peto", method="common")
    assert res.overall.estimate == pytest.approx(case["pooled"]["FE"]["estimate"], rel=1e-9)
    q_stat = res.overall.Q
    assert q_stat == pytest.approx(case["pooled"]["FE"]["Q"], rel=1e-9)
    reml = ipd.ipdmeta(hyp, study="trial", formula=formula, model="logrank", method="REML")
    assert reml.overall.tau2 == pytest.approx(case["pooled"]["REML"]["tau2"], rel=1e-5)


def test_stage1_logrank_engines_and_many_studies_agree() -> None:
    data = _data("nwtco")
    data = data.assign(unit=np.arange(len(data)) % 25)     # 25 "studies": the batched size
    serial = ipd.stage1(data, study="unit", formula="Surv(time, status) ~ group + strata(s)",
                        model="logrank")
    procs = ipd.stage1(data, study="unit", formula="Surv(time, status) ~ group + strata(s)",
                       model="logrank", engine="processes", n_jobs=2)
    pd.testing.assert_frame_equal(serial.to_frame(), procs.to_frame())
    one = data[data["unit"] == 3]
    f = logrank.fit(one[["time", "status"]].to_numpy(float), one[["group"]].to_numpy(float),
                    names=("group",), strata=one["s"].to_numpy())
    assert serial["oe"].iloc[3] == pytest.approx(f.extra["oe"], rel=1e-12)


def test_stage1_logrank_failures_and_saving(tmp_path: Path) -> None:
    d = pd.DataFrame({"trial": ["A"] * 4 + ["B"] * 4 + ["C"] * 6,
                      "time": [1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4, 5, 6],
                      "event": [0, 0, 0, 0, 1, 0, 1, 1, 1, 0, 1, 1, 0, 1],
                      "treat": [0, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0, 1]})
    ad = ipd.stage1(d, study="trial", formula="Surv(time, event) ~ treat", model="logrank")
    assert ad["status"].tolist() == ["no_events", "constant_poolvar", "ok"]
    path = ad.save(tmp_path / "AD.dta", names="ipdmetan")
    frame = pd.read_stata(path)
    assert {"_OE", "_V", "_ES", "_seES"} <= set(frame.columns)
    back = ipd.read_aggregate(path)
    np.testing.assert_allclose(back["v"], ad["v"], equal_nan=True)


def test_stage1_logrank_refuses_covariates() -> None:
    hyp = ipd.datasets.load("hypertension")
    with pytest.raises(SpecificationError, match=r"one variable.*model='cox'"):
        ipd.stage1(hyp, study="trial", formula="Surv(time, event) ~ treat + age",
                   model="logrank")
    with pytest.raises(SpecificationError, match="interaction"):
        ipd.stage1(hyp, study="trial", formula="Surv(time, event) ~ treat", model="logrank",
                   interaction=("treat", "age"))
    with pytest.raises(SpecificationError, match="firth"):
        ipd.stage1(hyp, study="trial", formula="Surv(time, event) ~ treat", model="logrank",
                   firth=True)
    with pytest.raises(SpecificationError, match="Surv"):
        ipd.stage1(hyp, study="trial", formula="event ~ treat", model="logrank")
