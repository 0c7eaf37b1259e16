"""Outbox messages rendered for real customers on SQLite and PostgreSQL, and parsed back."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, select

from regard.config import Settings
from regard.decisions.models import OutboxMessage
from regard.messages.content import EmailContent, ProviderContent
from regard.messages.render import RenderProblem, render_batch
from regard.messages.templates import load_templates
from regard.preferences import links
from regard.segments.models import SegmentMembership
from regard.store.database import Store, unit_of_work
from tests.messages.support import NOW, demo_brand, demo_config_path, forget_name, queue
from tests.preferences.support import new_customer

SETTINGS = Settings(environment="test", public_url="https://regard.example")
ORDER = {"order_id": "NW-0042", "store": "Northwind Utrecht", "fulfilment": "click_and_collect"}


def render(store: Store, *ids: int) -> list[Any]:
    brand = demo_brand()
    templates = load_templates(brand, demo_config_path())
    with unit_of_work(store) as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))).all()
        by_id = {row.id: row for row in rows}
        return render_batch(
            session,
            [by_id[i] for i in ids],
            brand=brand,
            templates=templates,
            vault=store.vault,
            settings=SETTINGS,
        )


def parsed(content: EmailContent) -> EmailMessage:
    message = email.message_from_bytes(content.as_message().as_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_an_email_parsed_back_has_both_parts_and_every_header(store: Store) -> None:
    ana = new_customer(store, email="ana@example.com", name="Ana")
    queued = queue(
        store,
        ana,
        touchpoint="order_ready",
        topic="orders",
        channel="email",
        content="order-ready-email",
        event=dict(ORDER),
    )
    [content] = render(store, queued)
    assert isinstance(content, EmailContent)
    message = parsed(content)
    assert message["To"] == "ana@example.com"
    assert message["From"] == "Northwind Outfitters <hello@northwind.example>"
    assert message["Subject"] == "Your order NW-0042 is ready to collect"
    assert message["Date"] is not None
    assert message["Date"].datetime is not None
    assert re.fullmatch(r"<[0-9a-f]{40}@northwind\.example>", message["Message-ID"])
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    plain, markup = text.get_content(), html.get_content()
    assert "Hi Ana, your order is ready." in plain
    assert "NW-0042" in plain
    assert "Northwind Utrecht" in plain
    assert "<h1 style=" in markup  # the stylesheet is inlined
    # RFC 8058: one HTTPS URI in angle brackets, and the one-click POST header.
    unsubscribe = message["List-Unsubscribe"]
    assert re.fullmatch(r"<https://regard\.example/u/[^>\s]+>", unsubscribe)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = unsubscribe[1:-1].rsplit("/u/", 1)[1]
    center = re.search(r"https://regard\.example/p/(\S+)", plain)
    assert center is not None
    assert center.group(0) in markup
    with unit_of_work(store) as session:
        claims = links.open_token(session, center.group(1), purpose="center", brand=store.brand)
        assert claims.customer_id == ana
        opted = links.open_token(session, token, purpose="unsubscribe", brand=store.brand)
        assert (opted.customer_id, opted.topic, opted.channel) == (ana, "orders", "email")
    # A retry writes the same Message-ID.
    [again] = render(store, queued)
    assert isinstance(again, EmailContent)
    assert again.message_id == content.message_id


def test_the_preference_link_opens_the_customers_preferences(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store, email="ana@example.com")
    queued = queue(
        store, ana, touchpoint="welcome", topic="tips", channel="email", content="welcome-email"
    )
    [content] = render(store, queued)
    assert isinstance(content, EmailContent)
    path = re.search(r"https://regard\.example(/p/\S+)", content.text)
    assert path is not None
    page = client.get(path.group(1))
    assert page.status_code == 200
    assert "Your choices with Test Outfitters" in page.text
    assert 'id="choices"' in page.text


def test_no_name_no_address_and_commitment(store: Store) -> None:
    nameless = new_customer(store, email="x@example.com", name="Someone")
    forget_name(store, nameless)
    no_phone = new_customer(store, email="b@example.com", name="Bea")
    with unit_of_work(store) as session:
        session.add(
            SegmentMembership(segment="commitment:Entrenched", customer_id=no_phone, entered_at=NOW)
        )
    welcome = queue(
        store,
        nameless,
        touchpoint="welcome",
        topic="tips",
        channel="email",
        content="welcome-email",
    )
    text = queue(
        store,
        no_phone,
        touchpoint="order_ready",
        topic="orders",
        channel="sms",
        content="order-ready-sms",
        event=dict(ORDER),
    )
    notes = queue(
        store,
        no_phone,
        touchpoint="newsletter",
        topic="product-news",
        channel="email",
        content="field-notes",
    )
    greeted, problem, thanked = render(store, welcome, text, notes)
    assert isinstance(greeted, EmailContent)
    assert greeted.subject == "Welcome to Northwind Outfitters"
    assert greeted.text.startswith("Hello, welcome to the trail.")
    assert "Dear" not in greeted.text
    assert " ," not in greeted.text
    assert isinstance(problem, RenderProblem)
    assert problem.reason == "no-address"
    assert "phone number" in problem.detail
    assert isinstance(thanked, EmailContent)
    assert "Thank you for reading along" in thanked.text


def test_a_marketing_text_names_the_brand_and_how_to_stop(store: Store) -> None:
    ana = new_customer(store, email=None, phone="+31612345678", name="Ana")
    offer = queue(
        store,
        ana,
        touchpoint="spring_camping",
        topic="offers:camping",
        channel="sms",
        content="spring-camping-sms",
    )
    ready = queue(
        store,
        ana,
        touchpoint="order_ready",
        topic="orders",
        channel="sms",
        content="order-ready-sms",
        event=dict(ORDER),
    )
    marketing, transactional = render(store, offer, ready)
    assert isinstance(marketing, ProviderContent)
    assert isinstance(transactional, ProviderContent)
    assert marketing.to == "+31612345678"
    assert marketing.body.startswith("Northwind Outfitters:")
    assert "STOP" in marketing.body
    assert marketing.extra["encoding"] == "GSM-7"
    assert "STOP" not in transactional.body
    assert transactional.body.startswith("Northwind Outfitters: order NW-0042 is ready")


def test_every_demo_template_renders_for_a_demo_customer(store: Store) -> None:
    brand = demo_brand()
    ana = new_customer(store, email="ana@example.com", phone="+31612345678", name="Ana")
    ids = []
    for touchpoint in brand.touchpoints:
        for choice in touchpoint.channels:
            if choice.channel == "push":
                continue  # no device registered: covered by the no-address case
            ids.append(
                queue(
                    store,
                    ana,
                    touchpoint=touchpoint.name,
                    topic=touchpoint.topic,
                    channel=choice.channel,
                    content=choice.content,
                    event=dict(ORDER),
                )
            )
    for period in ("daily", "weekly", "monthly"):
        for channel in ("email", "sms"):
            ids.append(
                queue(
                    store,
                    ana,
                    touchpoint="digest",
                    topic="digest",
                    channel=channel,
                    content=f"digest-{period}",
                    key=f"digest:{ana}:{channel}:{period}",
                )
            )
    results = render(store, *ids)
    problems = [r for r in results if isinstance(r, RenderProblem)]
    assert problems == []
    for result in results:
        if isinstance(result, EmailContent):
            assert result.subject
            assert result.text.strip()
            assert "</html>" in result.html
            assert "{{" not in result.text
            assert "{{" not in result.html
        else:
            assert result.body.strip()
            assert "{{" not in result.body
            if result.channel == "voice":
                assert result.asks_response is False


def test_a_batch_is_rendered_in_a_fixed_number_of_queries(store: Store) -> None:
    ids = []
    for n in range(12):
        customer = new_customer(store, email=f"c{n}@example.com", phone=None, name=f"C{n}")
        ids.append(
            queue(
                store,
                customer,
                touchpoint="order_ready",
                topic="orders",
                channel="email",
                content="order-ready-email",
                event=dict(ORDER),
            )
        )
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        render(store, *ids[:2])
        small = len(statements)
        statements.clear()
        results = render(store, *ids)
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    assert all(isinstance(r, EmailContent) for r in results)
    assert len(statements) == small


def test_links_to_other_sites_are_tracked_and_regards_own_are_not(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store, email="ana@example.com")
    queued = queue(
        store,
        ana,
        touchpoint="spring_camping",
        topic="offers:camping",
        channel="email",
        content="spring-camping",
    )
    [content] = render(store, queued)
    assert isinstance(content, EmailContent)
    hrefs = re.findall(r'href="([^"]+)"', content.html)
    tracked = [h for h in hrefs if h.startswith("https://regard.example/r/")]
    own = [
        h for h in hrefs if h.startswith(("https://regard.example/p/", "https://regard.example/u/"))
    ]
    assert tracked
    assert own
    assert not any("northwind.example" in h for h in hrefs)
    # Following a tracked link records the click and forwards to the page the template named.
    answer = client.get(tracked[0].removeprefix("https://regard.example"), follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("https://northwind.example/")
    with unit_of_work(store) as session:
        from regard.delivery.models import MessageFeedback

        kinds = session.scalars(
            select(MessageFeedback.kind).where(MessageFeedback.outbox_id == queued)
        ).all()
    assert kinds == ["clicked"]
