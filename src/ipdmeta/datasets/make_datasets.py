"""Generator of the bundled example datasets (the script that made the CSV files).

The participant data of the analyses that motivated ipdmeta cannot be shared, so
the package ships simulated look-alikes.  Every number in the CSV files comes from
this script with fixed seeds; running::

    python -m ipdmeta.datasets.make_datasets

rewrites ``hypertension.csv``, ``weight_gain.csv``, ``weight_gain_binary.csv`` and
(when ``Rscript`` with the metafor package is available) ``bcg.csv`` next to this
file, byte for byte as committed.  ``--outdir DIR`` writes them elsewhere.

The simulation functions also return the *true* study-level effects they used, so
an analysis of the bundled data can be compared with the truth.  The models,
parameters and realised true effects are documented in ``docs/datasets.md``.

Example:
    >>> sim = simulate_hypertension()
    >>> sim.data.shape
    (4410, 8)
    >>> sim.truth.columns.tolist()
    ['trial', 'n', 'events', 'log_hr_treat', 'hr_treat']
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

#: seeds of the three simulations (fixed; changing one changes the committed CSVs)
logger = logging.getLogger(__name__)

SEED_HYPERTENSION = 20_240_605
SEED_WEIGHT_GAIN = 20_240_612
SEED_WEIGHT_GAIN_BINARY = 20_240_685

#: number of decimals written for each float column (everything else is int or str)
DECIMALS: dict[str, dict[str, int]] = {
    "hypertension": {"bmi": 1, "time": 2},
    "weight_gain": {"baseline_wt": 1, "final_wt": 1},
    "weight_gain_binary": {"baseline_wt": 1},
}


@dataclass(frozen=True)
class Simulated:
    """A simulated dataset and the true study-level parameters used to make it."""

    data: pd.DataFrame
    truth: pd.DataFrame


# --------------------------------------------------------------------------------------
# hypertension: 10 trials, time to event
# --------------------------------------------------------------------------------------

#: trial design: label, n, min and max follow-up (years), baseline hazard scale at the
#: reference covariates (events per year^shape), smoking prevalence, mean baseline
#: systolic BP (mmHg), mean age (years), mean BMI (kg/m²)
_TrialDesign = tuple[str, int, float, float, float, float, float, float, float]
HYPERTENSION_TRIALS: tuple[_TrialDesign, ...] = (
    ("ARBOR-HT", 460, 3.0, 5.0, 0.030, 0.20, 168.0, 69.0, 27.5),
    ("BEACON-HT", 150, 2.0, 4.0, 0.045, 0.28, 175.0, 72.0, 26.0),
    ("CEDAR-HT", 640, 4.0, 6.0, 0.025, 0.15, 162.0, 66.0, 28.5),
    ("DUNE-HT", 280, 2.5, 4.5, 0.040, 0.22, 172.0, 70.0, 27.0),
    ("EMBER-HT", 1200, 3.0, 5.5, 0.028, 0.18, 165.0, 67.0, 28.0),
    ("FALCON-HT", 190, 2.0, 3.5, 0.050, 0.30, 178.0, 74.0, 25.5),
    ("GLACIER-HT", 540, 3.5, 6.0, 0.030, 0.12, 160.0, 64.0, 29.0),
    ("HARBOR-HT", 330, 2.5, 5.0, 0.035, 0.25, 170.0, 71.0, 26.5),
    ("IRIS-HT", 390, 3.0, 4.5, 0.038, 0.16, 166.0, 68.0, 27.8),
    ("JADE-HT", 230, 2.0, 4.0, 0.042, 0.24, 174.0, 73.0, 26.2),
)

HYPERTENSION_LOG_HR_TREAT = float(np.log(0.8))  #: mean of the trial log hazard ratios
HYPERTENSION_TAU = 0.15  #: between-trial SD of the log hazard ratio for treat
HYPERTENSION_SHAPE = 1.1  #: Weibull shape of the baseline hazard (common to all trials)
HYPERTENSION_DROPOUT = 0.02  #: rate of loss to follow-up per year (exponential)
#: log hazard ratios of the covariates and the reference values they are centred at
HYPERTENSION_COVARIATES: dict[str, tuple[float, float]] = {
    "smk": (float(np.log(1.7)), 0.0),  # current smoker
    "sbpi": (0.015, 160.0),  # per mmHg: HR 1.16 per 10 mmHg
    "age": (0.06, 65.0),  # per year: HR 1.82 per 10 years
    "bmi": (0.02, 27.0),  # per kg/m²
}


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float, low: float,
                      high: float, size: int) -> np.ndarray:
    """Normal draws restricted to [low, high] by redrawing the ones outside."""
    x = mean + sd * rng.standard_normal(size)
    bad = (x < low) | (x > high)
    while bad.any():
        x[bad] = mean + sd * rng.standard_normal(int(bad.sum()))
        bad = (x < low) | (x > high)
    return x


def _allocate(rng: np.random.Generator, n: int) -> np.ndarray:
    """1:1 randomised allocation (the extra participant of an odd n goes to control)."""
    order = np.argsort(rng.random(n), kind="stable")
    arm = np.zeros(n, dtype=np.int64)
    arm[order[: n // 2]] = 1
    return arm


def simulate_hypertension(seed: int = SEED_HYPERTENSION) -> Simulated:
    """Simulate the ``hypertension`` dataset: 10 trials, Weibull event times, censoring.

    Event times follow a proportional-hazards Weibull model within each trial,
    ``h(t) = lam_j * shape * t**(shape - 1) * exp(b_j*treat + lp(covariates))``, with
    ``b_j ~ N(log 0.8, 0.15²)``.  Censoring is administrative (uniform entry, so the
    available follow-up is uniform between the trial's minimum and maximum) or by
    loss to follow-up.  Times are recorded in whole months (rounded up) and stored in
    years rounded to 2 decimals, so tied times are common.

    Example:
        >>> sim = simulate_hypertension()
        >>> sim.data["trial"].nunique(), int(sim.data["event"].sum()) > 500
        (10, True)
    """
    rng = np.random.default_rng(seed)
    k = len(HYPERTENSION_TRIALS)
    log_hr = HYPERTENSION_LOG_HR_TREAT + HYPERTENSION_TAU * rng.standard_normal(k)
    frames = []
    truth = []
    for (label, n, fu_min, fu_max, lam, p_smk, sbp_mu, age_mu, bmi_mu), b in zip(
        HYPERTENSION_TRIALS, log_hr, strict=True
    ):
        treat = _allocate(rng, n)
        smk = (rng.random(n) < p_smk).astype(np.int64)
        sbpi = np.rint(_truncated_normal(rng, sbp_mu, 14.0, 140.0, 230.0, n)).astype(np.int64)
        age = np.rint(_truncated_normal(rng, age_mu, 6.5, 55.0, 90.0, n)).astype(np.int64)
        bmi = np.round(np.exp(_truncated_normal(rng, np.log(bmi_mu), 0.14,
                                                np.log(17.0), np.log(48.0), n)), 1)
        covs = {"smk": smk, "sbpi": sbpi, "age": age, "bmi": bmi}
        lp = b * treat + sum(beta * (covs[name] - ref)
                             for name, (beta, ref) in HYPERTENSION_COVARIATES.items())
        # inverse of the cumulative hazard lam * t**shape * exp(lp)
        t_event = (rng.standard_exponential(n) / (lam * np.exp(lp))) ** (1.0 / HYPERTENSION_SHAPE)
        t_admin = fu_min + (fu_max - fu_min) * rng.random(n)
        t_drop = rng.standard_exponential(n) / HYPERTENSION_DROPOUT
        t_cens = np.minimum(t_admin, t_drop)
        event = (t_event <= t_cens).astype(np.int64)
        months = np.ceil(np.minimum(t_event, t_cens) * 12.0)
        time = np.round(months / 12.0, 2)
        frames.append(pd.DataFrame({"trial": label, "treat": treat, "smk": smk, "sbpi": sbpi,
                                    "age": age, "bmi": bmi, "time": time, "event": event}))
        truth.append({"trial": label, "n": n, "events": int(event.sum()),
                      "log_hr_treat": float(b), "hr_treat": float(np.exp(b))})
    return Simulated(pd.concat(frames, ignore_index=True), pd.DataFrame(truth))


# --------------------------------------------------------------------------------------
# weight_gain: 33 trials, continuous outcome; weight_gain_binary: same women, GDM
# --------------------------------------------------------------------------------------

#: fictitious first-author surname, year, intervention type, number randomised
WEIGHT_GAIN_TRIALS: tuple[tuple[str, int, str, int], ...] = (
    ("Abernethy", 1998, "diet", 42),
    ("Baptiste", 1999, "exercise", 24),
    ("Castellano", 2001, "mixed", 88),
    ("Dunmore", 2002, "diet", 18),
    ("Eriksen", 2003, "exercise", 120),
    ("Fairweather", 2004, "mixed", 30),
    ("Galbraith", 2004, "diet", 64),
    ("Halvorsen", 2005, "exercise", 36),
    ("Ingleby", 2005, "mixed", 150),
    ("Jankowska", 2006, "diet", 26),
    ("Kettering", 2006, "exercise", 56),
    ("Lindqvist", 2007, "mixed", 22),
    ("Marchetti", 2007, "diet", 210),
    ("Northcott", 2008, "exercise", 40),
    ("Okonkwo", 2008, "mixed", 72),
    ("Pemberton", 2009, "diet", 34),
    ("Quartermain", 2009, "exercise", 260),
    ("Rasmussen", 2009, "mixed", 48),
    ("Sandoval", 2010, "diet", 96),
    ("Thorburn", 2010, "exercise", 20),
    ("Ulrich", 2010, "mixed", 300),
    ("Vasquez", 2011, "diet", 60),
    ("Whitcombe", 2011, "exercise", 82),
    ("Yardley", 2011, "mixed", 28),
    ("Zielinski", 2012, "diet", 130),
    ("Ashworth", 2012, "exercise", 46),
    ("Brannigan", 2012, "mixed", 400),
    ("Cavendish", 2013, "diet", 38),
    ("Delacroix", 2013, "exercise", 180),
    ("Eastwood", 2013, "mixed", 66),
    ("Fonseca", 2014, "diet", 240),
    ("Gallagher", 2014, "exercise", 104),
    ("Hollingworth", 2014, "mixed", 52),
)

#: true mean difference in final weight (kg, adjusted for baseline) by intervention type
WEIGHT_GAIN_MD: dict[str, float] = {"diet": -1.5, "exercise": -0.7, "mixed": -1.0}
WEIGHT_GAIN_TAU = 0.5  #: between-trial SD (kg) of the mean difference around its type mean
WEIGHT_GAIN_SLOPE = 0.95  #: coefficient of baseline weight for final weight
WEIGHT_GAIN_SD = 4.5  #: residual SD (kg) of final weight given trial, trt and baseline
WEIGHT_GAIN_REF = 70.0  #: baseline weight (kg) at which the control gain is the trial gain

#: true log odds ratio of gestational diabetes by intervention type
GDM_LOG_OR: dict[str, float] = {
    "diet": float(np.log(0.70)),
    "exercise": float(np.log(0.85)),
    "mixed": float(np.log(0.78)),
}
GDM_TAU = 0.15  #: between-trial SD of the log odds ratio around its type mean
GDM_BASELINE_LOGIT = (float(np.log(0.12 / 0.88)), 0.5)  #: mean and SD of trial control logits
GDM_LOG_OR_BASELINE_WT = 0.04  #: log OR per kg of baseline weight (OR 1.49 per 10 kg)


def _weight_gain_participants(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Participants (with continuous final weight) and the trial-level truth."""
    rng = np.random.default_rng(seed)
    k = len(WEIGHT_GAIN_TRIALS)
    u = WEIGHT_GAIN_TAU * rng.standard_normal(k)
    mean_baseline = 64.0 + 6.0 * rng.random(k)  # trial mean baseline weight, 64-70 kg
    mean_gain = 11.0 + 4.0 * rng.random(k)  # trial mean gain in controls, 11-15 kg
    frames = []
    truth = []
    for j, ((name, year, kind, n), uj, wmu, gmu) in enumerate(
        zip(WEIGHT_GAIN_TRIALS, u, mean_baseline, mean_gain, strict=True), start=1
    ):
        md = WEIGHT_GAIN_MD[kind] + uj
        trt = _allocate(rng, n)
        baseline = np.round(np.exp(_truncated_normal(rng, np.log(wmu), 0.17,
                                                     np.log(42.0), np.log(140.0), n)), 1)
        final = (baseline + gmu + (WEIGHT_GAIN_SLOPE - 1.0) * (baseline - WEIGHT_GAIN_REF)
                 + md * trt + WEIGHT_GAIN_SD * rng.standard_normal(n))
        frames.append(pd.DataFrame({
            "studyid": np.int64(j), "study_name": f"{name} {year}", "intervention": kind,
            "trt": trt, "baseline_wt": baseline, "final_wt": np.round(final, 1),
        }))
        truth.append({"studyid": j, "study_name": f"{name} {year}", "intervention": kind,
                      "n": n, "md": float(md)})
    return pd.concat(frames, ignore_index=True), pd.DataFrame(truth)


def simulate_weight_gain(seed: int = SEED_WEIGHT_GAIN) -> Simulated:
    """Simulate the ``weight_gain`` dataset: 33 trials, final weight (kg).

    Within trial ``j``, ``final_wt = baseline_wt + g_j + (0.95 - 1)*(baseline_wt - 70)
    + d_j*trt + e`` with ``e ~ N(0, 4.5²)``, so the coefficient of baseline weight is
    0.95 and the baseline-adjusted mean difference is ``d_j = m[type] + u_j``,
    ``m = {diet: -1.5, exercise: -0.7, mixed: -1.0}``, ``u_j ~ N(0, 0.5²)``.

    Example:
        >>> sim = simulate_weight_gain()
        >>> sim.data["studyid"].nunique(), len(sim.truth)
        (33, 33)
    """
    data, truth = _weight_gain_participants(seed)
    # n: the trial's number of participants (constant within trial), the ``n`` of the
    # book's ``lcols(intervention study_name n)``
    data["n"] = data.groupby("studyid")["studyid"].transform("size").astype(np.int64)
    return Simulated(data, truth)


def simulate_weight_gain_binary(seed: int = SEED_WEIGHT_GAIN_BINARY,
                                participants_seed: int = SEED_WEIGHT_GAIN) -> Simulated:
    """Simulate ``weight_gain_binary``: the women of ``weight_gain`` with a GDM outcome.

    The rows (studyid, study_name, intervention, trt, baseline_wt) are those of
    ``weight_gain``; ``gdm`` (gestational diabetes, 0/1) is drawn from
    ``logit P(gdm) = a_j + c_j*trt + 0.04*(baseline_wt - 70)`` with control logits
    ``a_j ~ N(logit 0.08, 0.6²)`` and log odds ratios ``c_j = m[type] + v_j``,
    ``m = {diet: log 0.70, exercise: log 0.85, mixed: log 0.78}``, ``v_j ~ N(0, 0.15²)``.
    The seed was chosen so that at least one trial has no events in one arm only
    (separation: the plain logistic fit diverges, Firth's does not) and at least one
    trial has no events at all; the generator checks both.

    Example:
        >>> sim = simulate_weight_gain_binary()
        >>> sorted(sim.data["gdm"].unique().tolist())
        [0, 1]
    """
    people, wtruth = _weight_gain_participants(participants_seed)
    rng = np.random.default_rng(seed)
    k = len(WEIGHT_GAIN_TRIALS)
    a = GDM_BASELINE_LOGIT[0] + GDM_BASELINE_LOGIT[1] * rng.standard_normal(k)
    v = GDM_TAU * rng.standard_normal(k)
    c = np.array([GDM_LOG_OR[kind] for kind in wtruth["intervention"]]) + v
    j = people["studyid"].to_numpy() - 1
    logit = (a[j] + c[j] * people["trt"].to_numpy()
             + GDM_LOG_OR_BASELINE_WT * (people["baseline_wt"].to_numpy() - WEIGHT_GAIN_REF))
    p = 1.0 / (1.0 + np.exp(-logit))
    gdm = (rng.random(len(people)) < p).astype(np.int64)
    # outcm_comp_exclbase and trt2: the names of the book's ``logit outcm_comp_exclbase
    # trt2`` (aliases of gdm and trt, same values)
    data = people.drop(columns="final_wt").assign(gdm=gdm, outcm_comp_exclbase=gdm,
                                                  trt2=people["trt"].to_numpy())
    ev = data.groupby(["studyid", "trt"])["gdm"].sum().unstack("trt")
    truth = wtruth[["studyid", "study_name", "intervention", "n"]].assign(
        control_risk=1.0 / (1.0 + np.exp(-a)), log_or=c,
        events_control=ev[0].to_numpy(), events_trt=ev[1].to_numpy())
    return Simulated(data, truth)


def check_binary(data: pd.DataFrame) -> None:
    """Raise if ``weight_gain_binary`` lacks its zero-event trials (see the docstring above).

    Example:
        >>> check_binary(simulate_weight_gain_binary().data)
    """
    ev = data.groupby(["studyid", "trt"])["gdm"].sum().unstack("trt")
    one_arm = ((ev[0] == 0) != (ev[1] == 0)).any()
    none = ((ev[0] == 0) & (ev[1] == 0)).any()
    if not (one_arm and none):
        raise RuntimeError("weight_gain_binary: the simulation no longer yields a trial with zero "
                           "events in one arm and a trial with zero events overall; the random "
                           "streams of numpy may have changed")


# --------------------------------------------------------------------------------------
# bcg: aggregate data from R's metadat::dat.bcg with metafor::escalc(measure = "RR")
# --------------------------------------------------------------------------------------

BCG_R_SCRIPT = r"""
suppressPackageStartupMessages(library(metafor))
dat <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
out <- data.frame(trial = dat$trial, author = dat$author, year = dat$year,
                  tpos = dat$tpos, tneg = dat$tneg, cpos = dat$cpos, cneg = dat$cneg,
                  ablat = dat$ablat, alloc = as.character(dat$alloc),
                  yi = sprintf("%.17g", as.numeric(dat$yi)),
                  vi = sprintf("%.17g", as.numeric(dat$vi)))
write.csv(out, stdout(), row.names = FALSE)
"""

BCG_COLUMNS = ("trial", "author", "year", "tpos", "tneg", "cpos", "cneg", "ablat", "alloc",
               "yi", "vi")


def bcg_from_r(rscript: str | None = None) -> pd.DataFrame:
    """Run ``Rscript`` to get ``dat.bcg`` with the log risk ratios of ``metafor::escalc``.

    Raises ``FileNotFoundError`` when ``Rscript`` cannot be found and
    ``subprocess.CalledProcessError`` when R fails (for instance metafor is missing).

    Example:
        >>> try:                                  # without R: a plain error
        ...     bcg_from_r("/no/such/Rscript")
        ... except FileNotFoundError:
        ...     print("needs R with metafor")
        needs R with metafor
    """
    exe = rscript or shutil.which("Rscript")
    if exe is None:
        raise FileNotFoundError("Rscript was not found on PATH; bcg.csv needs R with metafor")
    res = subprocess.run([exe, "--vanilla", "-e", BCG_R_SCRIPT], check=True,
                         capture_output=True, text=True)
    from ipdmeta.datasets import ROUND_TRIP
    frame = cast(pd.DataFrame, pd.read_csv(io.StringIO(res.stdout), keep_default_na=False,
                                           **ROUND_TRIP))
    return frame[list(BCG_COLUMNS)]


# --------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------


def _format_column(values: pd.Series, decimals: int | None) -> list[str]:
    if decimals is not None:
        return [f"{x:.{decimals}f}" for x in values.to_numpy(dtype=float)]
    if pd.api.types.is_float_dtype(values):
        return [repr(float(x)) for x in values]  # shortest exact round-trip text
    if pd.api.types.is_integer_dtype(values):
        return [str(int(x)) for x in values]
    return [str(x) for x in values]


def to_csv_bytes(frame: pd.DataFrame, decimals: dict[str, int] | None = None) -> bytes:
    """The CSV text of ``frame`` as written by this script (UTF-8, ``\\n`` line ends).

    Floats get a fixed number of decimals when listed in ``decimals`` and the shortest
    exact representation otherwise, so the output does not depend on pandas' writer.

    Example:
        >>> to_csv_bytes(pd.DataFrame({"a": [1, 2], "b": [0.5, 1.25]}), {"b": 1})
        b'a,b\\n1,0.5\\n2,1.2\\n'
    """
    decimals = decimals or {}
    cols = [_format_column(frame[c], decimals.get(c)) for c in frame.columns]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(frame.columns)
    writer.writerows(zip(*cols, strict=True))
    return buf.getvalue().encode("utf-8")


def build(names: Sequence[str] | None = None) -> dict[str, bytes]:
    """CSV bytes of the requested datasets (default: all), keyed by dataset name.

    Example:
        >>> build(["weight_gain"])["weight_gain"].splitlines()[0]
        b'studyid,study_name,intervention,trt,baseline_wt,final_wt,n'
    """
    makers = {
        "hypertension": lambda: simulate_hypertension().data,
        "weight_gain": lambda: simulate_weight_gain().data,
        "weight_gain_binary": lambda: simulate_weight_gain_binary().data,
        "bcg": bcg_from_r,
    }
    out: dict[str, bytes] = {}
    for name in names if names is not None else makers:
        frame = makers[name]()
        if name == "weight_gain_binary":
            check_binary(frame)
        out[name] = to_csv_bytes(frame, DECIMALS.get(name))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the CSV files (default: next to this script)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outdir", type=Path, default=Path(__file__).resolve().parent,
                        help="folder to write the CSV files to (default: the package folder)")
    parser.add_argument("--skip-bcg", action="store_true",
                        help="do not run R to write bcg.csv")
    args = parser.parse_args(argv)
    names = ["hypertension", "weight_gain", "weight_gain_binary"]
    if not args.skip_bcg:
        if shutil.which("Rscript") is None:
            logger.warning("Rscript not found: bcg.csv left as it is")
        else:
            names.append("bcg")
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name, content in build(names).items():
        path = args.outdir / f"{name}.csv"
        path.write_bytes(content)
        logger.info("wrote %s (%s bytes)", path, f"{len(content):,}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    raise SystemExit(main())
