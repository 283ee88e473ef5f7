"""The design of a one-stage model: participant rows sorted by trial, split into blocks.

:func:`build_design` turns ``data``, ``study=``, ``formula=`` and the one-stage options
into a :class:`Design`:

* ``y``: the outcome ``(n,)``, or ``(n, 2)`` time and event for Cox models;
* ``L``: the *local* columns, whose coefficients are trial-specific (the stratified
  intercept, and the covariates when ``covariates_by_study=True``), ``(n, a)``;
* ``W``: the *global* columns, with one coefficient for all trials (the treatment,
  common covariates, the within-trial interaction; the overall intercept when the
  intercepts are random), ``(n, g)``;
* ``Z``: the random-effect columns, ``(n, r)``: the random term (the treatment) and,
  with ``intercepts="random"``, a column of ones (in that order);
* ``starts``: the first row of each trial (rows are sorted by trial, stably).

Rows with a missing value in a model column are dropped (counted).  Trials that
carry no information under stratified intercepts are dropped with a plain reason:
a binary outcome that is the same for everyone in the trial, a count outcome that
is zero for everyone, a Cox trial without events (the trial's own intercept or
baseline hazard absorbs the whole trial).  A local column that is all zero or
aliased within a trial (a level absent from it, a covariate constant in it) is
left out of that trial's model (``local_ok`` is False there; the reason names
them).  A global column aliased with the trial intercepts (a trial-level variable
with stratified intercepts) or with other columns is an error naming it.

Example:
    >>> import pandas as pd
    >>> df = pd.DataFrame({"trial": [1, 1, 1, 2, 2, 2], "y": [1.0, 2, 3, 2, 4, 5],
    ...                    "treat": [0, 1, 1, 0, 1, 0], "age": [50, 60, 40, 30, 35, 45]})
    >>> d = build_design(df, study="trial", formula="y ~ treat + age", model="linear",
    ...                  covariates_by_study=True)
    >>> d.local_names, d.global_names, d.z_names, d.starts.tolist()
    (('Intercept', 'age'), ('treat',), ('treat',), [0, 3])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError, SpecificationError, missing_column
from ipdmeta.onestage._blocks import segment_gram, segment_sums
from ipdmeta.stage1.data import as_frame
from ipdmeta.stage1.formula import (
    ModelFormula,
    apply_levels,
    categorical_levels,
    interaction_name,
    parse_formula,
)
from ipdmeta.stage1.run import normalise_model, parse_interaction, resolve_poolvar

#: a column is aliased within a trial when its residual sum of squares on the
#: preceding columns is below ``ALIAS_TOL`` times its own (uncentred) sum of squares
ALIAS_TOL = 1e-9
INTERCEPTS = ("stratified", "random")


@dataclass(frozen=True, eq=False)
class Design:
    """Participant rows of a one-stage model, sorted by trial (see the module docstring)."""

    model: str
    formula: str
    y: np.ndarray
    L: np.ndarray
    W: np.ndarray
    Z: np.ndarray
    offset: np.ndarray | None
    starts: np.ndarray
    labels: tuple
    local_names: tuple[str, ...]
    global_names: tuple[str, ...]
    z_names: tuple[str, ...]
    local_ok: np.ndarray            # (K, a) the local coefficient is in trial i's model
    random: str                     # the random term (a column of W)
    poolvar: str                    # the term compared with a two-stage analysis
    intercepts: str
    study_var: str
    n_dropped_rows: int = 0
    dropped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["study", "n", "status", "reason"]))
    notes: tuple[str, ...] = ()

    @property
    def K(self) -> int:
        """Number of trials in the model."""
        return int(self.starts.size)

    @property
    def n(self) -> int:
        """Number of participants in the model."""
        return int(self.y.shape[0])

    @property
    def counts(self) -> np.ndarray:
        """Participants per trial."""
        return np.diff(np.append(self.starts, self.n))

    @property
    def trial(self) -> np.ndarray:
        """Trial index (0..K-1) of every row."""
        return np.repeat(np.arange(self.K), self.counts)

    @property
    def n_fixed(self) -> int:
        """Number of estimable fixed-effect coefficients."""
        return int(self.local_ok.sum()) + self.W.shape[1]

    @property
    def events(self) -> int | None:
        """Events (binary, count and Cox outcomes)."""
        if self.model == "linear":
            return None
        ev = self.y[:, 1] if self.model == "cox" else self.y
        return round(float(ev.sum()))


def _check_outcome(model: str, y: np.ndarray, formula: ModelFormula) -> None:
    name = formula.lhs[0] if model != "cox" else formula.lhs[1]
    if model == "logistic" and not np.all((y == 0) | (y == 1)):
        bad = y[(y != 0) & (y != 1)][0]
        raise InputError(f"the outcome {name!r} of a logistic model must be 0/1; found {bad:g}")
    if model == "poisson" and np.any(y < 0):
        raise InputError(f"the outcome {name!r} of a Poisson model must be a count >= 0; "
                         f"found {y[y < 0][0]:g}")
    if model == "cox":
        if np.any(y[:, 0] <= 0):
            raise InputError(f"the time {formula.lhs[0]!r} must be positive; found "
                             f"{y[y[:, 0] <= 0, 0][0]:g}")
        if not np.all((y[:, 1] == 0) | (y[:, 1] == 1)):
            raise InputError(f"the event indicator {name!r} must be 0/1")


def _uninformative(model: str, y: np.ndarray, starts: np.ndarray, counts: np.ndarray
                   ) -> tuple[np.ndarray, list[str]]:
    """Trials that carry no information when they have their own intercept/baseline."""
    ev = y[:, 1] if model == "cox" else y
    if model == "linear":
        return np.zeros(starts.size, dtype=bool), [""] * starts.size
    s = segment_sums(ev, starts)
    reasons = [""] * starts.size
    bad = np.zeros(starts.size, dtype=bool)
    for i in np.flatnonzero((s == 0) | ((s == counts) & (model == "logistic"))):
        bad[i] = True
        what = ("no events" if s[i] == 0 and model != "poisson" else
                "a count of 0 for every participant" if model == "poisson" else
                "the event for every participant")
        reasons[i] = (f"{what} among {int(counts[i])}: with its own "
                      f"{'baseline hazard' if model == 'cox' else 'intercept'} the trial "
                      "adds no information on the other coefficients (left out)")
    return bad, reasons


def _residual_ss(G: np.ndarray, keep: np.ndarray, j: int) -> np.ndarray:
    """Per trial, the residual sum of squares of column j on the kept earlier columns."""
    if j == 0:
        return G[:, 0, 0].copy()
    sub = G[:, :j, :j].copy()
    k = keep[:, :j]
    mask = k[:, :, None] & k[:, None, :]
    eye = np.broadcast_to(np.eye(j, dtype=bool), sub.shape)
    sub = np.where(mask, sub, np.where(eye, 1.0, 0.0))
    gv = np.where(k, G[:, :j, j], 0.0)
    return G[:, j, j] - np.einsum("ka,ka->k", gv, np.linalg.solve(sub, gv[..., None])[..., 0])


def _centre(M: np.ndarray, starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    means = segment_sums(M, starts) / counts[:, None]
    return M - np.repeat(means, counts, axis=0)


def _local_aliasing(L: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                    has_constant: bool, first_is_intercept: bool) -> np.ndarray:
    """(K, a): True where trial i's local column is estimable (not zero, not aliased)."""
    K, a = starts.size, L.shape[1]
    keep = np.ones((K, a), dtype=bool)
    j0 = 1 if first_is_intercept else 0
    if a == j0:
        return keep
    M = L[:, j0:]
    raw = segment_gram(M, starts)
    G = segment_gram(_centre(M, starts, counts), starts) if has_constant else raw
    sub_keep = keep[:, j0:]
    for j in range(M.shape[1]):
        resid = _residual_ss(G, sub_keep, j)
        sub_keep[:, j] = resid > ALIAS_TOL * raw[:, j, j]
    keep[:, j0:] = sub_keep
    return keep


