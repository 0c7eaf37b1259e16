"""Columns read from the store on both databases: purchases, traits, windows, consents and
interests."""

from __future__ import annotations

import polars as pl

from regard.segments import features
from regard.segments.compile import compile_segment
from regard.segments.language import parse
from regard.segments.options import RfmOptions
from regard.segments.schema import ValueType, default_schema
from regard.store.database import Store, unit_of_work
from tests.segments.support import (
    AS_OF,
    add_customer,
    add_event,
    days_before,
    segment_brand,
    set_preferences,
    small_base,
)


def test_purchases_are_read_in_columns_up_to_as_of(store: Store) -> None:
    people = small_base(store)
    with unit_of_work(store) as session:
        customers = features.read_customers(session)
        purchases = features.read_purchases(session, options=RfmOptions(), as_of=days_before(7))
    assert customers["customer_id"].to_list() == sorted(people.values())
    assert purchases.schema == pl.Schema(
        {"customer_id": pl.Int64(), "occurred_at": pl.Datetime("us", "UTC"), "amount": pl.Float64()}
    )
    # ben's purchase five days before AS_OF is after this as_of.
    totals = dict(purchases.group_by("customer_id").agg(pl.col("amount").sum()).iter_rows())
    assert totals == {people["ana"]: 300.0, people["cas"]: 110.0}


def test_features_frame_holds_each_rule_column(store: Store) -> None:
    people = small_base(store)
    odd = add_customer(store, plan=3, vip=True, tags=["tent", "stove"], joined="2024-02-03")
    add_event(store, people["ana"], "page_viewed", days_before(2))
    add_event(store, people["ana"], "page_viewed", days_before(50))
    set_preferences(store, people["cas"], ("orders", "email", "opted-out"))
    brand = segment_brand(store)
    schema = default_schema(
        traits={
            "plan": ValueType.STRING,
            "vip": ValueType.BOOLEAN,
            "tags": ValueType.STRING_SET,
            "joined": ValueType.DATE,
            "missing": ValueType.NUMBER,
        },
        topics=[topic.key for topic in brand.topics],
        channels=brand.channels,
        interests=[choice.key for choice in brand.preferences.interests],
    )
    rule = (
        "count(purchase, 90d) >= 0 and sum(purchase.amount, 30d) >= 0 and last(purchase) >= 0"
        ' and count(page_viewed, 7d) >= 0 and subscribed("offers:camping", "email")'
        ' and subscribed("orders", "email") and interest("camping") and trait.plan = "pro"'
        ' and trait.vip and trait.tags = "tent" and trait.joined > "2020-01-01"'
        " and trait.missing > 1"
    )
    specs = compile_segment(parse(rule), schema=schema).features
    base = pl.DataFrame({"customer_id": sorted([*people.values(), odd])})
    with unit_of_work(store) as session:
        frame = features.read_features(session, specs, base=base, brand=brand, as_of=AS_OF)
    rows = {row["customer_id"]: row for row in frame.iter_rows(named=True)}
    ana, ben, cas, dee = (rows[people[name]] for name in ("ana", "ben", "cas", "dee"))
    assert [
        ana["count__purchase__90d"],
        ben["count__purchase__90d"],
        cas["count__purchase__90d"],
    ] == [3, 1, 0]
    assert [ana["sum__purchase__amount__30d"], dee["sum__purchase__amount__30d"]] == [120.0, 0]
    assert [ana["last__purchase"], cas["last__purchase"], dee["last__purchase"]] == [10, 380, None]
    assert [ana["count__page_viewed__7d"], ben["count__page_viewed__7d"]] == [1, 0]
    assert ana["subscribed__offers:camping__email"] is True
    assert dee["subscribed__offers:camping__email"] is False
    # A transactional topic is allowed by default, until the customer says no.
    assert dee["subscribed__orders__email"] is True
    assert cas["subscribed__orders__email"] is False
    assert [ana["interest__camping"], ben["interest__camping"], dee["interest__camping"]] == [
        True,
        False,
        True,
    ]
    assert [ana["trait__plan"], cas["trait__plan"], rows[odd]["trait__plan"]] == ["pro", None, "3"]
    assert rows[odd]["trait__vip"] is True
    assert ana["trait__vip"] is None
    assert rows[odd]["trait__tags"] == ["tent", "stove"]
    assert str(rows[odd]["trait__joined"]) == "2024-02-03"
    assert frame["trait__missing"].null_count() == frame.height


def test_rows_come_back_as_stored_with_every_awkward_value(store: Store) -> None:
    """What any read of columns gives: text with quotes, commas and newlines, nulls apart from
    empty text, reals to the last digit, booleans, times, in the statement's order; a value not
    of its column's type is null."""
    from datetime import UTC, datetime

    from sqlalchemy import column, literal, select, union_all

    from regard.store.frames import fetch_frame

    when = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
    rows = [
        (3, 'say "hi", then\nleave', 0.1 + 0.2, True, when),
        (1, "", 1 / 3, False, None),
        (2, None, None, None, when),
    ]
    parts = [
        select(
            literal(number).label("n"),
            literal(text).label("text"),
            literal(real).label("real"),
            literal(flag).label("flag"),
            literal(at.strftime("%Y-%m-%d %H:%M:%S.%f") if at else None).label("at"),
            literal("not a number").label("bad"),
        )
        for number, text, real, flag, at in rows
    ]
    ordered = select(union_all(*parts).subquery()).order_by(column("n").desc())
    schema = {
        "n": pl.Int64(),
        "text": pl.String(),
        "real": pl.Float64(),
        "flag": pl.Boolean(),
        "at": pl.Datetime("us", "UTC") if store.dialect == "sqlite" else pl.String(),
        "bad": pl.Int64(),
    }
    with unit_of_work(store) as session:
        frame = fetch_frame(session, ordered, schema)
    assert frame["n"].to_list() == [3, 2, 1]
    assert frame["text"].to_list() == ['say "hi", then\nleave', None, ""]
    assert frame["real"].to_list() == [0.1 + 0.2, None, 1 / 3]
    assert frame["flag"].to_list() == [True, None, False]
    assert frame["bad"].to_list() == [None, None, None]
    if store.dialect == "sqlite":
        assert frame["at"].to_list() == [when, when, None]
