"""``ipdmeta pool|metareg|forest`` on summary data: --events/--n/--means ... --measure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.cli import main

REF = json.loads((Path(__file__).parent / "reference" / "pooling_mh_peto.json").read_text())


@pytest.fixture(scope="module")
def counts_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    t = REF["tables"]["bcg"]
    frame = pd.DataFrame({"trial": t["study"], "d1": t["ai"], "d0": t["ci"],
                          "ablat": t["ablat"]})
    frame["n1"] = frame.d1 + np.array(t["bi"])
    frame["n0"] = frame.d0 + np.array(t["di"])
    path = tmp_path_factory.mktemp("cli_summary") / "counts.csv"
    frame.to_csv(path, index=False)
    return path


def test_pool_counts_by_mantel_haenszel(counts_csv: Path, capsys: pytest.CaptureFixture,
                                        tmp_path: Path) -> None:
    forest = tmp_path / "forest.png"
    code = main(["pool", str(counts_csv), "--events", "d1", "d0", "--n", "n1", "n0",
                 "--measure", "OR", "--method", "MH", "--study", "trial", "--json",
                 "--forest", str(forest), "--counts", "--group-names", "BCG", "Control"])
    assert code == 0 and forest.exists()
    out = json.loads(capsys.readouterr().out)
    ref = next(f for f in REF["fits"] if f["data"] == "bcg" and f["method"] == "MH"
               and f["measure"] == "OR" and f["correct"] and not f["options"])
    assert out["result"]["overall"]["estimate"] == pytest.approx(ref["estimate"], rel=1e-10)
    assert out["result"]["tests"]["breslow_day"]["statistic"] == pytest.approx(ref["BD"])
    assert 'events=("d1", "d0")' in out["python"] and 'method="MH"' in out["python"]


def test_metareg_on_counts(counts_csv: Path, capsys: pytest.CaptureFixture) -> None:
    code = main(["metareg", str(counts_csv), "~ ablat", "--events", "d1", "d0", "--n", "n1",
                 "n0", "--measure", "RR", "--study", "trial", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    coef = out["result"]["coef"]
    slope = coef[1]["estimate"] if isinstance(coef, list) else coef["estimate"][1]
    assert slope == pytest.approx(REF["metareg"]["knha"]["coef"][1], rel=1e-7)


@pytest.mark.parametrize(("argv", "message"), [
    (["--events", "d1", "d0", "--n", "n1", "n0", "--method", "MH"], "need --measure"),
    (["--method", "MH"], "pools 2x2 tables"),
    (["--events", "d1", "d0", "dx", "--n", "n1", "n0", "--measure", "OR"], "one column"),
    (["--events", "d1", "dz", "--n", "n1", "n0", "--measure", "OR"], "'dz' is not in"),
])
def test_summary_usage_errors(counts_csv: Path, capsys: pytest.CaptureFixture,
                              argv: list[str], message: str) -> None:
    assert main(["pool", str(counts_csv), *argv]) == 2
    assert message in capsys.readouterr().err


def test_forest_command_on_means(tmp_path: Path) -> None:
    path = tmp_path / "means.csv"
    pd.DataFrame({"m1": [55.0, 27, 64], "s1": [47.0, 7, 17], "k1": [155, 31, 75],
                  "m0": [75.0, 29, 119], "s0": [64.0, 4, 29], "k0": [156, 32, 71]}
                 ).to_csv(path, index=False)
    out = tmp_path / "f.png"
    assert main(["forest", str(path), "--out", str(out), "--means", "m1", "m0", "--sds", "s1",
                 "s0", "--n", "k1", "k0", "--measure", "SMD", "--counts", "--quiet"]) == 0
    assert out.exists()
    assert ipd.effects.MEASURES["SMD"].family == "means"
