"""Tests of the stage-1 engines (ipdmeta.engines, ipdmeta.dask_engine): batching gives the
per-study results and statuses, all engines give the same table, memory stays small."""

from __future__ import annotations

import os
import sys
import tracemalloc
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

from ipdmeta.errors import InputError
from ipdmeta.stage1 import blocks, engines, stage1, workers
from ipdmeta.stage1.data import prepare
from ipdmeta.stage1.formula import parse_formula

RTOL = 1e-10


def simulate(seed: int = 7, k: int = 40) -> pd.DataFrame:
    """``k`` studies of 20-120 participants with every kind of outcome, plus troubled
    studies (see :func:`troubled`)."""
    rng = np.random.default_rng(seed)
    parts = []
    for j in range(k):
        n = int(rng.integers(20, 120))
        treat = rng.permutation(np.arange(n) % 2)
        age = rng.normal(55 + j % 5, 8, n)
        region = rng.choice(["east", "north", "south"], n)
        lin = -0.4 * treat + 0.03 * (age - 55) + 0.2 * (region == "north")
        t = rng.exponential(1 / np.exp(lin))
        c = rng.exponential(1.5, n)
        exposure = rng.uniform(0.5, 3, n)
        parts.append(pd.DataFrame({
            "trial": f"S{j:03d}", "treat": treat, "age": age.round(1), "region": region,
            "y": 10 - 1.5 * treat + 0.1 * age + rng.normal(0, 2, n),
            "bin": rng.binomial(1, 1 / (1 + np.exp(-(lin - 0.5)))),
            "count": rng.poisson(exposure * np.exp(lin)), "exposure": exposure,
            "time": np.minimum(t, c).round(2), "event": (t <= c).astype(int),
            "centre": rng.integers(0, 2, n), "year": 1990 + j % 7,
            "design": "parallel" if j % 2 else "cluster"}))
    frame = pd.concat(parts, ignore_index=True)
    return frame.sample(frac=1, random_state=seed).reset_index(drop=True)


def troubled(data: pd.DataFrame) -> pd.DataFrame:
    """Studies that the per-study path must handle: no complete case, constant pooled
    term, too few rows, no events, separation, an absent region, a constant covariate,
    missing values."""
    d = data.copy()
    is_ = {s: d["trial"] == s for s in ("S000", "S001", "S002", "S003", "S004", "S005",
                                        "S006", "S007")}
    d.loc[is_["S000"], "treat"] = np.nan
    d.loc[is_["S001"], "treat"] = 1
    d = d[~(is_["S002"] & (d.groupby("trial").cumcount() > 2))]
    d.loc[d["trial"] == "S003", ["bin", "count", "event"]] = 0
    s4 = d["trial"] == "S004"
    d.loc[s4, "bin"] = d.loc[s4, "treat"]
    d.loc[s4, "event"] = 1 - d.loc[s4, "treat"]
    d = d[~((d["trial"] == "S005") & (d["region"] == "north"))]
    d.loc[d["trial"] == "S006", "age"] = 60.0
    s7 = d.index[d["trial"] == "S007"]
    d.loc[s7[:5], "age"] = np.nan
    return d.reset_index(drop=True)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return troubled(simulate())


CASES = [
    ({"formula": "y ~ treat + age + C(region)", "model": "linear"}),
    ({"formula": "bin ~ treat + age + C(region)", "model": "logistic"}),
    ({"formula": "count ~ treat + age", "model": "poisson", "exposure": "exposure"}),
    ({"formula": "Surv(time, event) ~ treat + age + C(region)"}),
    ({"formula": "Surv(time, event) ~ treat + age", "ties": "breslow"}),
    ({"formula": "Surv(time, event) ~ treat + age + strata(centre)"}),
    ({"formula": "y ~ treat", "model": "linear", "interaction": ("treat", "age")}),
    ({"formula": "bin ~ treat + age", "model": "logistic", "interaction": "treat:age",
      "center": False}),
    ({"formula": "y ~ age + treat", "model": "linear", "poolvar": "age"}),
]


def assert_same(a, b) -> None:
    fa, fb = a.to_frame(), b.to_frame()
    pd.testing.assert_frame_equal(fa.drop(columns=["estimate", "se", "ci_low", "ci_high"]),
                                  fb.drop(columns=["estimate", "se", "ci_low", "ci_high"]))
    for c in ("estimate", "se", "ci_low", "ci_high"):
        np.testing.assert_allclose(fa[c], fb[c], rtol=RTOL, atol=1e-12)


