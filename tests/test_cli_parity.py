"""The command line for the ipdmetan-parity features: ``ipdmeta ipdover``, ``run --saving``
(the results set) and ``--model logrank``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.cli import main


@pytest.fixture(scope="module")
def hyp_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "hyp.csv"
    ipd.datasets.load("hypertension").to_csv(path, index=False)
    return path


def test_ipdover_command(hyp_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "over.dta"
    png = tmp_path / "over.png"
    code = main(["ipdover", str(hyp_csv), "--over", "smk", "--study", "trial", "--formula",
                 "Surv(time, event) ~ treat + age", "--forest", str(png), "--save", str(out),
                 "--json", "--quiet"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    direct = ipd.ipdover(ipd.datasets.load("hypertension"), over="smk", study="trial",
                         formula="Surv(time, event) ~ treat + age")
    rows = [r for r in doc["result"]["rows"] if r["row_type"] == "subgroup"]
    np.testing.assert_allclose([r["estimate"] for r in rows], direct.table["estimate"],
                               rtol=1e-12)
    assert doc["files"] == {"results_set": str(out), "forest": str(png)}
    assert "ipd.ipdover(data" in doc["python"]
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert pd.read_stata(out)["_USE"].tolist() == [0, 1, 1, 6, 5]


def test_ipdover_command_errors(hyp_csv: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["ipdover", str(hyp_csv), "--over", "smoke", "--formula",
                 "Surv(time, event) ~ treat"]) == 2
    assert "did you mean 'smk'" in capsys.readouterr().err
    assert main(["ipdover", str(hyp_csv), "--over", "smk"]) == 2
    assert "--formula" in capsys.readouterr().err


def test_run_logrank_and_saving(hyp_csv: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "AD.dta"
    code = main(["run", str(hyp_csv), "--study", "trial", "--formula",
                 "Surv(time, event) ~ treat", "--model", "logrank", "--method", "common",
                 "--saving", str(out), "--left-columns", "n", "events", "--quiet"])
    assert code == 0
    assert "Log-rank (Peto)" in capsys.readouterr().out
    rs = ipd.read_results_set(out)
    assert rs.left_columns == ("n", "events")
    f = rs.frame
    assert {"_OE", "_V"} <= set(f.columns)
    studies = f[f["_USE"].eq(1)]
    overall = f[f["_USE"].eq(5)].iloc[0]
    assert overall["_ES"] == pytest.approx(studies["_OE"].sum() / studies["_V"].sum(),
                                           rel=1e-12)
    assert main(["run", str(hyp_csv), "--study", "trial", "--formula",
                 "Surv(time, event) ~ treat", "--saving", str(out), "--left-columns",
                 "region", "--quiet", "--force"]) == 2
    assert "left column 'region'" in capsys.readouterr().err
