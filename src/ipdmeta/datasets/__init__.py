"""Bundled example datasets.

Three simulated individual participant datasets that look like the analyses
ipdmeta was written for (the real participant data cannot be shared), and one
classic aggregate dataset:

``hypertension``
    10 trials of antihypertensive treatment, time to event with censoring and tied
    times: ``Surv(time, event) ~ treat + smk + sbpi + age + bmi`` (Cox).
``weight_gain``
    33 trials of interventions to reduce gestational weight gain, final weight in kg:
    ``final_wt ~ trt + baseline_wt`` (linear).
``weight_gain_binary``
    the same women with gestational diabetes (``gdm``, 0/1) as outcome:
    ``gdm ~ trt + baseline_wt`` (logistic); some trials have no events in one arm
    or none at all.
``bcg``
    the 13 BCG vaccine trials (Colditz et al. 1994) from R's ``metadat::dat.bcg`` with
    the log risk ratios ``yi`` and their variances ``vi`` from ``metafor::escalc``.

The simulated data come from :mod:`ipdmeta.datasets.make_datasets` with fixed seeds;
columns, units and the true effects are described in ``docs/datasets.md``.

Example:
    >>> from ipdmeta import datasets
    >>> datasets.list()["name"].tolist()
    ['hypertension', 'weight_gain', 'weight_gain_binary', 'bcg']
    >>> df = datasets.load("weight_gain")
    >>> df.columns.tolist()
    ['studyid', 'study_name', 'intervention', 'trt', 'baseline_wt', 'final_wt', 'n']
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, cast

import pandas as pd

from ipdmeta.errors import InputError

#: exact float parsing: pandas 3 parses round-trip by default (and deprecates the option)
ROUND_TRIP: dict[str, Any] = ({} if int(pd.__version__.split(".")[0]) >= 3
                              else {"float_precision": "round_trip"})

__all__ = [
    "columns",
    "list",
    "load",
    "load_bcg",
    "load_hypertension",
    "load_weight_gain",
    "load_weight_gain_binary",
]


@dataclass(frozen=True)
class _Dataset:
    filename: str
    description: str
    dtypes: dict[str, str]  # column -> "int" | "float" | "str", in file order


_WEIGHT_GAIN_ID = {"studyid": "int", "study_name": "str", "intervention": "str", "trt": "int",
                   "baseline_wt": "float"}

_DATASETS: dict[str, _Dataset] = {
    "hypertension": _Dataset(
        "hypertension.csv",
        "Simulated IPD: 10 antihypertensive trials, time to event (years) with censoring "
        "and ties; Cox model, true HR for treat about 0.8",
        {"trial": "str", "treat": "int", "smk": "int", "sbpi": "int", "age": "int",
         "bmi": "float", "time": "float", "event": "int"},
    ),
    "weight_gain": _Dataset(
        "weight_gain.csv",
        "Simulated IPD: 33 trials of diet/exercise/mixed interventions in pregnancy, "
        "final weight (kg); linear model, true mean difference about -1 kg",
        {**_WEIGHT_GAIN_ID, "final_wt": "float", "n": "int"},
    ),
    "weight_gain_binary": _Dataset(
        "weight_gain_binary.csv",
        "Simulated IPD: the weight_gain women with gestational diabetes (gdm, 0/1); "
        "logistic model, zero-event arms and trials, true OR about 0.78",
        {**_WEIGHT_GAIN_ID, "gdm": "int", "outcm_comp_exclbase": "int", "trt2": "int"},
    ),
    "bcg": _Dataset(
        "bcg.csv",
        "Aggregate data: 13 BCG vaccine trials against tuberculosis (Colditz et al. 1994, "
        "metadat dat.bcg) with log risk ratios yi and variances vi",
        {"trial": "int", "author": "str", "year": "int", "tpos": "int", "tneg": "int",
         "cpos": "int", "cneg": "int", "ablat": "int", "alloc": "str", "yi": "float",
         "vi": "float"},
    ),
}

_PANDAS_DTYPES: dict[str, Any] = {"int": "int64", "float": "float64", "str": str}


def _resource(filename: str) -> Traversable:
    return resources.files(__name__).joinpath(filename)


def _check_name(name: str) -> str:
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in _DATASETS:
        available = ", ".join(repr(n) for n in _DATASETS)
        raise InputError(f"unknown dataset {name!r}; the available datasets are {available} "
                         "(see ipdmeta.datasets.list())")
    return key


def load(name: str) -> pd.DataFrame:
    """Load a bundled dataset by name as a new :class:`pandas.DataFrame`.

    Integer columns come back as ``int64``, measurements as ``float64`` and labels
    as strings.  Each call reads the file afresh, so the frame can be modified freely.

    Args:
        name: one of the names in :func:`list` (case-insensitive).

    Raises:
        InputError: ``name`` is not a bundled dataset; the message lists the names.

    Example:
        >>> df = load("hypertension")
        >>> df.shape
        (4410, 8)
        >>> pd.api.types.is_string_dtype(df["trial"]), str(df.dtypes["event"])
        (True, 'int64')
    """
    spec = _DATASETS[_check_name(name)]
    dtypes = {col: _PANDAS_DTYPES[kind] for col, kind in spec.dtypes.items()}
    with _resource(spec.filename).open("rb") as fh:
        frame = cast(pd.DataFrame, pd.read_csv(fh, dtype=dtypes, keep_default_na=False,
                                               na_filter=False, encoding="utf-8",
                                               **ROUND_TRIP))
    return frame


def list() -> pd.DataFrame:
    """Describe the bundled datasets: one row each with ``name``, ``rows``, ``description``.

    Example:
        >>> info = list()
        >>> info.columns.tolist()
        ['name', 'rows', 'description']
        >>> int(info.set_index("name").loc["bcg", "rows"])
        13
    """
    rows = []
    for name, spec in _DATASETS.items():
        with _resource(spec.filename).open("rb") as fh:
            nrows = sum(1 for line in fh if line.strip()) - 1
        rows.append({"name": name, "rows": nrows, "description": spec.description})
    return pd.DataFrame(rows, columns=["name", "rows", "description"])


def columns(name: str) -> builtins.list[str]:
    """The column names of a bundled dataset, in file order (without reading the data).

    Example:
        >>> columns("bcg")[-2:]
        ['yi', 'vi']
    """
    return builtins.list(_DATASETS[_check_name(name)].dtypes)


def load_hypertension() -> pd.DataFrame:
    """Simulated IPD of 10 antihypertensive trials (time to event); see ``docs/datasets.md``.

    Columns: ``trial`` (str), ``treat`` (0/1), ``smk`` (0/1), ``sbpi`` (mmHg), ``age``
    (years), ``bmi`` (kg/m²), ``time`` (years, recorded in whole months), ``event`` (0/1).

    Example:
        >>> df = load_hypertension()
        >>> bool(df.groupby("trial").size().between(150, 1200).all())
        True
    """
    return load("hypertension")


def load_weight_gain() -> pd.DataFrame:
    """Simulated IPD of 33 gestational weight gain trials; see ``docs/datasets.md``.

    Columns: ``studyid`` (int), ``study_name`` (str), ``intervention`` ("diet",
    "exercise", "mixed"), ``trt`` (0/1), ``baseline_wt`` and ``final_wt`` (kg).

    Example:
        >>> sorted(load_weight_gain()["intervention"].unique())
        ['diet', 'exercise', 'mixed']
    """
    return load("weight_gain")


def load_weight_gain_binary() -> pd.DataFrame:
    """The ``weight_gain`` women with gestational diabetes (``gdm``, 0/1) as the outcome.

    Columns: ``studyid``, ``study_name``, ``intervention``, ``trt``, ``baseline_wt`` as
    in :func:`load_weight_gain`, and ``gdm`` (0/1).

    Example:
        >>> df = load_weight_gain_binary()
        >>> int(df.groupby("studyid")["gdm"].sum().min())
        0
    """
    return load("weight_gain_binary")


def load_bcg() -> pd.DataFrame:
    """The 13 BCG vaccine trials (aggregate data) with log risk ratios ``yi`` and ``vi``.

    From ``metadat::dat.bcg`` (Colditz et al. 1994); ``yi``/``vi`` as computed by
    ``metafor::escalc(measure = "RR")``.

    Example:
        >>> df = load_bcg()
        >>> df.shape, round(float(df["yi"].iloc[0]), 4)
        ((13, 11), -0.8893)
    """
    return load("bcg")
