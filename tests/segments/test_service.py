"""Evaluating segments over a stored base on both databases: memberships, moves and runs."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import select

from regard.commitment import repository as commitment_repository
from regard.commitment import service as commitment
from regard.config import load_brand_config
from regard.errors import ConfigurationError, InvalidInput
from regard.segments import features, repository, service
from regard.segments.models import SegmentMembership, SegmentRun
from regard.segments.options import RfmOptions
from regard.segments.schema import LIFECYCLE_STAGES
from regard.store.database import Store, unit_of_work
from tests.segments.support import (
    AS_OF,
    add_customer,
    add_purchases,
    segment_brand,
    small_base,
)

LATER = AS_OF + timedelta(days=60)


def members(store: Store, segment: str) -> set[int]:
    with unit_of_work(store) as session:
        return set(
            session.scalars(
                select(SegmentMembership.customer_id).where(
                    SegmentMembership.segment == segment, SegmentMembership.exited_at.is_(None)
                )
            )
        )


def stays(store: Store, segment: str, customer_id: int) -> list[tuple[datetime, datetime | None]]:
    with unit_of_work(store) as session:
        rows = session.execute(
            select(SegmentMembership.entered_at, SegmentMembership.exited_at)
            .where(
                SegmentMembership.segment == segment, SegmentMembership.customer_id == customer_id
            )
            .order_by(SegmentMembership.entered_at)
        ).all()
        return [(entered, exited) for entered, exited in rows]


def evaluate(
    store: Store, as_of: datetime, names: list[str] | None = None
) -> dict[str, service.SegmentSummary]:
    with unit_of_work(store) as session:
        summaries = service.evaluate_segments(
            session, brand=segment_brand(store), as_of=as_of, names=names
        )
    return {summary.name: summary for summary in summaries}


def test_first_evaluation_places_each_customer(store: Store) -> None:
    people = small_base(store)
    ana, ben, cas, dee = (people[name] for name in ("ana", "ben", "cas", "dee"))
    summaries = evaluate(store, AS_OF)

    # Two buyers in the RFM window: ana bought more, ben more recently.
    assert members(store, "rfm:loyal_customers") == {ana}
    assert members(store, "rfm:potential_loyalists") == {ben}
    assert members(store, "lifecycle:active") == {ana}
    assert members(store, "lifecycle:new") == {ben}
    assert members(store, "lifecycle:lapsed") == {cas}
    assert members(store, "lifecycle:prospect") == {dee}
    # 3 purchases in 90 days worth 300, and opted in; ben bought once.
    assert members(store, "keen_campers") == {ana}
    # Interested in camping on the pro plan: ana told us, dee too.
    assert members(store, "camping_pro") == {ana, dee}
    keen = summaries["keen_campers"]
    assert (keen.members, keen.entered, keen.exited) == (1, 1, 0)
    assert keen.evaluated_at == AS_OF
    assert keen.trend == (1,)
    assert keen.description == "Buy often"
    assert summaries["rfm:champions"].members == 0
    assert stays(store, "keen_campers", ana) == [(AS_OF, None)]


def test_second_evaluation_moves_customers_in_and_out(store: Store) -> None:
    people = small_base(store)
    ana, ben = people["ana"], people["ben"]
    evaluate(store, AS_OF)
    add_purchases(store, ben, (LATER - timedelta(days=1), 200))
    summaries = evaluate(store, LATER)

    # ana's purchases fell out of the 90 days; ben bought again for 200.
    assert members(store, "keen_campers") == {ben}
    assert stays(store, "keen_campers", ana) == [(AS_OF, LATER)]
    assert stays(store, "keen_campers", ben) == [(LATER, None)]
    keen = summaries["keen_campers"]
    assert (keen.members, keen.entered, keen.exited) == (1, 1, 1)
    assert keen.trend == (1, 1)
    # ana went 70 days without her usual monthly purchase; ben is no longer new.
    assert members(store, "lifecycle:at_risk") == {ana}
    assert members(store, "lifecycle:active") == {ben}
    assert stays(store, "lifecycle:active", ana) == [(AS_OF, LATER)]
    assert stays(store, "lifecycle:new", ben) == [(AS_OF, LATER)]
    active = summaries["lifecycle:active"]
    assert (active.members, active.entered, active.exited) == (1, 1, 1)
    # Customers who stayed keep their membership untouched.
    assert len(stays(store, "camping_pro", ana)) == 1

    with unit_of_work(store) as session:
        runs = session.scalars(select(SegmentRun).where(SegmentRun.segment == "keen_campers")).all()
        listed = {s.name: s for s in service.list_segments(session, brand=segment_brand(store))}
    assert len(runs) == 2
    assert all(run.seconds >= 0 for run in runs)
    assert listed["keen_campers"].members == 1
    assert listed["keen_campers"].trend == (1, 1)
    assert listed["lifecycle:at_risk"].members == 1


def test_only_the_named_segments_are_evaluated(store: Store) -> None:
    small_base(store)
    summaries = evaluate(store, AS_OF, names=["keen_campers", "lifecycle"])
    assert set(summaries) == {"keen_campers", *(f"lifecycle:{s}" for s in LIFECYCLE_STAGES)}
    assert members(store, "rfm:loyal_customers") == set()
    with pytest.raises(InvalidInput, match="did you mean 'keen_campers'"):
        evaluate(store, AS_OF, names=["keen_camper"])


def test_a_typo_in_a_custom_rule_is_refused_with_its_place(tmp_path: Path) -> None:
    config = tmp_path / "regard.toml"
    config.write_text(
        'name = "Test"\n'
        "[[segments.custom]]\n"
        'name = "keen_campers"\n'
        'rule = """count(purchase, 90d) >= 2\n'
        '  and cuont(purchase, 30d) > 1"""\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as refused:
        load_brand_config(config)
    message = str(refused.value)
    assert "segment 'keen_campers'" in message
    assert "line 2, column 7: unknown function 'cuont'; did you mean 'count'?" in message
    assert "  and cuont(purchase, 30d) > 1\n      ^^^^^" in message