@pytest.fixture
def count_per_study(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    original = blocks.fit_study

    def counting(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(blocks, "fit_study", counting)
    return calls


# ------------------------------------------------------------------ batching
@pytest.mark.parametrize("kw", CASES)
def test_batched_equals_per_study(data: pd.DataFrame, kw: dict,
                                  count_per_study: list[int]) -> None:
    kw = {"study": "trial", "keep": ["year", "design"], **kw}
    batched = stage1(data, **kw)
    per_study_calls = count_per_study[0]
    one_by_one = stage1(data, batch=False, **kw)
    assert count_per_study[0] - per_study_calls == 40
    assert_same(batched, one_by_one)
    assert per_study_calls <= 14          # only the special studies went one by one
    assert batched.to_frame()["status"].ne("ok").sum() >= 3


def test_statuses_and_reasons_of_troubled_studies(data: pd.DataFrame) -> None:
    ad = stage1(data, study="trial", formula="bin ~ treat + age + C(region)",
                model="logistic").to_frame().set_index("study")
    assert ad.loc["S000", "status"] == "no_complete_cases"
    assert ad.loc["S001", "status"] == "constant_poolvar"
    assert ad.loc["S002", "status"] == "too_few_rows"
    assert ad.loc["S003", "status"] == "no_events"
    assert ad.loc["S004", "status"] == "separation"
    assert "C(region)[T.north]" in ad.loc["S005", "reason"]
    assert "'age' (the same for every participant)" in ad.loc["S006", "reason"]
    assert ad.loc["S007", "n_dropped"] == 5


def test_per_study_design_when_not_global(data: pd.DataFrame, count_per_study) -> None:
    # a numeric column inside C() and on its own: C(grade)'s levels would be the study's
    d = data.assign(grade=data.groupby("trial").cumcount() % 3)
    kw = {"study": "trial", "formula": "y ~ treat + C(grade) + age:grade", "model": "linear"}
    ad = stage1(d, **kw)
    assert count_per_study[0] == 40
    assert_same(ad, stage1(d, batch=False, **kw))
    sample = d.head(60)
    assert not blocks.design_is_global(parse_formula("y ~ C(grade) + grade"), sample)
    assert not blocks.design_is_global(parse_formula("y ~ center(age)"), sample)
    assert not blocks.design_is_global(parse_formula("y ~ nosuchcolumn"), sample)
    coded = prepare(d.assign(arm=np.where(d["treat"] == 1, "b", "a")), "trial",
                    parse_formula("y ~ C(arm) + age"), [], [])[0]
    assert blocks.design_is_global(parse_formula("y ~ C(arm) + age"), coded.head(60))


def test_firth_is_never_batched(data: pd.DataFrame, count_per_study) -> None:
    stage1(data, study="trial", formula="bin ~ treat", model="logistic", firth=True)
    assert count_per_study[0] == 40


def test_few_studies_are_fitted_one_by_one(data: pd.DataFrame, count_per_study) -> None:
    few = data[data["trial"].isin(["S010", "S011", "S012"])]
    stage1(few, study="trial", formula="y ~ treat", model="linear")
    assert count_per_study[0] == 3
    stage1(few, study="trial", formula="y ~ treat", model="linear", batch=True)
    assert count_per_study[0] == 3


def test_errors_still_name_the_study(data: pd.DataFrame) -> None:
    with pytest.raises(InputError, match="study 'S0"):
        stage1(data.assign(bin=data["bin"] * 2), study="trial", formula="bin ~ treat",
               model="logistic")
    with pytest.raises(InputError, match="exposure"):
        stage1(data.assign(exposure=data["exposure"] - 1), study="trial",
               formula="count ~ treat", model="poisson", exposure="exposure")


def test_blocks_give_the_same_table(data: pd.DataFrame, monkeypatch) -> None:
    kw = {"study": "trial", "formula": "Surv(time, event) ~ treat + age"}
    whole = stage1(data, **kw)
    monkeypatch.setattr(engines, "BLOCK_ROWS", 300)
    assert_same(stage1(data, **kw), whole)
    assert blocks.block_ranges(np.array([400, 10, 10]), 300) == [(0, 1), (1, 3)]


# ------------------------------------------------------------------ memory
def test_unused_columns_are_not_copied() -> None:
    rng = np.random.default_rng(0)
    n = 100_000
    wide = pd.DataFrame(rng.normal(size=(n, 40)), columns=[f"u{j}" for j in range(40)])
    wide["trial"] = np.repeat(np.arange(100), n // 100)
    wide["treat"] = rng.integers(0, 2, n)
    wide["y"] = wide["treat"] + rng.normal(size=n)
    frame, _ = prepare(wide, "trial", parse_formula("y ~ treat"), [], [])
    assert sorted(frame.columns) == ["treat", "trial", "y"]
    narrow = wide[["trial", "treat", "y"]].copy()
    peaks = []
    for d in (narrow, wide):
        tracemalloc.start()
        stage1(d, study="trial", formula="y ~ treat", model="linear")
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # 40 unused columns (32 MB) cost nothing: the peak is that of the model's 3 columns
    assert peaks[1] < peaks[0] + 1_000_000
    assert peaks[1] < 0.8 * wide.memory_usage().sum()


# ------------------------------------------------------------------ processes
def test_processes_engine(data: pd.DataFrame, capsys: pytest.CaptureFixture) -> None:
    kw = {"study": "trial", "formula": "Surv(time, event) ~ treat + age", "keep": "year"}
    serial = stage1(data, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        parallel = stage1(data, engine="processes", n_jobs=2, progress=True, **kw)
        assert_same(parallel, serial)
        assert "stage 1" in capsys.readouterr().err
        assert_same(stage1(data, engine="processes", n_jobs=-1, **kw), serial)
    with pytest.raises(InputError, match="n_jobs=0"):
        stage1(data, engine="processes", n_jobs=0, **kw)


def test_one_blas_thread_in_workers() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with ProcessPoolExecutor(1, initializer=workers.one_blas_thread) as pool:
            env = pool.submit(os.getenv, "OPENBLAS_NUM_THREADS").result()
    assert env == "1"
    assert workers.workers(3) == 3 and workers.workers(None) == (os.cpu_count() or 1)


# ------------------------------------------------------------------ dask
def test_dask_missing_gives_the_pip_command(data: pd.DataFrame,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(InputError, match=r"pip install 'ipdmeta\[dask\]'"):
        stage1(data, study="trial", formula="y ~ treat", model="linear", engine="dask")


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("dask.dataframe")
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


DASK_KW = {"study": "trial", "formula": "bin ~ treat + age + C(region)", "model": "logistic",
           "keep": ["year", "design"]}


def test_dask_engine_with_pandas_data(data: pd.DataFrame, client) -> None:
    assert_same(stage1(data, engine="dask", client=client, **DASK_KW), stage1(data, **DASK_KW))


def test_dask_frame_is_shuffled_by_study(data: pd.DataFrame, client) -> None:
    import dask.dataframe as dd

    ddf = dd.from_pandas(data, npartitions=7)      # studies spread over partitions
    ad = stage1(ddf, engine="dask", client=client, **DASK_KW)
    assert_same(ad, stage1(data, **DASK_KW))
    with pytest.raises(InputError, match="engine='dask'"):
        stage1(ddf, **DASK_KW)


def test_dask_from_parquet(data: pd.DataFrame, client, tmp_path) -> None:
    import dask.dataframe as dd

    from ipdmeta.stage1.dask_engine import whole_studies

    pytest.importorskip("pyarrow")
    kw = {"study": "trial", "formula": "Surv(time, event) ~ treat + age + C(region)"}
    data.to_parquet(tmp_path / "ipd", partition_cols=["design"])
    ddf = dd.read_parquet(tmp_path / "ipd")
    assert_same(stage1(ddf, engine="dask", client=client, **kw),
                stage1(pd.read_parquet(tmp_path / "ipd"), **kw))
    # sorted by study, indexed with known divisions: no shuffle needed
    (tmp_path / "sorted").mkdir()
    for i, part in data.sort_values("trial").groupby(data["trial"].str[:3] + (
            data["trial"].str[3].astype(int) // 2).astype(str)):
        part.to_parquet(tmp_path / "sorted" / f"{i}.parquet", index=False)
    indexed = dd.read_parquet(tmp_path / "sorted", index="trial", calculate_divisions=True)
    assert indexed.npartitions > 1 and whole_studies(indexed)
    assert_same(stage1(indexed, engine="dask", client=client, **kw), stage1(data, **kw))


def test_dask_errors(data: pd.DataFrame, client) -> None:
    import dask.dataframe as dd

    bad = dd.from_pandas(data.assign(trial=data["trial"].where(data.index != 3)),
                         npartitions=3)
    with pytest.raises(InputError, match="study column 'trial' is missing"):
        stage1(bad, engine="dask", client=client, study="trial", formula="y ~ treat",
               model="linear")
    empty = dd.from_pandas(data.assign(y=np.nan), npartitions=2)
    with pytest.raises(InputError, match="no row of the data is complete"):
        stage1(empty, engine="dask", client=client, study="trial", formula="y ~ treat",
               model="linear")
