"""Reading data files by their suffix: csv, tsv, Stata .dta, Parquet, Excel, SAS, SPSS.

Example:
    >>> import pandas as pd, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> pd.DataFrame({"trial": [1, 2]}).to_csv(path, index=False)
    >>> read_data(path).shape
    (2, 1)
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path

import pandas as pd

from ipdmeta.errors import InputError

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".json")
#: tried in order when a text file is not UTF-8 and no encoding= is given
FALLBACK_ENCODINGS = ("cp1252", "latin-1")

READERS = {
    ".csv": lambda p, enc: pd.read_csv(p, encoding=enc),
    ".tsv": lambda p, enc: pd.read_csv(p, sep="\t", encoding=enc),
    ".txt": lambda p, enc: pd.read_csv(p, sep=None, engine="python", encoding=enc),
    ".dta": lambda p, enc: pd.read_stata(p),
    ".parquet": lambda p, enc: pd.read_parquet(p),
    ".pq": lambda p, enc: pd.read_parquet(p),
    ".xlsx": lambda p, enc: pd.read_excel(p),
    ".xls": lambda p, enc: pd.read_excel(p),
    ".sas7bdat": lambda p, enc: pd.read_sas(p),
    ".xpt": lambda p, enc: pd.read_sas(p, format="xport"),
    ".sav": lambda p, enc: pd.read_spss(p),
    ".json": lambda p, enc: pd.read_json(p, encoding=enc),
}

EXTRAS = {".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel", ".xls": "excel",
          ".sav": "stats"}


def read_text(path: str | Path, encoding: str | None = None) -> str:
    """The text of ``path``: UTF-8 (a byte-order mark is dropped), else -- with a warning
    naming the encoding used -- Windows-1252 or Latin-1; ``encoding=`` chooses instead.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "t.csv")
        >>> _ = open(p, "wb").write("study\\nM\\u00fcller\\n".encode("latin-1"))
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     text = read_text(p)
        >>> text.split()[1], "cp1252" in str(caught[0].message)
        ('Müller', True)
    """
    raw = Path(path).read_bytes()
    if encoding is not None:
        try:
            return raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as err:
            raise InputError(f"cannot read {Path(path).name!r} as {encoding}: {err}") from err
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for enc in FALLBACK_ENCODINGS:
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        _warn_encoding(path, enc)
        return text
    raise AssertionError("latin-1 decodes any bytes")   # pragma: no cover


def _warn_encoding(path: str | Path, encoding: str) -> None:
    warnings.warn(f"{Path(path).name!r} is not UTF-8; it was read as {encoding}. Pass "
                  f"encoding= (e.g. encoding='latin-1') to choose, or save it as UTF-8",
                  UserWarning, stacklevel=3)


def _read(path: Path, suffix: str, encoding: str | None) -> pd.DataFrame:
    if suffix not in TEXT_SUFFIXES or encoding is not None:
        return READERS[suffix](path, encoding)
    try:
        return READERS[suffix](path, "utf-8-sig")
    except UnicodeDecodeError:
        for enc in FALLBACK_ENCODINGS:
            try:
                frame = READERS[suffix](path, enc)
            except UnicodeDecodeError:
                continue
            _warn_encoding(path, enc)
            return frame
        raise


def read_data(path: str | Path, encoding: str | None = None) -> pd.DataFrame:
    """Read a data file into a DataFrame, choosing the reader by the file suffix.

    Text files (.csv, .tsv, .txt, .json) are read as UTF-8, else as Windows-1252 or
    Latin-1 with a warning (``encoding=`` chooses).  An unreadable, empty or corrupt
    file, or a Stata file whose value labels are not unique, is an
    :class:`~ipdmeta.errors.InputError` naming the file.  The frame remembers its
    file (``frame.attrs["source"]``), so results computed from it are never saved
    over it.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in READERS:
        raise InputError(f"cannot read {path.name!r}: unknown suffix {suffix!r}; use one of "
                         f"{', '.join(READERS)}")
    if not path.exists():
        raise InputError(f"file {str(path)!r} does not exist")
    try:
        frame = _read(path, suffix, encoding)
    except ImportError as err:
        extra = EXTRAS.get(suffix, "parquet")
        raise InputError(f"reading {suffix} files needs an optional package ({err}); install "
                         f"it with: pip install 'ipdmeta[{extra}]'") from err
    except pd.errors.EmptyDataError as err:
        raise InputError(f"{path.name!r} is empty: it has no header line and no data") from err
    except UnicodeDecodeError as err:
        raise InputError(f"cannot read {path.name!r} as {encoding}: {err}") from err
    except (ValueError, OSError, struct.error) as err:
        if "not unique" in str(err) and suffix == ".dta":
            raise InputError(f"{path.name!r} has value labels that are not unique (two codes "
                             "share a label), so its labelled variables cannot be read as "
                             "categories; make the labels unique in Stata (label define), or "
                             "read the codes with pandas.read_stata(path, "
                             "convert_categoricals=False)") from err
        raise InputError(f"cannot read {path.name!r} as a {suffix} file: "
                         f"{' '.join(str(err).split())[:300]}") from err
    frame.attrs["source"] = str(path)
    return frame
