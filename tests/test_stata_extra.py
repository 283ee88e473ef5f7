"""Stata metan's further models and options (issue 17) in the translator and the session."""

from __future__ import annotations

import numpy as np
import pytest

import ipdmeta as ipd
from ipdmeta.stata import StataSyntaxError, translate
from ipdmeta.stata.session import StataSession


@pytest.mark.parametrize("command,expected", [
    ("metan es se, re(bdl, reps(500))", {"method": "BDL", "reps": 500}),
    ("metan es se, re(hm)", {"method": "HM"}),
    ("metan es se, re(b0)", {"method": "B0"}),
    ("metan es se, re(bp)", {"method": "BP"}),
    ("metan es se, re(dk2s)", {"method": "DK2S"}),
    ("metan es se, re(dk2s, init(dl))", {"method": "DK2S-DL"}),
    ("metan es se, re(sj2s, init(reml))", {"method": "SJ2S-REML"}),
    ("metan es se, re(reml, kr)", {"method": "REML", "ci": "kr"}),
    ("metan es se, model(kroger, oim)", {"method": "REML", "ci": "kr-oim"}),
    ("metan es se, re(pl, bartlett)", {"method": "ML", "ci": "pl-bartlett"}),
    ("metan es se, re(pl, skovgaard)", {"method": "ML", "ci": "pl-skovgaard"}),
    ("metan es se, model(reml, hksj truncate(zovert))", {"method": "REML", "ci": "hksj-zovert"}),
    ("metan es se, model(hksj, truncate(one))", {"method": "DL", "ci": "hksj-trunc"}),
    ("metan es se, re(bt)", {"method": "BT"}),
    ("metan es se, re(hc)", {"method": "DL", "ci": "hc"}),
    ("metan es se, model(mu)", {"method": "mult"}),
    ("metan es se, model(ivhet)", {"method": "IVhet"}),
    ("metan es se, re(reml) rflevel(80)", {"method": "REML", "pi_level": 80.0}),
    ("metan es se, re(dl) isqparam", {"method": "DL", "I2": "tau2"}),
])
def test_metan_models_translate(command, expected):
    call = translate(command).call
    assert {k: call[k] for k in expected} == expected


def test_ipdmetan_puts_pool_options_in_pool_options():
    call = translate("ipdmetan, study(t) re(bdl, reps(200)) rflevel(90) : regress y x").call
    assert call["method"] == "BDL"
    assert call["pool_options"] == {"reps": 200, "pi_level": 90.0}


@pytest.mark.parametrize("command,match", [
    ("metan es se, re(reml, truncate(zovert))", "goes with hksj"),
    ("metan es se, re(reml, hksj truncate(half))", "truncate"),
    ("metan es se, re(reml, init(dl))", "first step of sj2s or dk2s"),
    ("metan es se, re(reml, oim)", "Kenward-Roger"),
    ("metan es se, re(dl, bartlett)", "profile likelihood"),
])
def test_suboption_misuse_is_refused(command, match):
    with pytest.raises(StataSyntaxError, match=match):
        translate(command)


def test_session_runs_the_new_models_as_pool_does():
    bcg = ipd.datasets.load_bcg()
    bcg["se"] = np.sqrt(bcg["vi"])
    session = StataSession(bcg)
    for command, kwargs in [
        ("metan yi se, study(trial) re(reml, kr)", {"method": "REML", "ci": "kr"}),
        ("metan yi se, study(trial) model(dl, hksj truncate(zovert)) rflevel(80)",
         {"method": "DL", "ci": "hksj-zovert", "pi_level": 0.8}),
        ("metan yi se, study(trial) re(sj2s, init(reml))", {"method": "SJ2S-REML"}),
    ]:
        step = session.run(command)
        ref = ipd.pool(bcg, estimate="yi", se="se", study="trial", **kwargs).overall
        got = step.result.overall
        assert (got.estimate, got.ci_low, got.ci_high, got.pi_low) == pytest.approx(
            (ref.estimate, ref.ci_low, ref.ci_high, ref.pi_low), abs=1e-12)
