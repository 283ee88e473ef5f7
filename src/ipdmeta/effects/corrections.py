"""Continuity corrections for counts with zeros, as metafor's ``escalc(add, to, drop00)``
and Stata metan's ``cc(#, opposite empirical allifzero)``.

A correction adds an amount to the cells of the tables chosen by ``to``:

* ``"only0"`` — only tables with a zero cell (metafor's default; metan's default);
* ``"all"`` — every table;
* ``"if0all"`` — every table, if any table has a zero cell (metan's ``allifzero``);
* ``"none"`` — no table.

The amount is ``add`` in every cell (``kind="constant"``), or one of Sweeting, Sutton &
Lambert's (2004) arm-specific amounts, coded as metan 4 does, with ``add`` as the constant
of proportionality (each pair of arm amounts sums to ``2 * add``):

* ``"opposite"`` — treatment-arm correction: ``2 add n1/N`` in the treatment cells and
  ``2 add n0/N`` in the control cells (the reciprocal of the *opposite* arm's size,
  scaled);
* ``"empirical"`` — ``2 add OR/(R + OR)`` and ``2 add R/(R + OR)`` with ``R = n0/n1`` and
  ``OR`` a prior odds ratio (the Mantel-Haenszel odds ratio of all tables, uncorrected).

Double-zero tables (no events in either arm, or events in every participant of both arms)
can be set aside first (``drop00``).

Example:
    >>> import numpy as np
    >>> a, b, c, d = (np.array(x, float) for x in ([0, 3], [10, 7], [2, 4], [8, 6]))
    >>> fix = correct_tables(a, b, c, d, add=0.5, to="only0")
    >>> fix.cells[0].tolist(), fix.corrected.tolist()
    ([0.5, 3.0], [True, False])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ipdmeta.errors import InputError

TO_CHOICES = ("only0", "all", "if0all", "none")
KINDS = ("constant", "opposite", "empirical")


def check_to(to: str) -> str:
    """``to`` as given, or a clear error naming the choices."""
    if to not in TO_CHOICES:
        raise InputError(f"to={to!r} is not known; use one of {', '.join(map(repr, TO_CHOICES))} "
                         "(which studies get the continuity correction)")
    return to


def check_add(add: float) -> float:
    """The correction amount as a float; negative or non-finite amounts are refused."""
    try:
        value = float(add)
    except (TypeError, ValueError):
        raise InputError(f"correction={add!r} must be a number (e.g. 0.5), or 0 for none"
                         ) from None
    if not np.isfinite(value) or value < 0:
        raise InputError(f"correction={add!r} must be a finite number >= 0 (e.g. 0.5)")
    return value


def rows_to_correct(has_zero: np.ndarray, to: str) -> np.ndarray:
    """Which rows get the correction, given which rows have a zero cell."""
    has_zero = np.asarray(has_zero, dtype=bool)
    if to == "all":
        return np.ones_like(has_zero)
    if to == "only0":
        return has_zero.copy()
    if to == "if0all":
        return np.full_like(has_zero, has_zero.any())
    return np.zeros_like(has_zero)


@dataclass(frozen=True)
class Corrected:
    """Cells after a correction, which rows were corrected and by how much per arm."""

    cells: tuple[np.ndarray, ...]
    corrected: np.ndarray
    amounts: tuple[np.ndarray, np.ndarray]


def correct_counts(cells: tuple[np.ndarray, ...], *, add: float, to: str) -> Corrected:
    """Add ``add`` to every cell of the rows chosen by ``to`` (a zero in any cell counts).

    Rows with a missing cell are neither tested nor corrected (as metafor).

    Example:
        >>> import numpy as np
        >>> out = correct_counts((np.array([0.0, 5.0]), np.array([7.0, 4.0])), add=0.5,
        ...                      to="if0all")
        >>> [c.tolist() for c in out.cells]
        [[0.5, 5.5], [7.5, 4.5]]
    """
    stacked = np.vstack(cells)
    has_zero = np.any(stacked == 0, axis=0) & ~np.any(np.isnan(stacked), axis=0)
    rows = rows_to_correct(has_zero, to) & ~np.any(np.isnan(stacked), axis=0) & (add != 0)
    amount = np.where(rows, add, 0.0)
    return Corrected(tuple(c + amount for c in cells), rows, (amount, amount))


def double_zero(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Tables with no events in either arm, or only events in both (metafor's drop00)."""
    return ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))


