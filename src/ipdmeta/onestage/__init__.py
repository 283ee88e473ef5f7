"""One-stage IPD meta-analysis: mixed-effects models fitted to all trials at once.

``onestage()`` (:mod:`ipdmeta.onestage.api`) fits linear (REML/ML), logistic and Poisson
(maximum likelihood, adaptive quadrature) and Cox (penalised partial likelihood with a
Laplace approximation) models with stratified or random trial intercepts and a random
treatment effect; ``OneStageResult.compare()`` sets the result beside a two-stage one.

The room's modules: ``design`` (participant rows → blocks by trial), ``_blocks``
(block-arrow algebra), ``_optim`` (Newton maximisation, profile intervals), one module
per family (``linear`` with ``ddf`` for Satterthwaite/Kenward-Roger, ``glmm`` with
``_glmm_lik``, ``cox``), ``results`` and ``compare``.
"""

from ipdmeta.onestage.api import onestage
from ipdmeta.onestage.results import Convergence, OneStageResult

__all__ = ["Convergence", "OneStageResult", "onestage"]
