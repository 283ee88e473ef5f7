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
    assert row["reason"] == ("withheld by disclosure control: fewer participants than "
                             "min_participants")


def test_events_per_arm_rule_and_export_counts_switch():
    frame = pd.DataFrame({"study": ["X", "Y"], "estimate": [0.1, 0.2], "se": [0.1, 0.2],
                          "n": [100, 100], "n_0": [50, 50], "n_1": [50, 50],
                          "events_0": [2, 10], "events_1": [9, 12], "status": "ok",
                          "reason": ""})
    shared, withheld = apply_disclosure(frame, DisclosureRules())
    assert [w["study"] for w in withheld] == ["X"]
    assert withheld[0]["reason"].endswith("an event count is below min_events")
    assert pd.isna(shared.loc[0, "estimate"]) and shared.loc[1, "estimate"] == 0.2
    shared, withheld = apply_disclosure(frame, DisclosureRules(export_counts=False))
    assert withheld == [] and "events_0" not in shared.columns


# ---------------------------------------------------------------- disclosure (issue 12)
def _site_data() -> pd.DataFrame:
    """Logistic trials built to tempt a leak: A fits; B has 2 events with treat=0 (a
    per-arm count below 3) and fails (separation); C is separated by age (a covariate
    value would appear in the stage-1 reason); D has one participant without the event;
    E has 8 participants; F has 2 rows dropped for missing age."""
    rng = np.random.default_rng(12)
    parts = []

    def trial(name, n, y, treat, age):
        parts.append(pd.DataFrame({"trial": name, "treat": treat, "age": age, "y": y}))

    n = 60
    treat = np.tile([0, 1], n // 2)
    trial("A", n, (rng.random(n) < 0.4).astype(int), treat, rng.normal(50, 8, n))
    yb = np.zeros(n, int)
    yb[:4:2] = 1                                  # 2 events in arm 0 ...
    yb[1::2] = 1                                  # ... and every participant of arm 1
    trial("B", n, yb, treat, rng.normal(50, 8, n))
    age = np.round(rng.normal(50, 8, n), 4)
    trial("C", n, (age > np.median(age)).astype(int), treat, age)
    yd = np.ones(n, int)
    yd[0] = 0
    trial("D", n, yd, treat, rng.normal(50, 8, n))
    trial("E", 8, np.array([0, 1] * 4), np.tile([0, 1], 4), rng.normal(50, 8, 8))
    agef = rng.normal(50, 8, n)
    agef[:2] = np.nan
    trial("F", n, (rng.random(n) < 0.4).astype(int), treat, agef)
    return pd.concat(parts, ignore_index=True)


def _strings(obj):
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


@pytest.mark.parametrize("export_counts", [True, False])
def test_site_file_discloses_nothing(tmp_path, export_counts):
    data = _site_data()
    rules = DisclosureRules(min_participants=10, min_events=3, export_counts=export_counts)
    out = tmp_path / "s.ipdmeta.json"
    ipd.site_stage1(data, site="S", out=out, rules=rules, study="trial",
                    formula="y ~ treat + age", model="logistic")
    doc = json.loads(out.read_text())
    studies = {r["study"]: r for r in doc["studies"]}
    # every status and reason (and every withheld entry) is fixed text: no counts, no values
    texts = [*_strings([{k: r[k] for k in ("status", "reason")} for r in doc["studies"]]),
             *_strings(doc["withheld"])]
    assert texts and not [t for t in texts if any(ch.isdigit() for ch in t)]
    ages = {f"{a:.2f}"[:5] for a in data["age"].dropna()}
    assert not [t for t in texts if any(a in t for a in ages)]
    # every row passes the rules, whatever its status
    for r in doc["studies"]:
        if r["n"] is not None:
            assert r["n"] >= 10
        for e, m in (("events", "n"), ("events_0", "n_0"), ("events_1", "n_1")):
            if r.get(e) is not None:
                assert r[e] >= 3 and r[m] - r[e] >= 3, (r["study"], e)
        assert r.get("n_dropped") in (None, 0) or r["n_dropped"] >= 3
    assert ("n_0" in studies["A"]) == export_counts
    assert studies["A"]["status"] == "ok" and studies["A"]["estimate"] is not None
    assert studies["E"]["status"] == "withheld"                  # 8 participants
    assert studies["D"]["status"] == "withheld"                  # 1 participant without event
    # B: 2 events in arm 0 and every participant of arm 1 had one (cells only per arm)
    assert studies["B"]["status"] == ("withheld" if export_counts else "separation")
    assert studies["C"]["status"] == "separation"
    assert studies["C"]["reason"].startswith("complete or quasi-complete separation")
    assert studies["F"]["n_dropped"] is None                     # 2 rows: below 3
    assert doc["withheld"] and all(w["reason"].startswith("withheld by disclosure control")
                                   for w in doc["withheld"])


def test_ok_rows_do_not_name_dropped_terms(hypertension):
    data = hypertension.copy()
    data.loc[data.trial == "ARBOR-HT", "smk"] = 1      # smk constant in one trial: dropped
    payload = ipd.site_stage1(data, site="S", study="trial", formula=FORMULA)
    row = next(r for r in payload["studies"] if r["study"] == "ARBOR-HT")
    assert row["status"] == "ok" and "smk" not in row["reason"]
    assert row["reason"] == "some covariates were dropped from this study's model " \
                            "(constant or collinear)"


def test_same_trials_with_int_and_text_ids_are_refused(tmp_path):
    data = ipd.datasets.load("weight_gain")
    a, b = data[data.studyid <= 20], data[data.studyid > 20]
    fa, fb, fc = tmp_path / "a.ipdmeta.json", tmp_path / "b.ipdmeta.json", tmp_path / "c.json"
    spec = {"study": "studyid", "formula": "final_wt ~ trt + baseline_wt", "model": "linear"}
    ipd.site_stage1(a, site="A", out=fa, **spec)
    ipd.site_stage1(b, site="B", out=fb, **spec)
    assert len(ipd.read_site_results([fa, fb])) == data.studyid.nunique()
    # site C holds site A's trials again, with text ids (and stray spaces)
    ipd.site_stage1(a.assign(studyid=" " + a.studyid.astype(str)), site="C", out=fc, **spec)
    with pytest.raises(InputError, match=r"site 'A'.*site 'C'.*same study"):
        ipd.read_site_results([fa, fb, fc])


def test_site_file_that_is_a_json_list_or_only_withheld(tmp_path, hypertension):
    bad = tmp_path / "list.ipdmeta.json"
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="JSON list"):
        ipd.read_site_results(bad)
    small = tmp_path / "small.ipdmeta.json"
    ipd.site_stage1(hypertension, site="S", out=small, study="trial", formula=FORMULA,
                    rules=DisclosureRules(min_participants=10_000))
    ad = ipd.read_site_results(small)
    assert set(ad["status"]) == {"withheld"}
    with pytest.raises(ipd.errors.EstimationError, match="no study can be pooled"):
        ipd.pool(ad)


