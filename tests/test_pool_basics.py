"""Input checks, edge cases (k = 1, 2), options and printed output of ipd.pool()."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text

import ipdmeta as ipd
from ipdmeta.errors import ConvergenceError, InputError
from ipdmeta.pooling import tau2 as tau2_module

YI = [-0.889, -1.585, -1.348, -1.442, -0.218, -0.786, -1.621, 0.012, -0.469, -1.371]
VI = [0.326, 0.195, 0.415, 0.020, 0.051, 0.007, 0.223, 0.004, 0.056, 0.073]


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"trial": [f"T{i}" for i in range(len(YI))], "yi": YI, "vi": VI,
                         "grp": ["a", "b"] * 5})


def test_common_effect_is_inverse_variance_mean(frame):
    m = ipd.pool(frame, method="FE")
    w = 1 / np.array(VI)
    assert m.overall.model == "common"
    assert m.overall.estimate == pytest.approx(np.sum(w * YI) / np.sum(w), abs=1e-12)
    assert m.overall.se == pytest.approx(np.sqrt(1 / np.sum(w)), abs=1e-12)
    assert m.studies["weight"].sum() == pytest.approx(100)
    assert m.studies["study"].tolist() == frame.trial.tolist()


def test_se_and_variance_columns_give_the_same_result(frame):
    a = ipd.pool(frame, estimate="yi", variance="vi", method="REML")
    b = ipd.pool(frame.assign(sei=np.sqrt(frame.vi)).drop(columns="vi"), estimate="yi",
                 se="sei", method="REML")
    assert a.overall.estimate == pytest.approx(b.overall.estimate, abs=1e-12)
    assert a.overall.tau2 == pytest.approx(b.overall.tau2, abs=1e-12)


@pytest.mark.parametrize("alias", ["FE", "EE", "IV", "common", "fixed"])
def test_common_aliases(frame, alias):
    assert ipd.pool(frame, method=alias).overall.model == "common"


def test_errors_name_the_column_and_study(frame):
    bad = frame.copy()
    bad.loc[3, "vi"] = -1
    with pytest.raises(InputError, match=r"'vi'.*row 3.*'T3'"):
        ipd.pool(bad)
    bad = frame.copy()
    bad.loc[2, "yi"] = np.nan
    with pytest.raises(InputError, match=r"'yi'.*row 2.*'T2'"):
        ipd.pool(bad)
    bad = frame.copy()
    bad.loc[1, "vi"] = np.nan
    with pytest.raises(InputError, match=r"'vi'.*row 1"):
        ipd.pool(bad)
    bad = frame.copy()
    bad.loc[4, "trial"] = "T0"
    with pytest.raises(InputError, match=r"duplicated.*'T0'"):
        ipd.pool(bad)
    with pytest.raises(InputError, match="no rows"):
        ipd.pool(frame.iloc[:0])
    with pytest.raises(InputError, match=r"'yy'.*did you mean 'yi'"):
        ipd.pool(frame, estimate="yy")
    with pytest.raises(InputError, match="method"):
        ipd.pool(frame, method="XYZ")
    with pytest.raises(InputError, match="ci="):
        ipd.pool(frame, ci="bootstrap")
    with pytest.raises(InputError, match="tau2_ci='pl'"):
        ipd.pool(frame, method="DL", tau2_ci="pl")
    with pytest.raises(InputError, match="either se= or variance="):
        ipd.pool(frame, se="vi", variance="vi")


def test_one_study_returns_the_study_with_a_message(frame):
    m = ipd.pool(frame.iloc[:1], method="REML", ci="hksj")
    o = m.overall
    assert o.k == 1 and o.estimate == pytest.approx(YI[0]) and o.se == pytest.approx(
        np.sqrt(VI[0]))
    assert o.ci_method == "z" and np.isnan(o.pi_low)
    assert any("only one study" in s for s in m.messages)
    assert any("needs at least 2 studies" in s for s in m.messages)


def test_two_studies_hksj_is_finite_and_warned(frame):
    m = ipd.pool(frame.iloc[:2], method="DL", ci="hksj")
    assert np.isfinite(m.overall.ci_low) and np.isfinite(m.overall.ci_high)
    assert m.overall.df == 1
    assert any("2 studies" in s for s in m.messages)
    assert np.isnan(m.overall.pi_low)
    assert any("no prediction interval" in s for s in m.messages)


def test_truncated_hksj_never_narrower_than_t(frame):
    for sub in (frame.iloc[:4], frame.iloc[4:], frame):
        t = ipd.pool(sub, method="REML", ci="t").overall
        tr = ipd.pool(sub, method="REML", ci="hksj-trunc").overall
        assert tr.ci_high - tr.ci_low >= t.ci_high - t.ci_low - 1e-12


def test_identical_estimates_hksj_zero_width_is_reported():
    df = pd.DataFrame({"yi": [0.3, 0.3, 0.3], "vi": [0.1, 0.2, 0.3]})
    m = ipd.pool(df, method="DL", ci="hksj")
    assert m.overall.ci_low == pytest.approx(m.overall.ci_high)
    assert any("zero width" in s for s in m.messages)
    assert ipd.pool(df, method="DL", ci="hksj-trunc").overall.ci_high > 0.3


def test_hts_and_metafor_prediction_intervals_differ_as_defined(frame):
    hts = ipd.pool(frame, method="REML", pi="hts").overall
    mf = ipd.pool(frame, method="REML", pi="metafor").overall
    from scipy import stats
    half = np.sqrt(hts.se**2 + hts.tau2)
    assert hts.pi_high - hts.estimate == pytest.approx(stats.t.ppf(0.975, 8) * half)
    assert mf.pi_high - mf.estimate == pytest.approx(stats.norm.ppf(0.975) * half)


def test_non_convergence_is_reported_not_returned(frame, monkeypatch):
    # one Fisher step, and a bracketed search that finds nothing (issue 12: it finds the
    # maximum whenever there is one)
    monkeypatch.setattr(tau2_module, "FISHER_ITER", 1)
    monkeypatch.setattr(tau2_module, "_bracketed_root", lambda *args: None)
    with pytest.raises(ConvergenceError, match="did not converge"):
        ipd.pool(frame, method="REML")


def test_level_as_percent(frame):
    a = ipd.pool(frame, level=90).overall
    b = ipd.pool(frame, level=0.9).overall
    assert a.ci_low == pytest.approx(b.ci_low) and a.level == 0.9


def test_subgroups_and_test_of_difference(frame):
    m = ipd.pool(frame, by="grp", method="DL")
    s = m.subgroups
    assert list(s.pooled) == ["a", "b"] and s.Q_between_df == 1
    sub_a = ipd.pool(frame[frame.grp == "a"], method="DL").overall
    assert s.pooled["a"].estimate == pytest.approx(sub_a.estimate, abs=1e-12)
    # common-effect: Q_between = Q_total - sum Q_within
    c = ipd.pool(frame, by="grp", method="common")
    q_within = sum(p.Q for p in c.subgroups.pooled.values())
    assert c.subgroups.Q_between == pytest.approx(c.overall.Q - q_within, abs=1e-9)
    assert m.common_subgroups.Q_between == pytest.approx(c.subgroups.Q_between, abs=1e-12)


def test_aggregate_like_input_pools_only_ok_rows(frame):
    class Fake:
        measure = "HR"

        def to_frame(self):
            out = frame.rename(columns={"yi": "estimate"}).assign(
                se=np.sqrt(frame.vi), status="ok", reason="")
            out.loc[2, ["status", "reason"]] = ["no_events", "no events among 40 participants"]
            out.loc[2, ["estimate", "se"]] = np.nan
            return out.drop(columns="vi")

    m = ipd.pool(Fake(), study="trial")
    assert m.k == len(frame) - 1
    assert m.excluded.study.tolist() == ["T2"]
    assert m.measure == "HR" and m.eform_default
    text = m.summary()
    assert "T2: no events among 40 participants" in text
    assert "HR" in text


def test_summary_eform_and_frame(frame):
    m = ipd.pool(frame, method="REML", ci="hksj", by="grp")
    plain, eform = m.summary(eform=False), m.summary(eform=True)
    assert f"{m.overall.estimate:.3f}" in plain
    assert f"{np.exp(m.overall.estimate):.3f}" in eform
    assert "Test of subgroup differences" in plain
    res = m.to_frame()
    assert set(res.row_type) == {"study", "subgroup", "pooled", "prediction"}
    assert (res.row_type == "study").sum() == len(frame)
    assert m.to_dict()["overall"]["k"] == len(frame)


def test_cumulative_by_column_and_errors(frame):
    m = ipd.pool(frame.assign(year=np.arange(10)[::-1]), method="DL")
    cum = m.cumulative(order="year")
    assert cum.added.tolist() == frame.trial.tolist()[::-1]
    assert cum.k.tolist() == list(range(1, 11))
    assert cum.estimate.iloc[-1] == pytest.approx(m.overall.estimate)
    with pytest.raises(InputError, match="order"):
        m.cumulative(order="nope")


def test_convenience_methods_delegate(frame):
    m = ipd.pool(frame, method="REML")
    assert len(m.influence().table) == len(frame)
    assert m.egger().pvalue == ipd.egger_test(m).pvalue
    assert m.trimfill().k0 == ipd.trimfill(m).k0
    fig = m.leave_one_out_forest()
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert sum(t.startswith("Omitting ") for t in texts) == len(frame)
    fig = m.cumulative_forest()
    texts = [t.get_text() for t in fig.findobj(Text)]
    assert any("(k = 10)" in t for t in texts)
    assert m.funnel() is not None


def test_subgroup_order_is_sorted_everywhere() -> None:
    """One rule for subgroup order (sorted, as Stata's by() and tabulate), used by the
    result, the printed table, the forest plot and the meta-regression dummies."""
    import ipdmeta as ipd
    from ipdmeta.plots._forest_rows import TableOptions, build_table

    frame = pd.DataFrame({"yi": [0.1, 0.3, 0.2, 0.5, 0.4, 0.0],
                          "vi": [0.01, 0.02, 0.03, 0.02, 0.01, 0.02],
                          "grp": ["mixed", "diet", "exercise", "mixed", "diet", "exercise"]})
    m = ipd.pool(frame, by="grp", method="DL")
    expected = ["diet", "exercise", "mixed"]
    assert list(m.subgroups.pooled) == expected
    assert m.subgroups.table["group"].tolist() == expected
    text = m.summary()
    assert [text.index(f"grp = {g}") for g in expected] == sorted(
        text.index(f"grp = {g}") for g in expected)
    headings = [r.label for r in build_table(m, TableOptions()).rows if r.kind == "heading"]
    assert headings == expected
    mr = ipd.metareg(frame, "~ C(grp)", method="DL")
    assert mr.terms[1:] == ["C(grp)[T.exercise]", "C(grp)[T.mixed]"]   # diet is the reference
    cat = frame.assign(grp=pd.Categorical(frame["grp"], ["mixed", "exercise", "diet"]))
    assert list(ipd.pool(cat, by="grp", method="DL").subgroups.pooled) == [
        "mixed", "exercise", "diet"]                                   # a categorical's order


def test_weights_are_never_silently_ignored() -> None:
    """weights= is honoured by GENQ and refused, by name, with any other method."""
    import ipdmeta as ipd
    from ipdmeta.errors import InputError

    frame = pd.DataFrame({"yi": [0.1, 0.3, 0.2, 0.5], "vi": [0.01, 0.02, 0.03, 0.02],
                          "w": [1.0, 2.0, 1.0, 3.0]})
    with pytest.raises(InputError, match="weights='w' is used by method='GENQ'"):
        ipd.pool(frame, weights="w", method="REML")
    genq = ipd.pool(frame, weights="w", method="GENQ")
    plain = ipd.pool(frame.assign(w=1.0 / frame["vi"]), weights="w", method="GENQ")
    assert genq.overall.tau2 != plain.overall.tau2   # the weights change the estimate
