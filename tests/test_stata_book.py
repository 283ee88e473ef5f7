"""The three ipdmetan command lines of the book chapter, verbatim, through ``ipdmeta stata``
(in-process, and the do-file once as a subprocess) and through the Python it prints.

The do-file's metareg is checked against R: ``metafor::rma(yi = _ES, sei = _seES, mods =
~ int_type2 + int_type3, method = "REML", test = "knha")`` on the study rows of the
AD.dta that the first line writes (tests/reference/stata_options.R, whose input rows
are tests/reference/data/stata_book_AD.csv)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.cli import main
from ipdmeta.errors import InputError
from ipdmeta.stata import StataSession

matplotlib.use("Agg")

COX = ("ipdmetan, study(trial) re(reml, hksj) forest(xtitle(hazard ratio) boxsca(30) "
       "xlab(0.2 0.5 1 2) astext(40)) hr effect(HR) : stcox treat smk sbpi age bmi")
LINEAR = ("ipdmetan, study(studyid) re(reml, hksj) forest(spacing(2) boxsca(30) effect(mean "
          "difference) lcols(intervention study_name n) xlab(-5 -4 -3 -2 -1 0 1 2) "
          "astext(70)): reg final_wt trt baseline_wt")
DO_FILE = [
    "ipdmetan, study(studyid) re(reml, hksj) forest(spacing(2) boxsca(30) lcols(intervention "
    "study_name) xlab(0.5 1 2 3) astext(40) ) saving(AD.dta, replace) or: logit "
    "outcm_comp_exclbase trt2",
    "use AD.dta",
    "sort intervention study_name",
    "tabulate intervention, gen(int_type)",
    "metareg _ES int_type2 int_type3, wsse(_seES) eform",
]
REF = Path(__file__).parent / "reference"
R = json.loads((REF / "stata_options.json").read_text(encoding="utf-8"))["book_metareg"]


def _cli(argv: list[str], capsys: pytest.CaptureFixture) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def _script(out: str) -> str:
    return out.split("# The equivalent ipdmeta Python code:\n", 1)[1]


def _run_script(script: str, cwd: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    monkeypatch.chdir(cwd)
    ns: dict = {"print": lambda *a, **k: None}
    exec(script, ns)
    return ns


def test_cox_line_verbatim(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    ipd.datasets.load("hypertension").to_csv("hypertension.csv", index=False)
    out = _cli(["stata", COX, "--data", "hypertension.csv", "--stset", "time", "event",
                "--out", "results"], capsys)
    assert "# Files written:\nresults/forest1.png" in out
    assert Path("results/forest1.png").stat().st_size > 10_000
    script = _script(out)
    assert 'ties="breslow", method="REML", ci="hksj")' in script
    assert ('res.forest(eform=True, effect="HR", xlabel="hazard ratio", xticks=[0.2, 0.5, 1, '
            '2], box_scale=0.3, text_fraction=0.4, show_pi=False, path="results/forest1.png")'
            in script)
    Path("results/forest1.png").unlink()
    ns = _run_script(script, tmp_path, monkeypatch)
    assert Path("results/forest1.png").exists()          # the script draws the same file
    direct = ipd.ipdmeta(ipd.datasets.load("hypertension"), study="trial",
                         formula="Surv(time, event) ~ treat + smk + sbpi + age + bmi",
                         ties="breslow", method="REML", ci="hksj")
    assert ns["res"].meta.overall.estimate == pytest.approx(direct.meta.overall.estimate,
                                                            abs=1e-12)
    assert ns["res"].meta.overall.ci_method == "hksj" and ns["res"].aggregate.ties == "breslow"


def test_linear_line_verbatim_carries_lcols(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    wg = ipd.datasets.load("weight_gain")
    wg.to_csv("weight_gain.csv", index=False)
    out = _cli(["stata", LINEAR, "--data", "weight_gain.csv", "--out", "."], capsys)
    script = _script(out)
    assert 'left_columns=["intervention", "study_name", "n"]' in script
    ns = _run_script(script, tmp_path, monkeypatch)
    res = ns["res"]
    assert res.meta.k == 33 and res.aggregate.measure == "MD"
    table = res.aggregate.to_frame().set_index("study")
    per_trial = wg.groupby("studyid")[["intervention", "study_name", "n"]].first()
    pd.testing.assert_frame_equal(table[["intervention", "study_name", "n"]],
                                  per_trial.rename_axis("study"), check_dtype=False)
    assert res.left_columns == ("intervention", "study_name", "n")
    assert Path("forest1.png").exists()


@pytest.fixture(scope="module")
def book_run(tmp_path_factory) -> dict:
    """The do-file as a file, run once by the ipdmeta command in a subprocess."""
    base = tmp_path_factory.mktemp("book")
    ipd.datasets.load("weight_gain_binary").to_csv(base / "wgb.csv", index=False)
    (base / "analysis.do").write_text(
        "* the book's do-file\n" + "\n".join(DO_FILE) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "ipdmeta", "stata", "--do", "analysis.do",
                           "--data", "wgb.csv", "--out", "out"], cwd=base, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return {"base": base, "stdout": done.stdout, "stderr": done.stderr}


def test_do_file_writes_the_results_set(book_run) -> None:
    base = book_run["base"]
    assert "out/forest1.png" in book_run["stdout"] and "out/AD.dta" in book_run["stdout"]
    ad = ipd.read_data(base / "out" / "AD.dta")
    for col in ("_USE", "_STUDY", "_LABELS", "intervention", "study_name", "_ES", "_seES",
                "_LCI", "_UCI", "_WT", "_NN", "_EFFECT"):
        assert col in ad.columns, col
    cols = list(ad.columns)
    assert cols.index("_LABELS") < cols.index("intervention") < cols.index("_ES")
    assert set(ad["_USE"]) == {1, 2, 4, 5, 6}         # studies, not estimable, pooled rows
    studies = ad[ad["_USE"] == 1]
    assert studies["_WT"].sum() == pytest.approx(100.0)
    stored = pd.read_csv(REF / "data" / "stata_book_AD.csv")
    merged = studies.merge(stored, on="_STUDY", suffixes=("", "_ref"))
    assert len(merged) == len(stored) == R["k"]
    np.testing.assert_allclose(merged["_ES"], merged["_ES_ref"], atol=1e-12)
    np.testing.assert_allclose(merged["_seES"], merged["_seES_ref"], atol=1e-12)
    assert (merged["intervention"] == merged["intervention_ref"]).all()
    overall = ad[ad["_USE"] == 5]
    assert overall["intervention"].tolist() == [""]   # text columns are blank on pooled rows


def test_do_file_metareg_matches_metafor(book_run, tmp_path) -> None:
    base = book_run["base"]
    session = StataSession(ipd.read_data(base / "wgb.csv"), workdir=tmp_path, graph_dir=None)
    for line in DO_FILE:
        last = session.run(line)
    coef = last.result.coef
    assert coef["term"].tolist() == ["Intercept", "int_type2", "int_type3"]
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("z_or_t", "tval"),
                         ("pvalue", "pvalue"), ("ci_low", "ci_low"), ("ci_high", "ci_high")):
        np.testing.assert_allclose(coef[ours], R[theirs], atol=1e-6, err_msg=ours)
    mr = last.result
    assert mr.k == R["k"] and mr.df == R["df"]
    assert mr.tau2 == pytest.approx(R["tau2"], abs=1e-6)
    tests = {"QE": mr.QE, "QM": mr.QM, "QMp": mr.QM_pvalue}
    for key, value in tests.items():
        assert value == pytest.approx(R[key], abs=1e-6), key
    assert "exp(b)" in last.output
    assert any("8 row(s) with a missing value" in n for n in last.notes)


def test_do_file_reports_the_files_it_wrote(book_run) -> None:
    """The files the session wrote are listed (the plot and the results set, in --out),
    and the printed Python names the same paths."""
    out = book_run["stdout"]
    assert "# Files written:\nout/forest1.png\nout/AD.dta\n" in out
    script = _script(out)
    assert 'path="out/forest1.png"' in script and 'res.save("out/AD.dta")' in script


def test_do_file_python_writes_the_same_files(book_run, monkeypatch) -> None:
    base = book_run["base"]
    script = _script(book_run["stdout"])
    assert 'res.save("out/AD.dta")' in script
    assert 'data = ipd.read_data("out/AD.dta")' in script
    for name in ("AD.dta", "forest1.png"):
        (base / "out" / name).unlink()
    ns = _run_script(script, base, monkeypatch)
    assert (base / "out" / "AD.dta").exists() and (base / "out" / "forest1.png").exists()
    coef = ns["res"].coef
    np.testing.assert_allclose(coef["estimate"], R["estimate"], atol=1e-6)
    np.testing.assert_allclose(coef["se"], R["se"], atol=1e-6)


def test_saving_honours_replace_and_never_overwrites_the_data(tmp_path) -> None:
    data = ipd.datasets.load("weight_gain_binary")
    line = DO_FILE[0].replace("saving(AD.dta, replace)", "saving(AD.dta)")
    session = StataSession(data, workdir=tmp_path, graph_dir=None)
    session.run(line)
    with pytest.raises(InputError, match=r"AD.dta already exists.*replace"):
        StataSession(data, workdir=tmp_path, graph_dir=None).run(line)
    StataSession(data, workdir=tmp_path, graph_dir=None).run(DO_FILE[0])   # replace: fine
    data.to_stata(tmp_path / "trials.dta", write_index=False)
    session = StataSession(data, workdir=tmp_path, graph_dir=None,
                           data_path=tmp_path / "trials.dta")
    with pytest.raises(InputError, match="input of this analysis"):
        session.run(DO_FILE[0].replace("saving(AD.dta, replace)", "saving(trials, replace)"))
