"""Progress bars (one rule: ipdmeta.progress) and logging instead of print in the library."""

from __future__ import annotations

import ast
import io
import logging
import sys
import time
from pathlib import Path

import pytest

import ipdmeta as ipd
from ipdmeta import datasets
from ipdmeta.cli import main
from ipdmeta.errors import InputError
from ipdmeta.progress import ENV_VAR, progress_bar, progress_default, show_progress

PACKAGE = Path(ipd.__file__).parent


class Terminal(io.StringIO):
    """A stand-in for standard error on an interactive terminal."""

    def isatty(self) -> bool:
        return True


def on_terminal(monkeypatch: pytest.MonkeyPatch) -> Terminal:
    """Standard error replaced by a terminal, no setting in the environment (called in
    the test body: pytest's capture replaces sys.stderr again after fixtures ran)."""
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    for var in (ENV_VAR, "CI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TERM", "xterm")
    return stream


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)


# ------------------------------------------------------------------ the rule
def test_explicit_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    on_terminal(monkeypatch)
    monkeypatch.setenv(ENV_VAR, "0")
    assert show_progress(True, total=1) is True
    monkeypatch.setenv(ENV_VAR, "1")
    assert show_progress(False, total=10_000) is False
    with progress_default(False):
        assert show_progress(True) is True


@pytest.mark.parametrize(("value", "shown"), [("1", True), ("yes", True), (" ON ", True),
                                              ("0", False), ("false", False), ("off", False)])
def test_environment_variable(value: str, shown: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    on_terminal(monkeypatch)
    monkeypatch.setenv(ENV_VAR, value)
    assert show_progress(None, total=3, minimum=20) is shown      # even for short runs
    monkeypatch.setattr("sys.stderr", io.StringIO())              # and off a terminal
    assert show_progress(None, total=3, minimum=20) is shown


def test_environment_variable_typo_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "sometimes")
    with pytest.raises(InputError, match=f"{ENV_VAR}='sometimes'.*1.*0"):
        show_progress(None)


def test_automatic_only_on_a_terminal_for_long_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    on_terminal(monkeypatch)
    assert show_progress(None, total=21, minimum=20)
    assert not show_progress(None, total=20, minimum=20)
    assert show_progress(None, total=None, minimum=20)             # unknown length
    monkeypatch.setenv("CI", "true")
    assert not show_progress(None, total=1000)                     # CI logs stay clean
    monkeypatch.delenv("CI")
    monkeypatch.setenv("TERM", "dumb")
    assert not show_progress(None, total=1000)
    monkeypatch.setattr("sys.stderr", io.StringIO())               # a pipe, file, notebook
    monkeypatch.setenv("TERM", "xterm")
    assert not show_progress(None, total=1000)


def test_default_block_for_the_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    on_terminal(monkeypatch)
    monkeypatch.setenv(ENV_VAR, "1")
    with progress_default(False):
        assert not show_progress(None, total=1000)
        with progress_default(None):                               # back to automatic
            assert show_progress(None, total=1000)
    assert show_progress(None, total=1000)


