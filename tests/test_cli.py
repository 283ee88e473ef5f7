"""The ``ipdmeta`` command: sub-commands in-process (``main([...])``) and once as a
subprocess; exit codes, stdout/stderr separation, JSON output, helpful errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from ipdmeta import datasets
from ipdmeta.cli import jsonable, main

COX = "Surv(time, event) ~ treat + smk + sbpi + age + bmi"


def _strict_json(text: str) -> dict:
    """Parse JSON, refusing NaN / Infinity (which strict JSON does not have)."""
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in JSON output")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    out = {"dir": d}
    for name in ("hypertension", "weight_gain", "weight_gain_binary"):
        out[name] = d / f"{name}.csv"
        datasets.load(name).to_csv(out[name], index=False)
    out["bcg"] = d / "bcg.csv"
    datasets.load_bcg().to_csv(out["bcg"], index=False)
    return out


@pytest.fixture(scope="module")
def wgb_ad(files: dict[str, Path]) -> Path:
    """The logistic stage-1 table saved with ipdmetan names (.dta)."""
    path = files["dir"] / "wgb_AD.dta"
    code = main(["run", str(files["weight_gain_binary"]), "--study", "studyid", "--formula",
                 "gdm ~ trt + baseline_wt", "--model", "logistic", "--by", "intervention",
                 "--save", str(path), "--names", "ipdmetan", "--quiet"])
    assert code == 0 and path.exists()
    return path


def test_run_cox_json(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    forest = files["dir"] / "forest.png"
    code = main(["run", str(files["hypertension"]), "--study", "trial", "--formula", COX,
                 "--method", "reml", "--ci", "hksj", "--eform", "--forest", str(forest),
                 "--xlabel", "Hazard ratio", "--xticks", "0.2", "0.5", "1", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    doc = _strict_json(out)                                  # stdout holds only the JSON
    assert doc["result"]["stage2"]["overall"]["k"] == 10
    assert doc["result"]["stage2"]["overall"]["ci_method"] == "hksj"
    assert len(doc["result"]["stage1"]["studies"]) == 10
    assert doc["files"]["forest"] == str(forest) and forest.stat().st_size > 10_000
    assert 'ipd.ipdmeta(data, study="trial"' in doc["python"]
    assert "stage 1: fitting the model in 10 studies" in err   # progress on stderr
    assert "{" not in err


def test_run_summary_and_save(files: dict[str, Path], capsys: pytest.CaptureFixture[str]
                              ) -> None:
    save = files["dir"] / "wg_AD.csv"
    code = main(["run", str(files["weight_gain"]), "--study", "studyid", "--formula",
                 "final_wt ~ trt + baseline_wt", "--model", "linear", "--keep", "intervention",
                 "study_name", "--save", str(save), "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "Two-stage IPD meta-analysis" in out and "Random (REML)" in out
    table = pd.read_csv(save)
    assert {"estimate", "se", "study_name", "intervention"} <= set(table.columns)


def test_unknown_column_lists_close_matches(files: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", str(files["hypertension"]), "--study", "trail", "--formula", COX])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert "study column 'trail' is not in the data; did you mean 'trial'" in err
    code = main(["run", str(files["hypertension"]), "--study", "trial", "--formula",
                 "Surv(time, event) ~ treatment"])
    assert code == 2
    assert "formula column 'treatment'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["run", "missing.csv", "--study", "s", "--formula", "y ~ x"],
    ["run", "{hypertension}", "--study", "trial", "--formula", COX, "--method", "nope"],
    ["run", "{hypertension}", "--study", "trial"],                 # argparse: no --formula
    ["pool", "{bcg}", "--estimate", "yy"],
    ["metareg", "{bcg}", "~ ablatt", "--estimate", "yi", "--variance", "vi"],
    ["datasets", "nonesuch"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(argv: list[str], files: dict[str, Path],
                             capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and "error" in err


def test_analysis_failure_exits_1(files: dict[str, Path], capsys: pytest.CaptureFixture[str]
                                  ) -> None:
    path = files["dir"] / "all_failed.csv"
    pd.DataFrame({"study": ["A", "B"], "estimate": [None, None], "se": [None, None],
                  "status": ["no_events", "separation"],
                  "reason": ["no events", "separation"]}).to_csv(path, index=False)
    assert main(["pool", str(path)]) == 1
    assert "analysis failed" in capsys.readouterr().err


def test_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "examples:" in capsys.readouterr().out
    assert main(["stata", "--help"]) == 0
    assert "ipdmetan, study(trial)" in capsys.readouterr().out


def test_pool_metareg_forest_report(files: dict[str, Path], wgb_ad: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pool", str(files["bcg"]), "--estimate", "yi", "--variance", "vi", "--study",
                 "trial", "--measure", "RR", "--ci", "hksj", "--quiet"]) == 0
    assert "RR" in capsys.readouterr().out
    assert main(["pool", str(wgb_ad), "--by", "intervention", "--json", "--quiet"]) == 0
    doc = _strict_json(capsys.readouterr().out)
    assert doc["result"]["subgroups"]["Q_between_df"] == 2
    assert len(doc["result"]["excluded"]) > 0                # sparse trials, with reasons
    assert main(["metareg", str(wgb_ad), "~ C(intervention)", "--eform", "--quiet"]) == 0
    assert "C(intervention)[T.mixed]" in capsys.readouterr().out
    png = files["dir"] / "f2.png"
    assert main(["forest", str(wgb_ad), "--out", str(png), "--eform", "--quiet"]) == 0
    assert png.exists() and capsys.readouterr().out.strip() == str(png)
    assert main(["forest", str(wgb_ad), "--out", str(png), "--left-columns", "interventon",
                 "--force"]) == 2
    assert "did you mean 'intervention'" in capsys.readouterr().err
    html = files["dir"] / "r.html"
    assert main(["report", str(wgb_ad), "--metareg", "~ C(intervention)", "--out", str(html),
                 "--quiet"]) == 0
    text = html.read_text(encoding="utf-8")
    assert "Meta-regression" in text and "data:image/png;base64," in text


def test_stata_command(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    line = ("ipdmetan, study(trial) re(reml, hksj) forest(xtitle(hazard ratio) boxsca(30) "
            "xlab(0.2 0.5 1 2) astext(40)) hr effect(HR) : stcox treat smk sbpi age bmi")
    out_dir = files["dir"] / "stata"
    code = main(["stata", line, "--data", str(files["hypertension"]), "--stset", "time",
                 "event", "--out", str(out_dir), "--quiet"])
    out, _ = capsys.readouterr()
    assert code == 0 and (out_dir / "forest1.png").exists()
    assert "# The equivalent ipdmeta Python code:" in out
    assert 'ties="breslow", method="REML", ci="hksj")' in out
    assert main(["stata", line.replace("hr ", "hr robust "), "--data",
                 str(files["hypertension"]), "--stset", "time", "event", "--dry-run"]) == 2
    assert "option 'robust' is not supported in ipdmetan" in capsys.readouterr().err
    assert main(["stata", "metareg _ES x, wsse(_seES)", "--dry-run", "--json"]) == 0
    doc = _strict_json(capsys.readouterr().out)
    assert doc["steps"][0]["call"]["formula"] == "~ x"


def test_datasets(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets"]) == 0
    assert "hypertension" in capsys.readouterr().out
    dta = files["dir"] / "hyp.dta"
    assert main(["datasets", "hypertension", "--out", str(dta), "--quiet"]) == 0
    assert len(pd.read_stata(dta)) == 4410


def test_demo_writes_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--out", str(tmp_path), "--quiet", "--json"]) == 0
    doc = _strict_json(capsys.readouterr().out)
    names = {Path(f).name for f in doc["files"]}
    for stem in ("hypertension", "weight_gain", "weight_gain_binary"):
        assert {f"{stem}_summary.txt", f"{stem}_forest.png", f"{stem}_stage1.csv"} <= names
    assert {"weight_gain_binary_AD.dta", "weight_gain_binary_metareg.txt",
            "report.html"} <= names
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert report.count('<img id="forest-') == 3 and "Meta-regression" in report


def test_jsonable() -> None:
    doc = jsonable({"a": float("nan"), "b": [float("inf"), 1], "c": pd.DataFrame({"x": [1.5]})})
    assert doc == {"a": None, "b": [None, 1], "c": [{"x": 1.5}]}


def test_subprocess_exit_codes_and_streams(files: dict[str, Path]) -> None:
    cmd = [sys.executable, "-m", "ipdmeta.cli"]
    ok = subprocess.run([*cmd, "pool", str(files["bcg"]), "--estimate", "yi", "--variance",
                         "vi", "--study", "trial", "--json"], capture_output=True, text=True,
                        timeout=120, check=False)
    assert ok.returncode == 0, ok.stderr
    assert _strict_json(ok.stdout)["result"]["overall"]["k"] == 13
    assert ok.stderr.startswith("ipdmeta: pooling 13 rows")
    bad = subprocess.run([*cmd, "pool", str(files["bcg"]), "--estimate", "yj"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert bad.returncode == 2 and bad.stdout == ""
    assert "did you mean 'yi'" in bad.stderr


def test_site_files_pool_to_the_single_table_result(files: dict[str, Path],
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    data = pd.read_csv(files["hypertension"])
    trials = sorted(data.trial.unique())
    paths = []
    for site, part in (("A", data[data.trial.isin(trials[:5])]),
                       ("B", data[~data.trial.isin(trials[:5])])):
        csv = files["dir"] / f"site_{site}.csv"
        part.to_csv(csv, index=False)
        out = files["dir"] / f"site_{site}.ipdmeta.json"
        assert main(["site", str(csv), "--site", site, "--study", "trial", "--formula", COX,
                     "--out", str(out)]) == 0
        paths.append(str(out))
    capsys.readouterr()
    assert main(["pool", *paths, "--ci", "hksj", "--json"]) == 0
    pooled = _strict_json(capsys.readouterr().out)["result"]["overall"]
    assert main(["run", str(files["hypertension"]), "--study", "trial", "--formula", COX,
                 "--ci", "hksj", "--json"]) == 0
    single = _strict_json(capsys.readouterr().out)["result"]["stage2"]["overall"]
    assert pooled["estimate"] == single["estimate"] and pooled["tau2"] == single["tau2"]
    assert main(["pool", paths[0], str(files["bcg"])]) == 2
    assert "site files" in capsys.readouterr().err


def test_run_with_published_aggregate_data(files: dict[str, Path],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    published = files["dir"] / "published.csv"
    pd.DataFrame({"name": ["PUB-1", "PUB-2"], "hr": [0.75, 0.9], "lci": [0.55, 0.7],
                  "uci": [1.02, 1.16]}).to_csv(published, index=False)
    code = main(["run", str(files["hypertension"]), "--study", "trial", "--formula", COX,
                 "--aggregate", str(published), "--aggregate-columns", "study=name",
                 "estimate=hr", "ci_low=lci", "ci_high=uci", "--aggregate-measure", "HR",
                 "--json"])
    assert code == 0
    assert _strict_json(capsys.readouterr().out)["result"]["stage2"]["overall"]["k"] == 12
    assert main(["run", str(files["hypertension"]), "--study", "trial", "--formula", COX,
                 "--aggregate", str(published), "--aggregate-columns", "study:name"]) == 2
    assert main(["run", str(files["hypertension"]), "--study", "trial", "--formula", COX,
                 "--aggregate", str(published), "--aggregate-columns", "study=name",
                 "estimate=hr", "ci_low=lci", "ci_high=uci",
                 "--aggregate-measure", "OR"]) == 2     # an option that cannot be used
    assert "same scale" in capsys.readouterr().err


# ---------------------------------------------------------------- issue 12: the contract
def test_outputs_never_overwrite_inputs_or_existing_files(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    data = tmp_path / "hyp.csv"
    datasets.load("hypertension").to_csv(data, index=False)
    before = data.read_bytes()
    base = ["--study", "trial", "--formula", "Surv(time, event) ~ treat", "--quiet"]
    for option in ("--save", "--report", "--forest"):
        for force in ([], ["--force"]):
            assert main(["run", str(data), *base, option, str(data), *force]) == 2
            assert "input of this analysis" in capsys.readouterr().err
    assert main(["site", str(data), "--site", "A", "--out", str(data), *base]) == 2
    assert main(["forest", str(data), "--out", str(data)]) == 2
    assert main(["stata", f"ipdmetan, study(trial) hr saving({data}, replace) : stcox treat",
                 "--data", str(data), "--stset", "time", "event", "--no-graph",
                 "--quiet"]) == 2
    assert "input of this analysis" in capsys.readouterr().err
    assert data.read_bytes() == before
    save = tmp_path / "AD.csv"
    assert main(["run", str(data), *base, "--save", str(save)]) == 0
    first = save.read_bytes()
    assert main(["run", str(data), *base, "--save", str(save)]) == 2
    assert "already exists; add --force" in capsys.readouterr().err
    assert main(["run", str(data), *base, "--save", str(save), "--force"]) == 0
    assert save.read_bytes() == first
    assert main(["run", str(data), *base, "--save", str(tmp_path / "no" / "AD.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_demo_needs_force_to_run_again(tmp_path: Path) -> None:
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 2
    assert main(["demo", "--out", str(tmp_path), "--quiet", "--force"]) == 0


def test_usage_errors_of_issue_12_exit_2(files: dict[str, Path], tmp_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    bcg, hyp = str(files["bcg"]), str(files["hypertension"])
    cases = [
        ["pool", bcg, "--estimate", "yi", "--se", "vi", "--variance", "vi"],
        ["metareg", bcg, "~ ablat", "--estimate", "yi", "--variance", "vi",
         "--permutations", "-3"],
        ["metareg", bcg, "~ ablat", "--estimate", "yi", "--variance", "vi", "--method", "GENQ"],
        ["stata", "--do", str(tmp_path / "missing.do"), "--data", hyp],
        ["stata", "ipdmetan, study(trail) hr : stcox treat", "--data", hyp, "--stset", "time",
         "event", "--no-graph"],
        ["pool", bcg, "--estimate", "yi", "--variance", "vi", "--level", "1.5"],
    ]
    for argv in cases:
        assert main([*argv, "--quiet"]) == 2, argv
    err = capsys.readouterr().err
    assert "not both" in err and "GENQ" in err and "missing.do" in err
    assert "variable 'trail' not found" in err and "did you mean trial" in err


def test_json_error_objects(files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pool", str(files["dir"] / "nofile.csv"), "--json"]) == 2
    doc = _strict_json(capsys.readouterr().out)["error"]
    assert doc["exit_code"] == 2 and "does not exist" in doc["message"]
    assert doc["command"] == "pool"
    assert main(["pool", str(files["bcg"]), "--json", "--lvel", "90"]) == 2
    doc = _strict_json(capsys.readouterr().out)["error"]
    assert doc["type"] == "UsageError" and "--level" in doc["message"]
    withheld = files["dir"] / "only_withheld.csv"
    pd.DataFrame({"study": ["a", "b"], "estimate": [0.1, 0.2], "se": [0.1, 0.1],
                  "status": ["withheld", "no_events"]}).to_csv(withheld, index=False)
    assert main(["pool", str(withheld), "--json", "--quiet"]) == 1     # nothing to pool
    assert _strict_json(capsys.readouterr().out)["error"]["type"] == "EstimationError"


def test_did_you_mean_for_commands_and_options(files: dict[str, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["poool", str(files["bcg"])]) == 2
    assert "did you mean 'pool'?" in capsys.readouterr().err
    assert main(["pool", str(files["bcg"]), "--methd", "DL"]) == 2
    assert "did you mean --method" in capsys.readouterr().err

def test_report_from_participant_data(files: dict[str, Path]) -> None:
    """The route shown in `report --help` and docs/getting-started.md (was an AttributeError)."""
    html = files["dir"] / "ipd_report.html"
    assert main(["report", str(files["hypertension"]), "--study", "trial", "--formula",
                 "Surv(time, event) ~ treat + age", "--ci", "hksj", "--out", str(html),
                 "--quiet"]) == 0
    text = html.read_text(encoding="utf-8")
    assert "HKSJ" in text and "data:image/png;base64," in text


def test_saved_csv_records_the_measure(files: dict[str, Path],
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`run --save AD.csv` then `pool AD.csv` shows hazard ratios, not log HRs labelled ES."""
    ad = files["dir"] / "AD_cox.csv"
    assert main(["run", str(files["hypertension"]), "--study", "trial", "--formula", COX,
                 "--save", str(ad), "--quiet"]) == 0
    capsys.readouterr()
    assert pd.read_csv(ad)["measure"].eq("HR").all()
    assert main(["pool", str(ad), "--json", "--quiet"]) == 0
    assert _strict_json(capsys.readouterr().out)["result"]["measure"] == "HR"
    assert main(["pool", str(ad), "--quiet"]) == 0
    assert "HR" in capsys.readouterr().out
