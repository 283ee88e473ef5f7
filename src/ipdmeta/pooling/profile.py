"""Profile likelihoods of tau² and of the pooled effect mu (metafor's ``profile()``).

* :func:`profile_tau2`: the model is refitted with tau² fixed at each value of a grid
  and its log-likelihood recorded (restricted for REML fits, full otherwise), with the
  coefficients and their intervals at that tau², as ``profile.rma.uni``.  The default
  grid has ``steps`` equally spaced values from ``min(tau², lower)`` to
  ``max(0.1, tau², upper)``, where (lower, upper) is the Q-profile interval (metafor's
  default ``confint``).
* :func:`profile_mu`: the ML log-likelihood of the random-effects model at fixed mu,
  maximised over tau² ≥ 0 (Hardy & Thompson 1996); its maximum is at the ML estimate
  and the profile-likelihood interval is where it is ``χ²_{1,level}/2`` below the top.
  (metafor 3.8 profiles variance components only.)

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
    >>> pr = profile_tau2(m, steps=5)
    >>> pr.table["tau2"].round(4).tolist()
    [0.1197, 0.3677, 0.6156, 0.8635, 1.1115]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from ipdmeta.errors import InputError
from ipdmeta.pooling.heterogeneity import tau2_ci_likelihood, tau2_ci_qprofile
from ipdmeta.pooling.influence import model_parts
from ipdmeta.pooling.profile_corrections import profile_inference, profile_loglik
from ipdmeta.pooling.profile_corrections import profile_tau2 as ml_tau2_at
from ipdmeta.pooling.regression import fit_regression
from ipdmeta.pooling.tau2 import log_likelihood

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True, eq=False)
class ProfileResult:
    """A profiled log-likelihood.

    ``table`` has the grid (column ``parameter``: "tau2" or "mu") and ``loglik``; for
    tau² also the coefficients (``estimate``/``ci_low``/``ci_high``, one column set per
    term when there are moderators), for mu the maximising tau².  ``estimate`` and
    ``maxll`` are the fitted value and the log-likelihood there; ``ci`` the
    likelihood-based interval at ``level`` (NaN for tau² under non-likelihood
    estimators); ``reml`` says which likelihood.
    """

    parameter: str
    table: pd.DataFrame
    estimate: float
    maxll: float
    reml: bool
    level: float
    ci: tuple[float, float]
    method: str
    messages: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The profile table."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """The grid, the log-likelihoods and the fitted value."""
        return {"parameter": self.parameter, "table": self.table.to_dict(orient="list"),
                "estimate": self.estimate, "maxll": self.maxll, "reml": self.reml,
                "level": self.level, "ci": list(self.ci), "method": self.method,
                "messages": list(self.messages)}

    def summary(self) -> str:
        """The fitted value, the interval and the range profiled."""
        what = "tau²" if self.parameter == "tau2" else "mu"
        kind = "restricted " if self.reml else ""
        grid = self.table[self.parameter]
        lines = [f"Profile {kind}log-likelihood of {what} ({self.method} fit)",
                 f"  estimate {self.estimate:.4f}, log-likelihood {self.maxll:.4f}",
                 f"  profiled over [{grid.min():.4f}, {grid.max():.4f}] at {len(grid)} values"]
        if np.all(np.isfinite(self.ci)):
            lines.append(f"  {round(100 * self.level)}% likelihood interval: "
                         f"[{self.ci[0]:.4f}, {self.ci[1]:.4f}]")
        return "\n".join(lines + [f"  Note: {m}" for m in self.messages])

    def __repr__(self) -> str:
        return (f"ProfileResult({self.parameter}: estimate={self.estimate:.4f}, "
                f"{len(self.table)} values)")

    @property
    def cutoff(self) -> float:
        """The log-likelihood that bounds the likelihood interval: max − χ²_{1,level}/2."""
        return self.maxll - float(stats.chi2.ppf(self.level, 1)) / 2

    def plot(self, **options: Any) -> Figure:
        """Profile plot; see ``ipdmeta.plots.profile.profile_plot``."""
        from ipdmeta.plots.profile import profile_plot
        return profile_plot(self, **options)


def profile_tau2(result: Any, values: Any = None, steps: int = 20) -> ProfileResult:
    """Log-likelihood of a random-effects model over a grid of fixed tau² values.

    Args:
        result: ``MetaResult`` or ``MetaRegResult`` (not the common-effect model).
        values: the tau² values; None for metafor's default grid (module docstring).
        steps: number of values in the default grid (at least 2).
    """
    parts = model_parts(result)
    spec, fit = parts.spec, parts.fit
    if spec.is_common:
        raise InputError("tau² cannot be profiled for a common-effect model; fit a "
                         "random-effects model (method='REML', 'ML', ...)")
    y, v, X = parts.y, parts.v, parts.X
    if values is None:
        if steps < 2:
            raise InputError(f"steps={steps} must be at least 2")
        lo, hi = tau2_ci_qprofile(y, v, X, spec.level)
        grid = np.linspace(min(fit.tau2, lo), max(0.1, fit.tau2, hi), int(steps))
    else:
        grid = np.sort(np.atleast_1d(np.asarray(values, dtype=float)))
        if grid.size == 0 or np.any(grid < 0):
            raise InputError("values= must be non-negative tau² values")
    reml = spec.method == "REML"
    rows = []
    names = parts.terms
    for t in grid:
        f = fit_regression(y, v, X, spec, tau2=float(t))
        row = {"tau2": float(t), "loglik": log_likelihood(float(t), y, v, X, reml=reml)}
        for j, name in enumerate(names):
            suffix = "" if len(names) == 1 else f"_{name}"
            row.update({f"estimate{suffix}": f.beta[j], f"ci_low{suffix}": f.ci_low[j],
                        f"ci_high{suffix}": f.ci_high[j]})
        rows.append(row)
    table = pd.DataFrame(rows)
    maxll = log_likelihood(fit.tau2, y, v, X, reml=reml)
    messages = []
    if spec.method in ("ML", "REML") and np.any(table["loglik"] >= maxll + 1e-3):
        messages.append("a profiled log-likelihood is above that of the fitted model: the "
                        "fit may not be at the maximum")
    ci = (float("nan"), float("nan"))
    if spec.method in ("ML", "REML"):
        ci = tau2_ci_likelihood(fit.tau2, y, v, X, spec.level, reml)
    return ProfileResult(parameter="tau2", table=table, estimate=fit.tau2, maxll=maxll,
                         reml=reml, level=spec.level, ci=ci, method=spec.method,
                         messages=tuple(messages))


def profile_mu(result: Any, values: Any = None, n: int = 41) -> ProfileResult:
    """ML profile log-likelihood of the pooled effect (tau² maximised at each value).

    Args:
        result: a ``MetaResult`` (or an intercept-only ``MetaRegResult``).
        values: the mu values; None for ``n`` values over 1.5 times the span of the
            profile-likelihood interval around the ML estimate.
        n: number of values in the default grid.
    """
    parts = model_parts(result)
    if parts.X.shape[1] != 1:
        raise InputError("mu can be profiled for a pooled result only (a model without "
                         "moderators)")
    y, v = parts.y, parts.v
    inf = profile_inference(y, v, parts.spec.level, "pl")
    mu_ml, level = inf.estimate, parts.spec.level
    if values is None:
        half = 1.5 * max(mu_ml - inf.ci_low, inf.ci_high - mu_ml)
        grid = np.linspace(mu_ml - half, mu_ml + half, int(n))
    else:
        grid = np.sort(np.atleast_1d(np.asarray(values, dtype=float)))
    table = pd.DataFrame({"mu": grid,
                          "loglik": [profile_loglik(float(m), y, v) for m in grid],
                          "tau2": [ml_tau2_at(float(m), y, v) for m in grid]})
    return ProfileResult(parameter="mu", table=table, estimate=mu_ml,
                         maxll=profile_loglik(mu_ml, y, v), reml=False, level=level,
                         ci=(inf.ci_low, inf.ci_high), method="ML")
