"""IPD combined with published aggregate data, and site-level (federated) stage 1."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.stage1.site import DisclosureRules, apply_disclosure

FORMULA = "Surv(time, event) ~ treat + smk + sbpi + age + bmi"


@pytest.fixture(scope="module")
def hypertension() -> pd.DataFrame:
    return ipd.datasets.load("hypertension")


@pytest.fixture(scope="module")
def ipd_rows(hypertension) -> ipd.AggregateData:
    return ipd.stage1(hypertension, study="trial", formula=FORMULA)


PUBLISHED = pd.DataFrame({"trialname": ["PUB-1", "PUB-2", "PUB-3"],
                          "hr": [0.75, 0.9, 0.68], "lci": [0.55, 0.7, 0.45],
                          "uci": [1.02, 1.16, 1.03], "region": ["EU", "US", "EU"]})
COLUMNS = {"study": "trialname", "estimate": "hr", "ci_low": "lci", "ci_high": "uci"}


def test_ci_bounds_become_log_scale_se():
    rows = ipd.read_published(PUBLISHED, columns=COLUMNS, measure="HR")
    z = stats.norm.ppf(0.975)
    np.testing.assert_allclose(rows.estimate, np.log(PUBLISHED.hr))
    np.testing.assert_allclose(rows.se, (np.log(PUBLISHED.uci) - np.log(PUBLISHED.lci)) / (2 * z))
    assert rows.region.tolist() == ["EU", "US", "EU"]
    assert set(rows.source) == {"AD"}


def test_log_rank_oe_and_v():
    rows = ipd.read_published(pd.DataFrame({"s": ["A"], "oe": [-5.0], "v": [20.0]}),
                              columns={"study": "s", "oe": "oe", "v": "v"}, measure="HR")
    assert rows.estimate[0] == pytest.approx(-0.25) and rows.se[0] == pytest.approx(20**-0.5)
    with pytest.raises(InputError, match="hazard ratio"):
        ipd.read_published(pd.DataFrame({"oe": [1.0], "v": [2.0]}), measure="OR")


def test_ipdmeta_with_aggregate_equals_pooling_the_stacked_rows(hypertension, ipd_rows):
    res = ipd.ipdmeta(hypertension, study="trial", formula=FORMULA, method="REML", ci="hksj",
                      aggregate=PUBLISHED, aggregate_columns=COLUMNS, aggregate_measure="HR")
    table = res.aggregate.to_frame()
    assert table.source.value_counts().to_dict() == {"IPD": 10, "AD": 3}
    ad_rows = ipd.read_published(PUBLISHED, columns=COLUMNS, measure="HR")
    y = np.r_[ipd_rows["estimate"].to_numpy(), ad_rows.estimate]
    se = np.r_[ipd_rows["se"].to_numpy(), ad_rows.se]
    direct = ipd.pool(pd.DataFrame({"yi": y, "sei": se}), method="REML", ci="hksj")
    assert res.meta.overall.estimate == pytest.approx(direct.overall.estimate, abs=1e-12)
    assert res.meta.overall.k == 13


def test_by_source_compares_ipd_with_ad(hypertension):
    res = ipd.ipdmeta(hypertension, study="trial", formula=FORMULA, by="source",
                      aggregate=PUBLISHED, aggregate_columns=COLUMNS, aggregate_measure="HR")
    sub = res.meta.subgroups
    assert list(sub.pooled) == ["IPD", "AD"] and sub.Q_between_df == 1
    assert "Test of subgroup differences (source)" in res.summary()


def test_measure_mismatch_and_label_clash_are_refused(hypertension, ipd_rows):
    with pytest.raises(InputError, match="OR but the IPD analysis gives HR"):
        ipd.combine(ipd_rows, PUBLISHED, columns=COLUMNS, measure="OR")
    clash = PUBLISHED.assign(trialname=["ARBOR-HT", "PUB-2", "PUB-3"])
    with pytest.raises(InputError, match=r"ARBOR-HT.*relabel=True"):
        ipd.combine(ipd_rows, clash, columns=COLUMNS, measure="HR")
    ok = ipd.combine(ipd_rows, clash, columns=COLUMNS, measure="HR", relabel=True)
    assert "ARBOR-HT (AD)" in ok["study"].tolist()
    bad = PUBLISHED.assign(lci=[0.55, np.nan, 0.45])
    with pytest.raises(InputError, match=r"row 1.*PUB-2"):
        ipd.combine(ipd_rows, bad, columns=COLUMNS, measure="HR")
    with pytest.raises(InputError, match="'nope'"):
        ipd.combine(ipd_rows, PUBLISHED, columns={**COLUMNS, "estimate": "nope"}, measure="HR")


def test_aggregate_from_a_file(tmp_path, hypertension):
    path = tmp_path / "published.csv"
    PUBLISHED.to_csv(path, index=False)
    res = ipd.ipdmeta(hypertension, study="trial", formula=FORMULA, aggregate=str(path),
                      aggregate_columns=COLUMNS)
    assert res.meta.overall.k == 13


# ---------------------------------------------------------------- site-level stage 1
def split_sites(data: pd.DataFrame) -> dict[str, pd.DataFrame]:
    trials = sorted(data.trial.unique())
    return {"A": data[data.trial.isin(trials[:4])], "B": data[data.trial.isin(trials[4:7])],
            "C": data[data.trial.isin(trials[7:])]}


def test_multi_site_equals_single_table(tmp_path, hypertension):
    paths = []
    for site, part in split_sites(hypertension).items():
        path = tmp_path / f"site_{site}.ipdmeta.json"
        ipd.site_stage1(part, site=site, out=path, study="trial", formula=FORMULA)
        paths.append(path)
    text = paths[0].read_text()
    assert "sbpi" not in json.loads(text)["studies"][0]  # no participant-level columns
    combined = ipd.read_site_results(paths)
    single = ipd.ipdmeta(hypertension, study="trial", formula=FORMULA, method="REML",
                         ci="hksj").meta
    pooled = ipd.pool(combined, method="REML", ci="hksj")
    assert pooled.overall.estimate == single.overall.estimate
    assert pooled.overall.se == single.overall.se
    assert pooled.overall.tau2 == single.overall.tau2
    assert sorted(combined["site"].unique()) == ["A", "B", "C"]


def test_tampered_and_mismatched_files_are_refused(tmp_path, hypertension):
    parts = split_sites(hypertension)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    ipd.site_stage1(parts["A"], site="A", out=a, study="trial", formula=FORMULA)
    ipd.site_stage1(parts["B"], site="B", out=b, study="trial", formula=FORMULA,
                    ties="breslow")
    with pytest.raises(InputError, match=r"different model specification.*ties"):
        ipd.read_site_results([a, b])
    payload = json.loads(a.read_text())
    payload["studies"][0]["estimate"] += 0.1
    a.write_text(json.dumps(payload))
    with pytest.raises(InputError, match="changed after the site wrote it"):
        ipd.read_site_results([a])
    b.write_text("{not json")
    with pytest.raises(InputError, match="not a readable site file"):
        ipd.read_site_results([b])


def test_small_studies_are_withheld_and_said_so(tmp_path, hypertension):
    small = hypertension[hypertension.trial == "BEACON-HT"].head(8)
    data = pd.concat([hypertension[hypertension.trial == "ARBOR-HT"], small])
    payload = ipd.site_stage1(data, site="S", study="trial", formula=FORMULA)
    assert [w["study"] for w in payload["withheld"]] == ["BEACON-HT"]
    row = next(r for r in payload["studies"] if r["study"] == "BEACON-HT")
    assert row["status"] == "withheld" and row["estimate"] is None and row["n"] is None
    assert "fewer than the disclosure minimum of 10" in row["reason"]


def test_events_per_arm_rule_and_export_counts_switch():
    frame = pd.DataFrame({"study": ["X", "Y"], "estimate": [0.1, 0.2], "se": [0.1, 0.2],
                          "n": [100, 100], "n_0": [50, 50], "n_1": [50, 50],
                          "events_0": [2, 10], "events_1": [9, 12], "status": "ok",
                          "reason": ""})
    shared, withheld = apply_disclosure(frame, DisclosureRules())
    assert [w["study"] for w in withheld] == ["X"] and "events_0 = 2" in withheld[0]["reason"]
    assert np.isnan(shared.loc[0, "estimate"]) and shared.loc[1, "estimate"] == 0.2
    shared, withheld = apply_disclosure(frame, DisclosureRules(export_counts=False))
    assert withheld == [] and "events_0" not in shared.columns
