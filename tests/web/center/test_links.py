"""Links as customers meet them: broken and old links, asking for a new one, one-click
unsubscribe with its undo, the confirmation of an opt-in, and the links staff make by hand."""

from __future__ import annotations

import time
from collections.abc import Iterator

import itsdangerous.timed
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from regard.cli import app as cli
from regard.delivery.mail import MemoryMailer
from regard.preferences import links, service
from regard.preferences.service import ConsentChange
from regard.store.database import Store, unit_of_work
from tests.preferences.support import CUSTOMER, new_customer
from tests.web.center.support import PUBLIC_URL, Page, center_client, customer_link, ledger_size


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def client(store: Store, mailer: MemoryMailer) -> Iterator[TestClient]:
    with center_client(store, mailer) as test_client:
        yield test_client


def _allowed(store: Store, customer_id: int, topic: str, channel: str) -> bool:
    with unit_of_work(store) as session:
        return service.current(session, customer_id, brand=store.brand).allowed(topic, channel)


def _opt_in(store: Store, customer_id: int, topic: str, channel: str) -> None:
    with unit_of_work(store) as session:
        service.record(
            session,
            customer_id,
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange(topic, channel, "opted-in")],
        )


def _assert_friendly(response_text: str) -> Page:
    page = Page(response_text)
    assert "request-link" in page.ids
    assert "•••" not in page.text  # no masked address: no customer data at all
    assert "Ana" not in page.text
    assert "Traceback" not in page.text
    return page


# ---- bad links -----------------------------------------------------------------------------


def test_a_tampered_link_gets_a_friendly_page(store: Store, client: TestClient) -> None:
    ana = new_customer(store)
    link = customer_link(store, ana)

    for path in (link[:-2] + "xx", "/u/nonsense", "/c/nonsense", link.replace("/p/", "/u/")):
        response = client.get(path)
        assert response.status_code == 403, path
        assert "This link is not complete" in _assert_friendly(response.text).text
    assert client.post(link[:-2] + "xx", data={"action": "stop-all"}).status_code == 403
    assert ledger_size(store, ana) == 0


