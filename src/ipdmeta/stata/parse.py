"""Parsing Stata command lines: options, nested parentheses, quotes, abbreviations.

The pieces :mod:`ipdmeta.stata` translates from: ``name words, options``, options
``name`` or ``name(arguments)`` with nested parentheses and ``"quoted"`` or
compound ```"quoted"'`` strings, numlists and factor-variable terms.

Example:
    >>> c = parse_command('metan _ES _seES, random forest(xlab(0.5 1 2) favours(A # B))')
    >>> c.name, c.words, [str(o) for o in c.options]
    ('metan', ('_ES', '_seES'), ['random', 'forest(xlab(0.5 1 2) favours(A # B))'])
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ipdmeta.errors import SpecificationError
from ipdmeta.stata.options import FOREST_OPTIONS, OptionSpec

__all__ = ["FOREST_OPTIONS", "Command", "Option", "StataSyntaxError", "fv_term", "match",
           "numlist", "parse_command", "parse_options", "read_do_file", "split_top",
           "stata_coefficient", "unquote", "words"]


class StataSyntaxError(SpecificationError):
    """A Stata command line that cannot be parsed or translated (an unknown option...)."""


# ---------------------------------------------------------------------------- parsing
@dataclass(frozen=True)
class Option:
    """One option as written: its name and the text inside its parentheses (or None)."""

    name: str
    args: str | None = None

    def __str__(self) -> str:
        return self.name if self.args is None else f"{self.name}({self.args})"


@dataclass(frozen=True)
class Command:
    """A parsed command: name, the words before the comma, and the options after it."""

    name: str
    words: tuple[str, ...]
    options: tuple[Option, ...]
    text: str


def _scan(text: str, stops: str) -> list[tuple[int, str]]:
    """Positions of characters in ``stops`` at parenthesis depth 0 and outside quotes."""
    out, depth, i = [], 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "`" and text[i + 1: i + 2] == '"':          # compound quote `"..."'
            end = text.find("\"'", i + 2)
            if end < 0:
                raise StataSyntaxError(f"unmatched compound quote in {text!r}")
            i = end + 2
            continue
        if ch == '"':
            end = text.find('"', i + 1)
            if end < 0:
                raise StataSyntaxError(f"unmatched quote in {text!r}")
            i = end + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise StataSyntaxError(f"unbalanced ')' at position {i} in {text!r}")
        elif depth == 0 and ch in stops:
            out.append((i, ch))
        i += 1
    if depth:
        raise StataSyntaxError(f"unbalanced '(' in {text!r}: {depth} not closed")
    return out


def split_top(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` outside parentheses and quotes (Stata's parsing rules).

    Example:
        >>> split_top('a(b, c), d("x, y") e', ",")
        ['a(b, c)', 'd("x, y") e']
    """
    parts, start = [], 0
    for i, _ in _scan(text, sep):
        parts.append(text[start:i].strip())
        start = i + 1
    parts.append(text[start:].strip())
    return parts


def unquote(text: str) -> str:
    """``"a b"`` or ```"a b"'`` -> ``a b``; other text is returned stripped."""
    text = text.strip()
    if text.startswith('`"') and text.endswith("\"'"):
        return text[2:-2]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    return text


def words(text: str) -> list[str]:
    """Split on blanks and commas outside parentheses and quotes; quotes are removed.

    Example:
        >>> words('"Favours A" x(1 2), y')
        ['Favours A', 'x(1 2)', 'y']
    """
    out, start = [], 0
    for i, _ in [*_scan(text, " \t\n,"), (len(text), "")]:
        piece = text[start:i].strip()
        if piece:
            out.append(unquote(piece))
        start = i + 1
    return out


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_options(text: str) -> tuple[Option, ...]:
    """Options ``a b(1 2) c("x (y)")`` as a tuple of :class:`Option`.

    Example:
        >>> [str(o) for o in parse_options('re(reml, hksj) forest(xlab(1 2)) hr')]
        ['re(reml, hksj)', 'forest(xlab(1 2))', 'hr']
    """
    out, i = [], 0
    while i < len(text):
        if text[i].isspace() or text[i] == ",":
            i += 1
            continue
        m = _NAME.match(text, i)
        if m is None:
            raise StataSyntaxError(f"cannot read an option at {text[i:]!r}: options are "
                                   "names, optionally followed by (arguments)")
        name, i = m.group(0), m.end()
        j = i
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "(":
            depth, k = 0, j
            while k < len(text):
                if text[k] == '"':
                    k = text.find('"', k + 1)
                    if k < 0:
                        raise StataSyntaxError(f"unmatched quote in option {name}()")
                elif text[k] == "(":
                    depth += 1
                elif text[k] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            if depth:
                raise StataSyntaxError(f"option {name}( is not closed: {text[j:]!r}")
            out.append(Option(name, text[j + 1:k].strip()))
            i = k + 1
        else:
            out.append(Option(name))
    return tuple(out)


def parse_command(text: str) -> Command:
    """``name words [, options]`` (without a prefix part) as a :class:`Command`.

    Example:
        >>> c = parse_command("metareg _ES x1, wsse(_seES) eform")
        >>> c.name, c.words, [o.name for o in c.options]
        ('metareg', ('_ES', 'x1'), ['wsse', 'eform'])
    """
    text = text.strip()
    if not text:
        raise StataSyntaxError("empty command")
    parts = split_top(text, ",")
    head, tail = parts[0], ",".join(parts[1:])
    tokens = words(head)
    if not tokens:
        raise StataSyntaxError(f"no command name in {text!r}")
    name = tokens[0]
    for t in tokens[1:]:
        if t in ("if", "in") or t.startswith("["):
            raise StataSyntaxError(f"'{t}' qualifiers and weights are not supported in {text!r}:"
                                   " select the rows in the data first (pandas .query())")
    return Command(name=name, words=tuple(tokens[1:]), options=parse_options(tail), text=text)


