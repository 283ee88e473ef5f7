"""Stage 1: one regression model per study, one row per study (:class:`AggregateData`).

``run`` holds :func:`stage1`; ``study`` fits one study; ``blocks`` fits blocks of
studies at once; ``engines``, ``dask_engine`` and ``workers`` run the blocks;
``data`` checks and splits the participant data; ``formula`` builds designs;
``table`` is :class:`AggregateData`; ``published`` adds published aggregate data;
``site`` is federated stage 1.

Example:
    >>> from ipdmeta.stage1 import stage1, AggregateData
    >>> callable(stage1), AggregateData.__name__
    (True, 'AggregateData')
"""

from ipdmeta.stage1.run import stage1
from ipdmeta.stage1.table import AggregateData, read_aggregate

__all__ = ["AggregateData", "read_aggregate", "stage1"]