def test_an_expired_link_gets_a_friendly_page(
    store: Store, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = new_customer(store)
    days = store.brand.preferences.link_days
    monkeypatch.setattr(
        itsdangerous.timed.TimestampSigner,
        "get_timestamp",
        lambda self: int(time.time()) - (days + 1) * 86_400,
    )
    link = customer_link(store, ana)
    monkeypatch.undo()

    response = client.get(link)

    assert response.status_code == 410
    assert "This link has expired" in _assert_friendly(response.text).text


def test_a_revoked_link_gets_a_friendly_page(store: Store, client: TestClient) -> None:
    ana = new_customer(store)
    old = customer_link(store, ana)
    with unit_of_work(store) as session:
        links.revoke(session, ana)

    response = client.get(old)

    assert response.status_code == 410
    assert "This link no longer works" in _assert_friendly(response.text).text
    assert client.get(customer_link(store, ana)).status_code == 200


# ---- "send me a link" ----------------------------------------------------------------------


def test_asking_for_a_link_answers_alike_and_mails_only_known_addresses(
    store: Store, client: TestClient, mailer: MemoryMailer
) -> None:
    new_customer(store, email="ana@example.com")
    form = Page(client.get("/p").text)
    assert "request-link" in form.ids

    known = client.post("/p", data={"email": " Ana@Example.com "})
    unknown = client.post("/p", data={"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    assert "If that address is one we know, a link is on its way" in Page(known.text).text
    assert "example.com" not in known.text
    assert [m["To"] for m in mailer.sent] == ["ana@example.com"]
    body = mailer.sent[0].get_content()
    url = next(word for word in body.split() if word.startswith(f"{PUBLIC_URL}/p/"))
    page = Page(client.get(url.removeprefix(PUBLIC_URL)).text)
    assert "a•••@example.com verified" in page.text

    bad = client.post("/p", data={"email": "not an address"})
    assert bad.status_code == 400
    assert "request-email-problem" in Page(bad.text).ids


def test_asking_too_often_gets_the_same_429_for_known_and_unknown(
    store: Store, client: TestClient, mailer: MemoryMailer
) -> None:
    new_customer(store, email="ana@example.com")
    limit = store.brand.preferences.link_requests_per_hour
    answers = {}
    for address in ("ana@example.com", "nobody@example.com"):
        for attempt in range(limit):
            # a new client each time: only the address's own limit counts
            agent = {"user-agent": f"{address}-{attempt}"}
            assert client.post("/p", data={"email": address}, headers=agent).status_code == 200
        over = client.post("/p", data={"email": address}, headers={"user-agent": "another"})
        assert over.status_code == 429
        answers[address] = over.text
    assert answers["ana@example.com"] == answers["nobody@example.com"]
    assert "try again" in Page(answers["ana@example.com"]).text
    assert len(mailer.sent) == limit

    # one client asking about many addresses is limited too
    for index in range(limit):
        client.post("/p", data={"email": f"someone{index}@example.org"})
    assert client.post("/p", data={"email": "last@example.org"}).status_code == 429


# ---- one-click unsubscribe -----------------------------------------------------------------


def test_one_click_opts_out_at_once_and_the_page_offers_undo(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store)
    _opt_in(store, ana, "offers:camping", "email")
    link = customer_link(store, ana, "unsubscribe", topic="offers:camping", channel="email")

    before = ledger_size(store, ana)
    page = Page(client.get(link).text)
    assert ledger_size(store, ana) == before  # a scanner opening the link changes nothing
    assert _allowed(store, ana, "offers:camping", "email")
    assert "Stop Offers on camping gear by email?" in page.text

    response = client.post(link, data={"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert len(response.text) < 40
    assert not _allowed(store, ana, "offers:camping", "email")
    with unit_of_work(store) as session:
        last = service.history(session, ana)[-1]
    assert (last.source, last.actor, last.state) == ("one-click", "customer", "opted-out")

    page = Page(client.get(link).text)
    assert "You will no longer get Offers on camping gear by email" in page.text
    center = next(a for a in page.html.split('"') if a.startswith("/p/"))
    assert client.get(center).status_code == 200

    undone = client.post(f"{link}/undo")
    assert undone.status_code == 303
    assert _allowed(store, ana, "offers:camping", "email")
    assert "You get Offers on camping gear by email now." in Page(client.get(link).text).text


def test_one_click_is_honoured_from_an_old_or_revoked_link_but_undo_is_not(
    store: Store, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    ana = new_customer(store)
    _opt_in(store, ana, "offers:camping", "email")
    _opt_in(store, ana, "offers:footwear", "email")
    days = store.brand.preferences.unsubscribe_link_days
    monkeypatch.setattr(
        itsdangerous.timed.TimestampSigner,
        "get_timestamp",
        lambda self: int(time.time()) - (days + 1) * 86_400,
    )
    old = customer_link(store, ana, "unsubscribe", topic="offers:camping", channel="email")
    monkeypatch.undo()
    revoked = customer_link(store, ana, "unsubscribe", topic="offers:footwear", channel="email")
    with unit_of_work(store) as session:
        links.revoke(session, ana)

    for link in (old, revoked):
        assert client.post(link, data={"List-Unsubscribe": "One-Click"}).status_code == 200
        assert client.post(f"{link}/undo").status_code == 410
    assert not _allowed(store, ana, "offers:camping", "email")
    assert not _allowed(store, ana, "offers:footwear", "email")
    tampered = revoked[:-2] + "xx"
    assert client.post(tampered, data={"List-Unsubscribe": "One-Click"}).status_code == 403


def test_the_unsubscribe_button_works_without_the_one_click_body(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store)
    link = customer_link(store, ana, "unsubscribe", topic="orders", channel="sms")

    response = client.post(link)

    assert response.status_code == 303
    assert not _allowed(store, ana, "orders", "sms")


# ---- double opt-in -------------------------------------------------------------------------


def test_an_email_opt_in_waits_for_confirmation(store: Store, mailer: MemoryMailer) -> None:
    brand = store.brand
    store.brand = brand.model_copy(
        update={"preferences": brand.preferences.model_copy(update={"double_opt_in": True})}
    )
    ana = new_customer(store)
    with center_client(store, mailer) as client:
        link = customer_link(store, ana)
        form = Page(client.get(link).text).form_data()
        form["consent:events:email"] = ["on"]
        form["consent:events:sms"] = ["on"]

        client.post(link, data={**form, "action": "save"})

        assert not _allowed(store, ana, "events", "email")
        assert _allowed(store, ana, "events", "sms")  # only email waits
        saved = Page(client.get(f"{link}?saved=1").text)
        assert "waiting for your confirmation" in saved.text
        assert "will start once you confirm it" in saved.text
        assert len(mailer.sent) == 1
        body = mailer.sent[0].get_content()
        confirm = next(w for w in body.split() if w.startswith(f"{PUBLIC_URL}/c/"))
        confirm = confirm.removeprefix(PUBLIC_URL)

        before = ledger_size(store, ana)
        assert "Yes, send me these" in Page(client.get(confirm).text).text
        assert ledger_size(store, ana) == before

        done = client.post(confirm)

        assert done.status_code == 200
        assert "You will get Store events by email" in Page(done.text).text
        assert _allowed(store, ana, "events", "email")
        with unit_of_work(store) as session:
            assert service.history(session, ana)[-1].source == "confirmation"


# ---- links made by hand ----------------------------------------------------------------------


def test_links_made_and_revoked_from_the_command_line(store: Store, client: TestClient) -> None:
    ana = new_customer(store)
    runner = CliRunner()

    made = runner.invoke(cli, ["links", "create", str(ana)])

    assert made.exit_code == 0, made.output
    url = made.output.strip()
    assert "/p/" in url
    path = url[url.index("/p/") :]
    assert client.get(path).status_code == 200

    revoked = runner.invoke(cli, ["links", "revoke", str(ana)])
    assert revoked.exit_code == 0, revoked.output
    assert client.get(path).status_code == 410
    assert runner.invoke(cli, ["links", "create", "999"]).exit_code != 0
