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
    assert text.startswith("Trim-and-fill (L0") and " missing on the " in text
    one = ipd.pool(BCG, estimate="yi", variance="vi").trimfill(side="right")
    assert one.k0 == 1 and "1 study missing on the right side" in one.summary()
    none = ipd.pool(BCG, estimate="yi", variance="vi").trimfill(side="left")
    assert none.k0 == 0 and "0 studies missing" in none.summary()
    assert "Meta-analysis of" in text or tf.k0 == 0


def test_p_values_read_as_sentences() -> None:
    """'p < 0.001', never 'p = <0.001' (printed tables and the HTML report)."""
    from ipdmeta.report.html import result_html

    m = ipd.pool(BCG, estimate="yi", variance="vi", study="trial", method="DL")
    assert m.overall.Q_pvalue < 0.001
    assert "p < 0.001" in m.summary() and "= <" not in m.summary()
    assert "= &lt;" not in result_html(m)


def test_published_rows_without_counts_print_a_dot() -> None:
    """IPD + published rows: N and events of the published trials are '.', not '<NA>'."""
    import pandas as pd

    hyp = ipd.datasets.load("hypertension")
    published = pd.DataFrame({"trial": ["PUB-1"], "hr": [0.8], "lci": [0.6], "uci": [1.05]})
    res = ipd.ipdmeta(hyp, study="trial", formula="Surv(time, event) ~ treat",
                      aggregate=published, aggregate_measure="HR",
                      aggregate_columns={"study": "trial", "estimate": "hr", "ci_low": "lci",
                                         "ci_high": "uci"})
    text = res.summary()
    assert "<NA>" not in text
    row = next(line for line in text.splitlines() if line.startswith("PUB-1"))
    assert row.split("|")[1].split()[:2] == [".", "."]
