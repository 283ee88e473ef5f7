"""Model formulas of stage 1: ``"y ~ treat + age"`` and ``"Surv(time, event) ~ treat"``.

The right-hand side is handed to `formulaic <https://matthewwardrop.github.io/formulaic/>`_,
so categorical coding (``C(region)``), interactions (``treat:age``, ``treat*age``)
and transforms (``np.log(dose)``, ``center(age)``) work as there.  ipdmeta adds
what formulaic does not know:

* ``Surv(time, event)`` on the left makes a survival (Cox) model;
* ``strata(centre)`` terms on the right are separate baseline hazards of the Cox
  model (they are taken out of the design matrix);
* the keyword form ``outcome=``/``time=``/``event=``/``covariates=`` builds the
  same specification (:func:`build_formula`).

The design matrix is built for each study separately (each trial's own model,
as ``ipdmetan`` fits it), but categorical variables are given the levels found
in the whole data first (:func:`categorical_levels`), so a dummy such as
``C(region)[T.B]`` means the same contrast in every study; a level that is
absent from a study gives an all-zero column there, which stage 1 drops.

Example:
    >>> f = parse_formula("Surv(time, event) ~ treat + age + strata(centre)")
    >>> f.survival, f.lhs, f.rhs, f.strata
    (True, ('time', 'event'), 'treat + age', ('centre',))
    >>> f.variables
    ('time', 'event', 'treat', 'age', 'centre')
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from formulaic import Formula, model_matrix
from formulaic.errors import FormulaicError

from ipdmeta.errors import InputError, SpecificationError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_SURV = re.compile(r"^Surv\s*\((.*)\)$", re.S)
_STRATA = re.compile(r"^strata\s*\((.*)\)$", re.S)
_CATEGORICAL_CALL = re.compile(r"^C\s*\(\s*([A-Za-z_][A-Za-z0-9_.]*)\s*[,)]")
_ANSI = re.compile(r"\x1b\[[0-9;]*m|[⧛⧚]")


def _split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses, brackets, braces and quotes."""
    parts, depth, quote, start = [], 0, "", 0
    for i, ch in enumerate(text):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return parts


def _quote(expr: str) -> str:
    """A formulaic term for a column name or a Python expression."""
    return expr if _IDENT.match(expr) else "{" + expr + "}"


def _clean(err: Exception) -> str:
    return _ANSI.sub("", str(err)).strip()


@dataclass(frozen=True)
class ModelFormula:
    """A parsed stage-1 formula.

    Attributes:
        text: the formula as written (whitespace normalised).
        lhs: the outcome expression, or ``(time, event)`` for ``Surv()``.
        rhs: the right-hand side given to formulaic (without ``strata()`` terms).
        strata: columns named in ``strata()`` terms.
        survival: True for ``Surv(time, event) ~ ...`` (a Cox model).
    """

    text: str
    lhs: tuple[str, ...]
    rhs: str
    strata: tuple[str, ...] = ()
    survival: bool = False

    @cached_property
    def formulaic(self) -> Formula:
        """The formulaic ``Formula`` of outcome(s) and design (intercept included)."""
        lhs = " + ".join(_quote(e) for e in self.lhs)
        try:
            return Formula(f"{lhs} ~ {self.rhs}")
        except FormulaicError as err:
            raise SpecificationError(f"cannot parse the formula {self.text!r}: "
                                     f"{_clean(err)}") from err

    @cached_property
    def variables(self) -> tuple[str, ...]:
        """Data columns the model uses (outcome, covariates, strata), in formula order."""
        found = set(self.formulaic.required_variables) | set(self.strata)
        return tuple(sorted(found, key=lambda v: (_first_index(self.text, v), v)))

    @cached_property
    def outcome_variables(self) -> tuple[str, ...]:
        """Data columns of the outcome (time and event for ``Surv()``)."""
        return tuple(v for v in self.variables
                     if v in set(self.formulaic.lhs.required_variables))

    @cached_property
    def terms(self) -> tuple[str, ...]:
        """Right-hand-side terms in formula order, without the intercept."""
        return tuple(str(t) for t in self.formulaic.rhs if str(t) != "1")

    def categorical_candidates(self) -> tuple[str, ...]:
        """Columns written inside ``C(...)`` on the right-hand side."""
        out = []
        for term in self.formulaic.rhs:
            for factor in term.factors:
                m = _CATEGORICAL_CALL.match(str(factor.expr))
                if m and m.group(1) not in out:
                    out.append(m.group(1))
        return tuple(out)

    def matrices(self, frame: pd.DataFrame, *, intercept: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, tuple[str, ...], dict[str, list[str]]]:
        """Outcome, design, column names and term -> columns for the rows of ``frame``.

        The outcome is ``(n,)``, or ``(n, 2)`` (time, event) for survival.  With
        ``intercept=False`` the intercept column is removed *after* coding, so
        categorical variables keep reduced-rank (treatment) coding (Cox models).
        """
        try:
            mm = model_matrix(self.formulaic, frame, na_action="ignore")
        except FormulaicError as err:
            raise SpecificationError(f"cannot build the model of {self.text!r}: "
                                     f"{_clean(err)}") from err
        lhs, rhs = mm.lhs, mm.rhs
        if lhs.shape[1] != len(self.lhs):
            what = "time and event" if self.survival else "the outcome"
            raise SpecificationError(f"{what} of {self.text!r} must be numeric (one column "
                                     f"each); got columns {list(map(str, lhs.columns))}")
        y = np.asarray(lhs.to_numpy(dtype=float))
        y = y if self.survival else y[:, 0]
        names = [str(c) for c in rhs.columns]
        X = np.asarray(rhs.to_numpy(dtype=float))
        term_columns = {str(t): [names[i] for i in idx]
                        for t, idx in rhs.model_spec.term_indices.items() if str(t) != "1"}
        if not intercept and "Intercept" in names:
            j = names.index("Intercept")
            X = np.delete(X, j, axis=1)
            del names[j]
        return y, X, tuple(names), term_columns