def test_a_rule_that_does_not_parse_is_refused_with_its_place(tmp_path: Path) -> None:
    config = tmp_path / "regard.toml"
    config.write_text(
        'name = "Test"\n[[segments.custom]]\nname = "big"\n'
        'rule = "sum(purchase.amount, 90x) > 1"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=r"segment 'big': line 1, column \d+"):
        load_brand_config(config)


def test_commitment_groups_come_from_the_latest_survey_response(store: Store) -> None:
    people = small_base(store)
    with unit_of_work(store) as session:
        commitment.record_response(
            session,
            people["dee"],
            brand=store.brand,
            is_user=False,
            answers={"rating_brand": 9, "rating_current": 3},
            free_text=None,
            source="api",
            responded_at=AS_OF - timedelta(days=1),
        )
    summaries = evaluate(store, AS_OF, names=["commitment"])
    assert members(store, "commitment:Available") == {people["dee"]}
    assert summaries["commitment:Convertible"].members == 0


def test_an_evaluation_keeps_the_commitment_cut_points_it_used(store: Store) -> None:
    people = small_base(store)
    with unit_of_work(store) as session:
        for name, satisfaction in (("ana", 9), ("ben", 4)):
            commitment.record_response(
                session,
                people[name],
                brand=store.brand,
                is_user=True,
                answers={
                    "satisfaction": satisfaction,
                    "emotional_fit": satisfaction,
                    "involvement": 3,
                    "best_alternative": 5,
                    "considering_switching": 2,
                },
                free_text=None,
                source="api",
                responded_at=AS_OF - timedelta(days=1),
            )

    evaluate(store, AS_OF, names=["commitment"])

    with unit_of_work(store) as session:
        run = commitment_repository.latest_run(session)
        assert run is not None
        assert run.scored_at == AS_OF
        assert (run.respondents, run.scored_users) == (2, 2)
        assert commitment.current_cuts(session, brand=store.brand) == (
            run.shallow_from,
            run.average_from,
            run.entrenched_from,
        )


def test_memberships_are_opened_and_closed_in_bulk(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small batches, so that a few hundred rows cross several of them.
    monkeypatch.setattr(repository, "_BATCH_ROWS", 100)
    people = [add_customer(store) for _ in range(40)]
    segments = [f"bulk_{i:02d}" for i in range(30)]
    entered = pl.DataFrame(
        {
            "segment": [segment for segment in segments for _ in people],
            "customer_id": [person for _ in segments for person in people],
        }
    )
    with unit_of_work(store) as session:
        repository.open_memberships(session, entered, at=AS_OF)
    with unit_of_work(store) as session:
        current = repository.current_members(session, segments)
    assert current.height == 1_200
    assert (
        current.sort("segment", "customer_id")
        .select("segment", "customer_id")
        .equals(entered.sort("segment", "customer_id"))
    )
    leaving = current.filter(pl.col("customer_id").is_in(people[:25]))
    with unit_of_work(store) as session:
        repository.close_memberships(session, leaving["id"], at=LATER)
    with unit_of_work(store) as session:
        staying = repository.current_members(session, segments)
        ended = session.execute(
            select(SegmentMembership.customer_id, SegmentMembership.exited_at).where(
                SegmentMembership.exited_at.is_not(None)
            )
        ).all()
    assert staying.height == 15 * 30
    assert set(staying["customer_id"]) == set(people[25:])
    assert len(ended) == 25 * 30
    assert {exited for _, exited in ended} == {LATER}
    assert stays(store, "bulk_07", people[0]) == [(AS_OF, LATER)]
    assert stays(store, "bulk_07", people[-1]) == [(AS_OF, None)]


def test_purchases_read_in_bulk_keep_every_amount(store: Store) -> None:
    buyer = add_customer(store)
    amounts = [42.5, 0.30000000000000004, 7, "12.25", "not a number", None, 1e20, -3.5]
    for position, amount in enumerate(amounts):
        add_purchases(store, buyer, (AS_OF - timedelta(days=position + 1), amount))  # type: ignore[arg-type]
    add_purchases(store, buyer, (AS_OF + timedelta(days=1), 99.0))
    with unit_of_work(store) as session:
        purchases = features.read_purchases(session, options=RfmOptions(), as_of=AS_OF)
    read = purchases.sort("occurred_at", descending=True)
    assert read["occurred_at"].to_list() == [
        AS_OF - timedelta(days=position + 1) for position in range(len(amounts))
    ]
    assert read["amount"].to_list() == [
        42.5,
        0.30000000000000004,
        7.0,
        12.25,
        None,
        None,
        1e20,
        -3.5,
    ]


def test_purchase_amounts_of_every_json_kind_read_as_before(store: Store) -> None:
    buyer = add_customer(store)
    amounts: list[object] = ['say "12"', "", {"value": 3}, [1, 2], "1,5", " 8"]
    for position, amount in enumerate(amounts):
        add_purchases(store, buyer, (AS_OF - timedelta(days=position + 1), amount))  # type: ignore[arg-type]
    with unit_of_work(store) as session:
        purchases = features.read_purchases(session, options=RfmOptions(), as_of=AS_OF)
    read = purchases.sort("occurred_at", descending=True)["amount"].to_list()
    assert read == [None, None, None, None, None, None]
