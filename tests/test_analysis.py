"""Tests of the one-call two-stage analysis (ipdmeta.analysis)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta import analysis
from ipdmeta.analysis import IPDMetaResult, ipdmeta
from ipdmeta.errors import InputError
from ipdmeta.pooling.results import MetaResult
from ipdmeta.stage1 import stage1

REFERENCE = json.loads((Path(__file__).parent / "reference" / "stage1_pipeline.json")
                       .read_text())
COX = "Surv(time, event) ~ treat + smk + sbpi + age + bmi"


@pytest.fixture(scope="module")
def hyp() -> pd.DataFrame:
    return ipd.datasets.load("hypertension")


@pytest.fixture(scope="module")
def wgb() -> pd.DataFrame:
    return ipd.datasets.load("weight_gain_binary")


def test_both_stages_equal_stage1_then_pool(hyp: pd.DataFrame) -> None:
    res = ipdmeta(hyp, study="trial", formula=COX, method="DL", ci="hksj", ties="breslow")
    ad = stage1(hyp, study="trial", formula=COX, ties="breslow")
    m = ipd.pool(ad, method="DL", ci="hksj")
    assert isinstance(res, IPDMetaResult)
    pd.testing.assert_frame_equal(res.aggregate.to_frame(), ad.to_frame())
    assert res.meta.overall.to_dict() == m.overall.to_dict()
    assert res.overall is res.meta.overall
    ref = REFERENCE["cox_breslow"]["pooled"]["DL_hksj"]
    assert res.overall.estimate == pytest.approx(ref["estimate"], rel=1e-6)
    assert res.overall.ci_low == pytest.approx(ref["ci_low"], rel=1e-6)


def test_linear_matches_r_pipeline() -> None:
    res = ipdmeta(ipd.datasets.load("weight_gain"), study="study_name",
                  formula="final_wt ~ trt + baseline_wt", model="linear")
    ref = REFERENCE["linear"]["pooled"]["REML"]
    assert res.overall.estimate == pytest.approx(ref["estimate"], rel=1e-7)
    assert res.overall.se == pytest.approx(ref["se"], rel=1e-6)
    assert res.overall.tau2 == pytest.approx(ref["tau2"], rel=1e-5)
    assert res.meta.measure == "MD" and not res.meta.eform_default


def test_by_is_kept_and_used(wgb: pd.DataFrame) -> None:
    res = ipdmeta(wgb, study="study_name", formula="gdm ~ trt + baseline_wt",
                  model="logistic", by="intervention", keep="study_name")
    assert res.aggregate.keep == ("intervention",)       # the study column is not repeated
    assert "intervention" in res.aggregate.columns
    assert set(res.meta.subgroups.pooled) == {"diet", "exercise", "mixed"}
    assert sum(p.k for p in res.meta.subgroups.pooled.values()) == 28
    bad = wgb.assign(arm=np.where(wgb["trt"] == 1, "a", "b"))
    with pytest.raises(InputError, match="'arm' is not constant within study"):
        ipdmeta(bad, study="study_name", formula="gdm ~ trt", model="logistic", by="arm")
    with pytest.raises(InputError, match="one column"):
        ipdmeta(wgb, study="study_name", formula="gdm ~ trt", model="logistic",
                by=["intervention", "trt"])


def test_stage2_options_checked_before_stage1(wgb: pd.DataFrame,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise AssertionError("stage 1 should not run")

    monkeypatch.setattr(analysis, "stage1", boom)
    for bad in ({"method": "XYZ"}, {"ci": "bootstrap"}, {"pi": "none"}, {"level": 0}):
        with pytest.raises(InputError):
            ipdmeta(wgb, study="study_name", formula="gdm ~ trt", model="logistic", **bad)


def test_stage1_options_pass_through(hyp: pd.DataFrame) -> None:
    res = ipdmeta(hyp, study="trial", formula="Surv(time, event) ~ treat + age",
                  interaction=("treat", "age"), level=0.9)
    assert res.aggregate.poolvar == "treat:age" and res.aggregate.level == 0.9
    assert res.meta.overall.level == 0.9
    with pytest.raises(TypeError):
        ipdmeta(hyp, study="trial", formula=COX, bogus_option=1)


def test_summary(wgb: pd.DataFrame) -> None:
    data = wgb.copy()
    data.loc[data["study_name"] == "Ulrich 2010", "baseline_wt"] = 70.0
    data.loc[data.index[:3], "baseline_wt"] = np.nan
    res = ipdmeta(data, study="study_name", formula="gdm ~ trt + baseline_wt",
                  model="logistic")
    text = res.summary()
    assert text.startswith("Two-stage IPD meta-analysis")
    assert "Stage 1: Logistic regression; gdm ~ trt + baseline_wt" in text
    events = int(data.dropna(subset=["baseline_wt"])["gdm"].sum())
    assert (f"33 studies (28 estimated), 3179 participants (3 rows dropped for missing "
            f"values), {events} events") in text
    assert "pooled term: trt (OR)" in text
    header = next(line for line in text.splitlines() if line.startswith("Study "))
    assert all(w in header for w in ("N", "Events", "OR", "% Weight"))
    # excluded studies listed once, with reason and code
    assert text.count("Dunmore 2002: no events among the 18 participants") == 1
    assert "[no_events]" in text
    assert "Ulrich 2010: not in this study's model: 'baseline_wt'" in text
    assert "Stage 2: Meta-analysis of 28 studies" in text
    assert "Heterogeneity" in text
    # exponentiated by default for OR; on the analysis scale when asked
    ulrich = res.aggregate.to_frame().set_index("study").loc["Ulrich 2010"]
    assert f"{np.exp(ulrich['estimate']):.3f}" in text
    assert f"{ulrich['estimate']:.3f}" in res.summary(eform=False)
    assert str(res) == text
    page = res._repr_html_()
    assert "<table" in page and "Ulrich 2010" in page and "not estimable" in page
    assert "IPDMetaResult(logistic model, OR of 'trt': k=28" in repr(res)


def test_summary_cox_mentions_ties_and_events(hyp: pd.DataFrame) -> None:
    text = ipdmeta(hyp, study="trial", formula=COX).summary()
    assert "Cox proportional hazards model, ties: efron" in text
    assert f"{len(hyp)} participants" in text and f"{int(hyp['event'].sum())} events" in text


def test_stage1_table_weights(hyp: pd.DataFrame) -> None:
    res = ipdmeta(hyp, study="trial", formula=COX)
    table = res.stage1_table()
    assert table["weight"].sum() == pytest.approx(100.0)
    assert table["study"].tolist() == res.meta.studies["study"].tolist()


def test_forest_delegates(hyp: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(MetaResult, "forest", lambda self, **kw: calls.append(kw) or "fig")
    res = ipdmeta(hyp, study="trial", formula=COX)
    assert res.forest(eform=True, xlabel="Hazard ratio") == "fig"
    assert calls == [{"eform": True, "xlabel": "Hazard ratio"}]
