"""Bad inputs: every scenario of issue 12 ends in a named ipdmeta error (or a correct
answer), never a raw traceback, a silent wrong answer, lost data or a hang.

Federated (site file) scenarios are in tests/test_combine_site.py, file round trips in
tests/test_roundtrip.py, the command line in tests/test_cli.py and the Stata
translator in tests/test_stata.py.
"""

from __future__ import annotations

import importlib
import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ipdmeta as ipd
from ipdmeta.errors import (
    ConvergenceError,
    EstimationError,
    InputError,
    IpdMetaError,
    SpecificationError,
)
from ipdmeta.pooling import permutation, tau2
from ipdmeta.pooling.options import normalise_level
from ipdmeta.pooling.tau2 import FISHER_ITER, maximum_likelihood, restricted_ml
from ipdmeta.stage1.table import AggregateData, read_aggregate

REFERENCE = Path(__file__).parent / "reference"
COX = "Surv(time, event) ~ treat + age"


@pytest.fixture(scope="module")
def hyp() -> pd.DataFrame:
    return ipd.datasets.load("hypertension")


@pytest.fixture()
def table() -> pd.DataFrame:
    return pd.DataFrame({"study": ["a", "b", "c"], "yi": [0.1, 0.2, 0.3],
                         "vi": [0.01, 0.02, 0.03]})


# ---------------------------------------------------------------- 5. status matching
def test_status_is_normalised_or_refused(table):
    spaced = table.assign(status=["OK", "ok ", " Ok"])
    assert ipd.pool(spaced, estimate="yi", variance="vi").overall.k == 3
    ad = AggregateData(table.rename(columns={"yi": "estimate"}).assign(
        se=np.sqrt(table.vi), status=["OK", "no_events ", "ok"]))
    assert ad["status"].tolist() == ["ok", "no_events", "ok"] and len(ad.ok) == 2
    for missing in (np.nan, None, ""):
        with pytest.raises(InputError, match=r"'status'.*row 1 \(study 'b'\)"):
            ipd.pool(table.assign(status=["ok", missing, "ok"]), estimate="yi",
                     variance="vi")


# ---------------------------------------------------------------- 6. formula transforms
@pytest.mark.parametrize("term", ["center(age)", "scale(age)", "poly(age, 2)",
                                  "{np.log(age).round(1)}", "np.log(age)"])
def test_columns_inside_transforms_are_found(hyp, term):
    ad = ipd.stage1(hyp, study="trial", formula=f"Surv(time, event) ~ treat + {term}")
    assert ad["status"].eq("ok").all()
    if term in ("center(age)", "scale(age)"):   # a linear recoding of age: same treat effect
        plain = ipd.stage1(hyp, study="trial", formula=COX)
        np.testing.assert_allclose(ad["estimate"], plain["estimate"], rtol=1e-7)


def test_unparsable_terms_and_unknown_functions_are_named(hyp):
    with pytest.raises(SpecificationError, match=r"'np.log\(age\).round\(1\)'.*braces"):
        ipd.stage1(hyp, study="trial", formula="Surv(time, event) ~ treat + "
                                               "np.log(age).round(1)")
    with pytest.raises(SpecificationError, match=r"'foo\(age\)' calls 'foo'"):
        ipd.stage1(hyp, study="trial", formula="Surv(time, event) ~ treat + foo(age)")


# ---------------------------------------------------------------- 7. survival times
def test_negative_times_are_refused_with_column_and_count(hyp):
    bad = hyp.copy()
    bad.loc[[3, 10, 20], "time"] = -1.0
    with pytest.raises(InputError, match=r"column 'time'.*3 row\(s\)"):
        ipd.stage1(bad, study="trial", formula=COX)
    zero = hyp.copy()
    zero.loc[3, "time"] = 0.0                         # time 0 is allowed (as in R)
    assert len(ipd.stage1(zero, study="trial", formula=COX)) == 10


# ---------------------------------------------------------------- 8. named errors
def test_zero_rows_and_duplicate_columns(hyp, table):
    with pytest.raises(InputError, match="no rows"):
        ipd.stage1(hyp.iloc[:0], study="trial", formula=COX)
    with pytest.raises(InputError, match="more than one column named 'yi'"):
        ipd.pool(pd.concat([table, table[["yi"]]], axis=1))
    with pytest.raises(InputError, match="more than one column named 'age'"):
        ipd.stage1(pd.concat([hyp, hyp[["age"]]], axis=1), study="trial", formula=COX)


