"""ipdmeta(left_columns=, right_columns=, label=): ipdmetan's lcols()/rcols() and
label(namevar= yearvar=) in the Python API (columns carried without keep=)."""

from __future__ import annotations

import matplotlib
import matplotlib.text

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.plots._forest_rows import TableOptions, build_table

WG = ipd.datasets.load("weight_gain")
FORMULA = "final_wt ~ trt + baseline_wt"


def test_left_columns_carry_study_level_variables_without_keep() -> None:
    res = ipd.ipdmeta(WG, study="studyid", formula=FORMULA, model="linear",
                      left_columns=["intervention", "study_name", "n"])
    table = res.aggregate.to_frame()
    names = WG.groupby("studyid")["study_name"].first()
    assert (table.set_index("study")["study_name"] == names).all()
    assert res.left_columns == ("intervention", "study_name", "n")
    fig = res.forest()                                   # the columns by default
    headers = [t.get_text() for t in fig.findobj(matplotlib.text.Text)]
    assert {"intervention", "study_name", "n"} <= set(headers)
    rs = res.results_set().to_frame()
    assert {"intervention", "study_name"} <= set(rs.columns)


def test_collapse_syntax_and_totals() -> None:
    res = ipd.ipdmeta(WG, study="studyid", formula=FORMULA, model="linear",
                      by="intervention", right_columns="(mean) mean_wt=baseline_wt (e(N))")
    table = res.aggregate.to_frame().set_index("study")
    expected = WG.groupby("studyid")["baseline_wt"].mean()
    assert np.allclose(table["mean_wt"], expected.loc[table.index], rtol=0, atol=1e-12)
    assert res.right_columns == ("mean_wt", "_e_N__")
    totals = res.column_totals.set_index("group")
    assert totals.loc["Overall", "mean_wt"] == pytest.approx(WG["baseline_wt"].mean())
    assert totals.loc["diet", "_e_N__"] == table.loc[table.intervention == "diet", "n"].sum()


def test_label_replaces_identifiers_in_tables_and_plots() -> None:
    res = ipd.ipdmeta(WG, study="studyid", formula=FORMULA, model="linear",
                      label="study_name")
    assert res.meta.studies["study"].iloc[0] == "Abernethy 1998"
    assert "Abernethy 1998" in res.summary()
    labels = [r.label for r in build_table(res.meta, TableOptions()).rows if r.kind == "study"]
    assert labels[0] == "Abernethy 1998" and "1" not in labels
    assert res.aggregate.to_frame()["studyid"].iloc[0] == 1     # the identifier is kept


def test_label_with_year_and_duplicates_refused() -> None:
    wg = WG.assign(author=WG["study_name"].str.split().str[0],
                   year=WG["study_name"].str.split().str[1].astype(int))
    res = ipd.ipdmeta(wg, study="studyid", formula=FORMULA, model="linear",
                      label=("author", "year"))
    assert res.meta.studies["study"].iloc[0] == "Abernethy (1998)"
    with pytest.raises(InputError, match="same label"):
        ipd.ipdmeta(wg, study="studyid", formula=FORMULA, model="linear",
                    label="intervention")


def test_unknown_column_is_named() -> None:
    with pytest.raises(InputError, match="'interventon'"):
        ipd.ipdmeta(WG, study="studyid", formula=FORMULA, model="linear",
                    left_columns=["interventon"])
    assert isinstance(WG, pd.DataFrame)
