"""Writing files safely: never onto an input, never over a file unless asked, clear errors.

Every file ipdmeta writes (aggregate tables, site files, reports, forest plots, the
files of the command line and of the Stata translator) goes through
:func:`output_path` first and is written inside :func:`writing`:

* a file that is one of the inputs of the analysis is never written, whatever the
  options (``ipdmeta run data.csv --save data.csv`` is refused);
* an existing file is replaced only when asked (``overwrite=True`` in Python, where
  it is the default of ``save()``; ``--force`` on the command line; ``replace`` in
  Stata's ``saving(FILE, replace)``);
* a missing or read-only folder, or a folder given as the file, is an
  :class:`~ipdmeta.errors.InputError` naming it, before anything is computed where
  the caller checks early, and when writing fails (disk full, permissions) too.

Example:
    >>> import os, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> data = os.path.join(folder, "data.csv")
    >>> _ = open(data, "w").write("x\\n1\\n")
    >>> output_path(data, inputs=[data], overwrite=True)
    Traceback (most recent call last):
    ...
    ipdmeta.errors.InputError: ... is an input of this analysis ...
    >>> output_path(os.path.join(folder, "AD.csv")).name
    'AD.csv'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from ipdmeta.errors import InputError

#: how to ask for a replacement, in the words of each interface
REPLACE_HINTS = {"python": "pass overwrite=True to replace it",
                 "cli": "add --force to replace it",
                 "stata": "add the replace option, e.g. saving(FILE, replace)"}


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when the paths name one file (the same inode, or the same absolute path).

    Example:
        >>> same_file("a/../b.csv", "b.csv")
        True
    """
    a, b = Path(a), Path(b)
    with contextlib.suppress(OSError):
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    return Path(os.path.abspath(a)) == Path(os.path.abspath(b))


def output_path(path: str | Path, *, inputs: Iterable[str | Path | None] = (),
                overwrite: bool = True, interface: str = "python",
                what: str = "output file") -> Path:
    """``path`` as a Path after checking that it may be written (see the module).

    Args:
        path: the file to write.
        inputs: the files the analysis read (None entries are ignored).
        overwrite: replace an existing file (never an input).
        interface: "python", "cli" or "stata": how the error says to allow replacing.
        what: what the file is, for messages ("--save file", "site file" ...).
    """
    path = Path(path)
    for source in inputs:
        if source is not None and same_file(path, source):
            raise InputError(f"{what} {str(path)!r} is an input of this analysis "
                             f"({str(source)!r}); ipdmeta never writes over its input: "
                             "choose another file name")
    if path.is_dir():
        raise InputError(f"{what} {str(path)!r} is a folder; give a file name")
    if path.exists() and not overwrite:
        raise InputError(f"file {str(path)!r} already exists; {REPLACE_HINTS[interface]}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        why = "is not a folder" if folder.exists() else "does not exist"
        raise InputError(f"cannot write {str(path)!r}: the folder {str(folder)!r} {why}; "
                         "create it first or choose another folder")
    if not os.access(folder, os.W_OK):
        raise InputError(f"cannot write {str(path)!r}: the folder {str(folder)!r} is "
                         "read-only; choose a folder you can write to")
    return path


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Turn an operating-system error while writing ``path`` into an InputError.

    Example:
        >>> with writing("/no/such/folder/x.csv"):
        ...     open("/no/such/folder/x.csv", "w")
        Traceback (most recent call last):
        ...
        ipdmeta.errors.InputError: cannot write '/no/such/folder/x.csv': No such file ...
    """
    try:
        yield
    except OSError as err:
        reason = err.strerror or str(err)
        raise InputError(f"cannot write {str(path)!r}: {reason}; check the folder exists, "
                         "is writable and has space") from err