def test_variances_too_small_or_unequal(table):
    with pytest.raises(InputError, match=r"study 'a' has variance 1e-19.*times smaller"):
        ipd.pool(table.assign(vi=[1e-19, 0.02, 0.03]), estimate="yi", variance="vi")
    with pytest.raises(InputError, match=r"study 'a' has variance 1e-300.*larger units"):
        ipd.pool(table.assign(vi=1e-300), estimate="yi", variance="vi")
    assert ipd.pool(table.assign(vi=1e-20), estimate="yi", variance="vi").overall.k == 3


@pytest.mark.parametrize(("given", "match"), [
    ("abc", "not a number"), (1.5, "ambiguous"), (0, "not a confidence level"),
    (-5, "not a confidence level"), (100, "not a confidence level"),
    (0.05, "significance level"), (float("nan"), "not a confidence level"),
    (True, "not a number")])
def test_level_rule_refuses(given, match, table):
    with pytest.raises(InputError, match=match):
        ipd.pool(table, estimate="yi", variance="vi", level=given)


def test_level_rule_accepts_fractions_and_percents():
    assert [normalise_level(v) for v in (0.95, 95, 90, 0.1, 10, 99.5)] == \
        [0.95, 0.95, 0.9, 0.1, 0.1, 0.995]


def test_latin1_empty_and_unknown_files(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("study,estimate,se\nMüller,0.1,0.2\n".encode("latin-1"))
    with pytest.warns(UserWarning, match="not UTF-8"):
        assert ipd.read_data(latin)["study"].tolist() == ["Müller"]
    with pytest.warns(UserWarning, match="not UTF-8"):
        assert read_aggregate(latin)["study"].tolist() == ["Müller"]
    assert ipd.read_data(latin, encoding="latin-1")["study"].tolist() == ["Müller"]
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty"):
        ipd.read_data(empty)
    with pytest.raises(InputError, match="empty"):
        read_aggregate(empty)
    with pytest.raises(InputError, match=r"unknown suffix '\.foo'"):
        ipd.read_data(tmp_path / "x.foo")


def test_corrupt_aggregate_files_are_named(tmp_path):
    for name, raw in (("a.json", b"{not json"), ("a.parquet", b"garbage"),
                      ("a.dta", b"garbage")):
        (tmp_path / name).write_bytes(raw)
        with pytest.raises(InputError, match=rf"cannot read '{name}'"):
            read_aggregate(tmp_path / name)
    (tmp_path / "n.json").write_text("3")
    with pytest.raises(InputError, match="not a table"):
        read_aggregate(tmp_path / "n.json")


def test_dta_with_non_unique_value_labels(tmp_path):
    path = tmp_path / "vl.dta"
    pd.DataFrame({"g": [1, 2], "y": [0.1, 0.2]}).to_stata(
        path, write_index=False, value_labels={"g": {1: "A", 2: "A"}}, version=118)
    with pytest.raises(InputError, match="not unique"):
        ipd.read_data(path)
    with pytest.raises(InputError, match="not unique"):
        read_aggregate(path)


def test_aggregate_columns_typo(hyp):
    published = pd.DataFrame({"t": ["X"], "hr": [0.8], "se": [0.1]})
    with pytest.raises(InputError, match=r"unknown aggregate_columns key\(s\) \['stduy'\]"):
        ipd.ipdmeta(hyp, study="trial", formula=COX, aggregate=published,
                    aggregate_columns={"stduy": "t", "estimate": "hr", "se": "se"})


def test_forest_options_are_checked(table):
    m = ipd.pool(table, estimate="yi", variance="vi", measure="OR")
    with pytest.raises(InputError, match="xticks must be positive"):
        m.forest(eform=True, xticks=[0, 1, 2])
    with pytest.raises(InputError, match="at most 50"):
        m.forest(xticks=list(range(1000)))
    with pytest.raises(InputError, match="box_scale=-1"):
        m.forest(box_scale=-1)
    with pytest.raises(InputError, match=r"cannot save a figure as 'f\.foo'"):
        m.forest(path="f.foo")


def test_huge_log_ratios(table):
    m = ipd.pool(table.assign(yi=[0.1, 0.2, 800.0]), estimate="yi", variance="vi",
                 measure="OR")
    assert "inf" in m.summary()                       # printed, no overflow
    with pytest.raises(InputError, match=r"log ratio 800.*eform=False"):
        m.forest(eform=True)
    m.forest(eform=False).clf()


def test_genq_weights_must_be_positive(table):
    for w in ([-1.0, 1, 1], [0.0, 0, 0]):
        with pytest.raises(InputError, match=r"weights column 'w' must be positive"):
            ipd.pool(table.assign(w=w), estimate="yi", variance="vi", method="GENQ",
                     weights="w")


def test_writing_into_a_missing_or_read_only_folder(tmp_path, monkeypatch):
    ad = AggregateData(pd.DataFrame({"estimate": [0.1], "se": [0.2]}))
    with pytest.raises(InputError, match=r"folder .* does not exist"):
        ad.save(tmp_path / "nope" / "ad.csv")
    monkeypatch.setattr(os, "access", lambda path, mode: False)   # as for a non-root user
    with pytest.raises(InputError, match="read-only"):
        ad.save(tmp_path / "ad.csv")
    monkeypatch.undo()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "write_text", refuse)
    with pytest.raises(InputError, match=r"cannot write .*Permission denied"):
        ad.save(tmp_path / "ad.json")


