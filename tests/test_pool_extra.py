"""metan's extra pooling methods and metafor's hc()/robust(), through ``ipd.pool()``/``metareg()``.

Reference values: ``tests/reference/stage2_extra.json`` written by ``stage2_extra.R``:
metafor 3.8.1 (hc, robust, GENQ with two-step weights, SJ with tau2.init) with tight
control, and independent R code from the published formulas for what metafor lacks
(Hartung-Makambi, Rukhin B0/BP, multiplicative, IVhet, Biggerstaff-Tweedie, Kenward-Roger
by the general matrix formulas, (z/t) truncation, Bartlett/Skovgaard profile likelihood,
metan's Q-based I² intervals), on metadat data.  IVhet, the multiplicative model and
Biggerstaff-Tweedie (given its weights) are also compared with metafor's user-weighted and
common-effect Knapp-Hartung fits, which compute the same quantities.
"""

from __future__ import annotations

import json
from functools import cache
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError, SpecificationError
from ipdmeta.pooling.inference import critical_value
from ipdmeta.pooling.tau2_extra import bca_interval, rukhin_bp

REF = json.loads((Path(__file__).parent / "reference" / "stage2_extra.json").read_text())
DS = REF["datasets"]
NAMES = list(DS)
ATOL = 1e-6


def frame(name: str) -> pd.DataFrame:
    d = DS[name]
    out = pd.DataFrame({"study": [f"S{i + 1}" for i in range(len(d["yi"]))],
                        "yi": d["yi"], "vi": d["vi"]})
    for key in ("n", "cluster", "x"):
        if key in d:
            out[key] = d[key]
    return out


@cache
def pooled(name: str, **options) -> ipd.MetaResult:
    return ipd.pool(frame(name), estimate="yi", variance="vi", study="study", **options)


def close(ours, ref, atol=ATOL):
    np.testing.assert_allclose(np.asarray(ours, float), np.asarray(ref, float), rtol=0,
                               atol=atol)


@pytest.mark.parametrize("name", NAMES)
def test_henmi_copas_matches_metafor_hc(name):
    for ref in DS[name]["hc"]:
        o = pooled(name, method="DL", ci="hc", level=ref["level"]).overall
        close([o.estimate, o.se, o.ci_low, o.ci_high, o.tau2],
              [ref["estimate"], ref["se"], ref["ci_low"], ref["ci_high"], ref["tau2"]])
        assert o.ci_method == "hc" and o.df is None


@pytest.mark.parametrize("name", NAMES)
def test_robust_matches_metafor_robust(name):
    data = frame(name)
    for ref in DS[name]["robust"]:
        cluster = None if ref["cluster"] == "study" else "cluster"
        if ref["mods"]:
            fit = ipd.metareg(data, "~ x", estimate="yi", variance="vi", study="study",
                              method=ref["method"], ci="z")
        else:
            fit = pooled(name, method=ref["method"], ci="z")
        close(fit.tau2 if ref["mods"] else fit.overall.tau2, ref["tau2"], 1e-9)
        rob = fit.robust(cluster=cluster, adjust=ref["adjust"])
        close(rob.coef, ref["coef"])
        close(np.r_[rob.se, rob.statistic, rob.pvalue, rob.ci_low, rob.ci_high],
              np.r_[ref["se"], ref["t"], ref["pvalue"], ref["ci_low"], ref["ci_high"]])
        assert rob.df == ref["df"]
        close([rob.QM, rob.QM_pvalue], [ref["QM"], ref["QM_pvalue"]])


def test_robust_knha_note_and_result_object():
    note = REF["notes"]["knha_note"]
    # metafor 3.8.1 scales robust() by s2w for test="knha"; ipdmeta's does not depend on ci=
    assert note["robust_se_test_knha"] == pytest.approx(note["robust_se_test_z"] * note["s2w"])
    z = pooled("bcg", method="REML", ci="z").robust().se[0]
    k = pooled("bcg", method="REML", ci="hksj").robust().se[0]
    assert z == pytest.approx(k, abs=1e-12) == pytest.approx(note["robust_se_test_z"], abs=1e-8)
    rob = pooled("bcg", method="REML").robust(cluster="cluster", adjust=False)
    assert rob.n_clusters == 3 and not rob.adjust and "CR0" in rob.summary()
    assert list(rob.to_frame().columns) == ["term", "estimate", "se", "t", "pvalue", "ci_low",
                                            "ci_high"]
    with pytest.raises(InputError, match="cluster column"):
        pooled("bcg", method="REML").robust(cluster="nope")
    with pytest.raises(InputError, match="own variance"):
        pooled("bcg", method="IVhet").robust()


