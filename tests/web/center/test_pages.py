"""The preference page as a customer uses it: what it shows, what a save changes, and what a
save that goes wrong leaves alone."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from regard.delivery.mail import MemoryMailer
from regard.preferences import repository, service
from regard.preferences.models import ConsentEntry
from regard.preferences.service import ConsentChange, SettingChange
from regard.store.database import Store, unit_of_work
from tests.preferences.support import CUSTOMER, new_customer
from tests.web.center.support import Page, center_client, customer_link, ledger_size


@pytest.fixture
def mailer() -> MemoryMailer:
    return MemoryMailer()


@pytest.fixture
def client(store: Store, mailer: MemoryMailer) -> Iterator[TestClient]:
    with center_client(store, mailer) as test_client:
        yield test_client


def _preferences(store: Store, customer_id: int) -> service.Preferences:
    with unit_of_work(store) as session:
        return service.current(session, customer_id, brand=store.brand)


def test_the_page_shows_what_is_saved(store: Store, client: TestClient) -> None:
    ana = new_customer(store, phone="+31612345678")
    with unit_of_work(store) as session:
        service.register_device(session, ana, name="Ana's phone", platform="ios", token="tok-1")
        service.record(
            session,
            ana,
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange("offers:camping", "email", "opted-in")],
            settings=[
                SettingChange("frequency", "weekly"),
                SettingChange("quiet_hours", {"start": "21:00", "end": "08:00"}),
                SettingChange("interests", ["climbing"]),
                SettingChange("note", "Only tents, please"),
            ],
        )

    response = client.get(customer_link(store, ana))

    assert response.status_code == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    page = Page(response.text)
    assert "Your choices with Test Outfitters" in page.text
    assert "a•••@example.com" in page.text
    assert "+31 6•••••78" in page.text
    assert "not verified" in page.text
    assert "Ana's phone" in page.text
    device = next(c for c in page.controls if str(c.get("name")).startswith("device:"))
    assert "checked" in device
    assert page.checked("consent:offers:camping:email")
    assert not page.checked("consent:offers:camping:sms")
    assert page.checked("consent:orders:email")  # owed under the contract: on by default
    assert "consent:account:email" not in {c.get("name") for c in page.controls}
    assert "Always on." in page.text
    assert page.value("frequency") == "weekly"
    assert page.value("quiet_start") == "21:00"
    assert page.value("time_zone") == "Europe/Amsterdam"
    assert page.checked("interests", "climbing")
    assert not page.checked("interests", "camping")
    assert page.value("note") == "Only tents, please"
    assert page.control("note")["maxlength"] == "500"
    assert "summary" not in page.ids


def test_saving_changes_only_what_changed_and_says_what_comes_next(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store)
    link = customer_link(store, ana)
    page = Page(client.get(link).text)
    untouched = client.post(link, data={**page.form_data(), "action": "save"})
    assert untouched.status_code == 303
    assert ledger_size(store, ana) == 0  # nothing changed, nothing written

    form = page.form_data()
    form["consent:offers:camping:email"] = ["on"]
    form["consent:offers:camping:sms"] = ["on"]
    form["frequency:offers:camping"] = ["weekly"]
    form["quiet_start"], form["quiet_end"] = ["21:00"], ["08:00"]
    form["days"] = ["mon", "fri"]
    form["note"] = ["Tents and <b>stoves</b>"]
    response = client.post(link, data={**form, "action": "save"})

    assert response.status_code == 303
    assert response.headers["location"] == f"{link}?saved=1"
    saved = Page(client.get(response.headers["location"]).text)
    assert "summary" in saved.ids
    assert 'id="summary" role="status"' in saved.html
    assert (
        "Offers on camping gear, by email and text message, at most weekly, only on Monday and "
        "Friday, never between 21:00 and 08:00." in saved.text
    )
    assert "Messages about your orders stay on, by email, text message and app notification." in (
        saved.text
    )
    assert saved.checked("consent:offers:camping:sms")
    assert saved.value("frequency:offers:camping") == "weekly"
    assert saved.checked("days", "fri")
    assert not saved.checked("days", "tue")
    assert saved.value("note") == "Tents and stoves"
    entries = {(e.topic or e.setting) for e in _history(store, ana)}
    assert entries == {"offers:camping", "frequency", "quiet_hours", "preferred_days", "note"}
    assert all(e.source == "center" and e.client_hash for e in _history(store, ana))


def _history(store: Store, customer_id: int) -> list[ConsentEntry]:
    with unit_of_work(store) as session:
        return list(service.history(session, customer_id))


def test_a_partly_invalid_save_changes_nothing_and_names_the_problem(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store)
    link = customer_link(store, ana)
    form = Page(client.get(link).text).form_data()
    form["consent:offers:camping:email"] = ["on"]
    form["quiet_start"], form["quiet_end"] = ["25:99"], ["08:00"]

    response = client.post(link, data={**form, "action": "save"})

    assert response.status_code == 400
    page = Page(response.text)
    assert "Nothing was saved" in page.text
    assert "quiet_hours-problem" in page.ids
    assert "start must be a time such as 08:00" in page.text
    assert page.value("quiet_start") == "25:99"  # what was typed stays, to be corrected
    assert page.checked("consent:offers:camping:email")
    assert ledger_size(store, ana) == 0
    assert not _preferences(store, ana).allowed("offers:camping", "email")


def test_stop_marketing_keeps_orders_and_stop_all_keeps_only_the_critical(
    store: Store, client: TestClient
) -> None:
    ana = new_customer(store)
    with unit_of_work(store) as session:
        service.record(
            session,
            ana,
            brand=store.brand,
            origin=CUSTOMER,
            consents=[ConsentChange("offers:camping", "email", "opted-in")],
        )
    link = customer_link(store, ana)

    response = client.post(link, data={"action": "stop-marketing"})

    assert response.status_code == 303
    after = _preferences(store, ana)
    assert not after.allowed("offers:camping", "email")
    assert after.allowed("orders", "email")
    assert "No marketing messages at all." in Page(client.get(f"{link}?saved=1").text).text

    client.post(link, data={"action": "stop-all"})
    after = _preferences(store, ana)
    assert not after.allowed("orders", "email")
    assert after.allowed("account", "email")


def test_pause_for_thirty_days(store: Store, client: TestClient) -> None:
    ana = new_customer(store)
    link = customer_link(store, ana)
    page = Page(client.get(link).text)
    assert page.control("action", "snooze-30")["owner"] == "pause"

    response = client.post(link, data={"action": "snooze-30"})

    assert response.status_code == 303
    until = _preferences(store, ana).setting("paused_until")
    assert until is not None
    assert (
        f"Nothing but critical messages until {until}."
        in Page(client.get(f"{link}?saved=1").text).text
    )


def test_a_center_link_sent_to_an_address_proves_it(store: Store, client: TestClient) -> None:
    ana = new_customer(store)
    with unit_of_work(store) as session:
        identity_id = repository.contact_identities(session, ana)[0].id

    page = Page(client.get(customer_link(store, ana, identity_id=identity_id)).text)

    assert "a•••@example.com verified" in page.text


def test_a_save_that_fails_sends_no_confirmation(store: Store, mailer: MemoryMailer) -> None:
    brand = store.brand
    store.brand = brand.model_copy(
        update={"preferences": brand.preferences.model_copy(update={"double_opt_in": True})}
    )
    ana = new_customer(store)
    with center_client(store, mailer) as client:
        link = customer_link(store, ana)
        form = Page(client.get(link).text).form_data()
        form["consent:events:email"] = ["on"]
        form["hours_start"], form["hours_end"] = ["09:00"], [""]

        response = client.post(link, data={**form, "action": "save"})

        assert response.status_code == 400
        assert "give both a start and an end" in Page(response.text).text
        assert mailer.sent == []
        assert ledger_size(store, ana) == 0
