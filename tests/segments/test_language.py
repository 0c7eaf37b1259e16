"""The segment language: parsing, errors with positions, JSON, printing, and compiling to Polars."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from regard.segments.compile import FeatureSpec, compile_segment, evaluate, required_features
from regard.segments.language import (
    KEYWORDS,
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
    from_json,
    parse,
    to_json,
    to_text,
)
from regard.segments.schema import ValueType, default_schema

ISSUE_EXAMPLE = (
    'lifecycle = "active" and commitment in ("Shallow", "Convertible") '
    "and count(purchase, 90d) >= 2 and sum(purchase.amount, 365d) > 200 "
    'and subscribed("offers:camping", "email")'
)

SCHEMA = default_schema(
    traits={
        "plan": ValueType.STRING,
        "vip": ValueType.BOOLEAN,
        "birthday": ValueType.DATE,
        "tags": ValueType.STRING_SET,
        "age": ValueType.NUMBER,
    },
    events={"purchase": ("amount",), "visit": ()},
)


def members(text: str, frame: pl.DataFrame) -> list[bool]:
    return evaluate(parse(text), frame, schema=SCHEMA).to_list()


def error_of(text: str) -> SegmentError:
    with pytest.raises(SegmentError) as caught:
        compile_segment(parse(text), schema=SCHEMA, source=text)
    return caught.value


# --- The issue's example ------------------------------------------------------------------


def test_the_issue_example_parses_to_the_expected_tree() -> None:
    assert parse(ISSUE_EXAMPLE) == And(
        (
            Compare(Field("lifecycle"), "=", StringLit("active")),
            In(Field("commitment"), (StringLit("Shallow"), StringLit("Convertible"))),
            Compare(Call("count", (Name("purchase"), Duration(90, "d"))), ">=", NumberLit(2)),
            Compare(
                Call("sum", (Name("purchase.amount"), Duration(365, "d"))), ">", NumberLit(200)
            ),
            Call("subscribed", (StringLit("offers:camping"), StringLit("email"))),
        )
    )


def test_the_issue_example_needs_exactly_its_features() -> None:
    assert required_features(parse(ISSUE_EXAMPLE), schema=SCHEMA) == [
        FeatureSpec("lifecycle", "field", ValueType.STRING, ("lifecycle",)),
        FeatureSpec("commitment", "field", ValueType.STRING, ("commitment",)),
        FeatureSpec(
            "count__purchase__90d", "count", ValueType.NUMBER, ("purchase",), Duration(90, "d"), 0
        ),
        FeatureSpec(
            "sum__purchase__amount__365d",
            "sum",
            ValueType.NUMBER,
            ("purchase", "amount"),
            Duration(365, "d"),
            0,
        ),
        FeatureSpec(
            "subscribed__offers:camping__email",
            "subscribed",
            ValueType.BOOLEAN,
            ("offers:camping", "email"),
            None,
            False,
        ),
    ]


def test_the_issue_example_selects_the_right_customers() -> None:
    frame = pl.DataFrame(
        {
            "customer": ["ann", "bob", "cat", "dan", "eve", "fay", "gus"],
            "lifecycle": ["active", "active", "lapsed", "active", "active", "active", None],
            "commitment": [
                "Shallow",
                "Convertible",
                "Shallow",
                "Entrenched",
                "Shallow",
                "Shallow",
                "Shallow",
            ],
            "count__purchase__90d": [2, 5, 3, 4, 1, None, 3],
            "sum__purchase__amount__365d": [250.0, 900.0, 300.0, 300.0, 500.0, 400.0, 300.0],
            "subscribed__offers:camping__email": [True, True, True, True, True, True, True],
        }
    )
    # ann and bob match; cat is lapsed, dan entrenched, eve bought once in 90 days, fay has no
    # purchases counted (0), gus has no lifecycle yet.
    assert members(ISSUE_EXAMPLE, frame) == [True, True, False, False, False, False, False]
    unsubscribed = frame.with_columns(pl.lit(None, dtype=pl.Boolean).alias(frame.columns[-1]))
    assert not any(members(ISSUE_EXAMPLE, unsubscribed))


# --- Grammar --------------------------------------------------------------------------------


def test_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    a, b, c = Field("trait.vip"), Compare(Field("r"), ">", NumberLit(3)), Field("trait.x")
    assert parse("not trait.vip and r > 3 or trait.x") == Or((And((Not(a), b)), c))
    assert parse("not (trait.vip and r > 3) or trait.x") == Or((Not(And((a, b))), c))
    assert parse("trait.vip and (r > 3 or trait.x)") == And((a, Or((b, c))))


def test_literals_and_durations() -> None:
    assert parse('trait.age >= -1.5 and trait.vip = true and trait.plan != "a \\"b\\""') == And(
        (
            Compare(Field("trait.age"), ">=", NumberLit(-1.5)),
            Compare(Field("trait.vip"), "=", BoolLit(True)),
            Compare(Field("trait.plan"), "!=", StringLit('a "b"')),
        )
    )
    windows = [parse(f"count(visit, {w}) > 0") for w in ("30d", "12w", "6m", "1y")]
    calls = [e.left for e in windows if isinstance(e, Compare) and isinstance(e.left, Call)]
    durations = [call.args[1] for call in calls]
    assert [d.days for d in durations if isinstance(d, Duration)] == [30, 84, 180, 365]


# --- Errors: what, and exactly where --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "column", "message", "pointer"),
    [
        pytest.param(
            'lifecyle = "active"',
            1,
            1,
            "unknown field 'lifecyle'; did you mean 'lifecycle'?",
            'lifecyle = "active"\n^^^^^^^^',
            id="field typo",
        ),
        pytest.param(
            'lifecycle == "active"',
            1,
            11,
            "'==' is not an operator; use one of = != < <= > >=",
            'lifecycle == "active"\n          ^^',
            id="bad operator",
        ),
        pytest.param(
            "r > 2 && f > 2",
            1,
            7,
            "unexpected character '&'; use 'and'",
            "r > 2 && f > 2\n      ^",
            id="bad operator character",
        ),
        pytest.param(
            "(r > 2 or f > 2 and m > 1",
            1,
            1,
            "unclosed parenthesis: this '(' has no matching ')'",
            "(r > 2 or f > 2 and m > 1\n^",
            id="unclosed parenthesis",
        ),
        pytest.param(
            "lifecycle > 3",
            1,
            13,
            "cannot compare lifecycle (string) with 3 (number)",
            "lifecycle > 3\n            ^",
            id="type mismatch",
        ),
        pytest.param(
            'lifecycle < "active"',
            1,
            11,
            "'<' compares numbers or dates, but lifecycle is a string; use = or !=",
            'lifecycle < "active"\n          ^',
            id="ordering a string",
        ),
        pytest.param(
            "cnt(purchase, 90d) >= 2",
            1,
            1,
            "unknown function 'cnt'; did you mean 'count'? "
            "(functions: count, interest, last, subscribed, sum)",
            "cnt(purchase, 90d) >= 2\n^^^",
            id="unknown function",
        ),
        pytest.param(
            "count(purchase, 90x) >= 2",
            1,
            17,
            "bad duration '90x': unknown unit 'x'; "
            "write a whole number followed by d, w, m or y, like 30d, 12w, 6m or 1y",
            "count(purchase, 90x) >= 2\n                ^^^",
            id="bad duration unit",
        ),
        pytest.param(
            "count(purchase, 0d) >= 2",
            1,
            17,
            "bad duration '0d': a duration must be positive",
            "count(purchase, 0d) >= 2\n                ^^",
            id="duration not positive",
        ),
        pytest.param(
            'lifecycle = "active"\n  and cuont(purchase, 30d) > 1',
            2,
            7,
            "unknown function 'cuont'; did you mean 'count'? "
            "(functions: count, interest, last, subscribed, sum)",
            "  and cuont(purchase, 30d) > 1\n      ^^^^^",
            id="multi-line, error on line 2",
        ),
        pytest.param(
            'lifecycle = "active"\n\tand r >= "high"',
            2,
            11,
            'cannot compare r (number) with "high" (string)',
            '\tand r >= "high"\n\t         ^^^^^^',
            id="multi-line with a tab",
        ),
        pytest.param(
            'commitment in ("Shallow", 3)',
            1,
            27,
            "commitment is a string, so 'in' needs string values, not 3 (number)",
            'commitment in ("Shallow", 3)\n                          ^',
            id="in with a value of the wrong type",
        ),
        pytest.param(
            'commitment = "shallow"',
            1,
            14,
            "'shallow' is not a value of commitment; did you mean 'Shallow'? (one of: "
            "Entrenched, Average, Shallow, Convertible, Available, Ambivalent, "
            "Weakly unavailable, Strongly unavailable)",
            'commitment = "shallow"\n             ^^^^^^^^^',
            id="value not allowed",
        ),
        pytest.param(
            "r",
            1,
            1,
            "r is a number, not a condition; compare it, e.g. r >= 3",
            "r\n^",
            id="not a condition",
        ),
        pytest.param(
            "count(purchase) > 1",
            1,
            1,
            "count() takes 2 arguments: count(event_type, window)",
            "count(purchase) > 1\n^^^^^^^^^^^^^^^",
            id="wrong arity",
        ),
        pytest.param(
            "sum(purchase.amout, 30d) > 1",
            1,
            5,
            "purchase events have no numeric property 'amout'; did you mean 'amount'?",
            "sum(purchase.amout, 30d) > 1\n    ^^^^^^^^^^^^^^",
            id="unknown event property",
        ),
        pytest.param(
            "last(purchase) > 30d",
            1,
            18,
            "unexpected duration '30d': a duration can only be the window of a function, "
            "like count(purchase, 90d)",
            "last(purchase) > 30d\n                 ^^^",
            id="duration outside a function",
        ),
        pytest.param(
            'trait.plan = "pro" and',
            1,
            23,
            "the segment ends too early; expected one of '(', 'false', 'not', 'true', "
            'a field or function name, a number, a string ("...")',
            'trait.plan = "pro" and\n                      ^',
            id="ends too early",
        ),
        pytest.param(
            'trait.plan = "pro',
            1,
            14,
            "unclosed string: a string ends with '\"' on the same line",
            'trait.plan = "pro\n             ^^^^',
            id="unclosed string",
        ),
    ],
)
def test_errors_say_what_and_where(
    text: str, line: int, column: int, message: str, pointer: str
) -> None:
    error = error_of(text)
    assert (error.line, error.column, error.reason) == (line, column, message)
    assert error.pointer() == pointer
    assert str(error) == f"line {line}, column {column}: {message}\n{pointer}"
    assert error.as_dict()["details"]["line"] == line
    assert error.code == "invalid_segment"
    assert error.status_code == 400


# --- Null semantics -------------------------------------------------------------------------


def test_a_missing_trait_never_matches_not_even_under_not() -> None:
    frame = pl.DataFrame({"trait__plan": ["pro", None, "free"]})
    assert members('trait.plan = "pro"', frame) == [True, False, False]
    assert members('not trait.plan = "pro"', frame) == [False, False, True]
    assert members('trait.plan != "pro"', frame) == [False, False, True]
    assert members('trait.plan in ("pro", "free")', frame) == [True, False, True]
    assert members('not trait.plan in ("pro")', frame) == [False, False, True]
    # Kleene logic: unknown or true is true; unknown and false is false.
    assert members('trait.plan = "pro" or true', frame) == [True, True, True]
    assert members('not (trait.plan = "pro" and false)', frame) == [True, True, True]


def test_counts_of_nothing_are_zero_and_last_of_nothing_is_unknown() -> None:
    frame = pl.DataFrame(
        {"count__visit__30d": [None, 2], "last__purchase": pl.Series([None, 10], dtype=pl.Int64)}
    )
    assert members("count(visit, 30d) = 0", frame) == [True, False]
    assert members("last(purchase) < 30", frame) == [False, True]
    assert members("not last(purchase) < 30", frame) == [False, False]


def test_booleans_dates_and_string_sets() -> None:
    frame = pl.DataFrame(
        {
            "trait__vip": [True, False, None],
            "trait__birthday": [dt.date(1990, 5, 1), dt.date(2001, 1, 1), None],
            "trait__tags": [["hiker", "camper"], [], None],
        }
    )
    assert members("trait.vip", frame) == [True, False, False]
    assert members("not trait.vip", frame) == [False, True, False]
    assert members('trait.birthday < "2000-01-01"', frame) == [True, False, False]
    assert members('trait.tags = "camper"', frame) == [True, False, False]
    assert members('trait.tags != "camper"', frame) == [False, True, False]
    assert members('trait.tags in ("hiker", "angler")', frame) == [True, False, False]
    with pytest.raises(SegmentError, match="write dates as"):
        members('trait.birthday < "yesterday"', frame)


def test_enum_columns_compare_with_strings() -> None:
    stages = pl.Enum(["prospect", "new", "active", "at_risk", "lapsed", "won_back"])
    frame = pl.DataFrame({"lifecycle": pl.Series(["active", "new", None], dtype=stages)})
    assert members('lifecycle = "active"', frame) == [True, False, False]
    assert members('not lifecycle in ("active", "lapsed")', frame) == [False, True, False]


def test_membership_is_a_total_boolean_series() -> None:
    frame = pl.DataFrame({"r": [5, None], "f": [None, None]})
    result = evaluate(parse("r >= 4 or f >= 4"), frame, schema=SCHEMA)
    assert result.dtype == pl.Boolean
    assert result.null_count() == 0
    assert result.to_list() == [True, False]


def test_a_features_frame_without_a_column_is_refused() -> None:
    with pytest.raises(ValueError, match="lacks the columns r"):
        evaluate(parse("r > 1"), pl.DataFrame({"f": [1]}), schema=SCHEMA)


# --- JSON -----------------------------------------------------------------------------------


def test_json_round_trip_of_the_issue_example() -> None:
    tree = parse(ISSUE_EXAMPLE)
    document = json.loads(json.dumps(to_json(tree)))
    assert document["and"][2] == {
        "op": ">=",
        "left": {"call": "count", "args": [{"name": "purchase"}, {"duration": "90d"}]},
        "right": 2,
    }
    assert from_json(document) == tree


@pytest.mark.parametrize(
    ("document", "path", "message"),
    [
        ({"and": [{"field": "trait.vip"}]}, "$", "'and' needs a list of two or more conditions"),
        ({"op": "==", "left": {"field": "r"}, "right": 1}, "$.op", "unknown operator '=='"),
        ({"not": {"field": "r", "extra": 1}}, "$.not", "unexpected key extra in a 'field' node"),
        ({"in": {"field": "r"}, "values": []}, "$.values", "'values' needs a non-empty list"),
        (
            {"call": "count", "args": [{"name": "purchase"}, {"duration": "-3d"}]},
            "$.args[1].duration",
            "a duration must be positive",
        ),
        ({"or": [{"field": "and"}, True]}, "$.or[0].field", "'and' is a keyword"),
        ({"or": [None, True]}, "$.or[0]", "expected a condition"),
    ],
)
def test_malformed_json_is_refused_with_its_path(document: object, path: str, message: str) -> None:
    with pytest.raises(SegmentError) as caught:
        from_json(document)
    assert caught.value.path == path
    assert message in caught.value.reason
    assert str(caught.value).startswith(f"{path}: ")


# --- Printing: to_text then parse is the identity -------------------------------------------

_names = st.from_regex(r"[a-z_][a-z0-9_]{0,6}(\.[a-z_][a-z0-9_]{0,6})?", fullmatch=True).filter(
    lambda name: name not in KEYWORDS
)
_strings = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
_numbers = st.integers(-(10**12), 10**12) | st.floats(allow_nan=False, allow_infinity=False)
_literals: st.SearchStrategy[Literal] = st.one_of(
    _strings.map(StringLit), _numbers.map(NumberLit), st.booleans().map(BoolLit)
)
_arguments = st.one_of(
    _names.map(Name),
    st.builds(Duration, st.integers(1, 999), st.sampled_from("dwmy")),
    _strings.map(StringLit),
    _numbers.map(NumberLit),
)
_operands: st.SearchStrategy[Operand] = st.one_of(
    _names.map(Field),
    st.builds(Call, _names, st.lists(_arguments, max_size=3).map(tuple)),
    _literals,
)
_leaves: st.SearchStrategy[Expr] = st.one_of(
    _operands,
    st.builds(Compare, _operands, st.sampled_from(["=", "!=", "<", "<=", ">", ">="]), _operands),
    st.builds(In, _operands, st.lists(_literals, min_size=1, max_size=3).map(tuple)),
)
_trees: st.SearchStrategy[Expr] = st.recursive(
    _leaves,
    lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda items: And(tuple(items))),
        st.lists(inner, min_size=2, max_size=3).map(lambda items: Or(tuple(items))),
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(_trees)
def test_printing_then_parsing_gives_the_same_tree(tree: Expr) -> None:
    assert parse(to_text(tree)) == tree


@settings(max_examples=100, deadline=None)
@given(_trees)
def test_json_then_back_gives_the_same_tree(tree: Expr) -> None:
    assert from_json(json.loads(json.dumps(to_json(tree)))) == tree


# --- The documentation shows what the code does ---------------------------------------------

DOCS = Path(__file__).resolve().parents[2] / "docs" / "segment-language.md"


def test_documented_errors_are_the_real_ones() -> None:
    blocks = re.findall(r"```\n(line 1, .*?)\n```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 5
    for block in blocks:
        assert str(error_of(block.split("\n")[1])) == block


def test_documented_json_is_the_real_one() -> None:
    document = re.search(r"```json\n(.*?)\n```", DOCS.read_text(encoding="utf-8"), re.DOTALL)
    assert document is not None
    assert json.loads(document.group(1)) == to_json(parse(ISSUE_EXAMPLE))


def test_interest_names_an_interest_and_subscribed_a_topic() -> None:
    schema = default_schema(
        topics=["offers:camping"], channels=["email"], interests=["camping", "climbing"]
    )

    def problem(text: str) -> str:
        with pytest.raises(SegmentError) as caught:
            compile_segment(parse(text), schema=schema, source=text)
        return caught.value.reason

    compile_segment(parse('interest("climbing")'), schema=schema)
    compile_segment(parse('subscribed("offers:camping", "email")'), schema=schema)
    assert problem('interest("offers:camping")').startswith("unknown interest 'offers:camping'")
    assert problem('interest("climbng")') == "unknown interest 'climbng'; did you mean 'climbing'?"
    assert problem('subscribed("camping", "email")') == (
        "unknown topic 'camping'; did you mean 'offers:camping'?"
    )
