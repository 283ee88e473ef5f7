"""Analyses shared by ``MetaResult`` and ``MetaRegResult``, as methods of both.

``ModelAnalyses`` is a mixin of the two result classes: likelihood-based fit statistics
(:mod:`.fitstats`), Wald tests and study-level predictions (:mod:`.wald`), the profile
likelihood of tau² (:mod:`.profile`), the test of excess significance
(:mod:`.failsafe`), selection models (:mod:`.selection`), GOSH (:mod:`.gosh`) and the
diagnostic plots (:mod:`.diagnostics`, drawn by :mod:`ipdmeta.plots.diagnostics`).
Each method delegates to the function of the same job; see those modules for the
formulas.

Example:
    >>> import ipdmeta as ipd
    >>> bcg = ipd.datasets.load_bcg()
    >>> m = ipd.pool(bcg, estimate="yi", variance="vi", study="trial")
    >>> round(m.loglik, 4), round(m.aic, 4)
    (-12.2024, 28.4047)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from ipdmeta.pooling.diagnostics import QQData, RadialData, qq_data, radial_data
from ipdmeta.pooling.failsafe import TesResult, tes
from ipdmeta.pooling.fitstats import FitStatistics, fit_statistics
from ipdmeta.pooling.gosh import DEFAULT_SUBSETS, GoshResult, gosh
from ipdmeta.pooling.profile import ProfileResult, profile_tau2
from ipdmeta.pooling.selection import SelectionModelResult, selection_model
from ipdmeta.pooling.wald import WaldTestResult, blup, ranef, wald_test

if TYPE_CHECKING:
    from matplotlib.figure import Figure


class ModelAnalyses:
    """Methods common to pooled results and meta-regressions (a mixin; no fields)."""

    # ---------------------------------------------------------------- fit statistics
    def fitstats(self, reml: bool | None = None) -> FitStatistics:
        """Log-likelihood, deviance, AIC, BIC, AICc (REML for REML fits unless ``reml``)."""
        return fit_statistics(self, reml)

    @property
    def loglik(self) -> float:
        """Log-likelihood (restricted for REML fits), as metafor's ``logLik``."""
        return self.fitstats().loglik

    @property
    def deviance(self) -> float:
        """Deviance (ML: against the saturated model; REML: −2 × restricted loglik)."""
        return self.fitstats().deviance

    @property
    def aic(self) -> float:
        """Akaike's information criterion (metafor's ``AIC``)."""
        return self.fitstats().aic

    @property
    def bic(self) -> float:
        """Bayesian information criterion (metafor's ``BIC``)."""
        return self.fitstats().bic

    @property
    def aicc(self) -> float:
        """AIC with the small-sample correction (metafor's ``AICc``)."""
        return self.fitstats().aicc

    # ---------------------------------------------------------------- tests and predictions
    def wald_test(self, terms: Any = None, *, L: Any = None, rhs: Any = 0.0) -> WaldTestResult:
        """Wald test of coefficients (``terms``) or of linear hypotheses ``L b = rhs``."""
        return wald_test(self, terms, L=L, rhs=rhs)

    def blup(self, level: float | None = None) -> pd.DataFrame:
        """Best linear unbiased predictions of the studies' true effects."""
        return blup(self, level)

    def ranef(self, level: float | None = None) -> pd.DataFrame:
        """Predicted random effects with se and prediction interval."""
        return ranef(self, level)

    def profile_tau2(self, values: Any = None, steps: int = 20) -> ProfileResult:
        """Profile (restricted) log-likelihood of tau² (metafor's ``profile``)."""
        return profile_tau2(self, values, steps)

    # ---------------------------------------------------------------- bias and sensitivity
    def tes(self, **options: Any) -> TesResult:
        """Test of excess significance (``ipdmeta.tes``)."""
        return tes(self, **options)

    def selection_model(self, type: str = "stepfun", steps: Any = None,
                        alternative: str = "greater", delta: Any = None
                        ) -> SelectionModelResult:
        """Selection model (metafor's ``selmodel``): "stepfun", "beta", "halfnorm", ..."""
        return selection_model(self, type, steps=steps, alternative=alternative, delta=delta)

    def gosh(self, subsets: int = DEFAULT_SUBSETS, seed: Any = None) -> GoshResult:
        """The model fitted to all (or ``subsets`` random) subsets of the studies."""
        return gosh(self, subsets, seed)

    # ---------------------------------------------------------------- diagnostic plots
    def radial_data(self, level: float | None = None) -> RadialData:
        """Radial (Galbraith) plot coordinates (pooled results only)."""
        return radial_data(self, level)

    def qq_data(self, envelope: bool = True, reps: int = 1000, level: float | None = None,
                seed: Any = None) -> QQData:
        """Standardised residuals, normal quantiles and a simulated envelope."""
        return qq_data(self, envelope=envelope, reps=reps, level=level, seed=seed)

    def radial(self, **options: Any) -> Figure:
        """Radial (Galbraith) plot (``ipdmeta.plots.radial_plot``)."""
        from ipdmeta.plots.diagnostics import radial_plot
        return radial_plot(self, **options)

    def qqnorm(self, **options: Any) -> Figure:
        """Normal Q-Q plot of the standardised residuals (``ipdmeta.plots.qq_plot``)."""
        from ipdmeta.plots.diagnostics import qq_plot
        return qq_plot(self, **options)

    def baujat(self, **options: Any) -> Figure:
        """Baujat plot (``ipdmeta.plots.baujat_plot``)."""
        from ipdmeta.plots.diagnostics import baujat_plot
        return baujat_plot(self, **options)
