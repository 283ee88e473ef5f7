"""Reading data files by their suffix: csv, tsv, Stata .dta, Parquet, Excel, SAS, SPSS.

Example:
    >>> import pandas as pd, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> pd.DataFrame({"trial": [1, 2]}).to_csv(path, index=False)
    >>> read_data(path).shape
    (2, 1)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ipdmeta.errors import InputError

READERS = {
    ".csv": lambda p: pd.read_csv(p),
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".txt": lambda p: pd.read_csv(p, sep=None, engine="python"),
    ".dta": lambda p: pd.read_stata(p),
    ".parquet": lambda p: pd.read_parquet(p),
    ".pq": lambda p: pd.read_parquet(p),
    ".xlsx": lambda p: pd.read_excel(p),
    ".xls": lambda p: pd.read_excel(p),
    ".sas7bdat": lambda p: pd.read_sas(p),
    ".xpt": lambda p: pd.read_sas(p, format="xport"),
    ".sav": lambda p: pd.read_spss(p),
    ".json": lambda p: pd.read_json(p),
}

EXTRAS = {".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel", ".xls": "excel",
          ".sav": "stats"}


def read_data(path: str | Path) -> pd.DataFrame:
    """Read a data file into a DataFrame, choosing the reader by the file suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InputError(f"cannot read {path.name!r}: unknown suffix {suffix!r}; use one of "
                         f"{', '.join(READERS)}")
    if not path.exists():
        raise InputError(f"file {str(path)!r} does not exist")
    try:
        return READERS[suffix](path)
    except ImportError as err:
        extra = EXTRAS.get(suffix, "parquet")
        raise InputError(f"reading {suffix} files needs an optional package ({err}); install "
                         f"it with: pip install 'ipdmeta[{extra}]'") from err
