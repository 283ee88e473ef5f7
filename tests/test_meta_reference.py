"""metan-only methods against second R implementations: meta 7.0-0, metaLik 0.43.0, pimeta.

Reference values: ``tests/reference/stage2_meta.json``, written by
``tests/reference/stage2_meta.R`` (R meta 7.0-0, Schwarzer, with REML fitted by metafor
3.8.1 at threshold 1e-12).  Its inputs are read from ``stage2_extra.json`` (six real
data sets from metadat) and ``stage2_bias.json`` (2x2 counts of dat.bcg and the magnesium
trials), so they are the very numbers the other reference tests use.

meta is a separate implementation from metafor and from the formula-based R code of
``stage2_extra.R``: its Kenward-Roger method follows Partlett & Riley (2017), its ad hoc
HKSJ variants Knapp & Hartung (2003) and Jackson et al. (2017), and its bias tests
Harbord et al. (2006) and Peters et al. (2006).  Agreement is required to 1e-9.

``tests/reference/stage2_metalik.json`` (``stage2_metalik.R``) holds Skovgaard's corrected
profile likelihood from metaLik, the package of Guolo, who introduced the correction to
meta-analysis (Guolo 2012): its likelihood matrices and ``u`` evaluated at exact fits
(1e-8 here), and ``test.metaLik()``'s own spline-smoothed statistic (1e-3).
``tests/reference/stage2_pimeta.json`` (``stage2_pimeta.R``) holds the Hartung-Makambi
tau² of pimeta 1.1.3 (Nagashima et al.), a closed form compared to 1e-12.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import InputError
from ipdmeta.pooling.counts_bias import harbord_test, peters_test
from test_bias_methods import COUNTS
from test_bias_methods import fit as bias_fit
from test_metareg import assert_close
from test_pool_extra import frame, pooled

HERE = Path(__file__).parent / "reference"
REF: dict[str, Any] = json.loads((HERE / "stage2_meta.json").read_text())
METALIK: dict[str, Any] = json.loads((HERE / "stage2_metalik.json").read_text())
PIMETA: dict[str, Any] = json.loads((HERE / "stage2_pimeta.json").read_text())
TOL = 1e-9


def reml(name: str, **options: Any) -> Any:
    return pooled(name, method="REML", **options).overall


def label(rec: dict[str, Any]) -> str:
    return f"{rec['data']}-{rec['level']:.2f}"


@pytest.mark.parametrize("rec", REF["intervals"], ids=label)
def test_kenward_roger_interval_and_prediction_match_meta(rec: dict[str, Any]) -> None:
    o = reml(rec["data"], ci="kr", pi="kr", level=rec["level"])
    ref = rec["kr"]
    assert_close({"tau2": o.tau2, "estimate": o.estimate, "se": o.se, "df": o.df,
                  "ci_low": o.ci_low, "ci_high": o.ci_high, "pvalue": o.pvalue,
                  "pi_low": o.pi_low, "pi_high": o.pi_high},
                 {"tau2": rec["tau2"], "estimate": rec["estimate"], "se": ref["se"],
                  "df": ref["df"], "ci_low": ref["ci_low"], "ci_high": ref["ci_high"],
                  "pvalue": ref["pvalue"], "pi_low": ref["pi_low"], "pi_high": ref["pi_high"]},
                 f"KR {label(rec)}", TOL)


@pytest.mark.parametrize("rec", REF["intervals"], ids=label)
def test_hksj_truncations_match_meta_adhoc_variants(rec: dict[str, Any]) -> None:
    zovert = reml(rec["data"], ci="hksj-zovert", level=rec["level"])
    trunc = reml(rec["data"], ci="hksj-trunc", level=rec["level"])
    assert_close({"zovert_low": zovert.ci_low, "zovert_high": zovert.ci_high,
                  "trunc_low": trunc.ci_low, "trunc_high": trunc.ci_high, "trunc_se": trunc.se},
                 {"zovert_low": rec["hksj_zovert"]["ci_low"],
                  "zovert_high": rec["hksj_zovert"]["ci_high"],
                  "trunc_low": rec["hksj_trunc"]["ci_low"],
                  "trunc_high": rec["hksj_trunc"]["ci_high"],
                  "trunc_se": rec["hksj_trunc"]["se"]}, f"HKSJ {label(rec)}", TOL)


def test_kr_prediction_interval_differs_from_hts_and_is_refused_where_undefined() -> None:
    kr = reml("bcg", ci="kr", pi="kr")
    hts = reml("bcg", ci="kr", pi="hts")
    assert kr.pi_low != pytest.approx(hts.pi_low, abs=1e-4)
    with pytest.raises(InputError, match=r"pi=.kr.*needs a tau² estimator"):
        ipd.pool(frame("bcg"), estimate="yi", variance="vi", method="IVhet", pi="kr")
    with pytest.raises(InputError, match=r"pi=.kr.*needs a tau² estimator"):
        ipd.pool(frame("bcg"), estimate="yi", variance="vi", method="common", pi="kr")
    with pytest.raises(InputError, match=r"pi=.kr. .* does not go with ci='hc'"):
        ipd.pool(frame("bcg"), estimate="yi", variance="vi", method="REML", ci="hc", pi="kr")
    weighted = frame("bcg").assign(w=1.0)
    with pytest.raises(InputError, match="user weights"):
        ipd.pool(weighted, estimate="yi", variance="vi", method="REML", pi="kr", weights="w")


@pytest.mark.parametrize("rec", REF["bias"], ids=lambda r: r["data"])
def test_harbord_and_peters_match_meta_metabias(rec: dict[str, Any]) -> None:
    m = bias_fit(rec["data"])
    for name, result in (("harbord", harbord_test(m, **COUNTS)),
                         ("peters", peters_test(m, **COUNTS))):
        ref = rec[name]
        assert_close({"estimate": result.estimate, "se": result.se,
                      "statistic": result.statistic, "df": result.df, "pvalue": result.pvalue},
                     {key: ref[key] for key in ("estimate", "se", "statistic", "df", "pvalue")},
                     f"{name} {rec['data']}", TOL)


@pytest.mark.parametrize("rec", METALIK["skovgaard"], ids=lambda r: r["data"])
def test_skovgaard_profile_likelihood_matches_metalik(rec: dict[str, Any]) -> None:
    data = pd.DataFrame({"yi": rec["y"], "vi": rec["vi"]})
    o = ipd.pool(data, estimate="yi", variance="vi", method="ML", ci="pl-skovgaard",
                 level=rec["level"]).overall
    assert_close({"estimate": o.estimate, "tau2": o.tau2, "rskov_at_0": o.z_or_t,
                  "pvalue": o.pvalue, "ci_low": o.ci_low, "ci_high": o.ci_high},
                 {"estimate": rec["mu_ml"], "tau2": rec["tau2_ml"],
                  "rskov_at_0": rec["rskov_at_0"], "pvalue": rec["pvalue"],
                  "ci_low": rec["ci_low"], "ci_high": rec["ci_high"]},
                 f"Skovgaard {rec['data']}", 1e-8)
    assert o.z_or_t == pytest.approx(rec["package_rskov_at_0"], abs=1e-3)
    assert o.pvalue == pytest.approx(rec["package_pvalue"], abs=1e-3)


@pytest.mark.parametrize("rec", PIMETA["hartung_makambi"], ids=lambda r: r["data"])
def test_hartung_makambi_matches_pimeta(rec: dict[str, Any]) -> None:
    o = pooled(rec["data"], method="HM").overall
    assert rec["tau2"] > 0
    assert o.tau2 == pytest.approx(rec["tau2"], rel=1e-12, abs=1e-14)
