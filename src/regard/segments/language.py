"""The segment language: text and JSON in, a typed tree out.

A segment reads like ``lifecycle = "active" and count(purchase, 90d) >= 2``. This module parses
that text with a LALR grammar (never ``eval``), builds an immutable tree of frozen dataclasses,
prints a tree back as text (``to_text``) and converts it to and from the JSON form the API uses
(``to_json`` / ``from_json``). Nothing here knows which fields exist: ``regard.segments.compile``
checks a tree against a ``SegmentSchema`` and turns it into a Polars expression.

The grammar, the JSON shape and the error messages are documented in ``docs/segment-language.md``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import ClassVar, TypeAlias

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from regard.errors import InvalidInput

__all__ = [
    "COMPARISON_OPERATORS",
    "DURATION_UNITS",
    "And",
    "Argument",
    "BoolLit",
    "Call",
    "Compare",
    "Duration",
    "Expr",
    "Field",
    "In",
    "Json",
    "Literal",
    "Name",
    "Not",
    "NumberLit",
    "Operand",
    "Or",
    "SegmentError",
    "Span",
    "StringLit",
    "from_json",
    "parse",
    "to_json",
    "to_text",
]

COMPARISON_OPERATORS = ("=", "!=", "<", "<=", ">", ">=")
DURATION_UNITS = {"d": "days", "w": "weeks", "m": "months", "y": "years"}
KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})

_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_IDENTIFIER_RE = re.compile(_IDENTIFIER)

# Precedence, loosest first: or, and, not, then a comparison or membership test.
_GRAMMAR = rf"""
?start: or_expr

?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND not_expr)*
?not_expr: NOT not_expr -> negation
         | atom
?atom: operand COMP_OP operand -> comparison
     | operand IN LPAR literal (COMMA literal)* RPAR -> membership
     | operand -> predicate
     | LPAR or_expr RPAR -> group

?operand: NAME -> field
        | NAME LPAR (argument (COMMA argument)*)? RPAR -> call
        | literal

?literal: STRING -> string
        | NUMBER -> number
        | TRUE -> true
        | FALSE -> false

?argument: NAME -> name
         | STRING -> string
         | NUMBER -> number
         | DURATION -> duration

AND: "and"
OR: "or"
NOT: "not"
IN: "in"
TRUE: "true"
FALSE: "false"
LPAR: "("
RPAR: ")"
COMMA: ","
COMP_OP: "!=" | "<=" | ">=" | "=" | "<" | ">"
NAME: /{_IDENTIFIER}/
STRING: /"(?:[^"\\\n\r]|\\.)*"/
DURATION.2: /-?\d+(?:\.\d+)?(?![eE][+-]?\d)[A-Za-z_][A-Za-z0-9_]*/
NUMBER: /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/

%ignore /[ \t\f\r\n]+/
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", lexer="basic", propagate_positions=True)

_TERMINAL_WORDS = {
    "AND": "'and'",
    "OR": "'or'",
    "NOT": "'not'",
    "IN": "'in'",
    "TRUE": "'true'",
    "FALSE": "'false'",
    "LPAR": "'('",
    "RPAR": "')'",
    "COMMA": "','",
    "COMP_OP": "a comparison (= != < <= > >=)",
    "NAME": "a field or function name",
    "STRING": 'a string ("...")',
    "NUMBER": "a number",
    "DURATION": "a duration (like 90d)",
    "$END": "the end of the segment",
}


# --- Positions and errors -------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    """Where a node was written: 1-based line and column; ``end_column`` is one past the end."""

    line: int
    column: int
    end_line: int
    end_column: int


