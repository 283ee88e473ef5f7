"""The pooled row is named by its method everywhere it is shown: Mantel-Haenszel and Peto
rows as metan names them ("Mantel-Haenszel", "Peto (one-step OR)"; the log-rank
pooling of ``ipdmetan ..., logrank`` is Peto's too, "Peto (log-rank)"), never "Common
effect (IV)" — in summary(), to_frame(), the forest plot, the results set and the HTML."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.report.html import result_html
from ipdmeta.stata import StataSession

matplotlib.use("Agg")

IV = "Common effect (IV)"
TABLES = pd.DataFrame({"trial": ["A", "B", "C", "D"], "a": [5, 10, 3, 12],
                       "b": [45, 50, 37, 40], "c": [9, 14, 6, 15], "d": [41, 48, 35, 39]})


def _texts(fig) -> set[str]:
    return {t.get_text() for t in fig.findobj(matplotlib.text.Text) if t.get_text()}


def _shown(result) -> dict[str, list[str]]:
    """The texts (cells, lines) of every place a pooled label is shown."""
    meta = getattr(result, "meta", result)
    html = result_html(result)
    return {"summary": [line.split("|")[0].strip() for line in result.summary().splitlines()],
            "frame": list(map(str, meta.to_frame()["study"])),
            "forest": sorted(_texts(result.forest())),
            "results set": list(map(str, result.results_set().frame["_LABELS"])),
            "html": [cell.split(">", 1)[-1].split("<")[0] for cell in html.split("<td")]}


@pytest.mark.parametrize(("method", "label"), [("peto", "Peto (one-step OR)"),
                                               ("MH", "Mantel-Haenszel")])
def test_counts_pooled_row_named_by_method(method: str, label: str) -> None:
    m = ipd.pool(TABLES, events=("a", "c"), nonevents=("b", "d"), measure="OR",
                 method=method, study="trial")
    for where, texts in _shown(m).items():
        assert label in texts, where                 # the whole cell, not clipped
        assert IV not in texts, where


def test_metan_peto_line_names_peto() -> None:
    step = StataSession(TABLES, graph_dir=None).run("metan a b c d, peto study(trial)")
    assert step.call["method"] == "peto"
    assert "Peto (one-step OR)" in step.output and IV not in step.output
    labels = step.result.results_set().frame["_LABELS"].tolist()
    assert "Peto (one-step OR)" in labels and IV not in labels


def test_ipdmetan_logrank_is_labelled_peto(tmp_path) -> None:
    hyp = ipd.datasets.load("hypertension")
    s = StataSession(hyp, stset=("time", "event"), workdir=tmp_path, graph_dir=None)
    step = s.run("ipdmetan treat, study(trial) logrank saving(lr.dta)")
    res = step.result
    assert res.meta.common.method == "peto"
    ad = res.aggregate.to_frame()
    # the inverse-variance common effect of (O - E)/V with variance 1/V is Peto's
    assert res.meta.common.estimate == pytest.approx(ad["oe"].sum() / ad["v"].sum(), rel=1e-12)
    assert res.meta.common.se == pytest.approx(ad["v"].sum() ** -0.5, rel=1e-12)
    assert "Peto (log-rank)" in step.output and IV not in step.output
    saved = pd.read_stata(tmp_path / "lr.dta")
    assert saved.loc[saved["_USE"] == 5, "_LABELS"].tolist() == ["Peto (log-rank)"]
    for where, texts in _shown(res).items():
        assert "Peto (log-rank)" in texts, where
        assert IV not in texts, where


def test_logrank_random_effects_keeps_peto_beside_random() -> None:
    res = ipd.ipdmeta(ipd.datasets.load("hypertension"), study="trial",
                      formula="Surv(time, event) ~ treat", model="logrank", method="DL")
    assert res.meta.common.method == "peto" and res.meta.overall.method == "DL"
    labels = res.results_set(show_common=True).frame.query("_USE == 5")["_LABELS"].tolist()
    assert labels == ["Peto (log-rank)", "Random (DL)"]


def test_inverse_variance_rows_stay_iv() -> None:
    """Cox estimates are not (O - E)/V: their common effect stays inverse variance."""
    res = ipd.ipdmeta(ipd.datasets.load("hypertension"), study="trial",
                      formula="Surv(time, event) ~ treat", model="cox", method="common")
    assert res.meta.common.method == "common"
    assert IV in res.summary()
    lr = ipd.ipdmeta(ipd.datasets.load("hypertension"), study="trial",
                     formula="Surv(time, event) ~ treat", model="logrank", method="common")
    table = lr.aggregate.to_frame().assign(estimate=lambda f: f["estimate"] + 0.01)
    shifted = ipd.pool(table, method="common")
    assert shifted.common.method == "common" and IV in shifted.summary()
    assert np.isfinite(shifted.common.estimate)