def _global_aliasing(L: np.ndarray, W: np.ndarray, local_ok: np.ndarray,
                     names: Sequence[str], starts: np.ndarray, counts: np.ndarray,
                     has_constant: bool, first_is_intercept: bool, study: str) -> None:
    """Raise a SpecificationError naming a global column that the others determine."""
    j0 = 1 if first_is_intercept else 0
    Lx = L[:, j0:]
    okx = local_ok[:, j0:]
    if has_constant:
        Lx, Wc = _centre(Lx, starts, counts), _centre(W, starts, counts)
    else:
        Wc = W
    M = np.column_stack([Lx, Wc])
    G = segment_gram(M, starts)
    a = Lx.shape[1]
    # sweep out each trial's locals, then sum over trials
    eye = np.broadcast_to(np.eye(a, dtype=bool), (starts.size, a, a))
    mask = okx[:, :, None] & okx[:, None, :]
    A = np.where(mask, G[:, :a, :a], np.where(eye, 1.0, 0.0))
    B = np.where(okx[:, :, None], G[:, :a, a:], 0.0)
    S = (G[:, a:, a:] - np.swapaxes(B, 1, 2) @ np.linalg.solve(A, B)).sum(axis=0)
    raw = (W * W).sum(axis=0)
    keep = np.ones((1, W.shape[1]), dtype=bool)
    for j in range(W.shape[1]):
        resid = _residual_ss(S[None], keep, j)[0]
        if resid > ALIAS_TOL * raw[j]:
            continue
        within = "" if not has_constant else (
            f" (it does not vary within any {study}: with stratified intercepts only "
            "within-trial contrasts are estimable; drop it, or use intercepts='random')"
            if S[j, j] <= ALIAS_TOL * raw[j] else "")
        others = ", ".join(f"'{n}'" for n in names[:j]) or "the intercepts"
        raise SpecificationError(f"the column '{names[j]}' cannot be estimated: it is "
                                 f"aliased with {others}{within}")


