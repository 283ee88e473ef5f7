"""User-defined weights (metan's wgt(), metafor's rma(weights=)), several models in one
result (metan's model(a \\ b)) and study intervals at their own level (ilevel()),
checked against metafor (tests/reference/stata_options.R)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError

REF = json.loads((Path(__file__).parent / "reference" / "stata_options.json")
                 .read_text(encoding="utf-8"))
METHODS = {"FE": "common", "DL": "DL", "REML": "REML", "PM": "PM"}


def _bcg() -> pd.DataFrame:
    b = REF["bcg"]
    return pd.DataFrame({"trial": b["trial"], "year": b["year"], "yi": b["yi"], "vi": b["vi"],
                         "n": b["n"]})


def test_reference_data_is_the_bundled_bcg() -> None:
    bundled = ipd.datasets.load_bcg()
    np.testing.assert_allclose(bundled["yi"], REF["bcg"]["yi"], atol=1e-12)


@pytest.mark.parametrize("key", sorted(REF["wgt"]))
def test_user_weights_match_metafor(key: str) -> None:
    method, test = key.split("_")
    ref = REF["wgt"][key]
    m = ipd.pool(_bcg(), estimate="yi", variance="vi", study="trial", weights="n",
                 method=METHODS[method], ci=test)
    o = m.overall
    for ours, theirs in [(o.estimate, "estimate"), (o.se, "se"), (o.ci_low, "ci_low"),
                         (o.ci_high, "ci_high"), (o.z_or_t, "stat"), (o.pvalue, "pvalue"),
                         (o.tau2, "tau2"), (o.Q, "Q")]:
        assert ours == pytest.approx(ref[theirs], abs=1e-6), theirs
    np.testing.assert_allclose(m.studies["weight"], ref["weight"], atol=1e-6)
    # leave-one-out keeps the weights: the first row is the weighted pool without study 1
    first = ipd.pool(_bcg().iloc[1:], estimate="yi", variance="vi", study="trial",
                     weights="n", method=METHODS[method], ci=test).overall.estimate
    assert m.leave_one_out()["estimate"].iloc[0] == pytest.approx(first, abs=1e-12)


def test_user_weights_scale_free_and_refusals() -> None:
    a = ipd.pool(_bcg(), estimate="yi", variance="vi", weights="n", method="DL")
    b = ipd.pool(_bcg().assign(n=lambda d: d.n * 7.5), estimate="yi", variance="vi",
                 weights="n", method="DL")
    assert a.overall.se == pytest.approx(b.overall.se, rel=1e-12)
    with pytest.raises(InputError, match="hksj"):
        ipd.pool(_bcg(), estimate="yi", variance="vi", weights="n", method="DL", ci="hksj")
    with pytest.raises(InputError, match="'n' must be positive; row 0"):
        ipd.pool(_bcg().assign(n=-1.0), estimate="yi", variance="vi", weights="n")
    # GENQ keeps its meaning: the weights define its generalised Q
    genq = ipd.pool(_bcg(), estimate="yi", variance="vi", weights="n", method="GENQ")
    assert genq.user_weights is None


def test_user_weights_with_subgroups() -> None:
    frame = _bcg().assign(era=lambda d: np.where(d.year < 1965, "early", "late"))
    m = ipd.pool(frame, estimate="yi", variance="vi", study="trial", weights="n",
                 method="common", by="era")
    early = frame[frame.era == "early"]
    assert m.subgroups.pooled["early"].estimate == pytest.approx(
        np.sum(early.n * early.yi) / early.n.sum(), abs=1e-12)


def test_with_models_adds_pooled_rows() -> None:
    m = ipd.pool(_bcg(), estimate="yi", variance="vi", study="trial", method="common",
                 measure="RR")
    both = m.with_models("DL", {"method": "REML", "ci": "hksj"})
    reml = ipd.pool(_bcg(), estimate="yi", variance="vi", method="REML", ci="hksj").overall
    assert both.models[1].estimate == pytest.approx(reml.estimate, abs=1e-12)
    assert both.models[1].ci_high == pytest.approx(reml.ci_high, abs=1e-12)
    assert "Random (REML, HKSJ)" in both.summary()
    rows = both.results_set().to_frame()
    assert rows.loc[rows._USE == 5, "_LABELS"].tolist() == [
        "Common effect (IV)", "Random (DL)", "Random (REML, HKSJ)"]
    with pytest.raises(InputError, match="method name or a dictionary"):
        m.with_models({"ci": "z"})


def test_study_level_changes_study_intervals_only() -> None:
    m = ipd.pool(_bcg(), estimate="yi", variance="vi", study="trial", method="REML")
    m90 = m.with_study_level(90)
    z = 1.6448536269514722
    np.testing.assert_allclose(m90.studies.ci_high, m.studies.estimate + z * m.studies.se,
                               atol=1e-12)
    assert m90.overall.ci_low == m.overall.ci_low
