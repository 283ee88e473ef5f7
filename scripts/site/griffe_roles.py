"""Griffe extension: ipdmeta's docstrings as the site shows them.

An ``Example:`` heading (the singular the docstrings use) becomes the Google-style
``Examples:`` section, so doctests are shown as code with their output.

Docstrings write references the Sphinx way — ``:func:`ipdmeta.pool` ``,
``:class:`~ipdmeta.stage1.table.AggregateData` ``, or relative ones such as
``:meth:`results_set` `` or ``:mod:`.fitstats` `` — which Markdown would show as they
are.  After the package is loaded, each role is resolved the way Sphinx would (the
object's class, its module, the packages above it, then ``ipdmeta``), aliases are
followed to where the object is defined, and the role becomes a mkdocstrings
cross-reference ``[`name`][path]``: a link, checked by ``mkdocs build --strict``.
Objects the reference does not show (private modules and names, objects without a
docstring) are written as code.  A role naming nothing that exists is a warning, so the
strict build fails on it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import griffe

#: counted by ``mkdocs build --strict`` (warnings of the ``mkdocs`` loggers fail it)
logger = logging.getLogger("mkdocs.plugins.ipdmeta.roles")
EXAMPLE = re.compile(r"^([ \t]*)Example:[ \t]*$", re.M)
ROLE = re.compile(r":(?:py:)?(func|class|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
#: packages outside ipdmeta that roles may name (written as code, not resolved)
EXTERNAL = ("numpy", "pandas", "scipy", "matplotlib", "formulaic", "tqdm", "dask",
            "distributed", "pyarrow", "logging", "pathlib", "collections", "typing")


def _walk(obj: griffe.Object) -> Iterator[griffe.Object]:
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _candidates(name: str, obj: griffe.Object) -> Iterator[str]:
    """Where a (possibly relative) name may point, in Sphinx's order."""
    if name.startswith("ipdmeta"):
        yield name
        return
    scope: griffe.Object | None = obj if (obj.is_class or obj.is_module) else obj.parent
    while scope is not None:
        yield f"{scope.path}.{name}"
        scope = scope.parent
    yield f"ipdmeta.{name}"


def _lookup(package: griffe.Module, path: str) -> griffe.Object | None:
    parts = path.split(".")
    if parts[0] != package.name:
        return None
    try:
        found = package[parts[1:]] if len(parts) > 1 else package
        return found.final_target if found.is_alias else found
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def shown_in_reference(obj: griffe.Object) -> bool:
    """The API pages render this object (public path, documented, not a __main__)."""
    node: griffe.Object | None = obj
    while node is not None:
        if node.name.startswith("_"):
            return False
        if not node.is_module and not node.has_docstring:
            return False
        node = node.parent
    return True


class SphinxRoles(griffe.Extension):
    """Rewrite every docstring once the package is loaded (roles, example headings)."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: object) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None and ":" in obj.docstring.value:
                text = EXAMPLE.sub(r"\1Examples:", obj.docstring.value)
                obj.docstring.value = ROLE.sub(lambda m, o=obj: self._link(m, o, pkg), text)

    @staticmethod
    def _link(match: re.Match[str], obj: griffe.Object, package: griffe.Module) -> str:
        _, short, text = match.groups()
        # a role may wrap across lines; a leading dot (Sphinx's ".name") means relative to
        # the current scope, which is where the search starts anyway
        name = "".join(text.split()).rstrip("()").lstrip(".")
        shown = f"`{name.rsplit('.', 1)[-1] if short else name}`"
        if name.split(".")[0] in EXTERNAL:
            return shown
        for path in _candidates(name, obj):
            target = _lookup(package, path)
            if target is not None:
                return f"[{shown}][{target.path}]" if shown_in_reference(target) else shown
        logger.warning("%s: the docstring names %s, which does not exist", obj.path,
                       match.group(0))
        return shown
