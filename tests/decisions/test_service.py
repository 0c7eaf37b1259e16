"""The engine over the store, on both databases: candidates decided once, sends queued once,
nothing kept by a preview, and two runs never at once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from regard.decisions import preview, repository, service
from regard.decisions.models import Decision, OutboxMessage
from regard.decisions.reasons import sentence
from regard.store.database import Store, unit_of_work
from regard.touchpoints import triggers
from regard.touchpoints.models import Candidate
from tests.decisions.support import NEWSLETTER_DAY, NOW, newsletter
from tests.touchpoints.support import CATALOGUE, REPAIR_NOTICE, brand_with_touchpoints


def decisions(store: Store) -> list[tuple[int, str, str, str, str | None]]:
    with unit_of_work(store) as session:
        rows = session.execute(
            select(
                Decision.customer_id,
                Decision.touchpoint,
                Decision.outcome,
                Decision.reason,
                Decision.channel,
            ).order_by(Decision.customer_id, Decision.touchpoint)
        ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]


def outbox(store: Store) -> list[tuple[int, str, str, str]]:
    with unit_of_work(store) as session:
        rows = session.execute(
            select(
                OutboxMessage.customer_id,
                OutboxMessage.touchpoint,
                OutboxMessage.channel,
                OutboxMessage.content,
            ).order_by(OutboxMessage.customer_id, OutboxMessage.touchpoint)
        ).all()
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_every_candidate_ends_as_a_decision_and_sends_are_queued(
    store: Store, shop: dict[str, int]
) -> None:
    ana, ben = shop["ana"], shop["ben"]

    report = service.run_engine(store, now=NOW)

    assert report.candidates == 2
    ready = {row[0]: row for row in decisions(store)}
    assert ready[ana][1:4] == ("order_ready", "sent", "chosen")
    assert ready[ana][4] in ("sms", "email")
    assert ready[ben][1:] == ("order_ready", "sent", "chosen", "email")  # ben has no phone
    assert report.sent == len(outbox(store)) == 2
    assert report.bound >= report.value > 0
    with unit_of_work(store) as session:
        statuses = dict(
            session.execute(select(Candidate.status, func.count()).group_by(Candidate.status)).all()
        )
    assert statuses == {"sent": 2}


def test_marketing_needs_consent(store: Store, shop: dict[str, int]) -> None:
    ana, ben = shop["ana"], shop["ben"]
    service.run_engine(store, now=NOW)
    newsletter(store)

    report = service.run_engine(store, now=NEWSLETTER_DAY)

    found = decisions(store)
    assert (ana, "newsletter", "sent", "chosen", "email") in found
    assert (ben, "newsletter", "dropped", "no-consent", None) in found
    assert (report.sent, report.dropped) == (1, 1)
    assert ("newsletter", "dropped", "no-consent") in report.reasons


def test_a_second_run_decides_nothing_again(store: Store, shop: dict[str, int]) -> None:
    service.run_engine(store, now=NOW)

    again = service.run_engine(store, now=NOW + timedelta(minutes=5))

    assert again.candidates == 0
    assert len(decisions(store)) == 2
    assert len(outbox(store)) == 2


def test_a_held_candidate_waits_until_its_retry(store: Store, shop: dict[str, int]) -> None:
    # 23:30 in Amsterdam: texts wait for the morning.
    late = NOW.replace(hour=22, minute=30)

    service.run_engine(store, now=late)

    with unit_of_work(store) as session:
        waiting = session.scalars(select(Candidate).where(Candidate.status == "pending")).all()
        for candidate in waiting:
            assert candidate.not_before is not None
            assert candidate.not_before > late


def test_two_runs_never_overlap(store: Store, shop: dict[str, int]) -> None:
    with unit_of_work(store) as session:
        assert repository.take_lock(
            session, holder="elsewhere:1", now=NOW, hold_for=timedelta(minutes=30)
        )

    with pytest.raises(service.EngineBusy, match="elsewhere:1"):
        service.run_engine(store, now=NOW + timedelta(minutes=1))
    report = service.run_engine(store, now=NOW + timedelta(minutes=31))  # the lock lapsed

    assert report.run_id > 0


def test_a_campaign_preview_keeps_nothing(store: Store, shop: dict[str, int]) -> None:
    with unit_of_work(store) as session:
        before = session.scalar(select(func.count()).select_from(Candidate))

    found = preview.preview_campaign(store, "spring_camping", by="mila", now=NOW)

    with unit_of_work(store) as session:
        after = session.scalar(select(func.count()).select_from(Candidate))
    assert after == before
    assert decisions(store) == []
    assert found.audience == 0  # nobody is in lifecycle:active


def test_a_candidate_whose_touchpoint_left_the_catalogue_is_dropped(
    store: Store, shop: dict[str, int]
) -> None:
    store.brand = store.brand.model_copy(
        update={"touchpoints": tuple(t for t in store.brand.touchpoints if t.name != "order_ready")}
    )

    report = service.run_engine(store, now=NOW)

    assert report.reasons == {("order_ready", "dropped", "touchpoint-removed"): 2}
    assert outbox(store) == []
    with unit_of_work(store) as session:
        (decision, *_) = repository.decisions_of(session, touchpoint="order_ready")
        assert sentence(decision.outcome, decision.reason, decision.params, name="Ana") == (
            "Dropped: The touchpoint is no longer in the catalogue."
        )


@pytest.mark.parametrize("chosen", ["email", "sms"])
def test_a_launch_restricted_to_a_channel_sends_on_that_channel_only(
    store: Store, shop: dict[str, int], chosen: str
) -> None:
    ana, ben = shop["ana"], shop["ben"]
    store.brand = brand_with_touchpoints([*CATALOGUE, REPAIR_NOTICE])
    with unit_of_work(store) as session:
        done = triggers.launch_campaign(
            session, "repair_notice", brand=store.brand, by="mila", now=NOW, channels=[chosen]
        )
    assert done.created == 2

    service.run_engine(store, now=NOW)

    found = {row[0]: row[2:] for row in decisions(store) if row[1] == "repair_notice"}
    assert {channel for outcome, _reason, channel in found.values() if outcome == "sent"} == {
        chosen
    }
    assert {row[2] for row in outbox(store) if row[1] == "repair_notice"} == {chosen}
    assert found[ana] == ("sent", "chosen", chosen)
    if chosen == "sms":  # ben has no phone, and email is not among the launch's channels
        assert found[ben][0] == "dropped"
    else:
        assert found[ben] == ("sent", "chosen", "email")
