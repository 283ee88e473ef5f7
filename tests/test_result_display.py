"""Every result object has a ``summary()`` and a short ``__repr__`` (no raw dataclass dumps)."""

from __future__ import annotations

import dataclasses

import pytest

import ipdmeta as ipd

BCG = ipd.datasets.load_bcg()


def _results() -> dict[str, object]:
    m = ipd.pool(BCG, estimate="yi", variance="vi", study="trial", by="alloc", measure="RR")
    mr = ipd.metareg(BCG, "~ ablat", estimate="yi", variance="vi", study="trial",
                     permutations=50, seed=1)
    tf = m.trimfill()
    return {"MetaResult": m, "Pooled": m.overall, "SubgroupResult": m.subgroups,
            "MetaRegResult": mr, "PermutationResult": mr.permutation,
            "EggerResult": m.egger(), "RankTestResult": ipd.rank_test(m),
            "TrimFillResult": tf, "FunnelData": tf.funnel_data(),
            "InfluenceResult": m.influence(),
            "IPDMetaResult": ipd.ipdmeta(ipd.datasets.load("hypertension"), study="trial",
                                         formula="Surv(time, event) ~ treat")}


RESULTS = _results()


@pytest.mark.parametrize("name", sorted(RESULTS))
def test_summary_and_short_repr(name: str) -> None:
    obj = RESULTS[name]
    assert type(obj).__name__ == name
    text = obj.summary()
    assert isinstance(text, str) and len(text) > 20
    rep = repr(obj)
    assert rep.startswith(name) and len(rep) <= 300 and rep.count("\n") == 0, rep
    if dataclasses.is_dataclass(obj):     # not the generated dataclass repr of every field
        assert "=array(" not in rep and "DataFrame" not in rep


def test_trimfill_summary_names_the_filled_studies_and_the_new_estimate() -> None:
    tf = RESULTS["TrimFillResult"]
    text = tf.summary()
    assert text.startswith("Trim-and-fill (L0") and f"{tf.k0} studies missing" in text
    assert "Meta-analysis of" in text or tf.k0 == 0