def _first_index(text: str, name: str) -> int:
    m = re.search(rf"(?<![A-Za-z0-9_.]){re.escape(name)}(?![A-Za-z0-9_.])", text)
    return m.start() if m else len(text)


def mentions(text: str, name: str) -> bool:
    """True when the formula text ``text`` uses the variable ``name``.

    Example:
        >>> mentions("C(region)", "region"), mentions("C(regions)", "region")
        (True, False)
    """
    return _first_index(text, name) < len(text)


def parse_formula(text: str) -> ModelFormula:
    """Parse ``"y ~ x1 + x2"`` or ``"Surv(time, event) ~ x1 + strata(s)"``.

    Raises :class:`~ipdmeta.errors.SpecificationError` for a formula without
    ``~``, a ``Surv()`` without exactly two arguments, or ``strata()`` outside a
    survival model.

    Example:
        >>> f = parse_formula("final_wt ~ trt + baseline_wt")
        >>> f.survival, f.lhs, f.terms
        (False, ('final_wt',), ('trt', 'baseline_wt'))
    """
    if not isinstance(text, str) or text.count("~") != 1:
        raise SpecificationError(f"a formula needs exactly one '~' (outcome ~ covariates), "
                                 f"got {text!r}")
    norm = " ".join(text.split())
    left, right = (s.strip() for s in norm.split("~"))
    if not left:
        raise SpecificationError(f"the formula {norm!r} has no outcome left of '~'")
    survival = False
    m = _SURV.match(left)
    if m:
        args = [a for a in _split_top(m.group(1), ",") if a]
        if len(args) != 2:
            raise SpecificationError(f"Surv() takes two arguments, time and event, e.g. "
                                     f"'Surv(time, event) ~ treat'; got {left!r}")
        lhs, survival = tuple(args), True
    else:
        lhs = (left,)
    strata: list[str] = []
    kept: list[str] = []
    for term in _split_top(right, "+"):
        s = _STRATA.match(term)
        if s is None:
            kept.append(term)
            continue
        for name in _split_top(s.group(1), ","):
            if not _IDENT.match(name):
                raise SpecificationError(f"strata() takes column names; got {name!r} in "
                                         f"{norm!r}")
            strata.append(name)
    if strata and not survival:
        raise SpecificationError(f"strata() is for Cox models (Surv(time, event) ~ ...); "
                                 f"remove it from {norm!r} or use a covariate")
    if any(not t for t in kept):
        raise SpecificationError(f"the formula {norm!r} has an empty term")
    rhs = " + ".join(kept) if kept else "1"
    out = ModelFormula(text=norm, lhs=lhs, rhs=rhs, strata=tuple(strata), survival=survival)
    _ = out.formulaic  # parse now, so errors surface here
    return out