class SegmentError(InvalidInput):
    """A segment that does not parse, does not type-check or is malformed JSON.

    ``line`` and ``column`` (1-based) say where, when the segment came from text; a JSON segment
    reports ``path`` (like ``$.and[1].left``) instead. ``pointer()`` renders the offending line
    with carets under the offending text.
    """

    code = "invalid_segment"

    def __init__(
        self,
        message: str,
        *,
        span: Span | None = None,
        source: str | None = None,
        path: str | None = None,
    ) -> None:
        self.reason = message
        self.span = span
        self.source = source
        self.path = path
        details: dict[str, object] = {}
        if span is not None:
            details.update(line=span.line, column=span.column, end_column=self._end_column())
        if path is not None:
            details["path"] = path
        super().__init__(message, details=details)

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        return self.span.column if self.span else None

    def with_source(self, source: str) -> SegmentError:
        """The same error, able to render its pointer into ``source``."""
        return SegmentError(self.reason, span=self.span, source=source, path=self.path)

    def _end_column(self) -> int:
        assert self.span is not None
        if self.span.end_line != self.span.line:
            text = self._source_line()
            return max(len(text) + 1, self.span.column + 1) if text is not None else 0
        return max(self.span.end_column, self.span.column + 1)

    def _source_line(self) -> str | None:
        if self.source is None or self.span is None:
            return None
        lines = self.source.split("\n")
        return lines[self.span.line - 1] if self.span.line <= len(lines) else ""

    def pointer(self) -> str:
        """The offending line and a row of carets under the offending text ("" if unknown)."""
        text = self._source_line()
        if text is None or self.span is None:
            return ""
        start = self.span.column - 1
        # Keep tabs in the indent so the carets line up however the terminal renders them.
        indent = "".join(ch if ch == "\t" else " " for ch in text[:start])
        width = max(1, self._end_column() - self.span.column)
        return f"{text}\n{indent}{'^' * width}"

    def __str__(self) -> str:
        where = ""
        if self.span is not None:
            where = f"line {self.span.line}, column {self.span.column}: "
        elif self.path is not None:
            where = f"{self.path}: "
        pointer = self.pointer()
        return f"{where}{self.reason}" + (f"\n{pointer}" if pointer else "")


# --- The tree -------------------------------------------------------------------------------


# Positions are not part of a node's identity: the same segment parsed from differently laid-out
# text, or loaded from JSON, is the same tree.


@dataclass(frozen=True)
class StringLit:
    value: str
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class NumberLit:
    value: int | float
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class BoolLit:
    value: bool
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Field:
    """A field of the customer: ``lifecycle``, ``r``, ``trait.plan``."""

    name: str
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Name:
    """A bare name given to a function: an event type ``purchase`` or ``purchase.amount``."""

    value: str
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Duration:
    """A positive time window: ``amount`` of ``unit`` (d, w, m or y)."""

    amount: int
    unit: str
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)

    @property
    def text(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def days(self) -> int:
        """Length in days, counting a month as 30 days and a year as 365."""
        return self.amount * {"d": 1, "w": 7, "m": 30, "y": 365}[self.unit]


Literal: TypeAlias = StringLit | NumberLit | BoolLit
Argument: TypeAlias = Name | Duration | StringLit | NumberLit


@dataclass(frozen=True)
class Call:
    """A function of the customer's history or preferences: ``count(purchase, 90d)``."""

    function: str
    args: tuple[Argument, ...]
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)
    name_span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


Operand: TypeAlias = Field | Call | Literal


@dataclass(frozen=True)
class Compare:
    left: Operand
    op: str
    right: Operand
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)
    op_span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class In:
    """``operand in ("a", "b")``: the operand equals one of the literal values."""

    operand: Operand
    values: tuple[Literal, ...]
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Not:
    operand: Expr
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class And:
    """All of two or more conditions."""

    operands: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True)
class Or:
    """Any of two or more conditions."""

    operands: tuple[Expr, ...]
    span: Span | None = field(default=None, compare=False, repr=False, kw_only=True)


# A bare operand is a condition when it is boolean (``trait.vip``, ``subscribed(...)``); the type
# checker rejects the others.
Expr: TypeAlias = And | Or | Not | Compare | In | Operand


# --- Parsing --------------------------------------------------------------------------------