def mantel_haenszel_odds_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray
                               ) -> float:
    """Mantel-Haenszel odds ratio ``sum(a d / N) / sum(b c / N)`` over complete tables."""
    n = a + b + c + d
    use = np.isfinite(n) & (n > 0)
    r = float(np.sum(a[use] * d[use] / n[use]))
    s = float(np.sum(b[use] * c[use] / n[use]))
    return r / s if s > 0 else float("nan")


def arm_amounts(kind: str, add: float, n1: np.ndarray, n0: np.ndarray,
                prior_or: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-row amounts for the treatment and control cells (``kind`` as in the module).

    Example:
        >>> import numpy as np
        >>> t, c = arm_amounts("opposite", 0.5, np.array([30.0]), np.array([10.0]))
        >>> float(t[0]), float(c[0])
        (0.75, 0.25)
    """
    total = n1 + n0
    if kind == "constant":
        return np.full_like(total, add), np.full_like(total, add)
    if kind == "opposite":
        with np.errstate(divide="ignore", invalid="ignore"):
            return 2 * add * n1 / total, 2 * add * n0 / total
    if kind == "empirical":
        if prior_or is None or not np.isfinite(prior_or) or prior_or <= 0:
            raise InputError("the empirical continuity correction needs a finite, positive "
                             "prior odds ratio; the Mantel-Haenszel odds ratio of the tables "
                             "is not (no events, or no non-events, in one arm of every table)")
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = n0 / n1
            return 2 * add * prior_or / (ratio + prior_or), 2 * add * ratio / (ratio + prior_or)
    raise InputError(f"correction_type={kind!r} is not known; use one of "
                     f"{', '.join(map(repr, KINDS))}")


def correct_tables(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, *,
                   add: float, to: str, kind: str = "constant") -> Corrected:
    """Correct 2x2 tables (events/non-events per arm); NaN rows stay as they are.

    ``kind="empirical"`` takes its prior from the Mantel-Haenszel odds ratio of all the
    (non-missing) tables without correction, as metan does with its default model, and
    needs at least one table without a zero cell.
    """
    cells = np.vstack([a, b, c, d])
    missing = np.any(np.isnan(cells), axis=0)
    has_zero = np.any(cells == 0, axis=0) & ~missing
    rows = rows_to_correct(has_zero, to) & ~missing & (add != 0)   # add=0: none corrected
    prior = None
    if kind == "empirical":
        if has_zero.sum() == (~missing).sum():
            raise InputError("the empirical continuity correction needs at least one study "
                             "without a zero cell (its prior odds ratio comes from the data)")
        prior = mantel_haenszel_odds_ratio(a[~missing], b[~missing], c[~missing], d[~missing])
    t_amount, c_amount = arm_amounts(kind, add, a + b, c + d, prior)
    t_amount = np.where(rows, t_amount, 0.0)
    c_amount = np.where(rows, c_amount, 0.0)
    return Corrected((a + t_amount, b + t_amount, c + c_amount, d + c_amount), rows,
                     (t_amount, c_amount))


def describe_correction(family: str, opts: dict, corrected: np.ndarray,
                        status: np.ndarray) -> tuple[str, ...]:
    """Plain-words notes: what was added to which studies, and double zeros set aside.

    Example:
        >>> import numpy as np
        >>> describe_correction("two_by_two", {"add": 0.5, "to": "only0", "kind": "constant"},
        ...                     np.array([True, False]), np.array(["ok", "ok"]))
        ('continuity correction: 0.5 added to every cell of 1 study with a zero count',)
    """
    notes = []
    k = int(np.sum(corrected))
    if k:
        what = {"constant": f"{opts['add']:g} added to every cell",
                "opposite": f"Sweeting's treatment-arm correction ({opts['add']:g} x 2 x arm "
                            "size / total) added to the cells",
                "empirical": f"Sweeting's empirical correction ({opts['add']:g} x 2, split by "
                             "the Mantel-Haenszel odds ratio) added to the cells"}[opts["kind"]]
        if family not in ("two_by_two", "proportion"):
            what = f"{opts['add']:g} added to the event counts"
        studies = f"{k} stud{'y' if k == 1 else 'ies'}"
        whom = {"only0": f"of {studies} with a zero count",
                "all": f"of every study ({studies})",
                "if0all": f"of every study ({studies}), as at least one had a zero count"}
        notes.append(f"continuity correction: {what} {whom.get(opts['to'], '')}".strip())
    dz = int(np.sum(np.asarray(status) == "double_zero"))
    if dz:
        notes.append(f"{dz} double-zero stud{'y' if dz == 1 else 'ies'} set aside "
                     "(drop_double_zero=True)")
    return tuple(notes)