def build_formula(*, outcome: str | None = None, time: str | None = None,
                  event: str | None = None, covariates: Sequence[str] | str = (),
                  strata: Sequence[str] | str = ()) -> ModelFormula:
    """The keyword form: the same :class:`ModelFormula` as the written formula.

    Example:
        >>> build_formula(time="time", event="event", covariates=["treat", "age"]).text
        'Surv(time, event) ~ treat + age'
        >>> build_formula(outcome="y", covariates="treat").text
        'y ~ treat'
    """
    covs = [covariates] if isinstance(covariates, str) else list(covariates)
    strata = [strata] if isinstance(strata, str) else list(strata)
    if (time is None) != (event is None):
        raise SpecificationError("give both time= and event= for a survival outcome")
    if (outcome is None) == (time is None):
        raise SpecificationError("give either outcome= or time= and event= (not both)")
    if not covs:
        raise SpecificationError("give covariates=[...] (the first is pooled by default)")
    left = f"Surv({time}, {event})" if time is not None else str(outcome)
    right = " + ".join([*map(str, covs), *(f"strata({s})" for s in strata)])
    return parse_formula(f"{left} ~ {right}")


def categorical_levels(frame: pd.DataFrame, formula: ModelFormula) -> dict[str, list]:
    """Columns the design codes as categorical, with their levels in the whole data.

    Non-numeric right-hand-side columns, and numeric columns used only inside
    ``C(...)``.  Pandas categoricals keep their category order.

    Example:
        >>> df = pd.DataFrame({"y": [1.0, 2, 3], "r": ["b", "a", "b"], "x": [1, 2, 3]})
        >>> categorical_levels(df, parse_formula("y ~ r + x"))
        {'r': ['a', 'b']}
    """
    rhs_vars = set(formula.formulaic.rhs.required_variables)
    wrapped = set(formula.categorical_candidates())
    numeric_elsewhere = {v for v in rhs_vars if v in wrapped
                         and re.search(rf"(?<![A-Za-z0-9_.(]){re.escape(v)}(?![A-Za-z0-9_.])",
                                       re.sub(r"C\s*\([^()]*\)", "", formula.rhs))}
    out: dict[str, list] = {}
    for v in formula.variables:
        if v not in rhs_vars or v not in frame.columns:
            continue
        col = frame[v]
        if isinstance(col.dtype, pd.CategoricalDtype):
            out[v] = list(col.cat.categories)
        elif (not (pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col))
              or (v in wrapped and v not in numeric_elsewhere)):
            values = pd.unique(col.dropna())
            try:
                out[v] = sorted(values)
            except TypeError as err:
                raise InputError(f"column {v!r} mixes types ({values[:5].tolist()}); "
                                 "make it all text or all numbers") from err
    return out


def apply_levels(frame: pd.DataFrame, levels: dict[str, list]) -> pd.DataFrame:
    """``frame`` with the columns of ``levels`` as pandas categoricals of those levels."""
    if not levels:
        return frame
    return frame.assign(**{v: pd.Categorical(frame[v], categories=lv)
                           for v, lv in levels.items()})


# ---------------------------------------------------------------------- one study's design
def interaction_name(interaction: tuple[str, str]) -> str:
    """The design-column name of an interaction: ``"treat:age"``."""
    return f"{interaction[0]}:{interaction[1]}"


