"""Tests of AggregateData and its files (ipdmeta.aggregate)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.io.aggregate_files import read_dta_notes, stata_names
from ipdmeta.stage1 import stage1
from ipdmeta.stage1.table import AggregateData, read_aggregate

FORMATS = ["csv", "json", "parquet", "dta"]


@pytest.fixture(scope="module")
def ad() -> AggregateData:
    """A real stage-1 table: failures, per-arm counts and kept covariates of several types."""
    data = ipd.datasets.load("weight_gain_binary")
    data["year"] = data["study_name"].str[-4:].astype(int)
    data["long name (kg)"] = data["year"] / 10.0
    return stage1(data, study="study_name", formula="gdm ~ trt + baseline_wt",
                  model="logistic", keep=["intervention", "year", "long name (kg)"])


def test_table_layout(ad: AggregateData) -> None:
    assert ad.columns == ["study", "estimate", "se", "ci_low", "ci_high", "n", "events",
                          "n_dropped", "n_0", "n_1", "events_0", "events_1", "status",
                          "reason", "intervention", "year", "long name (kg)"]
    t = ad.to_frame()
    assert t["n"].dtype == np.int64 and t["estimate"].dtype == np.float64
    assert len(ad) == 33 and isinstance(ad["estimate"], pd.Series)
    assert ad[["study", "se"]].shape == (33, 2)
    t.loc[0, "estimate"] = 99.0                # to_frame() is a copy
    assert ad["estimate"].iloc[0] != 99.0
    assert len(ad.ok) == 28 and set(ad.ok["status"]) == {"ok"}
    assert ad.ok.measure == "OR" and ad.ok.poolvar == "trt"
    assert ad.excluded.columns.tolist() == ["study", "status", "reason"]
    assert len(ad.excluded) == 5
    assert "AggregateData: logistic model, OR of 'trt', 33 studies (28 estimated)" in repr(ad)
    assert "<table" in ad._repr_html_()


def test_metadata(ad: AggregateData) -> None:
    assert ad.metadata() == {
        "measure": "OR", "model": "logistic", "formula": "gdm ~ trt + baseline_wt",
        "poolvar": "trt", "ties": None, "level": 0.95, "firth": False,
        "study_var": "study_name", "interaction": None,
        "keep": ["intervention", "year", "long name (kg)"]}


def test_canonical_defaults() -> None:
    a = AggregateData(pd.DataFrame({"estimate": [0.1, 0.2], "se": [0.1, 0.4]}), level=90)
    t = a.to_frame()
    assert t["study"].tolist() == ["Study 1", "Study 2"]
    assert t["status"].tolist() == ["ok", "ok"] and t["reason"].tolist() == ["", ""]
    assert a.level == 0.9                              # a percent is read as a fraction
    with pytest.raises(InputError, match="'se'"):
        AggregateData(pd.DataFrame({"estimate": [0.1]}))


def test_ci_from_level() -> None:
    a = AggregateData(pd.DataFrame({"estimate": [0.0], "se": [1.0]}), level=0.9)
    assert a["ci_high"].iloc[0] == pytest.approx(1.6448536269514722)


def test_counts_with_missing_values_are_nullable() -> None:
    a = AggregateData(pd.DataFrame({"estimate": [0.1, 0.2], "se": [0.1, 0.2],
                                    "n": [10, None]}))
    assert str(a["n"].dtype) == "Int64"


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("names", ["ipdmeta", "ipdmetan"])
def test_round_trip(ad: AggregateData, tmp_path: Path, fmt: str, names: str) -> None:
    path = ad.save(tmp_path / f"ad.{fmt}", names=names)
    back = read_aggregate(path)
    pd.testing.assert_frame_equal(back.to_frame(), ad.to_frame())
    if fmt != "csv":                          # CSV holds the columns only
        assert back.metadata() == ad.metadata()
    else:
        assert back.measure is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_cox_with_numeric_study(tmp_path: Path, fmt: str) -> None:
    hyp = ipd.datasets.load("hypertension")
    hyp["trial"] = hyp["trial"].rank(method="dense").astype(int)
    a = stage1(hyp, study="trial", formula="Surv(time, event) ~ treat + age",
               interaction=("treat", "age"), ties="breslow")
    for names in ("ipdmeta", "ipdmetan"):
        back = read_aggregate(a.save(tmp_path / f"cox_{names}.{fmt}", names=names))
        pd.testing.assert_frame_equal(back.to_frame(), a.to_frame())
        if fmt != "csv":
            assert back.metadata() == a.metadata()
            assert back.interaction == ("treat", "age")


def test_ipdmetan_names_in_files(ad: AggregateData, tmp_path: Path) -> None:
    ad.save(tmp_path / "a.csv", names="ipdmetan")
    raw = pd.read_csv(tmp_path / "a.csv")
    assert raw.columns[:9].tolist() == ["_USE", "_STUDY", "_LABELS", "_ES", "_seES", "_LCI",
                                        "_UCI", "_NN", "events"]
    assert set(raw["_USE"]) == {1, 2}
    ad.save(tmp_path / "a.dta", names="ipdmetan")
    stata = pd.read_stata(tmp_path / "a.dta", convert_categoricals=False)
    assert stata["_STUDY"].tolist() == list(range(1, 34))    # numeric, value-labelled
    labelled = pd.read_stata(tmp_path / "a.dta")
    assert labelled["_STUDY"].astype(str).tolist() == ad["study"].tolist()
    assert "long_name__kg_" in stata.columns
    assert all(len(c) <= 32 for c in stata.columns)


def test_dta_label_and_notes(ad: AggregateData, tmp_path: Path) -> None:
    path = ad.save(tmp_path / "a.dta")
    notes = read_dta_notes(path)
    assert notes[0].startswith("ipdmeta stage 1: logistic model, formula gdm ~ trt + "
                               "baseline_wt, pooled term trt (OR)")
    meta = json.loads(notes[1].split(":", 1)[1])
    assert meta["poolvar"] == "trt" and meta["stata_names"] == {
        "long_name__kg_": "long name (kg)"}
    with pd.io.stata.StataReader(path) as reader:
        assert reader.data_label == "ipdmeta: OR of trt"
        assert reader.variable_labels()["_ES" if "_ES" in reader.variable_labels()
                                        else "estimate"] == "Estimate (analysis scale)"


def test_long_strings_truncated_for_stata(tmp_path: Path) -> None:
    a = AggregateData(pd.DataFrame({"estimate": [np.nan], "se": [np.nan],
                                    "status": ["separation"], "reason": ["é" * 3000]}))
    back = read_aggregate(a.save(tmp_path / "long.dta"))
    assert len(back["reason"].iloc[0].encode()) <= 2045
    assert back["reason"].iloc[0] == "é" * 1022


def test_reads_a_stata_ipdmetan_results_set(tmp_path: Path) -> None:
    """A results set as ipdmetan's saving() writes it: study, overall and label rows."""
    rs = pd.DataFrame({"_USE": [0, 1, 1, 2, 5], "_STUDY": [np.nan, 1, 2, 3, np.nan],
                       "_LABELS": ["", "Trial A", "Trial B", "Trial C", "Overall"],
                       "_ES": [np.nan, -0.2, 0.1, np.nan, -0.05],
                       "_seES": [np.nan, 0.1, 0.2, np.nan, 0.09],
                       "_LCI": [np.nan, -0.396, -0.292, np.nan, -0.23],
                       "_UCI": [np.nan, -0.004, 0.492, np.nan, 0.13],
                       "_NN": [np.nan, 100, 80, 12, 192], "_WT": [np.nan, 70, 30, np.nan, 100]})
    rs.to_stata(tmp_path / "rs.dta", write_index=False)
    back = read_aggregate(tmp_path / "rs.dta")
    assert back["study"].tolist() == [1.0, 2.0, 3.0]
    assert back["status"].tolist() == ["ok", "ok", "not_estimable"]
    m = ipd.pool(back, method="common")
    assert m.k == 2 and len(m.excluded) == 1


def test_stata_names() -> None:
    names = stata_names(["a" * 40, "a" * 41, "in", "x y", "_ES", "2nd", "é"])
    assert list(names.values()) == ["a" * 32, "a" * 30 + "_1", "_in", "x_y", "_ES", "_2nd",
                                    "_"]


def test_save_errors(ad: AggregateData, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="suffix"):
        ad.save(tmp_path / "a.xlsx")
    with pytest.raises(InputError, match="names="):
        ad.save(tmp_path / "a.csv", names="stata")
    with pytest.raises(InputError, match="does not exist"):
        read_aggregate(tmp_path / "missing.json")


def test_pool_reads_aggregate_data(ad: AggregateData) -> None:
    m = ipd.pool(ad, method="DL")
    assert m.k == 28 and m.measure == "OR" and len(m.excluded) == 5