def test_bar_appears_at_once_when_asked_and_after_a_delay_when_automatic(
        monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = on_terminal(monkeypatch)
    with progress_bar(True, 5, desc="asked", unit="step") as bar:
        bar.update(5)
    assert "asked" in terminal.getvalue() and "5/5" in terminal.getvalue()
    terminal.truncate(0)
    terminal.seek(0)
    with progress_bar(None, 5, desc="quick", unit="step") as bar:  # done in < 0.5 s
        bar.update(5)
    assert terminal.getvalue() == ""
    with progress_bar(None, 2, desc="slow", unit="step") as bar:
        time.sleep(0.6)
        bar.update(2)
    assert "slow" in terminal.getvalue()


# ------------------------------------------------------------------ where bars are used
def test_stage1_follows_the_environment(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    hyp = datasets.load("hypertension")
    monkeypatch.setenv(ENV_VAR, "1")
    ipd.stage1(hyp, study="trial", formula="Surv(time, event) ~ treat")
    err = capsys.readouterr().err
    assert "stage 1" in err and "10/10" in err
    monkeypatch.setenv(ENV_VAR, "0")
    ipd.stage1(hyp, study="trial", formula="Surv(time, event) ~ treat", progress=None)
    assert capsys.readouterr().err == ""


def test_permutation_test_bar(no_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    bcg = datasets.load_bcg()
    kw = {"estimate": "yi", "variance": "vi", "study": "trial", "permutations": 500, "seed": 1}
    quiet = ipd.metareg(bcg, "~ ablat", **kw)
    assert capsys.readouterr().err == ""                           # not a terminal
    shown = ipd.metareg(bcg, "~ ablat", progress=True, **kw)
    err = capsys.readouterr().err
    assert "permutations" in err and "500/500" in err
    assert shown.coef.equals(quiet.coef)                           # the bar changes nothing


# ------------------------------------------------------------------ logging
def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and (
        (isinstance(n.func, ast.Name) and n.func.id == name) or
        (isinstance(n.func, ast.Attribute) and n.func.attr == name))]


def _without_main_block(tree: ast.Module) -> ast.Module:
    """The module without its ``if __name__ == "__main__":`` block (a script's own)."""
    body = [n for n in tree.body if not (isinstance(n, ast.If) and "__main__" in ast.unparse(
        n.test))]
    return ast.Module(body=body, type_ignores=[])


LIBRARY = sorted(p for p in PACKAGE.rglob("*.py")
                 if "cli" not in p.relative_to(PACKAGE).parts and p.name != "__main__.py")


def test_library_does_not_print_or_configure_logging() -> None:
    offenders = []
    for path in LIBRARY:
        tree = _without_main_block(ast.parse(path.read_text(encoding="utf-8")))
        for name in ("print", "basicConfig", "addHandler", "setLevel"):
            offenders += [f"{path.relative_to(PACKAGE)}:{c.lineno} {name}()"
                          for c in _calls(tree, name)]
    assert offenders == [], "use logging.getLogger(__name__) instead:\n" + "\n".join(offenders)


def test_loggers_are_named_after_their_modules() -> None:
    for path in PACKAGE.rglob("*.py"):
        for call in _calls(ast.parse(path.read_text(encoding="utf-8")), "getLogger"):
            arg = ast.unparse(call.args[0]) if call.args else ""
            if "cli" in path.relative_to(PACKAGE).parts:
                assert arg in ("'ipdmeta'", "__name__"), f"{path}:{call.lineno}"
            else:
                assert arg == "__name__", f"{path}:{call.lineno}: getLogger({arg})"


def test_no_handlers_after_import_and_records_reach_the_application(
        caplog: pytest.LogCaptureFixture) -> None:
    assert logging.getLogger("ipdmeta").handlers == []
    with caplog.at_level(logging.DEBUG, logger="ipdmeta"):
        ipd.stage1(datasets.load("weight_gain_binary"), study="studyid",
                   formula="gdm ~ trt", model="logistic")
    names = {r.name for r in caplog.records}
    assert "ipdmeta.stage1.run" in names
    text = caplog.text
    assert "not estimable (no_events)" in text and "studies fitted" in text


def _run(path: Path, *flags: str) -> list[str]:
    return ["run", str(path), "--study", "studyid", "--formula", "gdm ~ trt",
            "--model", "logistic", *flags]


def test_cli_quiet_and_debug_set_the_level(tmp_path: Path, no_env: None,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wgb.csv"
    datasets.load("weight_gain_binary").to_csv(path, index=False)
    assert main(_run(path)) == 0
    err = capsys.readouterr().err
    assert "ipdmeta: stage 1: fitting" in err and "DEBUG" not in err
    assert main(_run(path, "--debug")) == 0
    err = capsys.readouterr().err
    assert "DEBUG ipdmeta.stage1.run: stage 1: logistic model" in err
    assert "INFO ipdmeta.stage1.run: stage 1: " in err
    assert main(_run(path, "--quiet")) == 0
    assert capsys.readouterr().err == ""
    logger = logging.getLogger("ipdmeta")
    assert logger.handlers == [] and logger.level == logging.NOTSET   # restored
