"""Stata if/in qualifiers translated to pandas, with Stata's rules for missing values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ipdmeta.stata.expressions import if_mask, in_range, split_qualifiers
from ipdmeta.stata.parse import StataSyntaxError

NAN = np.nan
FRAME = pd.DataFrame({"age": [40, 65, NAN, 70, 55], "bmi": [20.0, NAN, 31.0, 28.0, NAN],
                      "treat": [0, 1, 1, NAN, 0], "region": [1, 2, 3, 2, 1],
                      "sex": ["m", "f", "", "f", "m"]})


@pytest.mark.parametrize(("expr", "rows"), [
    # Stata: a missing value is larger than any number
    ("age > 60", [1, 2, 3]), ("age >= 65", [1, 2, 3]), ("age < 60", [0, 4]),
    ("age <= 55", [0, 4]), ("age == 65", [1]), ("age != 65", [0, 2, 3, 4]),
    ("age ~= 65", [0, 2, 3, 4]),
    # missing as a value: x < . is "not missing"
    ("bmi < .", [0, 2, 3]), ("bmi == .", [1, 4]), ("bmi >= .", [1, 4]), ("bmi > .", []),
    (". > bmi", [0, 2, 3]),
    # truth of numbers: non-zero (and missing) is true
    ("treat", [1, 2, 3]), ("!treat", [0, 4]), ("~treat", [0, 4]),
    # logical operators and precedence
    ("age > 60 & bmi < 30", [3]), ("age < 50 | region == 3", [0, 2]),
    ("(age < 50 | region == 3) & !missing(bmi)", [0, 2]),
    ("!(region == 1)", [1, 2, 3]),
    # column against column
    ("bmi > age", [1, 4]), ("age == bmi", []), ("bmi != bmi", []),
    # arithmetic
    ("age / 10 > 6", [1, 2, 3]), ("age - 5 * 2 >= 55", [1, 2, 3]), ("age^2 > 4000", [1, 2, 3]),
    # strings: the empty string is missing
    ('sex == "f"', [1, 3]), ("missing(sex)", [2]), ('sex != "m"', [1, 2, 3]),
    # functions
    ("inlist(region, 1, 3)", [0, 2, 4]), ("inrange(age, 50, 66)", [1, 4]),
    ("missing(age) | missing(bmi)", [1, 2, 4]),
])
def test_if_expressions_follow_stata(expr: str, rows: list[int]) -> None:
    mask = if_mask(expr).mask(FRAME)
    assert np.flatnonzero(mask.to_numpy()).tolist() == rows


def test_code_is_readable_pandas() -> None:
    q = if_mask("age > 60 & sex == \"m\"")
    assert q.code == '((data["age"] > 60) | data["age"].isna()) & (data["sex"] == "m")'
    assert q.variables == ("age", "sex")
    assert eval(q.code, {"data": FRAME, "np": np}).tolist() == [False] * 5


@pytest.mark.parametrize(("expr", "what"), [
    ("year(date) > 2000", "function year"), ("_n < 10", "_n"), ("age > ", "ends too early"),
    ("age >> 2", "unexpected"), ("age $ 3", "cannot read"),
])
def test_untranslatable_expressions_are_refused_by_name(expr: str, what: str) -> None:
    with pytest.raises(StataSyntaxError, match=what):
        if_mask(expr)


def test_unknown_variable_named_at_run_time() -> None:
    with pytest.raises(StataSyntaxError, match="variable 'agee'"):
        if_mask("agee > 3").mask(FRAME)


def test_in_ranges() -> None:
    assert in_range("2/4") == (1, 4)
    assert FRAME.iloc[slice(*in_range("2/4"))].index.tolist() == [1, 2, 3]
    assert FRAME.iloc[slice(*in_range("-2/l"))].index.tolist() == [3, 4]
    assert FRAME.iloc[slice(*in_range("f/2"))].index.tolist() == [0, 1]
    assert FRAME.iloc[slice(*in_range("3"))].index.tolist() == [2]
    with pytest.raises(StataSyntaxError, match="numbered from 1"):
        in_range("0/3")
    with pytest.raises(StataSyntaxError, match="not a row number"):
        in_range("a/3")


def test_split_qualifiers_ignores_quotes_and_parentheses() -> None:
    assert split_qualifiers('y x if sex == "in if" in 1/5') == ("y x", 'sex == "in if"', "1/5")
    assert split_qualifiers("y x in 3/9 if inlist(a, 1, 2)") == ("y x", "inlist(a, 1, 2)",
                                                                  "3/9")
    assert split_qualifiers("y x") == ("y x", None, None)
    with pytest.raises(StataSyntaxError, match="twice"):
        split_qualifiers("y if a if b")
