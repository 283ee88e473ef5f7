"""Several pooling models side by side (Stata metan's ``model(a \\ b \\ c)`` and ``second()``).

metan can show the results of more than one model in one table and forest plot,
for instance the common-effect, DerSimonian-Laird and REML + HKSJ estimates.  A
:class:`~ipdmeta.pooling.results.MetaResult` holds its chosen model in ``overall``;
:meth:`~ipdmeta.pooling.results.MetaResult.with_models` adds others, computed here
from the same study estimates (and user weights, if any), in ``result.models``.
They are printed by ``summary()``, drawn as further diamonds by ``forest()`` and
saved as further overall rows by ``results_set()``.  Heterogeneity (Q, I²) is the
same for every model; tau² is each model's own.

Each model is a method name ("DL") or a dictionary of :func:`ipdmeta.pool` options
(``{"method": "REML", "ci": "hksj"}``: ``method``, ``ci``, ``pi``, ``tau2_ci``;
``level`` is the result's).

Example:
    >>> import numpy as np
    >>> from ipdmeta.pooling.options import make_spec
    >>> models = pooled_models(np.array([0.1, 0.5, 0.3]), np.array([0.01, 0.02, 0.03]),
    ...                        make_spec("common"), ["DL", {"method": "REML", "ci": "hksj"}])
    >>> [(p.method, p.ci_method) for p in models]
    [('DL', 'z'), ('REML', 'hksj')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ipdmeta.errors import InputError
from ipdmeta.pooling.estimate import Pooled, fit_pooled
from ipdmeta.pooling.options import PoolSpec, make_spec
from ipdmeta.pooling.user_weights import fit_user_weighted

#: options a model may set (the level is the result's)
MODEL_OPTIONS = ("method", "ci", "pi", "tau2_ci")


def model_spec(model: str | Mapping[str, Any], base: PoolSpec) -> PoolSpec:
    """The validated options of one extra model (ci "z" unless given; level, prediction
    level, I² definition and bootstrap settings as ``base``).

    Example:
        >>> spec = model_spec({"method": "reml", "ci": "kh"}, make_spec("DL", level=0.9))
        >>> spec.method, spec.ci, spec.level
        ('REML', 'hksj', 0.9)
    """
    options = {"method": model} if isinstance(model, str) else dict(model)
    unknown = sorted(set(options) - set(MODEL_OPTIONS))
    if unknown or "method" not in options:
        raise InputError(f"a model is a method name or a dictionary with 'method' and "
                         f"optionally {', '.join(MODEL_OPTIONS[1:])}; got {model!r}")
    return make_spec(options["method"], options.get("ci", "z"), base.level,
                     options.get("pi", base.pi), options.get("tau2_ci", "qp"),
                     pi_level=base.pi_level, I2=base.I2, reps=base.reps, seed=base.seed)


def pooled_models(y: np.ndarray, v: np.ndarray, base: PoolSpec,
                  models: Sequence[str | Mapping[str, Any]],
                  user_weights: np.ndarray | None = None) -> tuple[Pooled, ...]:
    """Pool ``y`` (variances ``v``) under each of ``models``; with ``user_weights`` by
    :func:`ipdmeta.pooling.user_weights.fit_user_weighted`."""
    if isinstance(models, str | Mapping):
        models = [models]
    out = []
    for model in models:
        spec = model_spec(model, base)
        if spec.method == "GENQ":
            raise InputError("method 'GENQ' needs its weights; pool with method='GENQ' and "
                             "weights= instead of adding it as a further model")
        out.append(fit_pooled(y, v, spec) if user_weights is None
                   else fit_user_weighted(y, v, user_weights, spec))
    return tuple(out)
