"""IPD + published per-arm data (2x2 counts, means and SDs) in ``ipdmeta(aggregate=)``.

The published rows' effect sizes must be those of ``effect_sizes()`` (checked against
metafor's escalc in tests/test_effects.py); the IPD logistic rows are untouched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.stage1.published import read_published

PUBLISHED = pd.DataFrame({"trial": ["Pub A 2001", "Pub B 2005", "Pub C 2009"],
                          "e1": [12, 3, 0], "N1": [150, 80, 40], "e0": [20, 9, 4],
                          "N0": [148, 82, 41], "year": [2001, 2005, 2009]})
ARMS = {"study": "trial", "events_1": "e1", "n_1": "N1", "events_0": "e0", "n_0": "N0"}


def test_published_counts_become_log_odds_ratios() -> None:
    rows = read_published(PUBLISHED, columns=ARMS, measure="OR")
    es = ipd.effect_sizes(PUBLISHED, "OR", events=("e1", "e0"), n=("N1", "N0"))
    np.testing.assert_allclose(rows.estimate, es.estimate, rtol=1e-14)
    np.testing.assert_allclose(rows.se, es.se, rtol=1e-14)
    assert rows.source.eq("AD").all() and rows.year.tolist() == [2001, 2005, 2009]
    assert rows.n.tolist() == [298, 162, 81] and rows.events.tolist() == [32, 12, 4]
    rr = read_published(PUBLISHED, columns=ARMS, measure="RR")
    assert rr.estimate[0] == pytest.approx(np.log((12 / 150) / (20 / 148)), rel=1e-14)


def test_ipd_and_published_counts_pool_together_with_counts_in_the_forest() -> None:
    data = ipd.datasets.load("weight_gain_binary")
    res = ipd.ipdmeta(data, study="study_name", formula="gdm ~ trt + baseline_wt",
                      model="logistic", aggregate=PUBLISHED, aggregate_columns=ARMS)
    table = res.aggregate.to_frame()
    assert table.source.value_counts().to_dict() == {"IPD": 33, "AD": 3}
    assert res.meta.k == 28 + 3
    assert res.meta.summary_columns == {"events": ("events_1", "events_0"),
                                        "n": ("n_1", "n_0")}
    from matplotlib.text import Text
    texts = [t.get_text() for t in res.meta.forest(counts=True).findobj(Text)]
    assert "12/150" in texts and "0/40" in texts


def test_published_means_join_a_linear_ipd_analysis() -> None:
    data = ipd.datasets.load("weight_gain")
    pub = pd.DataFrame({"trial": ["Pub M"], "m1": [80.1], "s1": [9.5], "k1": [60],
                        "m0": [82.3], "s0": [10.1], "k0": [58]})
    cols = {"study": "trial", "mean_1": "m1", "sd_1": "s1", "n_1": "k1", "mean_0": "m0",
            "sd_0": "s0", "n_0": "k0"}
    res = ipd.ipdmeta(data, study="study_name", formula="final_wt ~ trt + baseline_wt",
                      model="linear", aggregate=pub, aggregate_columns=cols)
    row = res.aggregate.to_frame().query("source == 'AD'")
    assert row.estimate.item() == pytest.approx(80.1 - 82.3)
    assert row.se.item() == pytest.approx(np.sqrt(9.5**2 / 60 + 10.1**2 / 58))


@pytest.mark.parametrize(("columns", "measure", "message"), [
    ({"events_1": "e1", "n_1": "N1", "events_0": "e0"}, "OR", "missing: n_0"),
    (ARMS, "HR", "cannot give measure 'HR'"),
    ({**ARMS, "n_0": "nope"}, "OR", "'nope' is not a column"),
])
def test_bad_per_arm_columns_are_named(columns: dict, measure: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_published(PUBLISHED, columns=columns, measure=measure)
