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
