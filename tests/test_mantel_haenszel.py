"""Mantel-Haenszel and Peto pooling against R's metafor (rma.mh, rma.peto) at 1e-8, and
rma(method="REML"/"DL") on escalc output through ``effect_sizes()`` + ``pool()``.

Reference: ``tests/reference/pooling_mh_peto.json`` from ``tests/reference/pooling_mh_peto.R``
(metafor 3.8.1, metadat 1.2.0; the tables are stored in the JSON).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
import ipdmeta.effects as fx
from ipdmeta.errors import InputError
from ipdmeta.pooling.mantel_haenszel import breslow_day, mantel_haenszel, peto

REF: dict[str, Any] = json.loads(
    (Path(__file__).parent / "reference" / "pooling_mh_peto.json").read_text())
TOL = 1e-8
FIELDS = {"estimate": "estimate", "se": "se", "ci_low": "ci_low", "ci_high": "ci_high",
          "z": "z", "pvalue": "pvalue", "Q": "Q", "Q_pvalue": "Q_pvalue", "I2": "I2",
          "H2": "H2", "k": "k", "CO": "cochran", "COp": "cochran_pvalue", "MH": "cmh",
          "MHp": "cmh_pvalue", "BD": "breslow_day", "BDp": "breslow_day_pvalue",
          "TA": "tarone", "TAp": "tarone_pvalue"}


def cells(name: str) -> tuple[np.ndarray, ...]:
    t = REF["tables"][name]
    return tuple(np.array(t[x], dtype=float) for x in ("ai", "bi", "ci", "di"))


def fit_id(fit: dict[str, Any]) -> str:
    opts = "-".join(f"{k}={v}" for k, v in (fit["options"] or {}).items())
    return f"{fit['data']}-{fit['method']}-{fit['measure']}-correct={fit['correct']}-{opts}"


def close(ours: float, ref: float | None) -> bool:
    if ref is None:
        return ours is None or math.isnan(ours)
    return math.isclose(ours, ref, rel_tol=TOL, abs_tol=TOL)


COUNT_FITS = [f for f in REF["fits"] if f["method"] in ("MH", "peto")]
RMA_FITS = [f for f in REF["fits"] if f["method"] in ("REML", "DL")]


def run(fit: dict[str, Any]):
    opts = {{"correction": "add", "drop_double_zero": "drop00"}.get(k, k): v
            for k, v in (fit["options"] or {}).items()}
    table = REF["tables"][fit["data"]]
    if fit["method"] == "MH":
        return mantel_haenszel(*cells(fit["data"]), measure=fit["measure"],
                               correct=fit["correct"], labels=table["study"], **opts)
    return peto(*cells(fit["data"]), labels=table["study"], **opts)


@pytest.mark.parametrize("fit", COUNT_FITS, ids=fit_id)
def test_mh_and_peto_match_metafor(fit: dict[str, Any]) -> None:
    res = run(fit)
    off = [f"{ours}: ours={getattr(res, ours)!r}, metafor={fit[key]!r}"
           for key, ours in FIELDS.items()
           if key in fit and not close(float(getattr(res, ours)), fit[key])]
    assert not off, "\n".join(off)
    assert res.Q_df == fit["k_yi"] - 1
    if fit["method"] == "MH" and fit["measure"] == "OR" and fit["k_pos"] > 1:
        assert res.breslow_day_df == fit["k_pos"] - 1
    np.testing.assert_allclose(res.weights, fit["weights"], rtol=TOL, atol=TOL)
    assert math.isclose(np.nansum(res.weights), 100.0)


@pytest.mark.parametrize("fit", RMA_FITS, ids=fit_id)
def test_random_effects_on_effect_sizes_match_rma(fit: dict[str, Any]) -> None:
    t = REF["tables"][fit["data"]]
    frame = pd.DataFrame({"study": t["study"], "a": t["ai"], "b": t["bi"], "c": t["ci"],
                          "d": t["di"]})
    es = fx.effect_sizes(frame, fit["measure"], events=("a", "c"), nonevents=("b", "d"))
    m = ipd.pool(es, estimate="estimate", variance="variance", study="study",
                 method=fit["method"])
    o = m.overall
    for ours, key in [(o.estimate, "estimate"), (o.se, "se"), (o.ci_low, "ci_low"),
                      (o.ci_high, "ci_high"), (o.tau2, "tau2"), (o.Q, "Q"),
                      (o.Q_pvalue, "Q_pvalue"), (o.I2, "I2"), (o.k, "k")]:
        assert close(float(ours), fit[key]), (key, ours, fit[key])
    np.testing.assert_allclose(m.studies["weight"], fit["weights"], rtol=1e-7, atol=1e-8)


def test_the_reference_exercises_zero_cells_and_double_zeros() -> None:
    a, _, c, _ = cells("collins_death")
    assert ((a == 0) & (c == 0)).any() and ((a == 0) ^ (c == 0)).any()
    assert any(f["k_yi"] < f["k"] for f in COUNT_FITS)


def test_tables_without_a_comparison_are_left_out_with_a_note() -> None:
    a, b, c, d = cells("nielweise")
    base = mantel_haenszel(a, b, c, d, measure="RR")
    more = mantel_haenszel(np.r_[a, 0, 0], np.r_[b, 0, 0], np.r_[c, 0, 3],
                           np.r_[d, 0, 9], measure="RR")
    assert more.k == base.k
    for name in ("estimate", "se", "Q", "I2"):
        assert getattr(more, name) == pytest.approx(getattr(base, name), rel=1e-12)
    assert np.isnan(more.weights[-2:]).all()
    assert any("left out" in n and "19, 20" in n for n in more.notes)
    p = peto(np.r_[a, np.nan], np.r_[b, 3], np.r_[c, 1], np.r_[d, 5])
    assert p.k == len(a) and any("missing cell" in n for n in p.notes)
    with pytest.raises(InputError, match="no table can be pooled"):
        mantel_haenszel([0], [0], [1], [4])


def test_row_order_does_not_change_the_pooled_results() -> None:
    a, b, c, d = cells("collins_death")
    order = np.random.default_rng(1).permutation(a.size)
    for measure in ("OR", "RR", "RD"):
        one = mantel_haenszel(a, b, c, d, measure=measure)
        two = mantel_haenszel(a[order], b[order], c[order], d[order], measure=measure)
        for name in ("estimate", "se", "Q", "cmh", "breslow_day", "tarone"):
            x, y = getattr(one, name), getattr(two, name)
            assert (np.isnan(x) and np.isnan(y)) or x == pytest.approx(y, rel=1e-12)
        np.testing.assert_allclose(one.weights[order], two.weights, rtol=1e-12)


def test_undefined_estimates_are_nan_with_a_note() -> None:
    res = mantel_haenszel([0, 0], [10, 12], [2, 3], [8, 9], measure="OR")
    assert np.isnan(res.estimate) and np.isnan(res.breslow_day)
    assert any("undefined" in n for n in res.notes)
    with pytest.raises(InputError, match="never occurred"):
        peto([0, 0], [10, 12], [0, 0], [8, 9])


def test_breslow_day_at_an_odds_ratio_of_one_uses_the_null_expectation() -> None:
    a, b, c, d = (np.array(x, float) for x in ([5, 10], [5, 10], [5, 20], [5, 20]))
    bd, p, ta, tp, df = breslow_day(a, b, c, d, 0.0)
    assert bd == pytest.approx(0.0, abs=1e-12) and df == 1 and ta == pytest.approx(0.0)
    assert p == pytest.approx(1.0) and tp == pytest.approx(1.0)


def test_results_read_well() -> None:
    res = mantel_haenszel(*cells("bcg"), measure="OR", labels=REF["tables"]["bcg"]["study"])
    text = res.summary()
    assert "Mantel-Haenszel common-effect OR from 13 tables" in text
    assert "Breslow-Day" in text and "no table has a zero cell" in text
    zeros = mantel_haenszel(*cells("collins_death"), measure="RR").summary()
    assert "without continuity correction" in zeros and "2 double-zero table(s)" in zeros
    assert repr(res).startswith("CountsPooled(method='MH'")
    frame = res.to_frame()
    assert list(frame.columns) == ["study", "estimate", "variance", "weight"]
    assert res.to_dict()["labels"][0] == "Aronson 1948"
    with pytest.raises(InputError, match="OR, RR or RD"):
        mantel_haenszel([1], [2], [3], [4], measure="PETO")
    with pytest.raises(InputError, match="same length"):
        mantel_haenszel([1, 2], [2], [3], [4])
    with pytest.raises(InputError, match="negative"):
        peto([1], [-2], [3], [4])
