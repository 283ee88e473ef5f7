"""``ipdmeta bias``: the tests of the pooled table, JSON output, plots and usage errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ipdmeta as ipd
from ipdmeta.cli import main


@pytest.fixture(scope="module")
def bcg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bias") / "bcg.csv"
    ipd.datasets.load_bcg().to_csv(path, index=False)
    return path


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_json_matches_the_python_calls(bcg: Path, capsys) -> None:
    funnel = bcg.parent / "tf.png"
    code, out, _ = _run(["bias", str(bcg), "--estimate", "yi", "--variance", "vi",
                         "--method", "DL", "--test", "egger", "rank", "trimfill", "fsn", "tes",
                         "--egger-model", "lm", "--side", "left", "--fsn-method", "orwin",
                         "--funnel", str(funnel), "--json", "--quiet"], capsys)
    assert code == 0
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    m = ipd.pool(ipd.datasets.load_bcg(), estimate="yi", variance="vi", method="DL")
    r = doc["result"]
    assert r["k"] == 13
    egger = m.egger(model="lm")
    assert r["egger"]["statistic"] == pytest.approx(egger.statistic, rel=1e-12)
    assert r["egger"]["df"] == 11
    assert r["rank"]["pvalue"] == pytest.approx(m.rank_test().pvalue, rel=1e-12)
    tf = m.trimfill(side="left")
    assert r["trimfill"]["k0"] == tf.k0 and r["trimfill"]["side"] == "left"
    assert r["trimfill"]["result"]["overall"]["estimate"] == pytest.approx(
        tf.result.overall.estimate, rel=1e-12)
    fsn = ipd.fsn(m, method="orwin")
    assert r["fsn"]["method"] == "orwin" and r["fsn"]["fsn"] == pytest.approx(fsn.fsn)
    assert r["tes"]["pvalue"] == pytest.approx(ipd.tes(m).pvalue, rel=1e-12)
    assert doc["files"] == {"funnel": str(funnel)} and funnel.stat().st_size > 0
    assert "res.trimfill(side=\"left\", estimator=\"L0\")" in doc["python"]


def test_counts_tests_and_text_output(bcg: Path, capsys) -> None:
    code, out, _ = _run(["bias", str(bcg), "--events", "tpos", "cpos", "--nonevents", "tneg",
                         "cneg", "--measure", "OR", "--method", "common",
                         "--test", "harbord", "peters", "--quiet"], capsys)
    assert code == 0
    m = ipd.pool(ipd.datasets.load_bcg(), events=("tpos", "cpos"), nonevents=("tneg", "cneg"),
                 measure="OR", method="common")
    assert out.strip() == m.harbord().summary() + "\n\n" + m.peters().summary()


@pytest.mark.parametrize(("extra", "message"), [
    (["--test", "eger"], "did you mean 'egger'"),
    (["--test", "harbord"], "needs the 2x2 counts"),
    (["--test", "egger", "--predictor", "xx"], "predictor"),
    (["--test", "egger", "--method", "XYZ"], "XYZ"),
])
def test_usage_errors_exit_2(bcg: Path, capsys, extra: list[str], message: str) -> None:
    code, _, err = _run(["bias", str(bcg), "--estimate", "yi", "--variance", "vi", *extra],
                        capsys)
    assert code == 2
    assert message in err


def test_existing_funnel_file_needs_force(bcg: Path, capsys) -> None:
    path = bcg.parent / "exists.png"
    path.write_bytes(b"x")
    argv = ["bias", str(bcg), "--estimate", "yi", "--variance", "vi", "--test", "trimfill",
            "--funnel", str(path), "--quiet"]
    assert _run(argv, capsys)[0] == 2
    assert path.read_bytes() == b"x"
    assert _run([*argv, "--force"], capsys)[0] == 0
    assert path.stat().st_size > 100


def test_stata_bias_commands_through_the_cli(bcg: Path, capsys) -> None:
    out_dir = bcg.parent / "stata_out"
    data = bcg.parent / "bcg_se.csv"
    frame = ipd.datasets.load_bcg()
    frame.assign(se=frame["vi"] ** 0.5).to_csv(data, index=False)
    code, out, _ = _run(["stata", "metabias tpos tneg cpos cneg, harbord",
                         "metatrim yi vi, var reffect funnel", "confunnel yi se",
                         "--data", str(data), "--out", str(out_dir), "--json", "--quiet"],
                        capsys)
    assert code == 0
    steps = json.loads(out)["steps"]
    assert [s["kind"] for s in steps] == ["bias"] * 3
    assert steps[0]["result"]["test"] == "Harbord" and steps[0]["result"]["df"] == 11
    assert steps[1]["result"]["side"] == "left"
    assert [Path(f).name for s in steps for f in s["files"]] == ["funnel1.png", "funnel2.png"]
