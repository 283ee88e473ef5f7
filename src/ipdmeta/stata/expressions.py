"""Stata ``if`` and ``in`` qualifiers as pandas row selections.

``if exp`` becomes a boolean mask over ``data`` written as Python source, so the
translator can both run it and print it; ``in range`` becomes a slice of rows.  The
translation keeps Stata's rules where they differ from pandas:

* a numeric missing value is larger than every number (``age > 60`` is true for a
  missing age, ``age < .`` means "not missing"), and two missing values are equal;
* a number is true when it is not zero (``if treat`` keeps the rows with treat != 0,
  a missing value counts as true);
* ``missing(x)`` is true for NaN and for the empty string.

Supported: numbers, "strings", ``.`` (missing), variables, ``+ - * / ^``, ``== != ~=
< <= > >=``, ``& |``, ``! ~`` (not), parentheses, and the functions ``missing()``,
``inlist()`` and ``inrange()``.  Anything else (other functions, ``_n``, ``.a``
extended missing values, variable-name abbreviations) is refused by name with a
:class:`~ipdmeta.stata.parse.StataSyntaxError`; select those rows in pandas first.

Example:
    >>> import pandas as pd
    >>> q = if_mask("age > 60 & !missing(bmi)")
    >>> q.code
    '((data["age"] > 60) | data["age"].isna()) & ~(data["bmi"].isna() | data["bmi"].eq(""))'
    >>> frame = pd.DataFrame({"age": [50, 70, None], "bmi": [20.0, None, 25.0]})
    >>> q.mask(frame).tolist()
    [False, False, True]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ipdmeta.stata.parse import StataSyntaxError, split_qualifiers

__all__ = ["Selection", "if_mask", "in_range", "split_qualifiers"]

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
  | (?P<str>"[^"]*")
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|~=|<=|>=|[<>&|!~+\-*/^(),])
  | (?P<missing>\.(?![0-9]))
)""", re.X)


@dataclass(frozen=True)
class _Node:
    """A translated sub-expression: Python ``code``; ``kind`` "bool", "num" or "str";
    ``column``: it may hold missing values (it comes from a variable)."""

    code: str
    kind: str
    column: bool = False