def match(word: str, specs: tuple[OptionSpec, ...], where: str,
          what: str = "option") -> OptionSpec:
    """The option spec that ``word`` names (full name or a Stata abbreviation).

    Raises :class:`StataSyntaxError` naming the option when it is unknown.

    Example:
        >>> match("boxsca", FOREST_OPTIONS, "forest()").name
        'boxscale'
    """
    w = word.lower()
    hits = [s for s in specs if (s.name.startswith(w) and len(w) >= s.min) or w in s.aliases]
    exact = [s for s in hits if s.name == w or w in s.aliases]
    if exact:
        return exact[0]
    if len(hits) == 1:
        return hits[0]
    known = ", ".join(s.name for s in specs)
    if hits:
        raise StataSyntaxError(f"{what} {word!r} of {where} is ambiguous "
                               f"({', '.join(s.name for s in hits)})")
    raise StataSyntaxError(f"{what} {word!r} is not supported in {where}; ipdmeta's translator "
                           f"knows: {known} (see docs/stata.md)")


def _check_args(opt: Option, spec: OptionSpec, where: str) -> None:
    if spec.args == "none" and opt.args is not None:
        raise StataSyntaxError(f"option {opt.name} of {where} takes no arguments: {opt}")
    if spec.args == "required" and not opt.args:
        raise StataSyntaxError(f"option {opt.name}() of {where} needs an argument")


def numlist(text: str) -> list[float | int]:
    """A Stata numlist: ``0.2 0.5 1 2``, ``-5(1)2``, ``1/4``, commas allowed.

    Example:
        >>> numlist("-2(1)1 0.5, 10")
        [-2, -1, 0, 1, 0.5, 10]
    """
    out: list[float | int] = []
    for tok in re.split(r"[\s,]+", text.strip()):
        if not tok:
            continue
        m = re.fullmatch(r"(-?[\d.]+)\((-?[\d.]+)\)(-?[\d.]+)", tok)
        r = re.fullmatch(r"(-?\d+)/(-?\d+)", tok)
        try:
            if m:
                a, step, b = (float(g) for g in m.groups())
                if step == 0 or (b - a) / step < 0:
                    raise StataSyntaxError(f"numlist range {tok!r} never reaches its end")
                n = round((b - a) / step)
                out += [round(a + i * step, 12) for i in range(n + 1)]
            elif r:
                a, b = int(r.group(1)), int(r.group(2))
                out += [float(v) for v in range(a, b + 1)]
            else:
                out.append(float(tok))
        except ValueError as err:
            raise StataSyntaxError(f"{tok!r} is not a number in the numlist {text!r}") from err
    return [int(v) if float(v).is_integer() else v for v in out]


def _number(opt: Option, where: str) -> float:
    try:
        return float(unquote(opt.args or ""))
    except ValueError as err:
        raise StataSyntaxError(f"option {opt.name}() of {where} needs a number, got "
                               f"{opt.args!r}") from err


# ---------------------------------------------------------------------------- varlists
def fv_term(token: str) -> str:
    """A Stata factor-variable term as a formula term: ``i.x`` -> ``C(x)``, ``a#b`` -> ``a:b``.

    Example:
        >>> fv_term("i.treat##c.age"), fv_term("c.age"), fv_term("i.region")
        ('C(treat)*age', 'age', 'C(region)')
    """
    if "##" in token:
        return "*".join(fv_term(t) for t in token.split("##"))
    if "#" in token:
        return ":".join(fv_term(t) for t in token.split("#"))
    m = re.fullmatch(r"(i|c|ib\d+|ibn)\.([A-Za-z_][A-Za-z0-9_]*)", token)
    if m:
        prefix, name = m.groups()
        if prefix == "c":
            return name
        if prefix == "i":
            return f"C({name})"
        raise StataSyntaxError(f"factor-variable operator {prefix}. in {token!r} is not "
                               "supported; use i.VAR (the lowest level is the reference)")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token):
        raise StataSyntaxError(f"{token!r} is not a variable name (wildcards, time-series "
                               "operators and expressions are not supported)")
    return token


def stata_coefficient(name: str) -> str:
    """A Stata coefficient name for poolvar(): ``1.treat`` -> ``C(treat)[T.1]``.

    Example:
        >>> stata_coefficient("treat"), stata_coefficient("1.treat#c.age")
        ('treat', 'C(treat)[T.1]:age')
    """
    parts = []
    for p in name.split("#"):
        m = re.fullmatch(r"(\d+)\.([A-Za-z_]\w*)", p)
        parts.append(f"C({m.group(2)})[T.{m.group(1)}]" if m else fv_term(p))
    return ":".join(parts)


def read_do_file(path: str | Path) -> list[str]:
    """Command lines of a do-file: comments removed, ``///`` continuations joined.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "a.do")
        >>> _ = open(p, "w").write("* note\\nmetan a b, /// cont\\n  fixed // x\\n")
        >>> read_do_file(p)
        ['metan a b, fixed']
    """
    text = Path(path).read_text(encoding="utf-8")
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"\s*///[^\n]*\n\s*", " ", text)
    out = []
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)//.*$", "", raw).strip()
        if line and not line.startswith("*"):
            out.append(line)
    return out