def study_design(formula: ModelFormula, frame: pd.DataFrame, *, cox: bool = False,
                 interaction: tuple[str, str] | None = None, center: bool = True
                 ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Outcome, design and column names of one study's model.

    For Cox models the intercept is removed after coding.  With ``interaction=(a,
    b)`` the column ``a:b`` = a × (b − mean of b in this study) is added (``b``
    uncentred when ``center=False``), with any main effect the formula lacks; an
    ``a:b`` term of the formula is replaced by it.

    Example:
        >>> df = pd.DataFrame({"y": [1.0, 2, 4, 3], "t": [0, 1, 0, 1], "age": [30, 40, 50, 60]})
        >>> y, X, names = study_design(parse_formula("y ~ t"), df, interaction=("t", "age"))
        >>> names, X[:, 3].tolist()
        (['Intercept', 't', 'age', 't:age'], [-0.0, -5.0, 0.0, 15.0])
    """
    y, X, names_t, _ = formula.matrices(frame, intercept=not cox)
    names = list(names_t)
    if interaction is None:
        return y, X, names
    a, b = interaction
    xa = frame[a].to_numpy(dtype=float)
    xb = frame[b].to_numpy(dtype=float)
    if center and xb.size:
        xb = xb - xb.mean()
    name = interaction_name(interaction)
    drop = [names.index(t) for t in (name, f"{b}:{a}") if t in names]
    X = np.delete(X, drop, axis=1)
    names = [v for i, v in enumerate(names) if i not in drop]
    cols = [X]
    for var, values in ((a, xa), (b, xb)):
        if var not in names:
            cols.append(values[:, None])
            names.append(var)
    cols.append((xa * xb)[:, None])
    return y, np.column_stack(cols), [*names, name]


def strata_codes(frame: pd.DataFrame, strata: Sequence[str]) -> np.ndarray:
    """Integer stratum codes (0, 1, ...) from one or more columns.

    Example:
        >>> strata_codes(pd.DataFrame({"s": ["b", "a", "b"]}), ["s"]).tolist()
        [1, 0, 1]
    """
    return frame.groupby(list(strata), sort=True, observed=True).ngroup().to_numpy()


def baseline_columns(X: np.ndarray, names: Sequence[str], *, cox: bool = False,
                     strata: np.ndarray | None = None
                     ) -> tuple[np.ndarray, list[str], list[int]]:
    """Columns that are never dropped: the intercept, or for Cox the baseline hazard
    (one indicator per stratum).  Returns them, their names and their positions in
    ``X`` (none for Cox, whose design has no such column).
    """
    if not cox:
        idx = [list(names).index("Intercept")] if "Intercept" in names else []
        return X[:, idx], [names[j] for j in idx], idx
    if strata is None:
        return np.ones((X.shape[0], 1)), ["(baseline hazard)"], []
    levels = np.unique(strata)
    return ((strata[:, None] == levels[None, :]).astype(float),
            [f"stratum {int(v) + 1}" for v in levels], [])


def reduce_design(X: np.ndarray, names: Sequence[str], pooled: int, base: np.ndarray,
                  base_names: Sequence[str], base_idx: Sequence[int]
                  ) -> tuple[np.ndarray, list[str], list[str], str | None]:
    """Drop all-zero and aliased nuisance columns; report an aliased pooled column.

    Aliasing is checked in the order baseline, nuisance terms, pooled term (as
    R's ``lm`` goes left to right), so a nuisance term that is constant in the
    study or collinear with others is dropped, and the pooled term is reported
    when it is a combination of the others.  Returns the reduced design, its
    names, notes on the dropped columns and the collinearity reason (or None).

    Example:
        >>> X = np.array([[1.0, 0, 1, 0], [1, 1, 1, 0], [1, 0, 1, 0], [1, 1, 1, 0]])
        >>> names = ["Intercept", "treat", "smk", "C(r)[T.b]"]
        >>> base, bn, bi = baseline_columns(X, names)
        >>> Xr, kept, notes, why = reduce_design(X, names, 1, base, bn, bi)
        >>> kept, why
        (['Intercept', 'treat'], None)
        >>> notes
        ["'C(r)[T.b]' (0 for every participant)", "'smk' (the same for every participant)"]
    """
    from ipdmeta.models._newton import aliased_columns, collinear_reason

    names = list(names)
    nuisance = [j for j in range(X.shape[1]) if j != pooled and j not in base_idx]
    zero = [j for j in nuisance if not np.any(X[:, j])]
    notes = [f"'{names[j]}' (0 for every participant)" for j in zero]
    nuisance = [j for j in nuisance if j not in zero]
    keep = sorted([*base_idx, *nuisance, pooled])
    if X.shape[0] > len(keep):
        M = np.column_stack([base, X[:, nuisance], X[:, pooled]])
        labels = [*base_names, *(names[j] for j in nuisance), names[pooled]]
        aliased = aliased_columns(M)
        last = M.shape[1] - 1
        if last in aliased:
            others = [i for i in aliased if i != last]
            kept_labels = [lab for i, lab in enumerate(labels) if i not in others]
            Mk = np.delete(M, others, axis=1)
            return X, names, notes, collinear_reason(Mk, kept_labels, [Mk.shape[1] - 1])
        width = base.shape[1]
        dropped = [nuisance[i - width] for i in aliased if i >= width]
        notes += [f"'{names[j]}' (" + ("the same for every participant" if np.ptp(X[:, j]) == 0
                                       else "collinear with the other terms") + ")"
                  for j in dropped]
        keep = [j for j in keep if j not in dropped]
    return X[:, keep], [names[j] for j in keep], notes, None
