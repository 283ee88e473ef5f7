"""Fit statistics, LRT, Wald tests, BLUPs, joint permutation tests and profiles vs metafor.

Reference values: ``tests/reference/stage2_modelcomp.json``, written by
``tests/reference/stage2_modelcomp.R`` (metafor 3.8.1, convergence threshold 1e-12); the
input data are stored there.  Numbers must agree to 1e-6 absolute (most agree to 1e-9).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ipdmeta.errors import InputError
from ipdmeta.pooling.fitstats import fit_statistics, lrt
from ipdmeta.pooling.metareg import metareg
from ipdmeta.pooling.pool import pool
from ipdmeta.pooling.profile import profile_mu, profile_tau2
from ipdmeta.pooling.wald import blup, ranef, wald_test
from test_metareg import assert_close

REF: dict[str, Any] = json.loads(
    (Path(__file__).parent / "reference" / "stage2_modelcomp.json").read_text())
METHOD = {"FE": "common"}


def frame_of(name: str) -> pd.DataFrame:
    return pd.DataFrame(REF["datasets"][name])


@cache
def fit(model: str, method: str, ci: str = "z", level: float = 0.95,
        rows: tuple[int, ...] | None = None) -> Any:
    """The pooled result (formula "~ 1") or meta-regression of a reference model."""
    spec = REF["models"][model]
    frame = frame_of(spec["data"])
    if rows is not None:
        frame = frame.iloc[list(rows)]
    options = dict(estimate="yi", variance="vi", study="study",
                   method=METHOD.get(method, method), ci=ci, level=level)
    if spec["formula"] == "~ 1":
        return pool(frame, **options)
    return metareg(frame, spec["formula"], **options)


def vec(x: Any) -> list:
    return x if isinstance(x, list) else [x]


# ---------------------------------------------------------------- fit statistics
@pytest.mark.parametrize("rec", REF["fitstats"], ids=lambda r: f"{r['model']}-{r['method']}")
def test_fit_statistics_match_fitstats(rec: dict[str, Any]) -> None:
    m = fit(rec["model"], rec["method"])
    for kind, reml in (("ML", False), ("REML", True)):
        s = fit_statistics(m, reml=reml)
        assert s.parameters == rec["parms"]
        assert_close(s.to_dict(), rec[kind], f"{rec['model']} {rec['method']} {kind}", 1e-8)
    default = fit_statistics(m)
    assert default.reml == (rec["method"] == "REML")


# ---------------------------------------------------------------- likelihood-ratio tests
@pytest.mark.parametrize("rec", REF["lrt"],
                         ids=lambda r: f"{r['full']}-{r['method_full']}-vs-{r['reduced']}-"
                                       f"{r['method_reduced']}")
def test_lrt_matches_anova(rec: dict[str, Any]) -> None:
    full = fit(rec["full"], rec["method_full"])
    reduced = fit(rec["reduced"], rec["method_reduced"])
    for a, b in ((full, reduced), (reduced, full)):  # order does not matter
        res = lrt(a, b)
        ours = {"LRT": res.statistic, "df": res.df, "pvalue": res.pvalue,
                "QE_full": res.QE_full, "QE_reduced": res.QE_reduced,
                "tau2_full": res.tau2_full, "tau2_reduced": res.tau2_reduced, "R2": res.R2}
        for side, s in (("full", res.full), ("reduced", res.reduced)):
            ours.update({f"loglik_{side}": s.loglik, f"aic_{side}": s.aic,
                         f"bic_{side}": s.bic, f"aicc_{side}": s.aicc,
                         f"parms_{side}": s.parameters})
        assert_close(ours, {key: rec[key] for key in ours}, "anova", 1e-8)
    assert "LRT" in res.summary() and "LRTResult(" in repr(res)
    assert list(res.to_frame()["model"]) == ["full", "reduced"]


def test_lrt_refuses_what_metafor_refuses_or_warns_about() -> None:
    with pytest.raises(InputError, match="REML likelihoods of models with different moderators"):
        lrt(fit("bcg_ablat", "REML"), fit("bcg_1", "REML"))
    with pytest.raises(InputError, match="same number of parameters"):
        lrt(fit("bcg_1", "REML"), fit("bcg_1", "ML"))
    with pytest.raises(InputError, match="uses ML and the reduced model REML"):
        lrt(fit("bcg_ablat", "ML"), fit("bcg_1", "REML"))
    with pytest.raises(InputError, match="different studies"):
        lrt(fit("bcg_ablat", "ML"), fit("rau_1", "ML"))
    with pytest.raises(InputError, match="not nested"):
        lrt(fit("bcg_full", "FE"), fit("bcg_ablat", "ML"))
    note = lrt(fit("bcg_ablat", "DL"), fit("bcg_1", "DL"))
    assert any("should be based on ML or REML" in m for m in note.messages)


# ---------------------------------------------------------------- Wald tests
@pytest.mark.parametrize("rec", REF["wald_btt"],
                         ids=lambda r: f"{r['model']}-{r['method']}-{r['ci']}-{r['btt']}")
def test_wald_subset_matches_anova_btt(rec: dict[str, Any]) -> None:
    m = fit(rec["model"], rec["method"], rec["ci"])
    w = wald_test(m, rec["btt"])
    assert list(w.hypotheses["hypothesis"]) == [f"{m.terms[j]} = 0" for j in vec(rec["tested"])]
    ref_df = vec(rec["QM_df"])
    assert w.df[0] == ref_df[0] and (w.df[1] is None) == (ref_df[1] is None)
    assert len(w.hypotheses) == len(vec(rec["tested"]))
    assert_close({"QM": w.statistic, "QM_pvalue": w.pvalue},
                 {"QM": rec["QM"], "QM_pvalue": rec["QM_pvalue"]}, "anova(btt=)", 1e-8)


@pytest.mark.parametrize("rec", REF["wald_L"],
                         ids=lambda r: f"{r['model']}-{r['method']}-{r['ci']}")
def test_wald_linear_hypotheses_match_anova_X(rec: dict[str, Any]) -> None:
    m = fit(rec["model"], rec["method"], rec["ci"])
    w = wald_test(m, L=rec["L"], rhs=rec["rhs"])
    h = w.hypotheses
    ours = {"estimate": h["estimate"] - h["rhs"], "se": h["se"], "statistic": h["statistic"],
            "pvalue": h["pvalue"], "QM": w.statistic, "QM_pvalue": w.pvalue}
    assert_close(ours, {key: rec[key] for key in ours}, "anova(X=)", 1e-8)
    assert w.df[1] == (None if rec["ci"] == "z" else vec(rec["df"])[0])


def test_wald_options_and_errors() -> None:
    m = fit("bcg_full", "REML", "z")
    by_name = wald_test(m, ["C(alloc)[T.random]", "C(alloc)[T.systematic]"])
    by_pattern = wald_test(m, "C(alloc)")
    by_index = wald_test(m, [3, 4])
    assert by_name.statistic == by_pattern.statistic == by_index.statistic
    # dropping the intercept column of L adds it back (metafor's X= convention)
    short = wald_test(m, L=[30, 1970, 0, 1])
    full = wald_test(m, L=[1, 30, 1970, 0, 1])
    assert short.hypotheses["estimate"].iloc[0] == pytest.approx(
        full.hypotheses["estimate"].iloc[0], abs=1e-12)
    # a rank-deficient L: per-row tests, no joint test
    rank1 = wald_test(m, L=[[0, 1, 0, 0, 0], [0, 2, 0, 0, 0]])
    assert np.isnan(rank1.statistic) and rank1.hypotheses["pvalue"].notna().all()
    assert "Joint test" in by_name.summary() and "WaldTestResult(" in repr(by_name)
    with pytest.raises(InputError, match="no coefficient matches"):
        wald_test(m, "latitude")
    with pytest.raises(InputError, match=r"either terms= .* or L="):
        wald_test(m)
    with pytest.raises(InputError, match="L has 3 columns"):
        wald_test(m, L=[1, 2, 3])
    with pytest.raises(InputError, match="rhs has 3 values"):
        wald_test(m, ["ablat", "year"], rhs=[0, 0, 0])
    # a pooled result: the single coefficient against rhs equals the shifted z test
    p = fit("bcg_1", "REML")
    w = wald_test(p, "Intercept", rhs=-0.5)
    assert w.statistic == pytest.approx(((p.overall.estimate + 0.5) / p.overall.se) ** 2)


# ---------------------------------------------------------------- BLUPs and random effects
@pytest.mark.parametrize("rec", REF["blup"], ids=lambda r: f"{r['model']}-{r['method']}-{r['ci']}")
def test_blup_and_ranef_match_metafor(rec: dict[str, Any]) -> None:
    m = fit(rec["model"], rec["method"], rec["ci"], rec["level"])
    for name, fn in (("blup", blup), ("ranef", ranef)):
        frame = fn(m)
        assert_close({c: frame[c].to_numpy() for c in rec[name]}, rec[name], name, 1e-8)
    other = blup(m, level=0.5)
    assert (other["pi_high"] - other["pi_low"] < frame["pi_high"] - frame["pi_low"] + 1).all()


# ---------------------------------------------------------------- joint permutation test
@pytest.mark.parametrize("rec", REF["joint_permutation"], ids=lambda r: f"{r['method']}")
def test_joint_permutation_matches_permutest_btt(rec: dict[str, Any]) -> None:
    frame = frame_of("bcg").iloc[rec["rows"]]
    options = dict(estimate="yi", variance="vi", study="study", method=rec["method"],
                   ci=rec["ci"])
    mr = metareg(frame, rec["formula"], **options)
    joint = [mr.terms[j] for j in rec["joint"]]
    w = mr.wald_test(joint)
    assert_close({"QM": w.statistic, "QM_pvalue": w.pvalue},
                 {"QM": rec["QM"], "QM_pvalue": rec["QM_pvalue"]}, "joint Wald", 1e-8)
    perm = metareg(frame, rec["formula"], permutations=10**6, joint=joint,
                   **options).permutation
    assert perm.exact and perm.permutations + perm.failed == rec["n_permutations"]
    assert perm.joint == tuple(rec["joint"])
    assert perm.joint_pvalue == pytest.approx(rec["QM_pvalue_perm"], abs=1e-12)
    if rec["method"] == "DL":  # the joint test of all moderators is the omnibus test
        everything = metareg(frame, rec["formula"], permutations=10**6,
                             joint=mr.terms[1:], **options).permutation
        assert everything.joint_pvalue == everything.QM_pvalue


def test_joint_needs_permutations() -> None:
    with pytest.raises(InputError, match="give permutations= too"):
        metareg(frame_of("bcg"), "~ ablat + year", estimate="yi", variance="vi",
                joint=["ablat"])


# ---------------------------------------------------------------- profiles
@pytest.mark.parametrize("rec", REF["profile_tau2"],
                         ids=lambda r: f"{r['model']}-{r['method']}-{r['ci']}")
def test_profile_tau2_matches_profile(rec: dict[str, Any]) -> None:
    m = fit(rec["model"], rec["method"], rec["ci"])
    pr = profile_tau2(m, values=rec["tau2"])
    t = pr.table
    ours = {"tau2": t["tau2"], "loglik": t["loglik"], "maxll": pr.maxll,
            "tau2_hat": pr.estimate}
    terms = list(rec["estimate"])
    for key in ("estimate", "ci_low", "ci_high"):
        for j, term in enumerate(terms):
            col = key if len(terms) == 1 else f"{key}_{m.terms[j]}"
            ours[f"{key}[{term}]"] = t[col]
    ref = {"tau2": rec["tau2"], "loglik": rec["loglik"], "maxll": rec["maxll"],
           "tau2_hat": rec["tau2_hat"],
           **{f"{key}[{term}]": rec[key][term] for key in ("estimate", "ci_low", "ci_high")
              for term in terms}}
    assert_close(ours, ref, "profile", 1e-8)
    # the default grid spans metafor's: its ends are the Q-profile interval, which
    # metafor's confint() finds to a tolerance of about 1e-4 only
    default = profile_tau2(m, steps=len(rec["tau2"])).table["tau2"]
    assert len(default) == len(rec["tau2"])
    assert np.allclose(default.iloc[[0, -1]], rec["xlim"], atol=1e-4)


@pytest.mark.parametrize("rec", REF["profile_mu"], ids=lambda r: r["data"])
def test_profile_mu_matches_direct_likelihood(rec: dict[str, Any]) -> None:
    m = pool(frame_of(rec["data"]), estimate="yi", variance="vi", study="study", method="ML")
    pr = profile_mu(m, values=rec["mu"])
    assert_close({"loglik": pr.table["loglik"], "tau2": pr.table["tau2"], "maxll": pr.maxll,
                  "mu_hat": pr.estimate},
                 {"loglik": rec["loglik"], "tau2": rec["tau2"], "maxll": rec["maxll"],
                  "mu_hat": rec["mu_hat"]}, "profile mu", 1e-8)
    # the likelihood interval is where the profile crosses max - chi2/2
    pl = pool(frame_of(rec["data"]), estimate="yi", variance="vi", method="ML", ci="pl")
    assert pr.ci == pytest.approx((pl.overall.ci_low, pl.overall.ci_high), abs=1e-10)


def test_profile_errors_and_text() -> None:
    with pytest.raises(InputError, match="common-effect"):
        profile_tau2(fit("bcg_1", "FE"))
    with pytest.raises(InputError, match="pooled result only"):
        profile_mu(fit("bcg_ablat", "REML"))
    pr = profile_tau2(fit("bcg_1", "REML"), steps=4)
    assert "likelihood interval" in pr.summary() and "ProfileResult(tau2" in repr(pr)
    assert pr.to_dict()["parameter"] == "tau2"


def test_joint_from_stata_and_the_command_line(tmp_path: Path, capsys) -> None:
    from ipdmeta.cli import main
    from ipdmeta.stata.translate import translate

    step = translate("metareg yi ablat year, wsvar(vi) permute(500, joint(ablat year))")
    assert step.call["permutations"] == 500 and step.call["joint"] == ["ablat", "year"]
    assert 'joint=["ablat", "year"]' in step.python
    frame = frame_of("bcg")
    path = tmp_path / "bcg.csv"
    frame.to_csv(path, index=False)
    code = main(["metareg", str(path), "~ ablat + year", "--estimate", "yi", "--variance",
                 "vi", "--permutations", "200", "--seed", "1", "--joint", "ablat", "year"])
    assert code == 0 and "Joint permutation test of ablat, year" in capsys.readouterr().out
