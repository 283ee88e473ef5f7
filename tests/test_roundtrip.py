"""Aggregate tables read back from every file format exactly as they were saved (or the
save is refused with a named error): labels as text, values, missing values, types."""

from __future__ import annotations

import math
import string

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipdmeta.errors import InputError
from ipdmeta.stage1.table import AggregateData, read_aggregate

FORMATS = ("csv", "json", "parquet", "dta")
TEXT = st.text(alphabet=string.ascii_letters + string.digits + " ,;\"'-.()éü", max_size=12)
NUMERIC_TEXT = st.sampled_from(["001", "010", "1", "1.0", "02134", "-0", "1e3", "inf", "nan",
                                "True", "", " 7 "])


@st.composite
def tables(draw):
    k = draw(st.integers(1, 6))
    labels = draw(st.lists(st.one_of(NUMERIC_TEXT, TEXT).map(str.strip).filter(bool),
                           min_size=k, max_size=k, unique=True))
    frame = pd.DataFrame({
        "study": labels,
        "estimate": draw(st.lists(st.floats(-5, 5, allow_nan=False), min_size=k, max_size=k)),
        "se": draw(st.lists(st.floats(0.01, 3), min_size=k, max_size=k)),
        "status": draw(st.lists(st.sampled_from(["ok", "no_events"]), min_size=k, max_size=k)),
        "code": draw(st.lists(st.one_of(NUMERIC_TEXT, TEXT, st.none()), min_size=k,
                              max_size=k)),
        "year": draw(st.lists(st.integers(1950, 2030), min_size=k, max_size=k)),
        "dose": draw(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.inf)),
                              min_size=k, max_size=k)),
        "flag": draw(st.lists(st.booleans(), min_size=k, max_size=k)),
    })
    return AggregateData(frame, measure="OR", model="logistic", poolvar="treat")


def _cells(frame: pd.DataFrame) -> list[list]:
    """Values with their Python types (missing as None): what must survive."""
    out = []
    for col in frame.columns:
        values = []
        for v in frame[col].astype(object).tolist():
            if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
                values.append(None)
            elif isinstance(v, bool | np.bool_):
                values.append(("bool", bool(v)))
            elif isinstance(v, int | np.integer):
                values.append(("int", int(v)))
            elif isinstance(v, float | np.floating):
                values.append(("float", float(v)))
            else:
                values.append(("text", str(v)))
        out.append([col, values])
    return out


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ad=tables())
def test_every_format_round_trips_exactly(tmp_path, fmt, ad):
    path = tmp_path / f"ad.{fmt}"
    has_inf = bool(np.isinf(ad["dose"].to_numpy()).any())
    if fmt == "dta" and has_inf:
        with pytest.raises(InputError, match="infinite values"):
            ad.save(path)
        return
    back = read_aggregate(ad.save(path))
    assert _cells(back.to_frame()) == _cells(ad.to_frame())
    assert (back.measure, back.model, back.poolvar) == (("OR", "logistic", "treat")
                                                        if fmt != "csv" else
                                                        ("OR", None, None))
    if fmt != "csv":   # formats with a place for types keep them all
        assert back.to_frame().dtypes.astype(str).tolist() == \
            ad.to_frame().dtypes.astype(str).tolist()


@pytest.mark.parametrize("fmt", FORMATS)
def test_labels_stay_text(tmp_path, fmt):
    ad = AggregateData(pd.DataFrame({"study": ["001", "010", "1"], "estimate": [0.1, 0.2, 0.3],
                                     "se": [0.1, 0.1, 0.1], "zip": ["02134", "10001", "0"]}))
    back = read_aggregate(ad.save(tmp_path / f"a.{fmt}")).to_frame()
    assert back["study"].tolist() == ["001", "010", "1"]
    assert back["zip"].tolist() == ["02134", "10001", "0"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_study_twice_and_mixed_columns(tmp_path, fmt):
    twice = AggregateData(pd.DataFrame({"study": [1, "1"], "estimate": [0.1, 0.2],
                                        "se": [0.1, 0.1]}))
    with pytest.raises(InputError, match="duplicated study labels: 1 and '1'"):
        twice.save(tmp_path / f"t.{fmt}")
    mixed = AggregateData(pd.DataFrame({"study": [1, "B"], "estimate": [0.1, 0.2],
                                        "se": [0.1, 0.1], "x": [1, "a"]}))
    if fmt == "json":
        assert read_aggregate(mixed.save(tmp_path / "m.json"))["x"].tolist() == [1, "a"]
    else:
        with pytest.raises(InputError, match=r"column\(s\) 'x' mix numbers and text"):
            mixed.save(tmp_path / f"m.{fmt}")
    labels = AggregateData(pd.DataFrame({"study": [1, "B"], "estimate": [0.1, 0.2],
                                         "se": [0.1, 0.1]}))
    back = read_aggregate(labels.save(tmp_path / f"l.{fmt}"))
    assert [str(s) for s in back["study"]] == ["1", "B"]     # labels as text, same keys


def test_long_labels_and_texts_in_stata_files(tmp_path):
    long = ["x" * 3000 + "a", "x" * 3000 + "b"]
    ad = AggregateData(pd.DataFrame({"study": long, "estimate": [0.1, 0.2], "se": [0.1, 0.1],
                                     "note": ["é" * 2000, "short"]}))
    back = read_aggregate(ad.save(tmp_path / "a.dta")).to_frame()
    assert back["study"].tolist() == long and back["note"].tolist() == ["é" * 2000, "short"]
    back = read_aggregate(ad.save(tmp_path / "b.dta", names="ipdmetan")).to_frame()
    assert back["study"].tolist() == long
    huge = AggregateData(pd.DataFrame({"study": ["y" * 40_000, "z"], "estimate": [0.1, 0.2],
                                       "se": [0.1, 0.1]}))
    with pytest.raises(InputError, match="longer than the 32,000 bytes"):
        huge.save(tmp_path / "c.dta", names="ipdmetan")