@dataclass(frozen=True)
class Selection:
    """A row selection: Python ``code`` (an expression of ``data``), the variables it
    reads, and the Stata text it came from."""

    code: str
    variables: tuple[str, ...]
    stata: str

    def mask(self, data: pd.DataFrame) -> pd.Series:
        """The boolean mask over ``data`` (variables missing from ``data`` are named)."""
        missing = [v for v in self.variables if v not in data.columns]
        if missing:
            raise StataSyntaxError(f"variable {missing[0]!r} of 'if {self.stata}' not found "
                                   f"(columns: {', '.join(map(str, data.columns))}); Stata "
                                   "abbreviations of variable names are not supported")
        try:
            out = eval(self.code, {"data": data, "np": np})   # the code is ours, built above
        except TypeError as err:
            raise StataSyntaxError(f"type mismatch in 'if {self.stata}': a text variable is "
                                   f"compared with a number, or a number with text ({err})"
                                   ) from err
        if not isinstance(out, pd.Series):
            out = pd.Series(bool(out), index=data.index)
        return out.astype(bool)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = self._tokens(text)
        self.i = 0
        self.variables: list[str] = []

    @staticmethod
    def _tokens(text: str) -> list[tuple[str, str]]:
        out, pos = [], 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                raise StataSyntaxError(f"cannot read the if expression at {text[pos:]!r}")
            kind = m.lastgroup or ""
            out.append((kind, m.group(kind)))
            pos = m.end()
        return out

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise StataSyntaxError(f"the if expression {self.text!r} ends too early")
        tok = self.tokens[self.i]
        if expected is not None and tok[1] != expected:
            raise StataSyntaxError(f"expected {expected!r} at {tok[1]!r} in {self.text!r}")
        self.i += 1
        return tok

    # ---------------------------------------------------------------- grammar
    def parse(self) -> _Node:
        node = self.or_()
        if self.i != len(self.tokens):
            raise StataSyntaxError(f"cannot read the if expression at {self.tokens[self.i][1]!r}"
                                   f" in {self.text!r}")
        return _truth(node)

    def or_(self) -> _Node:
        node = self.and_()
        while self.peek() == "|":
            self.take()
            node = _Node(f"{_wrap(_truth(node))} | {_wrap(_truth(self.and_()))}", "bool")
        return node

    def and_(self) -> _Node:
        node = self.rel()
        while self.peek() == "&":
            self.take()
            node = _Node(f"{_wrap(_truth(node))} & {_wrap(_truth(self.rel()))}", "bool")
        return node

    def rel(self) -> _Node:
        node = self.add()
        if self.peek() in ("==", "!=", "~=", "<", "<=", ">", ">="):
            op = self.take()[1]
            return _compare(node, "!=" if op == "~=" else op, self.add())
        return node

    def add(self) -> _Node:
        node = self.mul()
        while self.peek() in ("+", "-"):
            op = self.take()[1]
            right = self.mul()
            node = _Node(f"{node.code} {op} {right.code}",
                         "str" if node.kind == "str" and op == "+" else "num",
                         node.column or right.column)
        return node

    def mul(self) -> _Node:
        node = self.unary()
        while self.peek() in ("*", "/"):
            op = self.take()[1]
            right = self.unary()
            node = _Node(f"{node.code} {op} {right.code}", "num", node.column or right.column)
        return node

    def unary(self) -> _Node:
        if self.peek() in ("!", "~"):
            self.take()
            return _Node(f"~{_wrap(_truth(self.unary()))}", "bool")
        if self.peek() == "-":
            self.take()
            inner = self.unary()
            return _Node(f"-{_wrap(inner)}", "num", inner.column)
        node = self.atom()
        if self.peek() == "^":
            self.take()
            right = self.unary()
            return _Node(f"{_wrap(node)} ** {_wrap(right)}", "num", node.column or right.column)
        return node

    def atom(self) -> _Node:
        kind, value = self.take()
        if kind == "num":
            return _Node(value, "num")
        if kind == "str":
            return _Node(value, "str")
        if kind == "missing":
            return _Node("np.nan", "missing")
        if value == "(":
            node = self.or_()
            self.take(")")
            return _Node(f"({node.code})", node.kind, node.column)
        if kind == "name":
            if self.peek() == "(":
                return self.function(value)
            if value in ("_n", "_N", "_b", "_se", "_pi", "_rc", "_cons"):
                raise StataSyntaxError(f"{value} in an if expression is not supported; select "
                                       "the rows in pandas first")
            self.variables.append(value)
            return _Node(f"data[{value!r}]".replace("'", '"'), "num", True)
        raise StataSyntaxError(f"unexpected {value!r} in the if expression {self.text!r}")

    def function(self, name: str) -> _Node:
        self.take("(")
        args = [self.or_()]
        while self.peek() == ",":
            self.take()
            args.append(self.or_())
        self.take(")")
        low = name.lower()
        if low == "missing" and len(args) == 1:
            a = args[0].code
            return _Node(f"({a}.isna() | {a}.eq(\"\"))" if args[0].column
                         else str(args[0].kind == "missing"), "bool")
        if low == "inlist" and len(args) >= 2:
            return _Node(f"{args[0].code}.isin([{', '.join(a.code for a in args[1:])}])",
                         "bool")
        if low == "inrange" and len(args) == 3:
            return _Node(f"{args[0].code}.between({args[1].code}, {args[2].code})", "bool")
        raise StataSyntaxError(f"function {name}() in an if expression is not supported "
                               "(missing(), inlist() and inrange() are); select the rows in "
                               "pandas first")


