"""Feedback on sent messages: matched to its message, recorded once on the customer's timeline,
suppressing a channel after a hard bounce or a complaint, and read back by the engine."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from regard.customers.identities import IdentityClaim
from regard.decisions.inputs import read_inputs
from regard.delivery import feedback
from regard.delivery.models import MessageFeedback, Suppression
from regard.errors import InvalidInput
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate
from tests.delivery.feedback_support import NOW, customer, feedback_events, message, sent


def _record(store: Store, outbox_id: int, kind: feedback.FeedbackKind, **extra: object) -> bool:
    with unit_of_work(store) as session:
        found = feedback.record(
            session,
            message(store, outbox_id),
            kind=kind,
            occurred_at=NOW,
            received_at=NOW,
            vault=store.vault,
            **extra,  # type: ignore[arg-type]
        )
        return found.recorded


def test_provider_status_is_recorded_once_on_the_timeline(store: Store) -> None:
    ana = customer(store, phone="+31612345678")
    (text,) = sent(store, ana, channel="sms", touchpoint="order-ready", topic="orders")
    status = feedback.ProviderStatus(provider_id=f"p-{text}", kind="delivered", occurred_at=NOW)
    for expected in (True, False):
        with unit_of_work(store) as session:
            outcome = feedback.provider_status(
                session, status, channel="sms", received_at=NOW, vault=store.vault
            )
        assert outcome.recorded is expected
    (event,) = feedback_events(store, ana)
    assert event.type == "message.delivered"
    assert event.occurred_at == NOW
    assert event.properties == {
        "outbox_id": text,
        "touchpoint": "order-ready",
        "topic": "orders",
        "channel": "sms",
        "message_id": f"regard-{text}",
    }
    assert event.personal is None
    assert "+316" not in str(event.properties)


def test_feedback_for_a_message_never_sent_is_refused(store: Store) -> None:
    status = feedback.ProviderStatus(provider_id="nobody", kind="delivered", occurred_at=NOW)
    with unit_of_work(store) as session, pytest.raises(feedback.UnknownMessage) as caught:
        feedback.provider_status(session, status, channel="sms", received_at=NOW, vault=store.vault)
    assert caught.value.status_code == 404


def test_a_hard_bounce_suppresses_the_address_and_a_soft_one_does_not(store: Store) -> None:
    ana = customer(store, email="ana@example.com")
    first, second = sent(store, ana, count=2)
    bare = message(store, second).message_id
    assert bare is not None
    with unit_of_work(store) as session:
        soft = feedback.email_feedback(
            session,
            message_id=bare,
            kind="bounce",
            bounce="soft",
            occurred_at=NOW,
            received_at=NOW,
            vault=store.vault,
        )
        assert not soft.suppressed
        assert feedback.suppressed(session, [(ana, "email")]) == set()
    with unit_of_work(store) as session:
        # Reported without the angle brackets, as some providers do.
        hard = feedback.email_feedback(
            session,
            message_id=bare.strip("<>"),
            kind="bounce",
            bounce="hard",
            occurred_at=NOW,
            received_at=NOW,
            vault=store.vault,
            recipient="Ana@Example.com",
        )
    assert hard.recorded
    assert hard.suppressed
    with unit_of_work(store) as session:
        (row,) = session.scalars(select(Suppression))
        assert (row.customer_id, row.channel, row.reason) == (ana, "email", "hard-bounce")
        assert row.address == IdentityClaim(kind="email", value="ana@example.com").lookup(
            store.vault
        )
        assert row.outbox_id == second
        assert feedback.suppressed(session, [(ana, "email"), (ana, "sms")]) == {(ana, "email")}
    assert [e.type for e in feedback_events(store, ana)] == ["message.bounced"] * 2
    assert [e.properties["bounce"] for e in feedback_events(store, ana)] == ["soft", "hard"]
    assert first != second


def test_a_complaint_suppresses_the_channel_for_the_engine(store: Store) -> None:
    ana = customer(store, email="ana@example.com")
    (mail,) = sent(store, ana, pending_candidate=True)
    assert _record(store, mail, "complained")
    assert not _record(store, mail, "complained")
    with unit_of_work(store) as session:
        inputs = read_inputs(
            session, brand=store.brand, now=NOW, candidate_ids=select(Candidate.id)
        )
    frame = inputs.suppressions
    assert frame.select("customer_id", "channel", "reason").rows() == [(ana, "email", "complaint")]
    assert frame["at"].to_list() == [NOW]


def test_engagement_reaches_the_engines_history(store: Store) -> None:
    ana = customer(store, email="ana@example.com")
    old = NOW - timedelta(days=5)
    (clicked,) = sent(store, ana, sent_at=old, pending_candidate=True)
    (ignored,) = sent(store, ana, sent_at=old)
    (recent,) = sent(store, ana, sent_at=NOW - timedelta(days=1))
    (queued,) = sent(store, ana, sent_at=None, status="queued")
    (delivered,) = sent(store, ana, sent_at=old)
    assert _record(store, clicked, "clicked", link="https://shop.example/tents?id=1")
    assert _record(store, delivered, "delivered")
    with unit_of_work(store) as session:
        history = read_inputs(
            session, brand=store.brand, now=NOW, candidate_ids=select(Candidate.id)
        ).history
    assert history.columns == [
        "customer_id",
        "candidate_id",
        "touchpoint",
        "channel",
        "sent_at",
        "topic",
        "importance",
        "engaged",
    ]
    # In the order the messages were sent above: clicked, ignored (5 days without a sign),
    # too recent to say, never left, delivered but never opened.
    assert history.sort("candidate_id")["engaged"].to_list() == [True, False, None, None, False]
    del ignored, recent, queued


def test_clicks_on_different_links_count_apart_and_keep_no_path(store: Store) -> None:
    ana = customer(store, email="ana@example.com")
    (mail,) = sent(store, ana)
    assert _record(store, mail, "clicked", link="https://shop.example/a?email=ana@example.com")
    assert _record(store, mail, "clicked", link="https://shop.example/b")
    assert not _record(store, mail, "clicked", link="https://shop.example/b")
    events = feedback_events(store, ana)
    assert [e.properties["link_host"] for e in events] == ["shop.example", "shop.example"]
    assert "ana@" not in str([e.properties for e in events])
    with unit_of_work(store) as session:
        kinds = session.scalars(select(MessageFeedback.kind)).all()
    assert kinds == ["clicked", "clicked"]


def test_click_tokens_lead_only_where_they_were_signed_to(store: Store) -> None:
    ana = customer(store, email="ana@example.com")
    (mail,) = sent(store, ana)
    url = feedback.click_url(
        "https://regard.example/", outbox_id=mail, url="https://shop.example/x", vault=store.vault
    )
    assert url.startswith("https://regard.example/r/")
    token = url.rsplit("/", 1)[1]
    with unit_of_work(store) as session:
        assert (
            feedback.follow_click(session, token, now=NOW, vault=store.vault)
            == "https://shop.example/x"
        )
        with pytest.raises(feedback.BadLink):
            feedback.follow_click(session, token[:-2] + "xx", now=NOW, vault=store.vault)
    for bad in ("javascript:alert(1)", "//evil.example/", "/relative"):
        with pytest.raises(InvalidInput):
            feedback.click_url("https://r.example", outbox_id=mail, url=bad, vault=store.vault)
    (event,) = feedback_events(store, ana)
    assert event.type == "message.clicked"


def test_a_merge_carries_suppressions_to_the_survivor(store: Store) -> None:
    from regard.customers.service import MERGE_HOOKS

    ana = customer(store, email="ana@example.com")
    other = customer(store, phone="+31612345678")
    (mail,) = sent(store, other)
    assert _record(store, mail, "complained")
    with unit_of_work(store) as session:
        for hook in MERGE_HOOKS:
            if hook.__module__ == feedback.__name__:
                hook(session, ana, other)
        assert feedback.suppressed(session, [(ana, "email"), (other, "email")]) == {(ana, "email")}