def parse(text: str) -> Expr:
    """Parse segment text into a tree; raise ``SegmentError`` saying what is wrong and where."""
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    try:
        return _Builder().expr(tree)
    except SegmentError as exc:
        raise exc.with_source(text) from None


def _span_of_meta(node: Tree[Token]) -> Span:
    meta = node.meta
    return Span(meta.line, meta.column, meta.end_line, meta.end_column)


def _span_of_token(token: Token) -> Span:
    line = token.line or 1
    column = token.column or 1
    end_line = token.end_line or line
    end_column = token.end_column or column + max(1, len(token))
    return Span(line, column, end_line, end_column)


def _token(node: Tree[Token] | Token) -> Token:
    assert isinstance(node, Token)
    return node


def _tree(node: Tree[Token] | Token) -> Tree[Token]:
    assert isinstance(node, Tree)
    return node


class _Builder:
    """Turns lark's parse tree into the frozen dataclass tree, keeping positions."""

    def expr(self, node: Tree[Token] | Token) -> Expr:
        tree = _tree(node)
        kind = tree.data
        kids = tree.children
        if kind == "or_expr":
            return Or(tuple(self.expr(k) for k in kids[::2]), span=_span_of_meta(tree))
        if kind == "and_expr":
            return And(tuple(self.expr(k) for k in kids[::2]), span=_span_of_meta(tree))
        if kind == "negation":
            return Not(self.expr(kids[1]), span=_span_of_meta(tree))
        if kind == "group":
            return self.expr(kids[1])
        if kind == "comparison":
            op = _token(kids[1])
            return Compare(
                self.operand(kids[0]),
                str(op),
                self.operand(kids[2]),
                span=_span_of_meta(tree),
                op_span=_span_of_token(op),
            )
        if kind == "membership":
            values = tuple(self.literal(k) for k in kids[3:-1:2])
            return In(self.operand(kids[0]), values, span=_span_of_meta(tree))
        if kind == "predicate":
            return self.operand(kids[0])
        raise AssertionError(f"unexpected parse node {kind}")

    def operand(self, node: Tree[Token] | Token) -> Operand:
        tree = _tree(node)
        if tree.data == "field":
            name = _token(tree.children[0])
            return Field(str(name), span=_span_of_token(name))
        if tree.data == "call":
            name = _token(tree.children[0])
            args = tuple(self.argument(k) for k in tree.children[2:-1:2])
            return Call(str(name), args, span=_span_of_meta(tree), name_span=_span_of_token(name))
        return self.literal(tree)

    def literal(self, node: Tree[Token] | Token) -> Literal:
        tree = _tree(node)
        token = _token(tree.children[0])
        span = _span_of_token(token)
        if tree.data == "string":
            return StringLit(_unquote(token), span=span)
        if tree.data == "number":
            return NumberLit(_number(str(token)), span=span)
        if tree.data in ("true", "false"):
            return BoolLit(tree.data == "true", span=span)
        raise AssertionError(f"unexpected literal {tree.data}")

    def argument(self, node: Tree[Token] | Token) -> Argument:
        tree = _tree(node)
        token = _token(tree.children[0])
        span = _span_of_token(token)
        if tree.data == "name":
            return Name(str(token), span=span)
        if tree.data == "duration":
            return _duration(str(token), span=span)
        literal = self.literal(tree)
        assert isinstance(literal, StringLit | NumberLit)
        return literal


_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
_ESCAPE_RE = re.compile(r"\\(.)", re.DOTALL)


def _unquote(token: Token) -> str:
    def replace(match: re.Match[str]) -> str:
        char = match.group(1)
        if char not in _ESCAPES:
            line = token.line or 1
            column = (token.column or 1) + 1 + match.start()
            raise SegmentError(
                f"unknown escape '\\{char}' in a string; use \\\" \\\\ \\n \\r or \\t",
                span=Span(line, column, line, column + 2),
            )
        return _ESCAPES[char]

    return _ESCAPE_RE.sub(replace, str(token)[1:-1])