@pytest.mark.parametrize("name", NAMES)
def test_moment_estimators_and_alternative_models(name):
    m = DS[name]["moments"]
    close(pooled(name, method="HM").overall.tau2, m["HM"], 1e-9)
    close(pooled(name, method="BP").overall.tau2, m["BP"], 1e-9)
    if "B0" in m:
        close(pooled(name, method="B0").overall.tau2, m["B0"], 1e-9)
    mult = pooled(name, method="mult").overall
    close([mult.estimate, mult.se], [m["mult_estimate"], m["mult_se"]])
    assert mult.model == "common" and np.isnan(mult.pi_low)
    iv = pooled(name, method="IVhet").overall
    close([iv.estimate, iv.se, iv.tau2], [m["mult_estimate"], m["ivhet_se"], m["tau2_DL"]])
    # and against metafor's own code: rma(method="DL", weights=1/v), rma("EE", test="knha")
    mf = m["metafor_ivhet"]
    close([iv.estimate, iv.se, iv.ci_low, iv.ci_high, iv.tau2],
          [mf["estimate"], mf["se"], mf["ci_low"], mf["ci_high"], mf["tau2"]])
    close(mult.se, m["metafor_mult_se"])


@pytest.mark.parametrize("name", NAMES)
def test_two_step_estimators_match_metafor(name):
    ts = DS[name]["two_step"]
    close(pooled(name, method="DK2S").overall.tau2, ts["DK2S_HE"], 1e-9)
    close(pooled(name, method="DK2S-DL").overall.tau2, ts["DK2S_DL"], 1e-9)
    for init in ("DL", "REML", "HE", "PM"):
        close(pooled(name, method=f"SJ2S-{init}").overall.tau2, ts[f"SJ2S_{init}"], 1e-9)
    close(pooled(name, method="SJ2S").overall.tau2, ts["SJ"], 1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_kenward_roger_matches_general_formulas(name):
    ref = DS[name]["kr"]
    o = pooled(name, method="REML", ci="kr").overall
    close([o.tau2, o.estimate, o.se, o.df], [ref["tau2"], ref["estimate"], ref["se"], ref["df"]])
    crit = critical_value(0.95, ref["df"])
    close([o.ci_low, o.ci_high], [o.estimate - crit * ref["se"], o.estimate + crit * ref["se"]])
    assert ref["df_phi"] > ref["df"] - 1e-9          # Kenward & Roger's own Θ: larger df


@pytest.mark.parametrize("name", NAMES)
def test_biggerstaff_tweedie(name):
    for ref in DS[name]["bt"]:
        m = pooled(name, method="BT", level=ref["level"])
        o = m.overall
        close([o.estimate, o.se, o.tau2], [ref["estimate"], ref["se"], ref["tau2"]])
        close(o.tau2_ci, ref["tau2_ci"], 1e-8)
        w = np.asarray(ref["weights"])
        close(m.studies["weight"], 100 * w / w.sum())
        mf = ref["metafor_weighted"]
        close([o.estimate, o.se, o.ci_low, o.ci_high],
              [mf["estimate"], mf["se"], mf["ci_low"], mf["ci_high"]])


@pytest.mark.parametrize("name", NAMES)
def test_hksj_truncated_at_z_over_t(name):
    for ref in DS[name]["zovert"]:
        o = pooled(name, method="REML", ci="hksj-zovert", level=ref["level"]).overall
        close([o.se, o.ci_low, o.ci_high], [ref["se"], ref["ci_low"], ref["ci_high"]])
        z = pooled(name, method="REML", ci="z", level=ref["level"]).overall
        assert o.ci_high - o.ci_low >= z.ci_high - z.ci_low - 1e-12


@pytest.mark.parametrize("name", [n for n in NAMES if "pl" in DS[n]])
def test_profile_likelihood_and_its_corrections(name):
    for ref in DS[name]["pl"]:
        for ci, key in (("pl", "pl"), ("pl-bartlett", "bartlett"),
                        ("pl-skovgaard", "skovgaard")):
            o = pooled(name, method="ML", ci=ci, level=ref["level"]).overall
            close([o.ci_low, o.ci_high, o.pvalue],
                  [ref[key]["ci_low"], ref[key]["ci_high"], ref[key]["pvalue"]])
        sk = pooled(name, method="ML", ci="pl-skovgaard", level=ref["level"]).overall
        close(sk.z_or_t, ref["skovgaard"]["statistic"])


def test_profile_likelihood_with_two_maxima_in_tau2():
    """The constructed set has, near the lower bound, a boundary maximum at tau² = 0 and a
    higher interior one: the profile must take the global maximum (the earlier single-root
    search stopped at tau² = 0 and reported 0.197 instead of 0.067)."""
    o = pooled("constructed_outlier", method="REML", ci="pl").overall
    assert o.ci_low == pytest.approx(0.06739606525572564, abs=1e-9)
    assert o.ci_low < 0.1


@pytest.mark.parametrize("name,level", list(product(NAMES, (0, 1))))
def test_q_based_i2_and_prediction_level(name, level):
    ref = DS[name]["het_q"][level]
    for method, key in (("REML", "random"), ("common", "common")):
        o = pooled(name, method=method, I2="q", level=ref["level"]).overall
        close([o.I2, o.H2], [ref["I2"], ref["H2"]], 1e-9)
        close(o.I2_ci, ref[key]["I2_ci"], 1e-7)
        close(o.H2_ci, ref[key]["H2_ci"], 1e-7)
    o = pooled(name, method="REML", pi_level=0.80).overall
    close([o.pi_low, o.pi_high], ref["pi80_hts"])
    assert o.level == 0.95


def test_bootstrap_dl_expectation_by_exact_enumeration():
    """The bootstrap DL estimate is a Monte Carlo mean over resamples: with 5 studies all
    5^5 resamples can be enumerated, and the mean of 200,000 seeded replicates must agree
    within 4 Monte Carlo standard errors (Kontopantelis et al. 2013: Q around the
    original common-effect estimate in every resample)."""
    d = frame("bcg").iloc[:5]
    y, v = d["yi"].to_numpy(), d["vi"].to_numpy()
    idx = np.array(list(product(range(5), repeat=5)))
    w = 1 / v[idx]
    centre = np.sum(y / v) / np.sum(1 / v)
    q = np.sum(w * (y[idx] - centre) ** 2, axis=1)
    c = w.sum(1) - np.sum(w * w, axis=1) / w.sum(1)
    exact = np.maximum(0, (q - 4) / c)
    m = ipd.pool(d, estimate="yi", variance="vi", method="BDL", reps=200_000, seed=11)
    mc_se = exact.std() / np.sqrt(200_000)
    assert abs(m.overall.tau2 - exact.mean()) < 4 * mc_se
    again = ipd.pool(d, estimate="yi", variance="vi", method="BDL", reps=200_000, seed=11)
    assert again.overall.tau2 == m.overall.tau2
    other = ipd.pool(d, estimate="yi", variance="vi", method="BDL", reps=2000, seed=12)
    assert other.overall.tau2 != m.overall.tau2
    lo, hi = m.overall.tau2_ci
    assert 0 <= lo < m.overall.tau2 < hi


def test_bca_reduces_to_percentiles_without_bias_or_acceleration():
    reps = np.linspace(-3, 3, 100001)
    lo, hi = bca_interval(reps, 0.0, np.array([1.0, -1.0, 0.5, -0.5]), 0.90)
    np.testing.assert_allclose([lo, hi], np.quantile(reps, [0.05, 0.95]), atol=1e-3)


def test_robust_models_through_pool():
    data = frame("raudenbush1985")
    m = ipd.pool(data, estimate="yi", variance="vi", study="study", method="mixture")
    ref = json.loads((Path(__file__).parent / "reference" / "robust_metaplus.json")
                     .read_text())["datasets"]["raudenbush1985"]["fits"]["mixture"]
    o = m.overall
    close([o.estimate, o.ci_low, o.ci_high, o.pvalue],
          [ref["mu"], ref["ci_low"], ref["ci_high"], ref["pvalue"]], 1e-6)
    assert o.ci_method == "pl" and np.isnan(o.pi_low)
    probs = m.outlier_probabilities()
    close(probs["outlier_probability"], ref["outlier_prob"], 1e-6)
    assert probs["study"].tolist() == data["study"].tolist()
    # the pooled mean is the weighted mean with the reported (posterior precision) weights
    close(np.sum(m.studies["weight"] * data["yi"]) / 100, o.estimate, 1e-8)
    with pytest.raises(InputError, match="method='mixture'"):
        pooled("bcg", method="REML").outlier_probabilities()
    with pytest.raises(InputError, match="leave ci out"):
        ipd.pool(data, estimate="yi", variance="vi", method="t", ci="hksj")


def test_option_errors_are_clear():
    data = frame("bcg")
    with pytest.raises(InputError, match="needs each study's number of participants"):
        ipd.pool(data.drop(columns="n"), estimate="yi", variance="vi", method="B0")
    with pytest.raises(InputError, match="not available for meta-regression"):
        ipd.metareg(data, "~ x", estimate="yi", variance="vi", method="BP")
    with pytest.raises(SpecificationError, match="without moderators"):
        rukhin_bp(data["yi"].to_numpy(), data["vi"].to_numpy(), np.ones((13, 2)))
    with pytest.raises(InputError, match="first step of DK2S"):
        ipd.pool(data, estimate="yi", variance="vi", method="DK2S-REML")
    with pytest.raises(InputError, match="I2="):
        ipd.pool(data, estimate="yi", variance="vi", I2="higgins")
    with pytest.raises(InputError, match="random-effects mean"):
        ipd.pool(data, estimate="yi", variance="vi", method="common", ci="kr")
    with pytest.raises(InputError, match="own variance"):
        ipd.pool(data, estimate="yi", variance="vi", method="BT", ci="hksj")
    m = ipd.pool(data, estimate="yi", variance="vi", method="PM", ci="hc")
    assert any("DerSimonian-Laird" in msg for msg in m.messages)
    m = ipd.pool(data, estimate="yi", variance="vi", method="DL", ci="kr")
    assert any("derived for REML" in msg for msg in m.messages)
