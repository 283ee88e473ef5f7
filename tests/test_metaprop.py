"""metaprop (proportions of single groups) through the Stata translator, and results shown
as proportions (``MetaResult.back_transformed``), against R's metafor.

The reference values come from tests/reference/metaprop_pritz1997.R: metafor
``rma(yi, vi, method = "DL"/"EE")`` on ``escalc(measure = "PR"/"PLO"/"PFT", xi, ni)`` of
metadat::dat.pritz1997, back-transformed by ``predict(transf = transf.ilogit /
transf.ipft.hm)``; study intervals from ``binom.test`` (exact) and
``prop.test(correct = FALSE)`` (Wilson)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.stata import StataSession, StataSyntaxError, translate

matplotlib.use("Agg")

REF = json.loads((Path(__file__).parent / "reference" / "metaprop_pritz1997.json")
                 .read_text(encoding="utf-8"))
DATA = pd.DataFrame(REF["data"])
TOL = 1e-9


def _session() -> StataSession:
    return StataSession(DATA, graph_dir=None)


@pytest.mark.parametrize(("line", "case"), [
    ("metaprop xi ni, label(namevar=authors)", "PR_DL"),
    ("metaprop xi ni, random label(namevar=authors) cimethod(exact)", "PR_DL"),
    ("metaprop xi ni, fixed label(namevar=authors)", "PR_EE"),
    ("metaprop xi ni, ftt label(namevar=authors)", "PFT_DL"),
    ("metaprop xi ni, ftt fixed label(namevar=authors)", "PFT_EE"),
])
def test_metaprop_pooled_proportion_matches_metafor(line: str, case: str) -> None:
    ref = REF["cases"][case]
    step = _session().run(line)
    shown = step.result
    assert shown.measure == "PR"
    o = shown.overall
    assert o.estimate == pytest.approx(ref["pooled"], abs=TOL)
    assert o.ci_low == pytest.approx(ref["ci_low"], abs=TOL)
    assert o.ci_high == pytest.approx(ref["ci_high"], abs=TOL)
    if case.endswith("DL"):      # (the prediction interval: metan's t(k-2), not metafor's)
        assert o.tau2 == pytest.approx(ref["tau2"], abs=TOL)
    # the study rows: the proportions with exact (Clopper-Pearson) intervals
    s = shown.studies
    np.testing.assert_allclose(s["estimate"], DATA["xi"] / DATA["ni"], atol=1e-12)
    np.testing.assert_allclose(s["ci_low"], REF["exact_low"], atol=TOL)
    np.testing.assert_allclose(s["ci_high"], REF["exact_high"], atol=TOL)
    assert "Proportion" in step.forest["effect"] and "proportions" in step.output


def test_wilson_intervals_and_the_python_the_translator_prints() -> None:
    s = _session()
    step = s.run("metaprop xi ni, ftt cimethod(wilson) label(namevar=authors)")
    np.testing.assert_allclose(step.result.studies["ci_low"], REF["wilson_low"], atol=TOL)
    np.testing.assert_allclose(step.result.studies["ci_high"], REF["wilson_high"], atol=TOL)
    assert ('res = ipd.pool(data, study="authors", events="xi", n="ni", method="DL", '
            'measure="PFT")' in step.python)
    assert 'res = res.back_transformed(study_ci="wilson")' in step.python
    ns = {"ipd": ipd, "data": DATA, "print": lambda *a, **k: None}
    exec(step.python.replace("res.forest(", "(lambda **k: None)("), ns)
    assert ns["res"].overall.estimate == pytest.approx(REF["cases"]["PFT_DL"]["pooled"],
                                                       abs=TOL)


@pytest.mark.parametrize("case", ["PLO_DL", "PLO_EE", "PFT_DL", "PR_DL"])
def test_back_transformed_study_rows_match_metafor(case: str) -> None:
    measure, method = case.split("_")
    ref = REF["cases"][case]
    m = ipd.pool(DATA, events="xi", n="ni", measure=measure, study="authors", pi="metafor",
                 method="common" if method == "EE" else method)
    assert m.overall.estimate == pytest.approx(ref["estimate"], abs=TOL)
    assert m.overall.se == pytest.approx(ref["se"], abs=TOL)
    shown = m.back_transformed()
    assert shown.overall.estimate == pytest.approx(ref["pooled"], abs=TOL)
    assert (shown.overall.ci_low, shown.overall.ci_high) == pytest.approx(
        (ref["ci_low"], ref["ci_high"]), abs=TOL)
    if method == "DL":
        assert (shown.overall.pi_low, shown.overall.pi_high) == pytest.approx(
            (ref["pi_low"], ref["pi_high"]), abs=TOL)
    for col, key in (("estimate", "study"), ("ci_low", "study_low"), ("ci_high", "study_high")):
        np.testing.assert_allclose(shown.studies[col], ref[key], atol=TOL)
    assert np.isnan(shown.overall.se) and m.overall.se > 0     # the original is unchanged


def test_ilevel_sets_the_level_of_the_exact_study_intervals() -> None:
    step = _session().run("metaprop xi ni, ilevel(90) nograph")
    assert step.back_transform == {"study_ci": "exact", "level": 90.0}
    x, n = DATA["xi"].to_numpy(), DATA["ni"].to_numpy()
    lo = np.where(x > 0, stats.beta.ppf(0.05, x, n - x + 1), 0.0)
    np.testing.assert_allclose(step.result.studies["ci_low"], lo, atol=1e-12)
    assert not np.allclose(step.result.studies["ci_low"], REF["exact_low"])


def test_subgroups_back_transform_with_their_own_harmonic_mean() -> None:
    data = DATA.assign(size=np.where(DATA["ni"] >= 14, "big", "small"))
    step = StataSession(data, graph_dir=None).run(
        "metaprop xi ni, ftt by(size) label(namevar=authors) nograph")
    for group in ("big", "small"):
        ref = REF["cases"][f"PFT_DL_{group}"]
        p = step.result.subgroups.pooled[group]
        assert (p.estimate, p.ci_low, p.ci_high) == pytest.approx(
            (ref["pooled"], ref["ci_low"], ref["ci_high"]), abs=TOL)


def test_metaprop_forest_shows_proportions(tmp_path) -> None:
    s = StataSession(DATA, graph_dir=tmp_path)
    step = s.run("metaprop xi ni, ftt label(namevar=authors)")
    assert step.files == [tmp_path / "forest1.png"] and step.files[0].stat().st_size > 10_000
    fig = step.result.forest(**{k: v for k, v in step.forest.items() if k != "path"})
    texts = {t.get_text() for t in fig.findobj(matplotlib.text.Text)}
    assert "Proportion (95% CI)" in texts and "0.80" in texts


@pytest.mark.parametrize(("line", "words"), [
    ("metaprop xi ni, logit", ["logistic-normal", 'measure="PLO"']),
    ("metaprop xi ni, power(2)", ["percentages"]),
    ("metaprop xi ni, sgweight", ["subgroup"]),
    ("metaprop xi ni, cimethod(wald)", ["exact", "wilson", "transformed"]),
    ("metaprop xi ni, first(0.5 0.4 0.6, x)", ["first"]),
    ("metaprop xi ni, cumulative", ["cumulative", "metaprop"]),
    ("metaprop xi, ftt", ["two variables"]),
])
def test_untranslated_metaprop_options_are_refused_by_name(line: str, words: list[str]) -> None:
    with pytest.raises(StataSyntaxError) as err:
        translate(line)
    for w in words:
        assert w in str(err.value)


def test_back_transformed_needs_a_proportion_measure() -> None:
    m = ipd.pool(ipd.datasets.load_bcg(), estimate="yi", variance="vi", measure="RR")
    with pytest.raises(InputError, match="proportions"):
        m.back_transformed()
    p = ipd.pool(DATA, events="xi", n="ni", measure="PLO")
    with pytest.raises(InputError, match="study_ci"):
        p.back_transformed(study_ci="agresti")


def test_no_correction_is_reported_where_none_is_added() -> None:
    # two studies with all events: PR adds 0.5 to them; PFT (and correction=0) adds nothing
    frame = pd.DataFrame({"x": [16, 12, 5, 20], "n": [17, 12, 10, 20]})
    pr = ipd.effect_sizes(frame, measure="PR", events="x", n="n")
    assert pr.attrs["effect_sizes"]["corrected"] == [False, True, False, True]
    assert "continuity correction: 0.5 added" in ipd.pool(
        frame, events="x", n="n", measure="PR").summary()
    for options in ({"measure": "PFT"}, {"measure": "PR", "correction": 0.0}):
        es = ipd.effect_sizes(frame, events="x", n="n", **options)
        assert es.attrs["effect_sizes"]["corrected"] == [False] * 4
    assert "continuity correction" not in ipd.pool(frame, events="x", n="n",
                                                   measure="PFT").summary()