def _quote(value: str) -> str:
    escaped = (
        value.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'


def _number(text: str) -> int | float:
    if any(ch in text for ch in ".eE"):
        return float(text)
    return int(text)


_DURATION_RE = re.compile(r"(-?\d+(?:\.\d+)?)([A-Za-z_][A-Za-z0-9_]*)")


def _duration(text: str, *, span: Span | None = None) -> Duration:
    match = _DURATION_RE.fullmatch(text)
    hint = "write a whole number followed by d, w, m or y, like 30d, 12w, 6m or 1y"
    if match is None:
        raise SegmentError(f"bad duration '{text}': {hint}", span=span)
    amount, unit = match.groups()
    if unit not in DURATION_UNITS:
        raise SegmentError(f"bad duration '{text}': unknown unit '{unit}'; {hint}", span=span)
    if "." in amount:
        raise SegmentError(f"bad duration '{text}': {hint}", span=span)
    if int(amount) <= 0:
        raise SegmentError(f"bad duration '{text}': a duration must be positive", span=span)
    return Duration(int(amount), unit, span=span)


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return line, column


def _point(text: str, offset: int, width: int = 1) -> Span:
    line, column = _position(text, offset)
    return Span(line, column, line, column + width)


def _unclosed_parenthesis(text: str) -> int | None:
    """Offset of the last '(' that is never closed, skipping strings."""
    opened: list[int] = []
    in_string = False
    escaped = False
    for offset, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "(":
            opened.append(offset)
        elif char == ")" and opened:
            opened.pop()
    return opened[-1] if opened else None


def _syntax_error(text: str, exc: UnexpectedInput) -> SegmentError:
    if isinstance(exc, UnexpectedCharacters):
        offset = exc.pos_in_stream or 0
        char = text[offset]
        if char == '"':
            message = "unclosed string: a string ends with '\"' on the same line"
            rest = text.find("\n", offset)
            width = (rest if rest != -1 else len(text)) - offset
            return SegmentError(message, span=_point(text, offset, width), source=text)
        hints = {
            "&": "use 'and'",
            "|": "use 'or'",
            "!": "use 'not', or '!=' for 'not equal'",
            "'": 'strings are written in double quotes: "..."',
        }
        message = f"unexpected character '{char}'"
        if char in hints:
            message += f"; {hints[char]}"
        return SegmentError(message, span=_point(text, offset), source=text)

    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    expected = sorted(_TERMINAL_WORDS.get(name, name) for name in exc.expected)
    wanted = expected[0] if len(expected) == 1 else "one of " + ", ".join(expected)
    if token.type == "$END":
        unclosed = _unclosed_parenthesis(text)
        if unclosed is not None and "RPAR" in exc.expected:
            return SegmentError(
                "unclosed parenthesis: this '(' has no matching ')'",
                span=_point(text, unclosed),
                source=text,
            )
        end = len(text.rstrip())
        return SegmentError(
            f"the segment ends too early; expected {wanted}",
            span=_point(text, end),
            source=text,
        )
    span = _span_of_token(token)
    offset = token.start_pos or 0
    if token.type == "COMP_OP":
        start = offset
        while start > 0 and text[start - 1] in "=<>!":
            start -= 1
        if start < offset:
            written = text[start : offset + len(token)]
            return SegmentError(
                f"'{written}' is not an operator; use one of = != < <= > >=",
                span=_point(text, start, len(written)),
                source=text,
            )
    if token.type == "DURATION":
        return SegmentError(
            f"unexpected duration '{token}': a duration can only be the window of a function, "
            "like count(purchase, 90d)",
            span=span,
            source=text,
        )
    if token.type == "RPAR" and _unclosed_parenthesis(text[: offset + 1]) is None:
        lead = text[:offset].rstrip()
        if not lead.endswith(("(", ",")):
            return SegmentError("unmatched ')'", span=span, source=text)
    return SegmentError(f"unexpected '{token}'; expected {wanted}", span=span, source=text)


# --- Printing -------------------------------------------------------------------------------


def to_text(expr: Expr) -> str:
    """Print a tree as segment text that parses back to the same tree."""
    if isinstance(expr, Or):
        return " or ".join(_child_text(item, parent=Or) for item in expr.operands)
    if isinstance(expr, And):
        return " and ".join(_child_text(item, parent=And) for item in expr.operands)
    if isinstance(expr, Not):
        return "not " + _child_text(expr.operand, parent=Not)
    if isinstance(expr, Compare):
        return f"{_operand_text(expr.left)} {expr.op} {_operand_text(expr.right)}"
    if isinstance(expr, In):
        values = ", ".join(_operand_text(value) for value in expr.values)
        return f"{_operand_text(expr.operand)} in ({values})"
    return _operand_text(expr)


def _child_text(expr: Expr, *, parent: type[And | Or | Not]) -> str:
    # Or binds loosest, then and, then not: a child needs parentheses when it binds no tighter
    # than its parent (a nested and/or of the same kind must keep its own grouping).
    needs = (Or, And) if parent in (And, Not) else (Or,)
    text = to_text(expr)
    return f"({text})" if isinstance(expr, needs) else text


def _operand_text(operand: Operand | Argument) -> str:
    if isinstance(operand, Field):
        return operand.name
    if isinstance(operand, Name):
        return operand.value
    if isinstance(operand, Duration):
        return operand.text
    if isinstance(operand, Call):
        return f"{operand.function}({', '.join(_operand_text(a) for a in operand.args)})"
    if isinstance(operand, StringLit):
        return _quote(operand.value)
    if isinstance(operand, BoolLit):
        return "true" if operand.value else "false"
    return repr(operand.value)


# --- JSON -----------------------------------------------------------------------------------

Json: TypeAlias = dict[str, "Json"] | list["Json"] | str | int | float | bool | None


def to_json(expr: Expr) -> Json:
    """The JSON form of a tree (documented in docs/segment-language.md)."""
    if isinstance(expr, Or):
        return {"or": [to_json(item) for item in expr.operands]}
    if isinstance(expr, And):
        return {"and": [to_json(item) for item in expr.operands]}
    if isinstance(expr, Not):
        return {"not": to_json(expr.operand)}
    if isinstance(expr, Compare):
        return {"op": expr.op, "left": _operand_json(expr.left), "right": _operand_json(expr.right)}
    if isinstance(expr, In):
        return {"in": _operand_json(expr.operand), "values": [v.value for v in expr.values]}
    return _operand_json(expr)


def _operand_json(operand: Operand | Argument) -> Json:
    if isinstance(operand, Field):
        return {"field": operand.name}
    if isinstance(operand, Name):
        return {"name": operand.value}
    if isinstance(operand, Duration):
        return {"duration": operand.text}
    if isinstance(operand, Call):
        return {"call": operand.function, "args": [_operand_json(a) for a in operand.args]}
    return operand.value


def from_json(data: object) -> Expr:
    """Build a tree from its JSON form, rejecting anything malformed with the path to it."""
    return _JsonReader().expr(data, "$")


class _JsonReader:
    _KEYS: ClassVar[dict[str, frozenset[str]]] = {
        "and": frozenset({"and"}),
        "or": frozenset({"or"}),
        "not": frozenset({"not"}),
        "op": frozenset({"op", "left", "right"}),
        "in": frozenset({"in", "values"}),
        "field": frozenset({"field"}),
        "call": frozenset({"call", "args"}),
        "name": frozenset({"name"}),
        "duration": frozenset({"duration"}),
    }

    def _object(self, data: dict[object, object], path: str, allowed: tuple[str, ...]) -> str:
        kinds = [key for key in allowed if key in data]
        if len(kinds) != 1:
            raise SegmentError(
                f"expected an object with one of the keys {', '.join(allowed)}", path=path
            )
        kind = kinds[0]
        extra = sorted(str(key) for key in data if key not in self._KEYS[kind])
        if extra:
            raise SegmentError(f"unexpected key {', '.join(extra)} in a '{kind}' node", path=path)
        missing = sorted(self._KEYS[kind] - set(map(str, data)))
        if missing:
            raise SegmentError(f"a '{kind}' node needs the key {', '.join(missing)}", path=path)
        return kind

    def expr(self, data: object, path: str) -> Expr:
        if not isinstance(data, dict):
            return self.operand(data, path)
        kind = self._object(data, path, ("and", "or", "not", "op", "in", "field", "call"))
        if kind in ("and", "or"):
            items = data[kind]
            if not isinstance(items, list) or len(items) < 2:
                raise SegmentError(f"'{kind}' needs a list of two or more conditions", path=path)
            operands = tuple(self.expr(item, f"{path}.{kind}[{i}]") for i, item in enumerate(items))
            return And(operands) if kind == "and" else Or(operands)
        if kind == "not":
            return Not(self.expr(data["not"], f"{path}.not"))
        if kind == "op":
            op = data["op"]
            if op not in COMPARISON_OPERATORS:
                raise SegmentError(
                    f"unknown operator {op!r}; use one of {', '.join(COMPARISON_OPERATORS)}",
                    path=f"{path}.op",
                )
            assert isinstance(op, str)
            left = self.operand(data["left"], f"{path}.left")
            return Compare(left, op, self.operand(data["right"], f"{path}.right"))
        if kind == "in":
            values = data["values"]
            if not isinstance(values, list) or not values:
                raise SegmentError(
                    "'values' needs a non-empty list of literals", path=f"{path}.values"
                )
            literals = tuple(self.literal(v, f"{path}.values[{i}]") for i, v in enumerate(values))
            return In(self.operand(data["in"], f"{path}.in"), literals)
        return self.operand(data, path)

    def operand(self, data: object, path: str) -> Operand:
        if not isinstance(data, dict):
            return self.literal(data, path)
        kind = self._object(data, path, ("field", "call"))
        if kind == "field":
            return Field(self.identifier(data["field"], f"{path}.field"))
        args = data["args"]
        if not isinstance(args, list):
            raise SegmentError("'args' needs a list", path=f"{path}.args")
        function = self.identifier(data["call"], f"{path}.call")
        return Call(
            function, tuple(self.argument(a, f"{path}.args[{i}]") for i, a in enumerate(args))
        )

    def argument(self, data: object, path: str) -> Argument:
        if not isinstance(data, dict):
            literal = self.literal(data, path)
            if isinstance(literal, BoolLit):
                raise SegmentError("a function argument cannot be a boolean", path=path)
            return literal
        kind = self._object(data, path, ("name", "duration"))
        if kind == "name":
            return Name(self.identifier(data["name"], f"{path}.name"))
        text = data["duration"]
        if not isinstance(text, str):
            raise SegmentError('a duration is a string like "90d"', path=f"{path}.duration")
        try:
            return _duration(text)
        except SegmentError as exc:
            raise SegmentError(exc.reason, path=f"{path}.duration") from None

    def literal(self, data: object, path: str) -> Literal:
        if isinstance(data, bool):
            return BoolLit(data)
        if isinstance(data, str):
            return StringLit(data)
        if isinstance(data, int | float):
            if isinstance(data, float) and not math.isfinite(data):
                raise SegmentError("numbers must be finite", path=path)
            return NumberLit(data)
        raise SegmentError(
            f"expected a condition, a field, a call or a literal, got {type(data).__name__}",
            path=path,
        )

    def identifier(self, data: object, path: str) -> str:
        if not isinstance(data, str) or not _IDENTIFIER_RE.fullmatch(data):
            raise SegmentError(
                f"expected a name like 'lifecycle' or 'trait.plan', got {data!r}", path=path
            )
        if data in KEYWORDS:
            raise SegmentError(f"'{data}' is a keyword, not a name", path=path)
        return data
