"""Tests of the bundled example datasets (ipdmeta.datasets)."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ipdmeta import datasets
from ipdmeta.datasets import make_datasets
from ipdmeta.errors import InputError

# the documented layout (docs/datasets.md): name -> (rows, {column: kind})
EXPECTED: dict[str, tuple[int, dict[str, str]]] = {
    "hypertension": (4410, {"trial": "str", "treat": "int", "smk": "int", "sbpi": "int",
                            "age": "int", "bmi": "float", "time": "float", "event": "int"}),
    "weight_gain": (3182, {"studyid": "int", "study_name": "str", "intervention": "str",
                           "trt": "int", "baseline_wt": "float", "final_wt": "float",
                           "n": "int"}),
    "weight_gain_binary": (3182, {"studyid": "int", "study_name": "str", "intervention": "str",
                                  "trt": "int", "baseline_wt": "float", "gdm": "int",
                                  "outcm_comp_exclbase": "int", "trt2": "int"}),
    "bcg": (13, {"trial": "int", "author": "str", "year": "int", "tpos": "int", "tneg": "int",
                 "cpos": "int", "cneg": "int", "ablat": "int", "alloc": "str", "yi": "float",
                 "vi": "float"}),
}

SIMULATED = ["hypertension", "weight_gain", "weight_gain_binary"]


def _committed(name: str) -> bytes:
    return resources.files("ipdmeta.datasets").joinpath(f"{name}.csv").read_bytes()


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    return {name: datasets.load(name) for name in EXPECTED}


# ---------------------------------------------------------------- loading and layout


@pytest.mark.parametrize("name", list(EXPECTED))
def test_columns_dtypes_rows(frames: dict[str, pd.DataFrame], name: str) -> None:
    df = frames[name]
    rows, kinds = EXPECTED[name]
    assert df.shape == (rows, len(kinds))
    assert df.columns.tolist() == list(kinds)
    assert datasets.columns(name) == list(kinds)
    assert not df.isna().any().any()
    for col, kind in kinds.items():
        s = df[col]
        if kind == "int":
            assert s.dtype == np.int64, col
        elif kind == "float":
            assert s.dtype == np.float64, col
        else:
            assert pd.api.types.is_string_dtype(s), col
            assert s.map(type).eq(str).all(), col
            assert (s.str.len() > 0).all(), col


def test_list_describes_every_dataset(frames: dict[str, pd.DataFrame]) -> None:
    info = datasets.list()
    assert info.columns.tolist() == ["name", "rows", "description"]
    assert info["name"].tolist() == list(EXPECTED)
    for row in info.itertuples():
        assert row.rows == len(frames[row.name])
        assert len(row.description) > 20


def test_convenience_loaders_match_load(frames: dict[str, pd.DataFrame]) -> None:
    pd.testing.assert_frame_equal(datasets.load_hypertension(), frames["hypertension"])
    pd.testing.assert_frame_equal(datasets.load_weight_gain(), frames["weight_gain"])
    pd.testing.assert_frame_equal(datasets.load_weight_gain_binary(),
                                  frames["weight_gain_binary"])
    pd.testing.assert_frame_equal(datasets.load_bcg(), frames["bcg"])


def test_load_returns_a_fresh_copy() -> None:
    a = datasets.load("bcg")
    a.loc[0, "yi"] = 99.0
    assert datasets.load("bcg").loc[0, "yi"] != 99.0


def test_name_is_case_insensitive() -> None:
    assert len(datasets.load(" BCG ")) == 13


def test_unknown_name_lists_available() -> None:
    with pytest.raises(InputError) as err:
        datasets.load("hypertensoin")
    msg = str(err.value)
    assert "hypertensoin" in msg
    for name in EXPECTED:
        assert repr(name) in msg


def test_files_are_modest() -> None:
    total = sum(len(_committed(name)) for name in EXPECTED)
    assert total < 400_000


# ---------------------------------------------------------------- reproducibility


def test_generator_reproduces_committed_csv(tmp_path: Path) -> None:
    assert make_datasets.main(["--outdir", str(tmp_path), "--skip-bcg"]) == 0
    for name in SIMULATED:
        assert (tmp_path / f"{name}.csv").read_bytes() == _committed(name), name
    assert not (tmp_path / "bcg.csv").exists()


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs Rscript with metafor")
def test_bcg_reproduced_from_r() -> None:
    try:
        content = make_datasets.build(["bcg"])["bcg"]
    except subprocess.CalledProcessError as err:  # R present but metafor missing
        pytest.skip(f"R could not run metafor: {err.stderr.strip()[:200]}")
    assert content == _committed("bcg")


def test_truth_matches_data() -> None:
    sim = make_datasets.simulate_hypertension()
    events = sim.data.groupby("trial", sort=False)["event"].agg(["size", "sum"])
    assert events["size"].tolist() == sim.truth["n"].tolist()
    assert events["sum"].tolist() == sim.truth["events"].tolist()
    wb = make_datasets.simulate_weight_gain_binary()
    ev = wb.data.groupby(["studyid", "trt"])["gdm"].sum().unstack("trt")
    assert ev[0].tolist() == wb.truth["events_control"].tolist()
    assert ev[1].tolist() == wb.truth["events_trt"].tolist()


# ---------------------------------------------------------------- hypertension


def test_hypertension_design(frames: dict[str, pd.DataFrame]) -> None:
    df = frames["hypertension"]
    sizes = df.groupby("trial").size()
    assert len(sizes) == 10
    assert sizes.min() >= 150 and sizes.max() <= 1200
    assert set(df["treat"]) == {0, 1} and set(df["smk"]) == {0, 1} and set(df["event"]) == {0, 1}
    assert (df["time"] > 0).all()
    # times recorded in whole months: every value is round(m / 12, 2) for an integer m
    months = np.rint(df["time"] * 12)
    assert np.allclose(np.round(months / 12, 2), df["time"])
    per_trial = df.groupby("trial")["event"].mean()
    assert per_trial.between(0.05, 0.6).all()  # events and censoring in every trial
    tied = df[df["event"] == 1].groupby("trial")["time"].apply(lambda t: t.duplicated().sum())
    assert (tied > 0).all()  # tied event times in every trial
    assert df["sbpi"].between(140, 230).all() and df["age"].between(55, 90).all()


def test_hypertension_effects(frames: dict[str, pd.DataFrame]) -> None:
    df = frames["hypertension"]
    g = df.groupby(["trial", "treat"]).agg(ev=("event", "sum"), py=("time", "sum")).unstack()
    total = g["py"][0] + g["py"][1]
    # Mantel-Haenszel rate ratio across trials: treatment lowers the event rate
    mh = ((g["ev"][1] * g["py"][0] / total).sum() / (g["ev"][0] * g["py"][1] / total).sum())
    assert 0.7 < mh < 0.95
    rate = df.groupby("smk")["event"].sum() / df.groupby("smk")["time"].sum()
    assert rate[1] > 1.5 * rate[0]  # smokers have about 1.7 times the hazard
    old = df["age"] >= df["age"].median()
    assert df.loc[old, "event"].mean() > df.loc[~old, "event"].mean()


# ---------------------------------------------------------------- weight gain


def test_weight_gain_design(frames: dict[str, pd.DataFrame]) -> None:
    df = frames["weight_gain"]
    sizes = df.groupby("studyid").size()
    assert sizes.index.tolist() == list(range(1, 34))
    assert sizes.min() < 25 and sizes.max() >= 400
    assert (df.groupby("studyid")[["study_name", "intervention"]].nunique() == 1).all().all()
    assert df["study_name"].nunique() == 33
    assert df["study_name"].str.fullmatch(r"[A-Z][a-z]+ (19|20)\d\d").all()
    assert set(df["intervention"]) == {"diet", "exercise", "mixed"}
    assert df["baseline_wt"].between(40, 140).all()
    assert (df["final_wt"] - df["baseline_wt"]).mean() == pytest.approx(12.5, abs=2)


def test_weight_gain_effects(frames: dict[str, pd.DataFrame]) -> None:
    df = frames["weight_gain"].assign(gain=lambda d: d["final_wt"] - d["baseline_wt"])
    means = df.groupby(["studyid", "trt"])["gain"].mean().unstack("trt")
    md = means[1] - means[0]
    n = df.groupby("studyid").size()
    kind = df.groupby("studyid")["intervention"].first()
    overall = (md * n).sum() / n.sum()
    assert -2.0 < overall < -0.5
    by_kind = (md * n).groupby(kind).sum() / n.groupby(kind).sum()
    assert (by_kind < 0).all()
    assert by_kind["diet"] < by_kind["exercise"]  # true: -1.5 vs -0.7 kg


# ---------------------------------------------------------------- weight gain, binary


def test_binary_shares_the_women_of_weight_gain(frames: dict[str, pd.DataFrame]) -> None:
    shared = ["studyid", "study_name", "intervention", "trt", "baseline_wt"]
    pd.testing.assert_frame_equal(frames["weight_gain_binary"][shared],
                                  frames["weight_gain"][shared])


def test_binary_has_zero_event_trials(frames: dict[str, pd.DataFrame]) -> None:
    df = frames["weight_gain_binary"]
    assert set(df["gdm"]) == {0, 1}
    ev = df.groupby(["studyid", "trt"])["gdm"].sum().unstack("trt")
    one_arm = (ev[0] == 0) != (ev[1] == 0)
    none = (ev[0] == 0) & (ev[1] == 0)
    assert one_arm.sum() >= 1
    assert none.sum() >= 1
    make_datasets.check_binary(df)  # the generator's own guard agrees


def test_binary_effect(frames: dict[str, pd.DataFrame]) -> None:
    df = frames["weight_gain_binary"]
    e = df.groupby(["studyid", "trt"])["gdm"].agg(["sum", "size"]).unstack("trt")
    a, c = e["sum"][1], e["sum"][0]
    b, d = e["size"][1] - a, e["size"][0] - c
    total = e["size"].sum(axis=1)
    mh_or = (a * d / total).sum() / (b * c / total).sum()
    assert 0.6 < mh_or < 0.95
    heavy = df["baseline_wt"] >= df["baseline_wt"].median()
    assert df.loc[heavy, "gdm"].mean() > df.loc[~heavy, "gdm"].mean()
    assert 0.05 < df["gdm"].mean() < 0.2


# ---------------------------------------------------------------- bcg


def test_bcg_log_risk_ratios(frames: dict[str, pd.DataFrame]) -> None:
    df = frames["bcg"]
    assert df["trial"].tolist() == list(range(1, 14))
    assert df.loc[0, "author"] == "Aronson" and df.loc[0, "year"] == 1948
    assert set(df["alloc"]) == {"random", "alternate", "systematic"}
    n1, n2 = df["tpos"] + df["tneg"], df["cpos"] + df["cneg"]
    yi = np.log(df["tpos"] / n1) - np.log(df["cpos"] / n2)
    vi = 1 / df["tpos"] - 1 / n1 + 1 / df["cpos"] - 1 / n2
    np.testing.assert_allclose(df["yi"], yi, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(df["vi"], vi, rtol=1e-13)
    # the common-effect (inverse-variance) summary: metafor gives -0.4303 (RR 0.65)
    w = 1 / df["vi"]
    assert (w * df["yi"]).sum() / w.sum() == pytest.approx(-0.4303, abs=5e-5)