def _wrap(node: _Node) -> str:
    """``node.code`` in parentheses unless it is one operand already: the binary
    operators written here are set off by blanks, so a blank outside parentheses,
    brackets and quotes marks a compound expression."""
    depth, quote = 0, False
    for ch in node.code:
        if ch == '"':
            quote = not quote
        elif not quote and ch in "([":
            depth += 1
        elif not quote and ch in ")]":
            depth -= 1
        elif not quote and depth == 0 and ch == " ":
            return f"({node.code})"
    return node.code


def _truth(node: _Node) -> _Node:
    """A boolean mask: numbers are true when not zero (missing counts as true)."""
    if node.kind == "bool":
        return node
    if node.kind == "missing":
        return _Node("True", "bool")
    return _Node(f"{_wrap(node)} != 0", "bool")


def _compare(a: _Node, op: str, b: _Node) -> _Node:
    """``a op b`` with Stata's missing values: larger than any number, equal to each other."""
    if b.kind == "missing" or a.kind == "missing":
        col, flip = (a, False) if b.kind == "missing" else (b, True)
        if col.kind == "missing":
            return _Node(str(op in ("==", "<=", ">=")), "bool")
        if flip:   # . op x  ->  x (mirror op) .
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        isna, notna = f"{_wrap(col)}.isna()", f"{_wrap(col)}.notna()"
        return _Node({"==": isna, ">=": isna, "!=": notna, "<": notna,
                      "<=": "True", ">": "False"}[op], "bool")
    base = f"{_wrap(a)} {op} {_wrap(b)}"
    if a.kind == "str" or b.kind == "str" or not (a.column or b.column):
        return _Node(base, "bool")
    an, bn = f"{_wrap(a)}.isna()", f"{_wrap(b)}.isna()"
    a_only, b_only, both = a.column and not b.column, b.column and not a.column, \
        a.column and b.column
    extra = {
        ">": an if a_only else (f"({an} & {_wrap(b)}.notna())" if both else None),
        ">=": an if a.column else None,
        "<": bn if b_only else (f"({_wrap(a)}.notna() & {bn})" if both else None),
        "<=": bn if b.column else None,
        "==": f"({an} & {bn})" if both else None,
        "!=": None,
    }[op]
    if op == "!=" and both:
        return _Node(f"~(({_wrap(a)} == {_wrap(b)}) | ({an} & {bn}))", "bool")
    return _Node(f"({base}) | {extra}" if extra else base, "bool")


def if_mask(text: str) -> Selection:
    """Translate the expression of an ``if`` qualifier (see the module docstring)."""
    parser = _Parser(text.strip())
    node = parser.parse()
    return Selection(code=node.code, variables=tuple(dict.fromkeys(parser.variables)),
                     stata=text.strip())


def in_range(text: str) -> tuple[int | None, int | None]:
    """``in`` range as 0-based ``(start, stop)`` for ``data.iloc[start:stop]``.

    Example:
        >>> in_range("1/10"), in_range("-5/l"), in_range("f/3"), in_range("7")
        ((0, 10), (-5, None), (0, 3), (6, 7))
    """
    parts = text.strip().split("/")
    if len(parts) > 2 or not all(parts):
        raise StataSyntaxError(f"'in {text}' is not a range; write in #/#, f/l or -#/l")

    def pos(tok: str, end: bool) -> int | None:
        tok = tok.strip().lower()
        if tok in ("f", "first"):
            return 0
        if tok in ("l", "last"):
            return None
        try:
            n = int(tok)
        except ValueError as err:
            raise StataSyntaxError(f"'in {text}': {tok!r} is not a row number") from err
        if n == 0:
            raise StataSyntaxError(f"'in {text}': rows are numbered from 1")
        if n > 0:
            return n if end else n - 1
        return (n + 1 or None) if end else n

    start = pos(parts[0], False)
    stop = pos(parts[-1], True)
    return start, stop
