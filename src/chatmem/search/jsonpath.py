"""The subset of SQL/JSON path (PostgreSQL ``jsonpath``, lax mode) that Zep's metadata filters use.

Zep handed every ``where.jsonpath`` to ``jsonb_path_exists``. chatmem parses the path itself so that
both databases agree on which paths exist: an accepted path is evaluated by PostgreSQL (from the
canonical text rendered here) and, on SQLite, by :func:`exists` with the same lax semantics; anything
outside the subset is a ``BadRequestError`` on both.

Supported: ``$``, ``.key``, ``."quoted key"``, ``.*``, ``[*]``, ``[n]``, filters ``? (...)`` with
``== != <> < <= > >=``, ``&&``, ``||``, ``!``, ``exists (...)``, ``starts with "..."``, parentheses,
``@``/``$`` paths as operands, and string, number, ``true``, ``false``, ``null`` literals. An optional
``lax`` prefix is accepted. Not supported: ``strict``, methods (``.type()``), arithmetic, ``like_regex``,
``last``, ranges, ``**`` and top-level predicates (``$.a == 1`` is *true* for every row under
``jsonb_path_exists``, a trap better refused than followed).
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chatmem.base.errors import BadRequestError
from chatmem.base.validation import check_number, check_text

# Bounds that keep a path cheap to parse, to plan and to evaluate on both databases: PostgreSQL
# refuses a subscript past 2**31 and numbers it cannot hold, and deep nesting costs stack everywhere.
MAX_PATH_CHARS = 2000
MAX_NESTING = 32
MAX_SUBSCRIPT = 2**31 - 1

# --- AST ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Key:
    name: str


@dataclass(frozen=True, slots=True)
class AnyKey:
    pass


@dataclass(frozen=True, slots=True)
class AnyIndex:
    pass


@dataclass(frozen=True, slots=True)
class Index:
    index: int


@dataclass(frozen=True, slots=True)
class Filter:
    predicate: Predicate


Step = Key | AnyKey | AnyIndex | Index | Filter


@dataclass(frozen=True, slots=True)
class Path:
    root: str  # "$" or "@"
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


Operand = Path | Literal


@dataclass(frozen=True, slots=True)
class Compare:
    op: str
    left: Operand
    right: Operand


@dataclass(frozen=True, slots=True)
class StartsWith:
    left: Operand
    prefix: str


@dataclass(frozen=True, slots=True)
class Exists:
    path: Path


@dataclass(frozen=True, slots=True)
class Not:
    inner: Predicate


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # "&&" or "||"
    parts: tuple[Predicate, ...]


Predicate = Compare | StartsWith | Exists | Not | BoolOp


# --- tokenizer --------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<number>-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<op>==|!=|<>|<=|>=|&&|\|\||[<>!?()\[\].*@$,])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    """,
    re.VERBOSE,
)


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str
    text: str


def _tokens(text: str) -> list[_Tok]:
    found: list[_Tok] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise _unsupported(f"unexpected character {text[position]!r} at position {position}")
        position = match.end()
        kind = match.lastgroup or ""
        if kind != "ws":
            found.append(_Tok(kind, match.group()))
    return found


def _unsupported(reason: str) -> BadRequestError:
    return BadRequestError(f"unsupported jsonpath: {reason}")


