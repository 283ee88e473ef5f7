"""``ipd.pool()`` and ``ipd.metareg()`` on summary data (counts, means ...), against R.

MH and Peto through ``pool()`` must give metafor's rma.mh / rma.peto numbers (the same
reference as tests/test_mantel_haenszel.py), inverse-variance methods the numbers of
rma() on escalc output, and metareg the numbers of rma(mods=) on escalc output; all from
``tests/reference/pooling_mh_peto.json`` (``tests/reference/pooling_mh_peto.R``).
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
from ipdmeta.errors import InputError
from ipdmeta.pooling.mantel_haenszel import mantel_haenszel, peto

REF: dict[str, Any] = json.loads(
    (Path(__file__).parent / "reference" / "pooling_mh_peto.json").read_text())
TOL = 1e-8


def frame(name: str) -> pd.DataFrame:
    t = REF["tables"][name]
    out = pd.DataFrame({"study": t["study"], "d1": t["ai"], "d0": t["ci"]})
    out["n1"] = out.d1 + np.array(t["bi"])
    out["n0"] = out.d0 + np.array(t["di"])
    if "ablat" in t:
        out["ablat"] = t["ablat"]
    return out


def ref_fit(data: str, method: str, measure: str, options: bool = False) -> dict[str, Any]:
    return next(f for f in REF["fits"] if f["data"] == data and f["method"] == method
                and f["measure"] == measure and f["correct"] and bool(f["options"]) == options)


@pytest.mark.parametrize("data", ["bcg", "collins_death", "nielweise"])
@pytest.mark.parametrize(("method", "measure"), [("MH", "OR"), ("MH", "RR"), ("MH", "RD"),
                                                 ("peto", "OR")])
def test_pool_with_mh_and_peto_matches_metafor(data: str, method: str, measure: str) -> None:
    ref = ref_fit(data, method, measure)
    m = ipd.pool(frame(data), events=("d1", "d0"), n=("n1", "n0"), measure=measure,
                 method=method, study="study")
    o = m.overall
    for ours, key in [(o.estimate, "estimate"), (o.se, "se"), (o.ci_low, "ci_low"),
                      (o.ci_high, "ci_high"), (o.z_or_t, "z"), (o.pvalue, "pvalue"),
                      (o.Q, "Q"), (o.Q_pvalue, "Q_pvalue"), (o.I2, "I2"), (o.k, "k")]:
        assert math.isclose(ours, ref[key], rel_tol=TOL, abs_tol=TOL), (key, ours, ref[key])
    np.testing.assert_allclose(m.studies.weight, ref["weights"], rtol=TOL, atol=TOL)
    assert o.model == "common" and o.method == method and m.common is o
    if method == "MH" and measure == "OR":
        assert math.isclose(m.breslow_day.statistic, ref["BD"], rel_tol=TOL)
        assert math.isclose(m.tarone.pvalue, ref["TAp"], rel_tol=TOL)
        assert math.isclose(m.cmh.statistic, ref["MH"], rel_tol=TOL)
        assert m.breslow_day.df == ref["k_pos"] - 1
    else:
        assert m.breslow_day is None and m.cmh is None


def test_the_uncorrected_cmh_test_matches_metafor() -> None:
    ref = next(f for f in REF["fits"] if f["data"] == "nielweise" and f["method"] == "MH"
               and f["measure"] == "OR" and not f["correct"])
    m = ipd.pool(frame("nielweise"), events=("d1", "d0"), n=("n1", "n0"), measure="OR",
                 method="mh")
    assert math.isclose(m.tests["cmh_uncorrected"].statistic, ref["MH"], rel_tol=TOL)


def test_correction_options_reach_the_heterogeneity_part() -> None:
    ref = ref_fit("collins_death", "MH", "RR", options=True)
    m = ipd.pool(frame("collins_death"), events=("d1", "d0"), n=("n1", "n0"), measure="RR",
                 method="MH", correction=0.25, to="all", drop_double_zero=False)
    assert math.isclose(m.overall.Q, ref["Q"], rel_tol=TOL)
    assert math.isclose(m.overall.estimate, ref["estimate"], rel_tol=TOL)


@pytest.mark.parametrize("method", ["REML", "DL"])
def test_inverse_variance_methods_pool_the_effect_sizes(method: str) -> None:
    ref = ref_fit("nielweise", method, "OR")
    m = ipd.pool(frame("nielweise"), events=("d1", "d0"), n=("n1", "n0"), measure="OR",
                 method=method, study="study")
    for ours, key in [(m.overall.estimate, "estimate"), (m.overall.se, "se"),
                      (m.overall.tau2, "tau2"), (m.overall.Q, "Q"), (m.overall.k, "k")]:
        assert math.isclose(ours, ref[key], rel_tol=1e-8, abs_tol=1e-10), (key, ours)
    assert m.measure == "OR" and m.eform_default
    assert m.summary_columns == {"events": ("d1", "d0"), "n": ("n1", "n0")}
    assert any("continuity correction" in msg for msg in m.messages)


@pytest.mark.parametrize("ci", ["hksj", "z"])
def test_metareg_on_counts_matches_rma_with_moderators(ci: str) -> None:
    ref = REF["metareg"]["knha" if ci == "hksj" else "z"]
    mr = ipd.metareg(frame("bcg"), "~ ablat", events=("d1", "d0"), n=("n1", "n0"),
                     measure="RR", method="REML", ci=ci, study="study")
    np.testing.assert_allclose(mr.coef.estimate, ref["coef"], rtol=1e-7)
    np.testing.assert_allclose(mr.coef.se, ref["se"], rtol=1e-7)
    np.testing.assert_allclose(mr.coef.pvalue, ref["pvalue"], rtol=1e-6)
    assert math.isclose(mr.tau2, ref["tau2"], rel_tol=1e-7)
    assert math.isclose(mr.QM, ref["QM"], rel_tol=1e-7)
    assert mr.measure == "RR"


def test_means_and_proportions_route_through_effect_sizes() -> None:
    t = pd.DataFrame({"trial": list("ABCD"), "m1": [55.0, 27, 64, 66], "s1": [47.0, 7, 17, 20],
                      "k1": [155, 31, 75, 18], "m0": [75.0, 29, 119, 137],
                      "s0": [64.0, 4, 29, 48], "k0": [156, 32, 71, 18]})
    m = ipd.pool(t, means=("m1", "m0"), sds=("s1", "s0"), n=("k1", "k0"), measure="SMD",
                 method="DL", study="trial")
    es = ipd.effect_sizes(t, "SMD", means=("m1", "m0"), sds=("s1", "s0"), n=("k1", "k0"))
    direct = ipd.pool(es, estimate="estimate", variance="variance", study="trial",
                      method="DL")
    assert m.overall.estimate == pytest.approx(direct.overall.estimate, rel=1e-14)
    assert m.measure == direct.measure == "SMD" and not m.eform_default
    p = pd.DataFrame({"x": [16, 10, 4, 43], "n": [17, 12, 8, 58]})
    mp = ipd.pool(p, events="x", n="n", measure="PLO", method="REML")
    assert mp.k == 4 and mp.measure == "PLO"


def test_leave_one_out_and_cumulative_repool_by_mh() -> None:
    f = frame("collins_death")
    m = ipd.pool(f, events=("d1", "d0"), n=("n1", "n0"), measure="OR", method="MH",
                 study="study")
    loo = m.leave_one_out()
    cells = [m.tables[c].to_numpy() for c in "abcd"]
    for i in (0, 5):
        keep = np.delete(np.arange(m.k), i)
        direct = mantel_haenszel(*(x[keep] for x in cells), measure="OR")
        assert loo.estimate[i] == pytest.approx(direct.estimate, rel=1e-12)
        assert loo.Q[i] == pytest.approx(direct.Q, rel=1e-12)
    cum = m.cumulative()
    assert cum.estimate.iloc[-1] == pytest.approx(m.overall.estimate, rel=1e-12)
    pe = ipd.pool(f, events=("d1", "d0"), n=("n1", "n0"), measure="OR", method="peto")
    first_two = peto(*(x[:2] for x in cells))
    assert pe.cumulative().estimate.iloc[1] == pytest.approx(first_two.estimate, rel=1e-12)


def test_subgroups_are_pooled_by_mh_within_each_group() -> None:
    f = frame("bcg")
    f["band"] = np.where(f.ablat > 30, "far", "near")
    m = ipd.pool(f, events=("d1", "d0"), n=("n1", "n0"), measure="RR", method="MH",
                 study="study", by="band")
    for g, p in m.subgroups.pooled.items():
        rows = (f.band == g).to_numpy()
        direct = mantel_haenszel(f.d1[rows], (f.n1 - f.d1)[rows], f.d0[rows],
                                 (f.n0 - f.d0)[rows], measure="RR")
        assert p.estimate == pytest.approx(direct.estimate, rel=1e-12)
        assert p.method == "MH"
    assert m.subgroups.Q_between_df == 1 and np.isfinite(m.subgroups.Q_between)
    assert "Test of subgroup differences" in m.summary()


def test_summary_states_the_zero_cell_treatment_and_tests() -> None:
    m = ipd.pool(frame("nielweise"), events=("d1", "d0"), n=("n1", "n0"), measure="OR",
                 method="MH", study="study")
    text = m.summary()
    assert "(Mantel-Haenszel; exponentiated)" in text
    assert "Breslow-Day" in text and "Cochran-Mantel-Haenszel" in text
    assert "without continuity correction" in text and "double-zero" in text
    assert set(m.to_dict()["tests"]) == {"breslow_day", "tarone", "cmh", "cmh_uncorrected"}
    assert repr(m).startswith("CountsMetaResult(method='MH', measure='OR', k=18")
    assert "Breslow-Day" in m._repr_html_()


def test_unusable_tables_are_listed_as_excluded() -> None:
    f = frame("bcg")
    f.loc[2, "n1"] = np.nan
    f.loc[4, ["d1", "n1"]] = 0
    m = ipd.pool(f, events=("d1", "d0"), n=("n1", "n0"), measure="OR", method="MH",
                 study="study")
    assert m.k == 11 and m.excluded.status.tolist() == ["missing", "not_estimable"]
    assert "n1" in m.excluded.reason.iloc[0] and "no participants" in m.excluded.reason.iloc[1]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"method": "MH", "estimate": "d1", "se": "d0"}, "pools 2x2 tables"),
    ({"method": "MH", "events": ("d1", "d0"), "n": ("n1", "n0")}, "give measure="),
    ({"method": "MH", "events": ("d1", "d0"), "n": ("n1", "n0"), "measure": "PETO"},
     "OR or RR or RD"),
    ({"method": "peto", "events": ("d1", "d0"), "n": ("n1", "n0"), "measure": "RR"},
     "OR or PETO"),
    ({"method": "peto", "events": ("d1", "d0"), "n": ("n1", "n0"), "measure": "OR",
      "correction_type": "opposite"}, "not available with PETO"),
    ({"method": "REML", "events": ("d1", "d0"), "n": ("n1", "n0"), "measure": "OR",
      "estimate": "d1"}, "not both"),
])
def test_bad_summary_arguments_get_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        ipd.pool(frame("bcg"), **kwargs)


def test_inverse_variance_only_analyses_are_refused_for_mh() -> None:
    m = ipd.pool(frame("bcg"), events=("d1", "d0"), n=("n1", "n0"), measure="OR",
                 method="MH")
    for call in (m.influence, m.trimfill, m.egger):
        with pytest.raises(InputError, match="inverse-variance pooling"):
            call()
    assert ipd.rank_test(m).k == 13


def _texts(fig) -> list[str]:
    from matplotlib.text import Text
    return [t.get_text() for t in fig.findobj(Text)]


def test_forest_shows_the_counts_per_arm() -> None:
    m = ipd.pool(frame("nielweise"), events=("d1", "d0"), n=("n1", "n0"), measure="OR",
                 method="MH", study="study")
    fig = m.forest(counts=True, group_names=("Antibiotic", "Placebo"))
    texts = _texts(fig)
    assert "Antibiotic n/N" in texts and "Placebo n/N" in texts
    assert "0/116" in texts and "3/117" in texts and "0/105" in texts
    t = pd.DataFrame({"m1": [55.0, 27.5], "s1": [47.0, 7.0], "k1": [155, 31], "m0": [75.0, 29],
                      "s0": [64.0, 4], "k0": [156, 32]})
    md = ipd.pool(t, means=("m1", "m0"), sds=("s1", "s0"), n=("k1", "k0"), measure="MD",
                  method="common")
    texts = _texts(md.forest(counts=True))
    assert "Treatment N, mean (SD)" in texts and "31, 27.50 (7)" in texts
    with pytest.raises(InputError, match="summary data"):
        ipd.pool(pd.DataFrame({"yi": [0.1, 0.2], "vi": [0.1, 0.1]})).forest(counts=True)
