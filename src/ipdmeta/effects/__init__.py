"""Effect sizes from summary data: 2x2 counts, means and SDs, proportions, rates and
correlations (metafor's ``escalc``; Stata metan's measures and continuity corrections).

One module per group of measures (:mod:`~ipdmeta.effects.binary`,
:mod:`~ipdmeta.effects.continuous`, :mod:`~ipdmeta.effects.single_group`,
:mod:`~ipdmeta.effects.correlation`), the continuity corrections
(:mod:`~ipdmeta.effects.corrections`), back-transforms for display
(:mod:`~ipdmeta.effects.transforms`) and :func:`effect_sizes`, the public call.

Example:
    >>> import pandas as pd, ipdmeta.effects as fx
    >>> props = pd.DataFrame({"x": [16, 10], "n": [17, 10]})
    >>> fx.effect_sizes(props, "PLO", events="x", n="n").estimate.round(4).tolist()
    [2.7726, 3.0445]
"""

from ipdmeta.effects.measures import MEASURES, normalise_measure
from ipdmeta.effects.sizes import EffectSizes, compute, effect_sizes
from ipdmeta.effects.transforms import back_transform, harmonic_mean, pft_to_proportion

__all__ = [
    "MEASURES",
    "EffectSizes",
    "back_transform",
    "compute",
    "effect_sizes",
    "harmonic_mean",
    "normalise_measure",
    "pft_to_proportion",
]