def build_design(data: Any, study: str, formula: str, model: str | None = None, *,
                 random: str | None = None, intercepts: str = "stratified",
                 covariates_by_study: bool = False,
                 interaction: str | Sequence[str] | None = None,
                 exposure: str | None = None, offset: str | None = None) -> Design:
    """Check the input and build the :class:`Design` of a one-stage model.

    Raises :class:`~ipdmeta.errors.InputError` or
    :class:`~ipdmeta.errors.SpecificationError` naming the column or option at fault.
    """
    spec = parse_formula(formula) if isinstance(formula, str) else None
    if spec is None:
        raise SpecificationError(f"formula= takes a string such as 'y ~ treat + age'; got "
                                 f"{formula!r}")
    if spec.strata:
        raise SpecificationError("strata() is not used in one-stage models: the baseline "
                                 "hazard is stratified by study= already")
    model = normalise_model(model, spec)
    intercepts = str(intercepts).strip().lower()
    if intercepts not in INTERCEPTS:
        raise SpecificationError(f"intercepts={intercepts!r} is not known; use 'stratified' "
                                 "(a fixed intercept per trial) or 'random'")
    if model == "cox" and intercepts == "random":
        raise SpecificationError("a one-stage Cox model stratifies the baseline hazard by "
                                 "trial; intercepts='random' is not available for it")
    if (exposure or offset) and model not in ("poisson", "logistic"):
        raise SpecificationError("exposure= and offset= are for Poisson (and offset= for "
                                 "logistic) models")
    if exposure and model != "poisson":
        raise SpecificationError("exposure= is for Poisson models; use offset= instead")
    inter = parse_interaction(interaction)
    frame = as_frame(data)
    extra = [*(inter or ()), *(c for c in (exposure, offset) if c)]
    needed = list(dict.fromkeys([*spec.variables, *extra]))
    for name, role in [(study, "study"), *((c, "model") for c in needed)]:
        if name not in frame.columns:
            raise missing_column(name, frame, role)
    if frame[study].isna().any():
        rows = np.flatnonzero(frame[study].isna().to_numpy())
        raise InputError(f"study column {study!r} is missing in {rows.size} row(s) (first: "
                         f"row {rows[0]}); give those rows a study or drop them")
    sub = frame[list(dict.fromkeys([study, *needed]))]
    complete = sub[needed].notna().all(axis=1).to_numpy()
    n_dropped_rows = int((~complete).sum())
    sub = sub.loc[complete]
    if sub.empty:
        raise InputError(f"no row of the data is complete for the model's columns "
                         f"({', '.join(needed)})")
    sub = apply_levels(sub, categorical_levels(sub, spec))
    codes, uniques = pd.factorize(sub[study], sort=True)
    order = np.argsort(codes, kind="stable")
    sub = sub.iloc[order]
    codes = codes[order]
    y, X, names_t, term_columns = spec.matrices(sub)
    names = list(names_t)
    if "Intercept" in names and (intercepts == "stratified" or model == "cox"):
        j = names.index("Intercept")
        X = np.delete(X, j, axis=1)
        del names[j]
    if not names:
        raise SpecificationError(f"{spec.text!r} has no covariate: give the treatment on the "
                                 "right-hand side")
    rand = resolve_poolvar(random, names, term_columns, spec, None)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    counts = np.diff(np.append(starts, codes.size))
    if inter is not None:
        X, names = _add_interaction(X, names, sub, inter, starts, counts)
    _check_outcome(model, y, spec)
    if not np.all(np.isfinite(X)):
        raise InputError("the design has non-finite values; check the covariates")
    off = _offset(sub, exposure, offset)
    labels = tuple(uniques[np.unique(codes)])
    # trials without information under stratified intercepts / baselines
    notes: list[str] = []
    dropped_rows: list[dict] = []
    if intercepts == "stratified":
        bad, reasons = _uninformative(model, y, starts, counts)
        if bad.any():
            dropped_rows = [{"study": labels[i], "n": int(counts[i]), "status": "no_information",
                             "reason": reasons[i]} for i in np.flatnonzero(bad)]
            keep_rows = np.repeat(~bad, counts)
            y, X = y[keep_rows], X[keep_rows]
            off = None if off is None else off[keep_rows]
            labels = tuple(lab for lab, b in zip(labels, bad, strict=True) if not b)
            counts = counts[~bad]
            starts = np.r_[0, np.cumsum(counts)[:-1]].astype(np.intp)
            if not labels:
                raise InputError("no trial has information for the model: " +
                                 "; ".join(f"{r['study']}: {r['reason']}" for r in dropped_rows))
    inter_name = interaction_name(inter) if inter else None
    local_idx: list[int] = []
    if covariates_by_study:
        local_idx = [j for j, nm in enumerate(names) if nm not in (rand, inter_name)
                     and nm != "Intercept"]
    global_idx = [j for j in range(len(names)) if j not in local_idx]
    stratified = intercepts == "stratified" and model != "cox"
    n = y.shape[0]
    L = np.column_stack([np.ones((n, 1))[:, :int(stratified)], X[:, local_idx]])
    local_names = (("Intercept",) if stratified else ()) + tuple(names[j] for j in local_idx)
    W = X[:, global_idx]
    global_names = tuple(names[j] for j in global_idx)
    z_cols = [X[:, names.index(rand)]] + ([np.ones(n)] if intercepts == "random" else [])
    Z = np.column_stack(z_cols)
    has_constant = intercepts == "stratified"
    local_ok = _local_aliasing(L, starts, counts, has_constant, stratified)
    notes += _local_notes(local_ok, local_names, labels, stratified)
    _global_aliasing(L, W, local_ok, global_names, starts, counts, has_constant, stratified,
                     study)
    L = np.where(np.repeat(local_ok, counts, axis=0), L, 0.0)
    z2 = segment_sums(Z[:, 0] ** 2, starts)
    zvar = z2 - segment_sums(Z[:, 0], starts) ** 2 / counts
    flat = int(np.sum(zvar <= 1e-12 * np.maximum(z2, 1e-300)))
    if flat:
        notes.append(f"'{rand}' does not vary within {flat} of the {len(labels)} trials; "
                     "they inform the other coefficients only")
    return Design(model=model, formula=spec.text, y=y, L=L, W=W, Z=Z, offset=off,
                  starts=starts, labels=labels, local_names=local_names,
                  global_names=global_names, z_names=(rand,) + (("Intercept",)
                                                                if intercepts == "random" else ()),
                  local_ok=local_ok, random=rand, poolvar=inter_name or rand,
                  intercepts=intercepts, study_var=study, n_dropped_rows=n_dropped_rows,
                  dropped=pd.DataFrame(dropped_rows, columns=["study", "n", "status", "reason"]),
                  notes=tuple(notes))


