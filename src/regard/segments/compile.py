"""Type-check a segment against a schema and compile it to one Polars expression.

The expression runs over a *features frame*: one row per customer, one column per field or
function the segment uses, named deterministically (``lifecycle``, ``trait__plan``,
``count__purchase__90d``, ``sum__purchase__amount__365d``, ``subscribed__offers:camping__email``).
``required_features`` lists exactly those columns so a later step can compute them in bulk.

Missing values: a comparison or membership test on a missing value (a customer without the
trait, or with no purchase for ``last``) is *unknown*. ``not`` keeps it unknown, ``and``/``or``
follow Kleene logic (unknown and false is false, unknown or true is true), and an unknown
segment at the end is "not a member". So a customer without ``trait.plan`` matches neither
``trait.plan = "pro"`` nor ``not trait.plan = "pro"``. Counts and sums of nothing are 0 and
``subscribed``/``interest`` of nothing are false, never unknown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from regard.segments.language import (
    And,
    BoolLit,
    Call,
    Compare,
    Duration,
    Expr,
    Field,
    In,
    Literal,
    Name,
    Not,
    NumberLit,
    Operand,
    Or,
    SegmentError,
    StringLit,
    to_text,
)
from regard.segments.schema import (
    FieldSpec,
    FunctionSpec,
    Parameter,
    SegmentSchema,
    ValueType,
    nearest,
)

__all__ = [
    "CompiledSegment",
    "FeatureSpec",
    "compile_segment",
    "evaluate",
    "required_features",
]

_ORDERED = (ValueType.NUMBER, ValueType.DATE)


@dataclass(frozen=True)
class FeatureSpec:
    """One column of the features frame.

    ``source`` is ``"field"`` or the function name; ``arguments`` are the field name, or the
    function's event type, property, topic and channel, in order; ``window`` is the function's
    time window. ``when_missing`` is what a customer with no data gets (``None``: unknown).
    """

    column: str
    source: str
    type: ValueType
    arguments: tuple[str, ...]
    window: Duration | None = None
    when_missing: int | bool | None = None


@dataclass(frozen=True, eq=False)
class CompiledSegment:
    """A type-checked segment: a total boolean expression and the features it reads."""

    expression: pl.Expr
    features: tuple[FeatureSpec, ...]


def compile_segment(
    expr: Expr, *, schema: SegmentSchema, source: str | None = None
) -> CompiledSegment:
    """Type-check ``expr`` and compile it; ``source`` (the text) lets errors point into it."""
    compiler = _Compiler(schema)
    try:
        condition = compiler.condition(expr)
    except SegmentError as exc:
        raise exc.with_source(source) if source is not None else exc from None
    return CompiledSegment(condition.fill_null(False), tuple(compiler.features.values()))


def required_features(expr: Expr, *, schema: SegmentSchema) -> list[FeatureSpec]:
    """The feature columns the segment reads, in order of first use."""
    return list(compile_segment(expr, schema=schema).features)


def evaluate(expr: Expr, features: pl.DataFrame, *, schema: SegmentSchema) -> pl.Series:
    """Membership of each row of ``features``: a boolean Series named ``member``, never null."""
    compiled = compile_segment(expr, schema=schema)
    missing = [spec.column for spec in compiled.features if spec.column not in features.columns]
    if missing:
        raise ValueError(f"the features frame lacks the columns {', '.join(missing)}")
    return features.select(compiled.expression.alias("member")).to_series()


@dataclass(frozen=True)
class _Typed:
    node: Operand
    type: ValueType
    expression: pl.Expr
    literal: bool
    allowed: tuple[str, ...] | None = None


def _describe(node: Operand) -> str:
    return to_text(node)


def _unknown_if_null(predicate: pl.Expr, operands: list[_Typed]) -> pl.Expr:
    # Spelled out rather than left to each Polars operator, whose null rules differ (is_in and
    # list.contains can answer false for a null): a missing value makes the test unknown.
    nullable = [typed.expression.is_null() for typed in operands if not typed.literal]
    if not nullable:
        return predicate
    return (
        pl.when(pl.any_horizontal(nullable))
        .then(pl.lit(None, dtype=pl.Boolean))
        .otherwise(predicate)
    )


class _Compiler:
    def __init__(self, schema: SegmentSchema) -> None:
        self.schema = schema
        self.features: dict[str, FeatureSpec] = {}

    # Conditions ------------------------------------------------------------------------------

    def condition(self, expr: Expr) -> pl.Expr:
        if isinstance(expr, And | Or):
            parts = [self.condition(item) for item in expr.operands]
            combined = parts[0]
            for part in parts[1:]:
                # Polars' & and | on booleans are Kleene logic, which is what we document.
                combined = combined & part if isinstance(expr, And) else combined | part
            return combined
        if isinstance(expr, Not):
            return ~self.condition(expr.operand)
        if isinstance(expr, Compare):
            return self.compare(expr)
        if isinstance(expr, In):
            return self.membership(expr)
        typed = self.operand(expr)
        if typed.type is not ValueType.BOOLEAN:
            hint = ""
            if isinstance(expr, Field):
                example = {
                    ValueType.NUMBER: ">= 3",
                    ValueType.DATE: '>= "2024-01-31"',
                }.get(typed.type, '= "..."')
                hint = f"; compare it, e.g. {expr.name} {example}"
            raise SegmentError(
                f"{_describe(expr)} is a {typed.type}, not a condition{hint}", span=expr.span
            )
        return _unknown_if_null(typed.expression, [typed])

    def compare(self, node: Compare) -> pl.Expr:
        left = self.operand(node.left)
        right = self.operand(node.right)
        left, right = self.coerce(left, right), self.coerce(right, left)
        if left.type is ValueType.STRING_SET or right.type is ValueType.STRING_SET:
            return self.compare_set(node, left, right)
        if left.type is not right.type:
            culprit = right if right.literal or not left.literal else left
            other = left if culprit is right else right
            raise SegmentError(
                f"cannot compare {_describe(other.node)} ({other.type}) "
                f"with {_describe(culprit.node)} ({culprit.type})",
                span=culprit.node.span,
            )
        if node.op not in ("=", "!=") and left.type not in _ORDERED:
            raise SegmentError(
                f"'{node.op}' compares numbers or dates, "
                f"but {_describe(node.left)} is a {left.type}; use = or !=",
                span=node.op_span,
            )
        self.check_allowed(left, right)
        self.check_allowed(right, left)
        operators: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
        }
        predicate = operators[node.op](left.expression, right.expression)
        return _unknown_if_null(predicate, [left, right])

    def compare_set(self, node: Compare, left: _Typed, right: _Typed) -> pl.Expr:
        tags, value = (left, right) if left.type is ValueType.STRING_SET else (right, left)
        if node.op not in ("=", "!="):
            raise SegmentError(
                f"'{node.op}' does not apply to {_describe(tags.node)} (a string-set); "
                "use = (contains), != (does not contain) or in (...)",
                span=node.op_span,
            )
        if not (value.literal and value.type is ValueType.STRING):
            raise SegmentError(
                f"{_describe(tags.node)} is a string-set: compare it with a string",
                span=value.node.span,
            )
        contains = tags.expression.list.contains(value.expression)
        return _unknown_if_null(contains if node.op == "=" else ~contains, [tags])

    def membership(self, node: In) -> pl.Expr:
        subject = self.operand(node.operand)
        element = ValueType.STRING if subject.type is ValueType.STRING_SET else subject.type
        values: list[_Typed] = []
        for literal in node.values:
            typed = self.coerce(self.operand(literal), subject)
            if typed.type is not element:
                raise SegmentError(
                    f"{_describe(node.operand)} is a {subject.type}, so 'in' needs "
                    f"{element} values, not {_describe(literal)} ({typed.type})",
                    span=literal.span,
                )
            self.check_allowed(subject, typed)
            values.append(typed)
        if subject.type is ValueType.STRING_SET:
            predicate = pl.any_horizontal(
                [subject.expression.list.contains(value.expression) for value in values]
            )
        else:
            predicate = pl.any_horizontal(
                [subject.expression == value.expression for value in values]
            )
        return _unknown_if_null(predicate, [subject])

    def coerce(self, typed: _Typed, other: _Typed) -> _Typed:
        """A string literal compared with a date is an ISO date (``"2024-03-31"``)."""
        if not (typed.literal and isinstance(typed.node, StringLit)):
            return typed
        if other.type is not ValueType.DATE:
            return typed
        try:
            day = dt.date.fromisoformat(typed.node.value)
        except ValueError:
            raise SegmentError(
                f'{_describe(other.node)} is a date: write dates as "YYYY-MM-DD"',
                span=typed.node.span,
            ) from None
        return _Typed(typed.node, ValueType.DATE, pl.lit(day, dtype=pl.Date), literal=True)

    def check_allowed(self, subject: _Typed, value: _Typed) -> None:
        if subject.allowed is None or not isinstance(value.node, StringLit):
            return
        if value.node.value in subject.allowed:
            return
        guess = nearest(value.node.value, subject.allowed)
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise SegmentError(
            f"{value.node.value!r} is not a value of {_describe(subject.node)}{hint} "
            f"(one of: {', '.join(subject.allowed)})",
            span=value.node.span,
        )

    # Operands --------------------------------------------------------------------------------

    def operand(self, node: Operand) -> _Typed:
        if isinstance(node, StringLit):
            return _Typed(node, ValueType.STRING, pl.lit(node.value, dtype=pl.String), True)
        if isinstance(node, BoolLit):
            return _Typed(node, ValueType.BOOLEAN, pl.lit(node.value, dtype=pl.Boolean), True)
        if isinstance(node, NumberLit):
            return _Typed(node, ValueType.NUMBER, pl.lit(node.value), True)
        if isinstance(node, Field):
            spec = self.field_spec(node)
            feature = FeatureSpec(node.name.replace(".", "__"), "field", spec.type, (node.name,))
            return _Typed(node, spec.type, self.use(feature), False, spec.allowed)
        return self.call(node)

    def field_spec(self, node: Field) -> FieldSpec:
        spec = self.schema.fields.get(node.name)
        if spec is not None:
            return spec
        guess = nearest(node.name, self.schema.fields)
        hint = f"; did you mean {guess!r}?" if guess else ""
        if guess is None and node.name.startswith("trait."):
            hint = "; declare the trait in the schema first"
        raise SegmentError(f"unknown field {node.name!r}{hint}", span=node.span)

    def call(self, node: Call) -> _Typed:
        spec = self.schema.functions.get(node.function)
        if spec is None:
            guess = nearest(node.function, self.schema.functions)
            hint = f"; did you mean {guess!r}?" if guess else ""
            known = ", ".join(sorted(self.schema.functions))
            raise SegmentError(
                f"unknown function {node.function!r}{hint} (functions: {known})",
                span=node.name_span,
            )
        if len(node.args) != len(spec.parameters):
            raise SegmentError(
                f"{spec.name}() takes {len(spec.parameters)} argument"
                f"{'s' if len(spec.parameters) != 1 else ''}: {spec.signature}",
                span=node.span,
            )
        parts: list[str] = []
        window: Duration | None = None
        for index, (parameter, argument) in enumerate(zip(spec.parameters, node.args, strict=True)):
            if parameter is Parameter.WINDOW:
                if not isinstance(argument, Duration):
                    raise self.bad_argument(spec, argument, "a window like 90d")
                window = argument
                continue
            parts.extend(self.argument(spec, parameter, argument, parameter_index=index))
        column = "__".join([spec.name, *parts, *([window.text] if window else [])])
        feature = FeatureSpec(
            column, spec.name, spec.returns, tuple(parts), window, spec.when_missing
        )
        return _Typed(node, spec.returns, self.use(feature), False)

    def argument(
        self,
        spec: FunctionSpec,
        parameter: Parameter,
        argument: Name | Duration | Literal,
        *,
        parameter_index: int,
    ) -> list[str]:
        if parameter is Parameter.STRING:
            if not isinstance(argument, StringLit) or not argument.value:
                raise self.bad_argument(spec, argument, 'a non-empty string like "email"')
            # interest() names an interest; subscribed() a topic, then a channel.
            if spec.name == "interest":
                what, allowed = "interest", self.schema.interests
            elif parameter_index == 0:
                what, allowed = "topic", self.schema.topics
            else:
                what, allowed = "channel", self.schema.channels
            return [argument.value] if allowed is None else [self.known(argument, allowed, what)]
        if not isinstance(argument, Name):
            kind = "an event type like purchase"
            if parameter is Parameter.EVENT_PROPERTY:
                kind = "an event property like purchase.amount"
            raise self.bad_argument(spec, argument, kind)
        parts = argument.value.split(".")
        if parameter is Parameter.EVENT and len(parts) != 1:
            raise self.bad_argument(spec, argument, "an event type like purchase")
        if parameter is Parameter.EVENT_PROPERTY and len(parts) != 2:
            raise self.bad_argument(spec, argument, "an event property like purchase.amount")
        events = self.schema.events
        if events is not None:
            if parts[0] not in events:
                guess = nearest(parts[0], events)
                hint = f"; did you mean {guess!r}?" if guess else ""
                raise SegmentError(f"unknown event type {parts[0]!r}{hint}", span=argument.span)
            if len(parts) == 2 and parts[1] not in events[parts[0]]:
                guess = nearest(parts[1], events[parts[0]])
                hint = f"; did you mean {guess!r}?" if guess else ""
                raise SegmentError(
                    f"{parts[0]} events have no numeric property {parts[1]!r}{hint}",
                    span=argument.span,
                )
        return parts

    def known(self, argument: StringLit, allowed: frozenset[str], what: str) -> str:
        if argument.value in allowed:
            return argument.value
        guess = nearest(argument.value, allowed)
        hint = f"; did you mean {guess!r}?" if guess else ""
        raise SegmentError(f"unknown {what} {argument.value!r}{hint}", span=argument.span)

    def bad_argument(
        self, spec: FunctionSpec, argument: Name | Duration | Literal, wanted: str
    ) -> SegmentError:
        return SegmentError(
            f"{spec.name}() expects {wanted} here, not {_describe_argument(argument)} "
            f"({spec.signature})",
            span=argument.span,
        )

    def use(self, feature: FeatureSpec) -> pl.Expr:
        self.features.setdefault(feature.column, feature)
        column = pl.col(feature.column)
        return column if feature.when_missing is None else column.fill_null(feature.when_missing)


def _describe_argument(argument: Name | Duration | Literal) -> str:
    if isinstance(argument, Name):
        return argument.value
    if isinstance(argument, Duration):
        return argument.text
    return to_text(argument)
