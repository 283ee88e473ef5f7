"""Any model: a user's function fitted in each study (``model=callable``).

Stata's ``ipdmetan`` runs any estimation command in each trial; here ``model=``
may be a function ``fit(frame) -> (estimate, se)`` or ``-> dict(estimate=, se=,
n=, events=, ...)`` that receives one study's rows (complete cases on the
columns it names, when stage 1 knows them) and returns the estimate to pool, on
the analysis scale (a log odds ratio, not an odds ratio), and its standard error.
Other keys of a returned dict are kept in ``Fit.extra``.

:func:`call` turns the function's outcome into a :class:`~ipdmeta.models.base.Fit`:
an exception becomes a failed ``model_error`` row whose reason is the exception's
type and message; a non-finite estimate or a non-positive or non-finite standard
error a ``not_converged`` row; warnings the function raised are kept in
``extra["warnings"]``.  A malformed return value (neither a pair nor a dict with
``estimate`` and ``se``) is a programming error: :class:`~ipdmeta.errors.InputError`.

For ``engine="processes"`` and ``"dask"`` the function is sent to other
processes by pickling: define it at the top level of a module or script (not a
lambda or a nested function); :func:`check_picklable` says so before any work.

Example:
    >>> import pandas as pd
    >>> def mean_diff(d):
    ...     a, b = d.y[d.treat == 1], d.y[d.treat == 0]
    ...     return a.mean() - b.mean(), (a.var() / len(a) + b.var() / len(b)) ** 0.5
    >>> frame = pd.DataFrame({"y": [1.0, 2, 3, 4, 6, 5], "treat": [0, 0, 0, 1, 1, 1]})
    >>> f = call(mean_diff, frame)
    >>> f.ok, f.names, f.estimate("estimate"), f.n
    (True, ('estimate',), 3.0, 6)
    >>> call(lambda d: 1 / 0, frame).reason
    'ZeroDivisionError: division by zero'
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from ipdmeta.errors import InputError
from ipdmeta.models.base import Fit, failed

NAMES = ("estimate",)


def _number(value: Any, what: str) -> float:
    try:
        return float(np.asarray(value, dtype=float).reshape(()))
    except (TypeError, ValueError) as err:
        raise InputError(f"the model function returned {what}={value!r}, which is not a "
                         "single number") from err


def _parse(out: Any, n: int) -> tuple[float, float, int, int | None, dict]:
    """``(estimate, se, n, events, extra)`` from what the function returned."""
    if isinstance(out, Mapping):
        missing = [k for k in ("estimate", "se") if k not in out]
        if missing:
            raise InputError(f"the model function returned a dict without "
                             f"{' and '.join(map(repr, missing))}; return "
                             "dict(estimate=..., se=...) or a pair (estimate, se)")
        rest = {k: v for k, v in out.items() if k not in ("estimate", "se", "n", "events")}
        events = out.get("events")
        return (_number(out["estimate"], "estimate"), _number(out["se"], "se"),
                int(out.get("n", n)), None if events is None else int(events), rest)
    if isinstance(out, tuple | list) and len(out) == 2:
        return _number(out[0], "estimate"), _number(out[1], "se"), n, None, {}
    raise InputError(f"the model function returned {type(out).__name__}; return a pair "
                     "(estimate, se) or dict(estimate=..., se=..., n=..., events=...)")


def call(func: Callable[[pd.DataFrame], Any], frame: pd.DataFrame) -> Fit:
    """Run ``func`` on one study's rows and return a one-coefficient :class:`Fit`.

    Example:
        >>> import pandas as pd
        >>> call(lambda d: {"estimate": 0.2, "se": 0.1, "events": 3, "aic": 12.5},
        ...      pd.DataFrame({"y": [1, 0]})).extra
        {'family': 'custom', 'aic': 12.5}
    """
    n = len(frame)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = func(frame)
        except Exception as err:   # the study's failure, not ours: a row with the reason
            return failed("model_error", f"{type(err).__name__}: {err}", names=NAMES, n=n,
                          extra={"family": "custom"})
    est, se, n_used, events, rest = _parse(out, n)
    extra: dict[str, Any] = {"family": "custom", **rest}
    if caught:
        extra["warnings"] = tuple(dict.fromkeys(f"{w.category.__name__}: {w.message}"
                                                for w in caught))
    if not (np.isfinite(est) and np.isfinite(se) and se > 0):
        return failed("not_converged", f"the model function returned a non-finite estimate "
                      f"or standard error (estimate {est:g}, se {se:g})", names=NAMES,
                      n=n_used, events=events, extra=extra)
    return Fit(coef=np.array([est]), cov=np.array([[se * se]]), names=NAMES, n=n_used,
               events=events, extra=extra)


def check_picklable(func: Callable, engine: str) -> None:
    """Refuse, with what to do, a function that cannot be sent to worker processes.

    Example:
        >>> check_picklable(lambda d: (0.0, 1.0), "processes")
        Traceback (most recent call last):
        ...
        ipdmeta.errors.InputError: model=<lambda> cannot be sent to worker processes (...
    """
    if not callable(func):
        raise InputError(f"model={func!r} is neither a model name nor a function")
    if engine == "serial":
        return
    try:
        pickle.dumps(func)
    except Exception as err:
        name = getattr(func, "__qualname__", repr(func))
        raise InputError(f"model={name} cannot be sent to worker processes ({err}); define "
                         f"it with def at the top level of a module or script, or use "
                         f"engine='serial'") from err