def test_save_never_overwrites_its_input(tmp_path, hyp):
    data_file = tmp_path / "hyp.csv"
    hyp.to_csv(data_file, index=False)
    ad = ipd.stage1(ipd.read_data(data_file), study="trial", formula=COX)
    with pytest.raises(InputError, match="input of this analysis"):
        ad.save(data_file)
    saved = ad.save(tmp_path / "ad.csv")
    back = read_aggregate(saved)
    with pytest.raises(InputError, match="input of this analysis"):
        back.save(saved)
    with pytest.raises(InputError, match="already exists; pass overwrite=True"):
        ad.save(saved, overwrite=False)
    assert pd.read_csv(data_file).shape == hyp.shape


def test_permutations_run_in_bounded_memory(monkeypatch):
    bcg = ipd.datasets.load_bcg()
    kw = {"estimate": "yi", "variance": "vi", "method": "DL", "exact": False, "seed": 3}
    whole = ipd.metareg(bcg, "~ ablat", permutations=20_000, **kw).permutation
    monkeypatch.setattr(permutation, "CHUNK_ELEMENTS", 64 * 26)   # chunks of 64 draws
    monkeypatch.setattr(permutation, "STORE_LIMIT", 100)
    tracemalloc.start()
    chunked = ipd.metareg(bcg, "~ ablat", permutations=20_000, **kw).permutation
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    np.testing.assert_array_equal(chunked.pvalues, whole.pvalues)   # the same draws
    assert chunked.QM_pvalue == whole.QM_pvalue and chunked.permutations == 20_000
    assert chunked.statistics.shape == (100, 2)
    assert peak < 8 * 20_000 * 13      # less than one array of all the draws


def test_permutation_count_is_checked():
    bcg = ipd.datasets.load_bcg()
    for bad in (-3, 1, 2.5):
        with pytest.raises(InputError, match="permutations="):
            ipd.metareg(bcg, "~ ablat", estimate="yi", variance="vi", permutations=bad)


# ---------------------------------------------------------------- 10. the fallback path
def test_special_studies_are_screened_at_once(monkeypatch):
    """Tiny logistic trials (no events, separation by one term) no longer go one by one
    through the per-study fitter -- and the table is the per-study one."""
    blocks = importlib.import_module("ipdmeta.stage1.blocks")

    rng = np.random.default_rng(7)
    k, n = 400, 8
    data = pd.DataFrame({"trial": np.repeat(np.arange(k), n), "treat": np.tile([0, 1], k * 4),
                         "age": rng.normal(50, 10, k * n)})
    data["y"] = (rng.random(k * n) < 0.3).astype(int)
    calls = []
    real = blocks.fit_study
    monkeypatch.setattr(blocks, "fit_study", lambda s, t: calls.append(t) or real(s, t))
    fast = ipd.stage1(data, study="trial", formula="y ~ treat + age", model="logistic")
    batched_calls = len(calls)
    slow = ipd.stage1(data, study="trial", formula="y ~ treat + age", model="logistic",
                      batch=False)
    pd.testing.assert_frame_equal(fast.to_frame(), slow.to_frame(), rtol=1e-10, atol=1e-12)
    special = int(fast["status"].ne("ok").sum())
    assert special > 0.4 * k and batched_calls < 0.1 * k