def test_published_labels_match_ipd_labels_by_key(hypertension):
    data = hypertension.assign(trial=hypertension.trial.map(
        {t: i + 1 for i, t in enumerate(sorted(hypertension.trial.unique()))}))
    ad = ipd.stage1(data, study="trial", formula="Surv(time, event) ~ treat")
    published = pd.DataFrame({"t": [" 1", "001"], "hr": [0.8, 0.9], "lo": [0.6, 0.7],
                              "hi": [1.07, 1.16]})
    cols = {"study": "t", "estimate": "hr", "ci_low": "lo", "ci_high": "hi"}
    with pytest.raises(InputError, match=r"\[' 1'\] appear in both"):
        ipd.combine(ad, published, columns=cols, measure="HR")
    both = ipd.combine(ad, published, columns=cols, measure="HR", relabel=True)
    assert both["study"].tolist()[-2:] == ["1 (AD)", "001"]     # "001" is another label
    rows = both.to_frame().tail(2)
    np.testing.assert_allclose(rows.ci_low, np.log([0.6, 0.7]))   # published bounds kept
    np.testing.assert_allclose(rows.ci_high, np.log([1.07, 1.16]))


def test_published_estimate_outside_its_interval_is_refused():
    with pytest.raises(InputError, match=r"study 'X'.*outside its confidence interval"):
        ipd.read_published(pd.DataFrame({"s": ["X"], "hr": [2.0], "lo": [0.6], "hi": [1.1]}),
                           columns={"study": "s", "estimate": "hr", "ci_low": "lo",
                                    "ci_high": "hi"}, measure="HR")