# --- parser -----------------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.pos = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> _Tok | None:
        index = self.pos + offset
        return self.toks[index] if index < len(self.toks) else None

    def take(self, text: str | None = None) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise _unsupported("unexpected end of path" + (f", expected {text!r}" if text else ""))
        if text is not None and tok.text != text:
            raise _unsupported(f"expected {text!r}, got {tok.text!r}")
        self.pos += 1
        return tok

    def at(self, text: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind in ("op", "word") and tok.text == text

    def parse(self) -> Path:
        if self.at("lax"):
            self.take()
        elif self.at("strict"):
            raise _unsupported("strict mode (only lax mode is supported)")
        if not self.at("$"):
            raise _unsupported("a path must start with $")
        path = self.path()
        if self.peek() is not None:
            tok = self.take()
            if tok.text in ("==", "!=", "<>", "<", "<=", ">", ">=", "&&", "||"):
                raise _unsupported("a predicate outside a filter; write $ ? (@.key == value)")
            raise _unsupported(f"unexpected {tok.text!r}")
        return path

    def path(self) -> Path:
        root = self.take().text
        steps: list[Step] = []
        while True:
            if self.at("."):
                self.take()
                steps.append(self.member())
            elif self.at("["):
                self.take()
                steps.append(self.subscript())
            elif self.at("?"):
                self.take()
                self.take("(")
                steps.append(Filter(self.disjunction()))
                self.take(")")
            else:
                return Path(root, tuple(steps))

    def member(self) -> Step:
        tok = self.take()
        if tok.text == "*":
            if self.at("*"):
                raise _unsupported("the ** accessor")
            return AnyKey()
        if tok.kind == "string":
            return Key(_string(tok.text))
        if tok.kind == "word":
            if self.at("("):
                raise _unsupported(f"item methods such as .{tok.text}()")
            return Key(tok.text)
        raise _unsupported(f"unexpected {tok.text!r} after '.'")

    def subscript(self) -> Step:
        tok = self.take()
        if tok.text == "*":
            self.take("]")
            return AnyIndex()
        if tok.kind == "number" and re.fullmatch(r"\d+", tok.text):
            self.take("]")
            if len(tok.text) > 10 or int(tok.text) > MAX_SUBSCRIPT:
                raise _unsupported(f"array subscript above {MAX_SUBSCRIPT}")
            return Index(int(tok.text))
        raise _unsupported(f"array subscript [{tok.text}...] (only [*] and [n] are supported)")

    def disjunction(self) -> Predicate:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise _unsupported(f"filters nested deeper than {MAX_NESTING} levels")
        parts = [self.conjunction()]
        while self.at("||"):
            self.take()
            parts.append(self.conjunction())
        self.depth -= 1
        return parts[0] if len(parts) == 1 else BoolOp("||", tuple(parts))

    def conjunction(self) -> Predicate:
        parts = [self.unary()]
        while self.at("&&"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else BoolOp("&&", tuple(parts))

    def unary(self) -> Predicate:
        if self.at("!"):
            self.take()
            self.take("(")
            inner = self.disjunction()
            self.take(")")
            return Not(inner)
        if self.at("exists"):
            self.take()
            self.take("(")
            if not (self.at("@") or self.at("$")):
                raise _unsupported("exists() takes a path")
            path = self.path()
            self.take(")")
            return Exists(path)
        if self.at("("):
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        left = self.operand()
        tok = self.peek()
        if tok is not None and tok.text in ("==", "!=", "<>", "<", "<=", ">", ">="):
            self.take()
            op = "!=" if tok.text == "<>" else tok.text
            return Compare(op, left, self.operand())
        if self.at("starts"):
            self.take()
            self.take("with")
            prefix = self.take()
            if prefix.kind != "string":
                raise _unsupported("starts with takes a string literal")
            return StartsWith(left, _string(prefix.text))
        if tok is not None and tok.kind == "word":
            raise _unsupported(f"the {tok.text!r} operator")
        raise _unsupported("a filter needs a comparison, exists(), starts with, && or ||")

    def operand(self) -> Operand:
        tok = self.peek()
        if tok is None:
            raise _unsupported("unexpected end of path")
        if tok.text in ("@", "$"):
            return self.path()
        self.take()
        if tok.kind == "string":
            return Literal(_string(tok.text))
        if tok.kind == "number":
            if re.fullmatch(r"-?\d{1,20}", tok.text):
                number: int | float = int(tok.text)
            else:
                number = float(tok.text)
            try:
                check_number("a jsonpath literal", number)
            except BadRequestError as exc:
                raise _unsupported(exc.message) from None
            return Literal(number)
        if tok.kind == "word" and tok.text in ("true", "false", "null"):
            return Literal({"true": True, "false": False, "null": None}[tok.text])
        raise _unsupported(f"unexpected {tok.text!r} in a filter")


def _string(token: str) -> str:
    try:
        value = json.loads(token)
    except ValueError:
        raise _unsupported(f"bad string literal {token}") from None
    assert isinstance(value, str)
    try:
        return check_text("a jsonpath string", value)
    except BadRequestError as exc:
        raise _unsupported(exc.message) from None


@functools.lru_cache(maxsize=512)
def parse(text: str) -> Path:
    """Parse a Zep ``where.jsonpath``. Single quotes become double quotes first, as Zep did."""
    if not isinstance(text, str) or not text.strip():
        raise BadRequestError("jsonpath must be a non-empty string")
    if len(text) > MAX_PATH_CHARS:
        raise BadRequestError(f"jsonpath is longer than {MAX_PATH_CHARS} characters")
    return _Parser(text.replace("'", '"')).parse()


@functools.lru_cache(maxsize=512)
def parse_rendered(text: str) -> Path:
    """Parse the output of :func:`render` (no quote replacement: rendered strings may hold a ``'``)."""
    return _Parser(text).parse()


# --- rendering for PostgreSQL -----------------------------------------------------------------------


def render(path: Path) -> str:
    """Canonical ``jsonpath`` text of a parsed path: what PostgreSQL is given."""
    return "lax " + _render_path(path)


def _render_path(path: Path) -> str:
    out = [path.root]
    for step in path.steps:
        if isinstance(step, Key):
            out.append("." + json.dumps(step.name, ensure_ascii=False))
        elif isinstance(step, AnyKey):
            out.append(".*")
        elif isinstance(step, AnyIndex):
            out.append("[*]")
        elif isinstance(step, Index):
            out.append(f"[{step.index}]")
        else:
            out.append(f" ? ({_render_predicate(step.predicate)})")
    return "".join(out)


def _render_predicate(predicate: Predicate) -> str:
    if isinstance(predicate, Compare):
        return f"{_render_operand(predicate.left)} {predicate.op} {_render_operand(predicate.right)}"
    if isinstance(predicate, StartsWith):
        prefix = json.dumps(predicate.prefix, ensure_ascii=False)
        return f"{_render_operand(predicate.left)} starts with {prefix}"
    if isinstance(predicate, Exists):
        return f"exists ({_render_path(predicate.path)})"
    if isinstance(predicate, Not):
        return f"!({_render_predicate(predicate.inner)})"
    return f" {predicate.op} ".join(f"({_render_predicate(part)})" for part in predicate.parts)


def _render_operand(operand: Operand) -> str:
    if isinstance(operand, Path):
        return _render_path(operand)
    value = operand.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


# --- evaluation (lax mode), for SQLite --------------------------------------------------------------


def exists(path: Path, document: Any) -> bool:
    """``jsonb_path_exists(document, path)``: does the path select at least one item?"""
    return next(_select(path, document, document), _MISSING) is not _MISSING


_MISSING = object()


def _select(path: Path, current: Any, root: Any) -> Iterator[Any]:
    items: Iterator[Any] = iter([root if path.root == "$" else current])
    for step in path.steps:
        items = _apply(step, items, root)
    return items


def _apply(step: Step, items: Iterator[Any], root: Any) -> Iterator[Any]:
    for item in items:
        yield from _step(step, item, root)


def _step(step: Step, item: Any, root: Any) -> Iterator[Any]:
    if isinstance(step, Key):
        # Lax mode: an accessor on an array applies to each element; on a scalar it selects nothing.
        if isinstance(item, list):
            for element in item:
                if isinstance(element, dict) and step.name in element:
                    yield element[step.name]
        elif isinstance(item, dict) and step.name in item:
            yield item[step.name]
    elif isinstance(step, AnyKey):
        for element in item if isinstance(item, list) else [item]:
            if isinstance(element, dict):
                yield from element.values()
    elif isinstance(step, AnyIndex):
        # Lax mode wraps a non-array in a one-element array: this is why $[*] works on an object.
        yield from item if isinstance(item, list) else [item]
    elif isinstance(step, Index):
        elements = item if isinstance(item, list) else [item]
        if step.index < len(elements):
            yield elements[step.index]
    else:
        for element in item if isinstance(item, list) else [item]:
            if _truth(step.predicate, element, root) is True:
                yield element


def _truth(predicate: Predicate, current: Any, root: Any) -> bool | None:
    """Three-valued: True, False, or None for SQL/JSON's "unknown" (e.g. comparing a string to a number)."""
    if isinstance(predicate, BoolOp):
        results = [_truth(part, current, root) for part in predicate.parts]
        if predicate.op == "&&":
            return False if False in results else (None if None in results else True)
        return True if True in results else (None if None in results else False)
    if isinstance(predicate, Not):
        inner = _truth(predicate.inner, current, root)
        return None if inner is None else not inner
    if isinstance(predicate, Exists):
        return next(_select(predicate.path, current, root), _MISSING) is not _MISSING
    if isinstance(predicate, StartsWith):
        values = _values(predicate.left, current, root)
        unknown = False
        for value in values:
            if isinstance(value, str):
                if value.startswith(predicate.prefix):
                    return True
            else:
                unknown = True
        return None if unknown else False
    left = _values(predicate.left, current, root)
    right = _values(predicate.right, current, root)
    unknown = False
    for a in left:
        for b in right:
            outcome = _compare(predicate.op, a, b)
            if outcome is True:
                return True
            if outcome is None:
                unknown = True
    return None if unknown else False


def _values(operand: Operand, current: Any, root: Any) -> list[Any]:
    if isinstance(operand, Literal):
        return [operand.value]
    values: list[Any] = []
    # Lax mode unwraps arrays in comparison operands.
    for value in _select(operand, current, root):
        if isinstance(value, list):
            values.extend(value)
        else:
            values.append(value)
    return values


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "container"


def _compare(op: str, a: Any, b: Any) -> bool | None:
    ka, kb = _kind(a), _kind(b)
    if ka == "container" or kb == "container":
        return None
    if ka == "null" or kb == "null":
        # null equals only null, and is not ordered.
        if op == "==":
            return ka == kb
        if op == "!=":
            return ka != kb
        return None if ka != kb else False
    if ka != kb:
        return None
    if ka == "bool" and op not in ("==", "!="):
        return None
    if ka == "number" and (math.isnan(a) or math.isnan(b)):
        return None
    outcome: bool = {
        "==": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]
    return outcome