def _add_interaction(X: np.ndarray, names: list[str], frame: pd.DataFrame,
                     inter: tuple[str, str], starts: np.ndarray, counts: np.ndarray
                     ) -> tuple[np.ndarray, list[str]]:
    """Add ``a:b`` = a × (b − the trial's mean of b) and any missing main effect."""
    a, b = inter
    for var in inter:
        if not pd.api.types.is_numeric_dtype(frame[var]):
            raise InputError(f"interaction column {var!r} must be numeric (code it 0/1 or as "
                             "a number)")
    xa = frame[a].to_numpy(dtype=float)
    xb = _centre(frame[b].to_numpy(dtype=float)[:, None], starts, counts)[:, 0]
    name = interaction_name(inter)
    drop = [names.index(t) for t in (name, f"{b}:{a}") if t in names]
    X = np.delete(X, drop, axis=1)
    names = [v for i, v in enumerate(names) if i not in drop]
    cols = [X]
    for var in (a, b):
        if var not in names:
            cols.append(frame[var].to_numpy(dtype=float)[:, None])
            names.append(var)
    cols.append((xa * xb)[:, None])
    return np.column_stack(cols), [*names, name]


def _offset(frame: pd.DataFrame, exposure: str | None, offset: str | None) -> np.ndarray | None:
    if not (exposure or offset):
        return None
    off = np.zeros(len(frame))
    if exposure:
        e = frame[exposure].to_numpy(dtype=float)
        if np.any(e <= 0):
            raise InputError(f"exposure column {exposure!r} must be positive; found "
                             f"{e[e <= 0][0]:g}")
        off += np.log(e)
    if offset:
        off += frame[offset].to_numpy(dtype=float)
    return off


def _local_notes(local_ok: np.ndarray, names: Sequence[str], labels: Sequence,
                 stratified: bool) -> list[str]:
    notes = []
    for j in range(int(stratified), local_ok.shape[1]):
        missing = np.flatnonzero(~local_ok[:, j])
        if missing.size:
            shown = ", ".join(str(labels[i]) for i in missing[:5])
            more = f" and {missing.size - 5} more" if missing.size > 5 else ""
            notes.append(f"'{names[j]}' is constant or aliased within trial(s) {shown}{more}; "
                         "its trial-specific coefficient is left out there")
    return notes
