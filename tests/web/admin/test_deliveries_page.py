"""The deliveries page: outbox counts and dead letters checked against the database; retry and
resume only for admins, with CSRF, each audited."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from regard.customers.models import Customer
from regard.decisions.models import Decision, DecisionRun, OutboxMessage
from regard.delivery import outbox
from regard.delivery.models import BreakerStream
from regard.privacy.models import AuditEntry
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import Candidate
from tests.web.admin.support import signed_in_as

WHEN = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
FAILED_WHY = "gave up after 8 attempts: 451 try later"
STREAM = "email:news.example.com"


def seed_outbox(store: Store) -> int:
    """Messages in every state, one dead letter (its id returned) and a halted stream."""
    with unit_of_work(store) as session:
        customer = Customer(created_at=WHEN, updated_at=WHEN)
        session.add(customer)
        run = DecisionRun(started_at=WHEN, status="done")
        session.add(run)
        session.flush()
        candidate = Candidate(
            touchpoint="news", customer_id=customer.id, key="k", triggered_at=WHEN, created_at=WHEN
        )
        session.add(candidate)
        session.flush()
        decision = Decision(
            run_id=run.id,
            candidate_id=candidate.id,
            customer_id=customer.id,
            touchpoint="news",
            outcome="sent",
            reason="chosen",
            decided_at=WHEN,
        )
        session.add(decision)
        session.flush()
        rows = [
            ("queued", None),
            ("queued", None),
            ("sent", None),
            ("failed", FAILED_WHY),
            ("cancelled", "suppressed: hard bounce"),
            ("ambiguous", "ambiguous: the worker stopped while sending (its lease expired)"),
        ]
        messages = []
        for number, (status, why) in enumerate(rows):
            message = OutboxMessage(
                idempotency_key=f"m{number}",
                decision_id=decision.id,
                customer_id=customer.id,
                touchpoint="news",
                topic="events",
                channel="email",
                content="news",
                send_at=WHEN,
                status=status,
                attempts=8 if status == "failed" else 0,
                last_error=why,
                created_at=WHEN,
                updated_at=WHEN,
            )
            session.add(message)
            messages.append(message)
        session.add(
            BreakerStream(
                stream=STREAM, state="halted", complaints=5, deliveries=900, changed_at=WHEN
            )
        )
        session.flush()
        return messages[3].id


def _audit(store: Store, action: str) -> list[AuditEntry]:
    with unit_of_work(store) as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def _message(store: Store, outbox_id: int) -> OutboxMessage:
    with unit_of_work(store) as session:
        found = session.get(OutboxMessage, outbox_id)
        assert found is not None
        return found


def test_the_page_shows_the_outbox_as_the_database_holds_it(
    client: TestClient, store: Store
) -> None:
    dead = seed_outbox(store)
    signed_in_as(client, store, "marketer")
    page = client.get("/admin/deliveries")
    assert page.status_code == 200
    text = html.unescape(page.text)
    with unit_of_work(store) as session:
        counts = outbox.status_counts(session)
        problems = outbox.problem_counts(session)
    assert counts == {"queued": 2, "sent": 1, "failed": 1, "cancelled": 1, "ambiguous": 1}
    for state, count in counts.items():
        assert f'<tr data-state="{state}"><th scope="row">{state}</th><td>{count}</td>' in text
    assert '<tr data-state="retry"><th scope="row">retry</th><td>0</td>' in text
    for reason, count in problems.items():
        assert f'<tr class="problem"><td>{reason}</td><td>{count}</td></tr>' in text
    assert text.count('class="dead-letter"') == 1
    assert f'data-outbox="{dead}"' in text
    assert FAILED_WHY in text
    assert text.count('class="ambiguous"') == 1
    assert f'data-stream="{STREAM}"' in text
    assert "halted" in text
    # A marketer sees, but may neither retry nor resume.
    assert "/admin/deliveries/retry" not in text
    assert "/admin/deliveries/resume" not in text


def test_an_admin_retries_a_dead_letter(client: TestClient, store: Store) -> None:
    dead = seed_outbox(store)
    csrf = signed_in_as(client, store, "admin")
    page = client.get("/admin/deliveries").text
    assert 'action="/admin/deliveries/retry"' in page
    refused = client.post("/admin/deliveries/retry", data={"outbox_id": str(dead)})
    assert refused.status_code == 403  # no CSRF token
    assert _message(store, dead).status == "failed"
    done = client.post(
        "/admin/deliveries/retry",
        data={"outbox_id": str(dead), "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    message = _message(store, dead)
    assert message.status == "retry"
    assert message.attempts == 0
    assert message.due_at is not None
    (entry,) = _audit(store, "delivery.retried")
    assert entry.target == f"outbox:{dead}"
    assert entry.actor_kind == "staff"
    assert "The message is due again now." in client.get(done.headers["location"]).text
    again = client.post(
        "/admin/deliveries/retry", data={"outbox_id": str(dead), "csrf_token": csrf}
    )
    assert again.status_code == 409  # no longer a dead letter
    assert (
        client.post(
            "/admin/deliveries/retry", data={"outbox_id": "999999", "csrf_token": csrf}
        ).status_code
        == 404
    )
    assert len(_audit(store, "delivery.retried")) == 1


def test_an_admin_resumes_a_halted_stream(client: TestClient, store: Store) -> None:
    seed_outbox(store)
    csrf = signed_in_as(client, store, "admin")
    assert client.post("/admin/deliveries/resume", data={"stream": STREAM}).status_code == 403
    done = client.post(
        "/admin/deliveries/resume",
        data={"stream": STREAM, "csrf_token": csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with unit_of_work(store) as session:
        stream = session.get(BreakerStream, STREAM)
        assert stream is not None
        assert stream.state == "normal"
        assert stream.resumed_at is not None
    (entry,) = _audit(store, "breaker.resumed")
    assert entry.target == f"stream:{STREAM}"


def test_only_admins_retry_or_resume_and_agents_see_no_deliveries(
    client: TestClient, store: Store
) -> None:
    dead = seed_outbox(store)
    csrf = signed_in_as(client, store, "marketer")
    for path, form in [
        ("/admin/deliveries/retry", {"outbox_id": str(dead)}),
        ("/admin/deliveries/resume", {"stream": STREAM}),
    ]:
        assert client.post(path, data={**form, "csrf_token": csrf}).status_code == 403
    assert _message(store, dead).status == "failed"
    client.post("/admin/logout", data={"csrf_token": csrf})
    signed_in_as(client, store, "agent")
    assert client.get("/admin/deliveries").status_code == 403
