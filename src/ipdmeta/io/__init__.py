"""Files in and out: participant data by suffix, aggregate tables, site files.

Example:
    >>> from ipdmeta.io import read_data
    >>> callable(read_data)
    True
"""

from ipdmeta.io.data import read_data

__all__ = ["read_data"]
