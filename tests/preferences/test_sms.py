"""``POST /v1/sms/inbound``: STOP, START and HELP texts as a customer sends them; both databases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx2 import Response

from regard.app import create_app
from regard.config import Settings, get_settings
from regard.customers import repository as customers_repository
from regard.customers.identities import claim
from regard.preferences import repository, service
from regard.preferences.keywords import (
    keyword_of,
    needs_sms_confirmation,
    sms_opt_in_confirmation,
)
from regard.preferences.service import ConsentChange, Origin
from regard.preferences.sms import signature
from regard.privacy.service import create_key
from regard.store.database import Store, unit_of_work
from tests.preferences.support import CUSTOMER, new_customer

PHONE = "+31 6 12345678"
SMS_TOPICS = ("account", "orders", "service", "events", "offers:camping", "offers:footwear")


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(store)) as test_client:
        yield test_client


@pytest.fixture
def write_key(store: Store) -> str:
    with unit_of_work(store) as session:
        return create_key(session, name="sms provider", scope="write", source="sms").secret


def text(client: TestClient, key: str, body: str, sender: str = PHONE) -> Response:
    response: Response = client.post(
        "/v1/sms/inbound",
        json={"from": sender, "body": body},
        headers={"Authorization": f"Bearer {key}"},
    )
    return response


def reply_to(client: TestClient, key: str, body: str, sender: str = PHONE) -> Any:
    response = text(client, key, body, sender)
    assert response.status_code == 200, response.text
    return response.json()["reply"]


def allowed(store: Store, customer_id: int, topic: str, channel: str) -> bool:
    with unit_of_work(store) as session:
        return service.current(session, customer_id, brand=store.brand).allowed(topic, channel)


def entries(store: Store, customer_id: int) -> int:
    with unit_of_work(store) as session:
        return len(service.history(session, customer_id))


def opt_in(
    store: Store, customer_id: int, *pairs: tuple[str, str], origin: Origin = CUSTOMER
) -> None:
    with unit_of_work(store) as session:
        service.record(
            session,
            customer_id,
            brand=store.brand,
            origin=origin,
            consents=[ConsentChange(topic, channel, "opted-in") for topic, channel in pairs],
        )


def test_stop_from_a_known_number_stops_every_text_but_no_email(
    store: Store, client: TestClient, write_key: str
) -> None:
    ana = new_customer(store, phone=PHONE)
    opt_in(store, ana, ("offers:camping", "sms"), ("offers:camping", "email"))
    assert allowed(store, ana, "orders", "sms")

    reply = reply_to(client, write_key, "STOP")

    assert (
        reply == "You will get no more texts from Test Outfitters. Reply START to get texts again."
    )
    assert not any(allowed(store, ana, topic, "sms") for topic in SMS_TOPICS)
    assert allowed(store, ana, "offers:camping", "email")
    assert allowed(store, ana, "orders", "email")
    with unit_of_work(store) as session:
        stops = [e for e in service.history(session, ana) if e.source == "sms"]
    assert {e.actor for e in stops} == {"customer"}
    assert {e.channel for e in stops} == {"sms"}


@pytest.mark.parametrize(
    "body",
    [
        "STOP",
        "stopall",
        "  Unsubscribe  ",
        "cancel.",
        "End!",
        "QUIT",
        "revoke",
        "OptOut",
        "Stop pls",
    ],
)
def test_every_stop_word_stops_texts(body: str, sqlite_store: Store) -> None:
    with TestClient(create_app(sqlite_store)) as client:
        with unit_of_work(sqlite_store) as session:
            key = create_key(session, name="sms", scope="write", source="sms").secret
        ana = new_customer(sqlite_store, phone=PHONE)
        assert reply_to(client, key, body) is not None
        assert not allowed(sqlite_store, ana, "orders", "sms")


def test_words_that_are_not_keywords() -> None:
    assert keyword_of("don't stop") is None
    assert keyword_of("stopping by later") is None
    assert keyword_of("") is None
    assert keyword_of("«STOP»") == "stop"
    assert keyword_of("unstop") == "start"
    assert keyword_of("info?") == "help"


def test_stop_is_confirmed_once_and_a_second_stop_records_nothing(
    store: Store, client: TestClient, write_key: str
) -> None:
    ana = new_customer(store, phone=PHONE)
    assert reply_to(client, write_key, "STOP") is not None
    after_first = entries(store, ana)

    assert reply_to(client, write_key, "stop") is None
    assert entries(store, ana) == after_first


def test_start_restores_what_stop_took_and_confirms_with_frequency_help_and_stop(
    store: Store, client: TestClient, write_key: str
) -> None:
    ana = new_customer(store, phone=PHONE)
    opt_in(store, ana, ("offers:camping", "sms"))
    with unit_of_work(store) as session:
        service.record(
            session,
            ana,
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange("service", "sms", "opted-out")],
        )
    reply_to(client, write_key, "STOP")

    reply = reply_to(client, write_key, "Start")

    assert reply == sms_opt_in_confirmation(store.brand)
    assert "Test Outfitters" in reply
    assert "up to 4 messages a month" in reply
    assert "Reply HELP for help, STOP to stop." in reply
    assert allowed(store, ana, "orders", "sms")
    assert allowed(store, ana, "account", "sms")
    assert allowed(store, ana, "offers:camping", "sms")
    # What the customer never asked for by text, or had stopped before, stays off.
    assert not allowed(store, ana, "offers:footwear", "sms")
    assert not allowed(store, ana, "events", "sms")
    assert not allowed(store, ana, "service", "sms")


def test_help_is_answered_and_an_unknown_number_is_not_stored(
    store: Store, client: TestClient, write_key: str
) -> None:
    reply = reply_to(client, write_key, "help", sender="+31 6 87654321")

    assert "Test Outfitters" in reply
    assert "STOP" in reply
    with unit_of_work(store) as session:
        assert customers_repository.count_customers(session) == 0


def test_other_texts_get_no_reply_and_change_nothing(
    store: Store, client: TestClient, write_key: str
) -> None:
    ana = new_customer(store, phone=PHONE)
    assert reply_to(client, write_key, "Thanks, see you Saturday!") is None
    assert entries(store, ana) == 0


def test_stop_from_an_unknown_number_keeps_the_opt_out_for_a_later_import(
    store: Store, client: TestClient, write_key: str
) -> None:
    reply_to(client, write_key, "STOP", sender="06 87654321")

    with unit_of_work(store) as session:
        assert customers_repository.count_customers(session) == 1
    # The shop's import of the same number finds that profile and cannot opt it back in.
    later = new_customer(store, email="bo@example.com", phone="+31687654321")
    opt_in(
        store, later, ("offers:camping", "sms"), origin=Origin(source="import", actor="import:shop")
    )
    assert not allowed(store, later, "offers:camping", "sms")
    assert not allowed(store, later, "orders", "sms")


def test_a_text_verifies_the_phone_number(store: Store, client: TestClient, write_key: str) -> None:
    new_customer(store, phone=PHONE)
    lookup = claim("phone", PHONE, region="NL", source="test").lookup(store.vault)
    with unit_of_work(store) as session:
        identity = repository.identity_by_lookup(session, lookup)
        assert identity is not None
        assert identity.verified_at is None

    reply_to(client, write_key, "HELP")

    with unit_of_work(store) as session:
        identity = repository.identity_by_lookup(session, lookup)
        assert identity is not None
        assert identity.verified_at is not None


def test_form_requests_are_answered_in_twiml(
    store: Store, client: TestClient, write_key: str
) -> None:
    new_customer(store, phone=PHONE)
    headers = {"Authorization": f"Bearer {write_key}"}

    stopped = client.post(
        "/v1/sms/inbound", data={"From": "+31612345678", "Body": "STOP"}, headers=headers
    )
    nothing = client.post(
        "/v1/sms/inbound", data={"From": "+31612345678", "Body": "ok"}, headers=headers
    )

    assert stopped.status_code == 200
    assert stopped.headers["content-type"].startswith("application/xml")
    assert stopped.text == (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Message>You will get no more texts '
        "from Test Outfitters. Reply START to get texts again.</Message></Response>"
    )
    assert nothing.text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def test_bad_input_is_a_readable_400(store: Store, client: TestClient, write_key: str) -> None:
    no_sender = text(client, write_key, "STOP", sender="")
    not_a_number = text(client, write_key, "STOP", sender="not a number")

    assert no_sender.status_code == 400
    assert "sender" in no_sender.json()["error"]["message"]
    assert not_a_number.status_code == 400
    assert "phone number" in not_a_number.json()["error"]["message"]


def test_without_a_write_key_nothing_happens(store: Store, client: TestClient) -> None:
    ana = new_customer(store, phone=PHONE)
    missing = client.post("/v1/sms/inbound", json={"from": PHONE, "body": "STOP"})
    wrong = text(client, "wk_not-a-key", "STOP")

    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert allowed(store, ana, "orders", "sms")


def test_with_a_webhook_secret_the_signature_is_required(store: Store) -> None:
    app = create_app(store)
    secret = "provider-shared-secret-0123456789"
    app.dependency_overrides[get_settings] = lambda: Settings(sms_webhook_secret=secret)
    ana = new_customer(store, phone=PHONE)
    body = b'{"from": "+31612345678", "body": "STOP"}'
    json_type = {"Content-Type": "application/json"}
    with TestClient(app) as client:
        unsigned = client.post("/v1/sms/inbound", content=body, headers=json_type)
        forged = client.post(
            "/v1/sms/inbound",
            content=body,
            headers={**json_type, "X-Regard-Signature": signature("guessed", body)},
        )
        assert allowed(store, ana, "orders", "sms")
        signed = client.post(
            "/v1/sms/inbound",
            content=body,
            headers={**json_type, "X-Regard-Signature": signature(secret, body)},
        )

    assert unsigned.status_code == 401
    assert forged.status_code == 403
    assert signed.status_code == 200, signed.text
    assert not allowed(store, ana, "orders", "sms")


def test_an_sms_opt_in_made_elsewhere_asks_for_the_confirmation_text(store: Store) -> None:
    ana = new_customer(store, phone=PHONE)
    with unit_of_work(store) as session:
        by_center = service.record(
            session,
            ana,
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange("events", "sms", "opted-in")],
        )
        by_email = service.record(
            session,
            ana,
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange("offers:camping", "email", "opted-in")],
        )
        by_import = service.record(
            session,
            ana,
            brand=store.brand,
            origin=Origin(source="import", actor="import:shop"),
            consents=[ConsentChange("offers:footwear", "sms", "opted-in")],
        )

    assert needs_sms_confirmation(by_center.entries)
    assert not needs_sms_confirmation(by_email.entries)
    assert not needs_sms_confirmation(by_import.entries)


def test_a_text_back_answers_the_last_text_sent(
    store: Store, client: TestClient, write_key: str
) -> None:
    from datetime import UTC, datetime

    from tests.delivery.feedback_support import feedback_events, sent

    someone = new_customer(store, phone=PHONE)
    # Sent just now: the text back answers it, however the customer words it.
    (outbox_id,) = sent(store, someone, channel="sms", sent_at=datetime.now(UTC))
    assert reply_to(client, write_key, "STOP") is not None

    replies = [e for e in feedback_events(store, someone) if e.type == "message.replied"]
    assert [e.properties["outbox_id"] for e in replies] == [outbox_id]
    assert not allowed(store, someone, "orders", "sms")
