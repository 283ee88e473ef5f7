"""The Stata translator for summary data: metan with 2x2 counts or means/SDs, and
ipdmetan's Syntax 2 (collapse IPD per trial and arm, then pool)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.stata.parse import StataSyntaxError
from ipdmeta.stata.session import StataSession
from ipdmeta.stata.translate import translate

REF = json.loads((Path(__file__).parent / "reference" / "pooling_mh_peto.json").read_text())


def counts() -> pd.DataFrame:
    t = REF["tables"]["nielweise"]
    return pd.DataFrame({"study": t["study"], "a": t["ai"], "b": t["bi"], "c": t["ci"],
                         "d": t["di"]})


@pytest.mark.parametrize(("line", "call", "measure"), [
    ("metan a b c d", {"events": ("a", "c"), "nonevents": ("b", "d"), "method": "MH"}, "RR"),
    ("metan a b c d, or peto", {"events": ("a", "c"), "nonevents": ("b", "d"),
                                "method": "peto"}, "OR"),
    ("metan a b c d, rd random", {"events": ("a", "c"), "nonevents": ("b", "d"),
                                  "method": "DL"}, "RD"),
    ("metan a b c d, or fixed cc(0.25, opp allif)",
     {"events": ("a", "c"), "nonevents": ("b", "d"), "method": "common", "correction": 0.25,
      "correction_type": "opposite", "to": "if0all"}, "OR"),
    ("metan a b c d, or nocc", {"events": ("a", "c"), "nonevents": ("b", "d"),
                                "method": "MH", "correction": 0.0}, "OR"),
    ("metan n1 m1 s1 n0 m0 s0", {"means": ("m1", "m0"), "sds": ("s1", "s0"),
                                 "n": ("n1", "n0"), "method": "common"}, "SMD_cohen"),
    ("metan n1 m1 s1 n0 m0 s0, glass re(reml)", {"means": ("m1", "m0"), "sds": ("s1", "s0"),
                                                 "n": ("n1", "n0"), "method": "REML"},
     "GLASS"),
    ("metan n1 m1 s1 n0 m0 s0, nostan", {"means": ("m1", "m0"), "sds": ("s1", "s0"),
                                         "n": ("n1", "n0"), "method": "common"}, "MD"),
])
def test_metan_summary_syntaxes_translate(line: str, call: dict, measure: str) -> None:
    step = translate(line)
    assert step.kind == "pool" and step.call == call and step.measure == measure


def test_metan_counts_options_reach_the_forest_and_notes() -> None:
    step = translate("metan a b c d, or counts group1(Drug) group2(Placebo) breslow")
    assert step.forest == {"eform": True, "counts": True, "group_names": ("Drug", "Placebo")}
    assert any("Breslow-Day" in n for n in step.notes)
    step = translate("metan n1 m1 s1 n0 m0 s0, hedges")
    assert step.measure == "SMD" and any("SMD_metan" in n for n in step.notes)


@pytest.mark.parametrize(("line", "message"), [
    ("metan a b c d, md", "pools or, rr or rd"),
    ("metan n1 m1 s1 n0 m0 s0, or", "pools md, cohen"),
    ("metan n1 m1 s1 n0 m0 s0, peto", "pool 2x2 counts"),
    ("metan a b c d e", "metan takes"),
    ("metan es se, counts", "applies to 2x2 counts"),
    ("metan a b c d, cc(0.5, magic)", "sub-option 'magic'"),
    ("ipdmetan y treat, study(trial)", "needs the measure"),
    ("ipdmetan y, study(trial) or", "outcome and the 0/1 treatment"),
    ("ipdmetan y treat, or", "needs study"),
])
def test_bad_summary_commands_are_refused_by_name(line: str, message: str) -> None:
    with pytest.raises(StataSyntaxError, match=message):
        translate(line)


def test_metan_counts_run_as_mantel_haenszel() -> None:
    session = StataSession(counts(), graph_dir=None)
    step = session.run("metan a b c d, or label(namevar=study)")
    direct = ipd.pool(counts(), events=("a", "c"), nonevents=("b", "d"), measure="OR",
                      method="MH", study="study")
    assert step.result.overall.estimate == pytest.approx(direct.overall.estimate, rel=1e-14)
    ref = next(f for f in REF["fits"] if f["data"] == "nielweise" and f["method"] == "MH"
               and f["measure"] == "OR" and f["correct"] and not f["options"])
    assert step.result.overall.estimate == pytest.approx(ref["estimate"], rel=1e-10)
    assert "Breslow-Day" in step.output
    namespace = {"ipd": ipd, "data": counts()}
    exec(step.python.replace("print(", "str("), namespace)
    assert namespace["res"].overall.estimate == pytest.approx(ref["estimate"], rel=1e-10)


def test_ipdmetan_syntax_2_collapses_then_pools(tmp_path: Path) -> None:
    data = ipd.datasets.load("weight_gain_binary")
    session = StataSession(data, graph_dir=tmp_path)
    step = session.run("ipdmetan gdm trt, study(study_name) or counts")
    arms = ipd.summarise_arms(data, study="study_name", outcome="gdm", treatment="trt")
    direct = ipd.pool(arms, events=("events_1", "events_0"), n=("n_1", "n_0"),
                      study="study_name", measure="OR", method="MH")
    assert step.kind == "arms" and step.result.k == direct.k == 33
    assert step.result.overall.estimate == pytest.approx(direct.overall.estimate, rel=1e-14)
    assert step.files and step.files[0].exists()
    assert "ipd.summarise_arms(data" in step.python
    namespace = {"ipd": ipd, "data": data}
    exec(step.python.replace("print(", "str(").split("\nres.forest")[0], namespace)
    assert namespace["res"].overall.estimate == pytest.approx(direct.overall.estimate)
    wg = ipd.datasets.load("weight_gain")
    md = StataSession(wg, graph_dir=None).run("ipdmetan final_wt trt, study(study_name) md")
    arms = ipd.summarise_arms(wg, study="study_name", outcome="final_wt", treatment="trt")
    assert md.result.k == len(arms)
    first = (arms.mean_1 - arms.mean_0).iloc[0]
    assert md.result.studies.estimate.iloc[0] == pytest.approx(first)


def test_summarise_arms_checks_its_input() -> None:
    data = pd.DataFrame({"s": ["A", "A", "B", "B", "B"], "y": [1, 0, 1, 1, np.nan],
                         "t": [1, 0, 1, 0, 1]})
    arms = ipd.summarise_arms(data, study="s", outcome="y", treatment="t")
    assert arms.to_dict("list") == {"s": ["A", "B"], "n_1": [1, 1], "events_1": [1, 1],
                                    "n_0": [1, 1], "events_0": [0, 1]}
    assert arms.attrs["dropped"] == 1
    with pytest.raises(ipd.InputError, match="coded 0 \\(control\\) and 1"):
        ipd.summarise_arms(data.assign(t=[1, 2, 1, 2, 1]), study="s", outcome="y",
                           treatment="t")
    with pytest.raises(ipd.InputError, match="must be coded 0/1"):
        ipd.summarise_arms(data.assign(y=[1, 2, 1, 0, 1]), study="s", outcome="y",
                           treatment="t", kind="binary")
    with pytest.raises(ipd.InputError, match="'trial' is not in"):
        ipd.summarise_arms(data, study="trial", outcome="y", treatment="t")