# ---------------------------------------------------------------- 11. REML / ML at large k
@pytest.mark.parametrize("name", ["tau2_largek_100", "tau2_largek_1000"])
@pytest.mark.parametrize("method", ["REML", "ML"])
def test_reml_ml_converge_where_fisher_scoring_cycles(name, method):
    ref = json.loads((REFERENCE / "tau2_largek.json").read_text())[name][method]
    data = pd.read_csv(REFERENCE / "data" / f"{name}.csv")
    y, v = data.yi.to_numpy(), data.vi.to_numpy()
    fit = (restricted_ml if method == "REML" else maximum_likelihood)(y, v, np.ones((len(y), 1)))
    assert fit.converged
    if not ref["default_converged"]:   # metafor's default cycles: so does plain scoring
        assert fit.iterations > FISHER_ITER
        assert fit.tau2 == pytest.approx(ref["tau2_uniroot"], abs=1e-8)
    assert fit.tau2 == pytest.approx(ref["tau2"], abs=1e-8)
    m = ipd.pool(data, estimate="yi", variance="vi", method=method)
    assert m.overall.estimate == pytest.approx(ref["estimate"], abs=1e-8)
    assert m.overall.se == pytest.approx(ref["se"], abs=1e-8)


def test_no_maximum_found_is_still_a_convergence_error(monkeypatch):
    """When Fisher scoring stops short and the score has no root in the bracket (here:
    one scoring step allowed, a score that is never finite), the error is named."""
    monkeypatch.setattr(tau2, "FISHER_ITER", 1)
    frame = pd.DataFrame({"yi": [0.1, 0.9, -0.3, 0.5], "vi": [0.01, 0.02, 0.03, 0.04]})
    real = tau2._bracketed_root
    monkeypatch.setattr(tau2, "_bracketed_root",
                        lambda y, v, X, score, start: real(y, v, X, lambda p: np.nan, start))
    with pytest.raises(ConvergenceError, match="no maximum of the likelihood was found"):
        ipd.pool(frame, estimate="yi", variance="vi", method="REML")


# ---------------------------------------------------------------- 12. misleading messages
def test_messages_name_the_real_problem():
    wgb = ipd.datasets.load("weight_gain_binary")
    with pytest.raises(InputError, match=r"outcome column 'gdm' must be coded 0/1"):
        ipd.stage1(wgb.assign(gdm=wgb.gdm * 2), study="studyid", formula="gdm ~ trt",
                   model="logistic")
    bcg = ipd.datasets.load_bcg()
    with pytest.raises(InputError, match=r"'z' of '~ z' are missing for every study"):
        ipd.metareg(bcg.assign(z=np.nan), "~ z", estimate="yi", variance="vi")


# ---------------------------------------------------------------- also: missing study ids
def test_missing_study_ids(hyp):
    data = hyp.copy()
    data.loc[:29, "trial"] = None
    with pytest.raises(InputError, match=r"missing in 30 row\(s\).*missing_study='drop'"):
        ipd.stage1(data, study="trial", formula=COX)
    dropped = ipd.stage1(data, study="trial", formula=COX, missing_study="drop")
    assert len(dropped) == 10 and int(dropped["n"].sum()) == len(hyp) - 30
    assert dropped.notes == ("30 rows with a missing study id left out "
                             "(missing_study='drop')",)
    grouped = ipd.stage1(data, study="trial", formula=COX, missing_study="group")
    assert grouped["study"].tolist()[-1] == "Missing" and grouped["n"].iloc[-1] == 30
    assert "pooled as one study 'Missing'" in grouped.notes[0]
    with pytest.raises(InputError, match="missing_study='keep' is not known"):
        ipd.stage1(data, study="trial", formula=COX, missing_study="keep")


def test_one_study_named_twice_in_the_ipd(hyp):
    data = hyp.assign(trial=hyp.trial.astype(object))
    data.loc[data.trial == "ARBOR-HT", "trial"] = "BEACON-HT "
    with pytest.raises(InputError, match=r"'BEACON-HT ' and 'BEACON-HT'"):
        ipd.stage1(data, study="trial", formula=COX)


def test_every_error_is_an_ipdmeta_error():
    for kind in (InputError, SpecificationError, EstimationError, ConvergenceError):
        assert issubclass(kind, IpdMetaError)
    assert issubclass(EstimationError, InputError)
