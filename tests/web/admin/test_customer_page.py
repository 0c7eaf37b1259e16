"""The customer page: found by email, the whole story checked against the database, masked by
role, every view audited, and a consent given on the phone recorded through a CSRF-checked form."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from regard.customers.identities import claim
from regard.customers.models import Customer, Event, Identity
from regard.decisions.models import Decision, DecisionRun, OutboxMessage
from regard.decisions.reasons import sentence
from regard.preferences import service as preferences
from regard.preferences.models import ConsentEntry
from regard.preferences.service import ConsentChange, Origin
from regard.privacy import roles
from regard.privacy.models import AuditEntry
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate
from tests.conftest import brand_for_tests
from tests.web.admin.support import signed_in_as

EMAIL = "ana.lima@example.org"
PHONE = "+31612345678"
WHEN = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def seed_customer(store: Store) -> int:
    """One customer with identities, a consent, a segment, events and three decisions."""
    with unit_of_work(store) as session:
        customer = Customer(
            created_at=WHEN,
            updated_at=WHEN,
            personal={"first_name": "Ana", "last_name": "Lima"},
            traits={"plan": "gold"},
        )
        session.add(customer)
        session.flush()
        for kind, raw in (("email", EMAIL), ("phone", PHONE)):
            identity = claim(kind, raw, region="NL", source="shop")
            session.add(
                Identity(
                    customer_id=customer.id,
                    kind=kind,
                    namespace="",
                    lookup=identity.lookup(store.vault),
                    value=identity.value,
                    source="shop",
                    created_at=WHEN,
                )
            )
        session.add(
            SegmentMembership(segment="lifecycle:active", customer_id=customer.id, entered_at=WHEN)
        )
        session.add(
            SegmentMembership(
                segment="lifecycle:new", customer_id=customer.id, entered_at=WHEN, exited_at=WHEN
            )
        )
        session.add(
            Event(
                customer_id=customer.id,
                type="order.placed",
                occurred_at=WHEN,
                received_at=WHEN,
                source="shop",
                message_id="o-1",
                properties={"total": 120},
            )
        )
        session.flush()
        preferences.record(
            session,
            customer.id,
            brand=store.brand,
            origin=Origin(source="center", actor="customer"),
            consents=[ConsentChange("offers:camping", "sms", "opted-in")],
        )
        run = DecisionRun(started_at=WHEN, status="done")
        session.add(run)
        session.flush()
        for key, outcome, reason, params in [
            ("k1", "sent", "chosen", {"channel": "email"}),
            ("k2", "held", "frequency", {"topic": "offers:camping"}),
            ("k3", "dropped", "no-consent", {"topic": "events", "channel": "email"}),
        ]:
            candidate = Candidate(
                touchpoint="news",
                customer_id=customer.id,
                key=key,
                triggered_at=WHEN,
                created_at=WHEN,
            )
            session.add(candidate)
            session.flush()
            decision = Decision(
                run_id=run.id,
                candidate_id=candidate.id,
                customer_id=customer.id,
                touchpoint="news",
                outcome=outcome,
                channel="email" if outcome == "sent" else None,
                reason=reason,
                params=params,
                decided_at=WHEN,
            )
            session.add(decision)
            session.flush()
            if outcome == "sent":
                session.add(
                    OutboxMessage(
                        idempotency_key=key,
                        decision_id=decision.id,
                        customer_id=customer.id,
                        touchpoint="news",
                        topic="events",
                        channel="email",
                        content="news",
                        send_at=WHEN,
                        status="sent",
                        sent_at=WHEN,
                        created_at=WHEN,
                    )
                )
        return customer.id


def _audit(store: Store, action: str) -> list[AuditEntry]:
    with unit_of_work(store) as session:
        return list(
            session.scalars(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
            )
        )


def _sentences(store: Store, customer_id: int, name: str | None) -> list[str]:
    with unit_of_work(store) as session:
        rows = session.scalars(select(Decision).where(Decision.customer_id == customer_id)).all()
        return [
            sentence(d.outcome, None if d.outcome == "sent" else d.reason, d.params, name=name)
            for d in rows
        ]


def test_an_agent_finds_a_customer_by_email_and_reads_their_whole_story(
    client: TestClient, store: Store
) -> None:
    customer_id = seed_customer(store)
    signed_in_as(client, store, "agent")
    found = client.get(
        "/admin/customers", params={"email": "  ANA.Lima@Example.org "}, follow_redirects=False
    )
    assert found.status_code == 303
    assert found.headers["location"] == f"/admin/customers/{customer_id}"
    page = client.get(found.headers["location"])
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Ana Lima" in text
    assert EMAIL in text
    assert PHONE in text
    assert "gold" in text
    # The consent ledger in plain words, one line per stored entry.
    with unit_of_work(store) as session:
        entries = session.scalars(
            select(ConsentEntry).where(ConsentEntry.customer_id == customer_id)
        ).all()
        assert len(entries) == 1
    assert text.count('class="ledger-line"') == 1
    assert "Opted in to Offers on camping gear by text message, in the preference centre." in text
    assert 'data-topic="offers:camping" data-channel="sms" data-state="opted-in">Yes' in text
    # Open segments only; the event timeline; every decision with its sentence.
    assert "lifecycle:active" in text
    assert "lifecycle:new" not in text
    assert "order.placed" in text
    assert "total: 120" in text
    assert text.count('class="message"') == 3
    for line in _sentences(store, customer_id, "Ana Lima"):
        assert line in text
    assert "Held: " in text
    assert "Dropped: " in text
    assert "Sent: by email" in text
    # The look-up and the read are audited, naming the customer by id only.
    (lookup,) = _audit(store, "customer.lookup")
    assert lookup.target == f"customer:{customer_id}"
    assert lookup.subject_lookup is not None
    assert lookup.details == {"via": "console", "by": "email", "found": True}
    (read,) = _audit(store, "customer.read")
    assert read.target == f"customer:{customer_id}"
    assert read.actor_kind == "staff"
    assert read.details == {"via": "console", "masked": False}
    assert EMAIL not in str(lookup.details) + str(read.details)


def test_a_marketer_sees_personal_data_masked_and_sentences_without_the_name(
    client: TestClient, store: Store
) -> None:
    customer_id = seed_customer(store)
    signed_in_as(client, store, "marketer")
    page = client.get(f"/admin/customers/{customer_id}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert EMAIL not in text
    assert PHONE not in text
    assert "Lima" not in text
    assert roles.mask(EMAIL, "email", "marketer") in text
    assert roles.mask(PHONE, "phone", "marketer") in text
    assert roles.mask("Ana Lima", "name", "marketer") in text
    for line in _sentences(store, customer_id, None):
        assert line in text
    assert "Record a consent" not in text  # a marketer may not record consent
    (read,) = _audit(store, "customer.read")
    assert read.details == {"via": "console", "masked": True}


def test_an_analyst_may_not_look_anyone_up_and_is_masked_everywhere(
    client: TestClient, store: Store
) -> None:
    from regard.console.customer import CustomerStory, read_story
    from regard.privacy.audit import Actor

    customer_id = seed_customer(store)
    with unit_of_work(store) as session:
        story = read_story(
            session,
            customer_id,
            brand=brand_for_tests(),
            role="analyst",
            actor=Actor.command_line(),
        )
        assert isinstance(story, CustomerStory)
        assert story.masked
        assert {i.value for i in story.identities} == {
            roles.mask(EMAIL, "email", "analyst"),
            roles.mask(PHONE, "phone", "analyst"),
        }
    signed_in_as(client, store, "analyst")
    assert client.get(f"/admin/customers/{customer_id}").status_code == 403
    assert client.get("/admin/customers", params={"email": EMAIL}).status_code == 403


def test_an_unknown_email_says_so_without_echoing_it_and_is_audited(
    client: TestClient, store: Store
) -> None:
    seed_customer(store)
    signed_in_as(client, store, "agent")
    page = client.get("/admin/customers", params={"email": "nobody@example.org"})
    assert page.status_code == 404
    assert "No customer has that email address." in page.text
    assert "nobody@example.org" not in page.text
    (lookup,) = _audit(store, "customer.lookup")
    assert lookup.target is None
    assert lookup.details == {
        "via": "console",
        "by": "email",
        "found": False,
    }
    assert client.get("/admin/customers", params={"email": "not an email"}).status_code == 400


def test_an_agent_records_a_consent_given_on_the_phone(client: TestClient, store: Store) -> None:
    customer_id = seed_customer(store)
    csrf = signed_in_as(client, store, "agent")
    form = {"topic": "events", "channel": "email", "state": "opted-in"}
    refused = client.post(
        f"/admin/customers/{customer_id}/consent", data=form, follow_redirects=False
    )
    assert refused.status_code == 403  # no CSRF token
    forged = client.post(
        f"/admin/customers/{customer_id}/consent",
        data={**form, "csrf_token": "x" * 43},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert _audit(store, "consent.recorded") == []
    done = client.post(
        f"/admin/customers/{customer_id}/consent",
        data={**form, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with unit_of_work(store) as session:
        entries = session.scalars(
            select(ConsentEntry)
            .where(ConsentEntry.customer_id == customer_id)
            .order_by(ConsentEntry.seq)
        ).all()
        latest = entries[-1]
        assert (latest.topic, latest.channel, latest.source) == ("events", "email", "staff")
        assert latest.state in ("opted-in", "pending")  # pending under double opt-in
        (recorded,) = _audit(store, "consent.recorded")
        assert latest.actor == f"staff:{recorded.actor_id}"
        assert latest.note == "given on the phone"
        assert recorded.target == f"customer:{customer_id}"
        assert recorded.details is not None
        assert recorded.details["how"] == "phone"
        cell = preferences.current(session, customer_id, brand=store.brand).consents[
            ("events", "email")
        ]
        assert cell.state == latest.state
    page = html.unescape(client.get(done.headers["location"]).text)
    assert "The consent was recorded." in page
    assert page.count('class="ledger-line"') == 2
    bad = client.post(
        f"/admin/customers/{customer_id}/consent",
        data={"topic": "nonsense", "channel": "email", "state": "opted-in", "csrf_token": csrf},
    )
    assert bad.status_code == 400
    assert "nothing was changed" in bad.text
    assert len(_audit(store, "consent.recorded")) == 1


def test_a_marketer_may_not_record_consent(client: TestClient, store: Store) -> None:
    customer_id = seed_customer(store)
    csrf = signed_in_as(client, store, "marketer")
    answer = client.post(
        f"/admin/customers/{customer_id}/consent",
        data={"topic": "events", "channel": "email", "state": "opted-in", "csrf_token": csrf},
    )
    assert answer.status_code == 403
    assert _audit(store, "consent.recorded") == []
