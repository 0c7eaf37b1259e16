"""The campaign planner on both databases: the dry run shown as the preview service computes it,
a launch that makes candidates and an audit row, delivery progress from the database, and the
role, CSRF and choice refusals."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from regard.console import campaigns as planner
from regard.decisions import service
from regard.decisions.models import Decision
from regard.preferences import service as preferences
from regard.preferences.service import ConsentChange
from regard.privacy.models import AuditEntry
from regard.store.database import Store, unit_of_work
from regard.touchpoints.models import CampaignLaunch, Candidate
from tests.decisions.support import NOW as ENGINE_DAY
from tests.preferences.support import CUSTOMER, new_customer
from tests.touchpoints.support import AUTUMN_EVENTS, CATALOGUE, brand_with_touchpoints
from tests.web.admin.support import signed_in_as


def _everyone(store: Store, *, phone: str | None = None) -> list[int]:
    """The catalogue plus a campaign for everyone, and two customers (the first with
    ``phone``)."""
    store.brand = brand_with_touchpoints([*copy.deepcopy(CATALOGUE), AUTUMN_EVENTS])
    return [new_customer(store, phone=phone), new_customer(store, email="ben@example.com")]


def _candidates(store: Store) -> int:
    with unit_of_work(store) as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Candidate)
                .where(Candidate.touchpoint == "autumn_events")
            )
            or 0
        )


def test_the_list_shows_every_campaign(client: TestClient, store: Store) -> None:
    _everyone(store)
    signed_in_as(client, store, "analyst")

    page = client.get("/admin/campaigns")

    assert page.status_code == 200
    assert 'data-campaign="spring_camping"' in page.text
    assert 'data-campaign="autumn_events"' in page.text
    assert 'data-campaign="newsletter"' not in page.text


def test_the_preview_shows_what_the_dry_run_computes(client: TestClient, store: Store) -> None:
    _everyone(store)
    signed_in_as(client, store, "marketer")

    page = client.get("/admin/campaigns/autumn_events?preview=true&channel=email")

    assert page.status_code == 200
    found = planner.preview(
        store, "autumn_events", channels=["email"], by="test", now=datetime.now(UTC)
    )
    assert found.audience == 2
    assert f'<dd id="preview-audience">{found.audience}</dd>' in page.text
    assert f'<dd id="preview-sent">{found.sent}</dd>' in page.text
    for (_outcome, reason), count in found.suppressed.items():
        row = page.text.split(f'data-reason="{reason}"', 1)[1].split("</tr>", 1)[0]
        assert f"<td>{count}</td>" in row
    assert _candidates(store) == 0  # a preview keeps nothing


def test_launch_makes_candidates_and_an_audit_row(client: TestClient, store: Store) -> None:
    _everyone(store)
    csrf = signed_in_as(client, store, "marketer")

    answer = client.post(
        "/admin/campaigns/autumn_events/launch",
        data={"csrf_token": csrf},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    assert _candidates(store) == 2
    with unit_of_work(store) as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "campaign.launched")
        ).one()
        assert entry.target == "campaign:autumn_events"
        assert entry.details is not None
        assert entry.details["candidates"] == 2
        [progress] = planner.launch_progress(session, "autumn_events")
    page = client.get(answer.headers["location"])
    assert 'id="launched"' in page.text
    row = page.text.split(f'data-launch="{progress.launch_id}"', 1)[1].split("</tr>", 1)[0]
    assert f'<td class="candidates">{progress.candidates}</td>' in row
    assert f'<td class="pending">{progress.pending}</td>' in row
    assert '<td class="decided">0</td>' in row
    assert '<td class="sent">0</td>' in row


def test_launch_keeps_the_channels_chosen_and_the_engine_sends_on_those_only(
    client: TestClient, store: Store
) -> None:
    ana, ben = _everyone(store, phone="+31612345678")
    with unit_of_work(store) as session:
        for who in (ana, ben):
            preferences.record(
                session,
                who,
                brand=store.brand,
                origin=CUSTOMER,
                consents=[ConsentChange("events", c, "opted-in") for c in ("email", "sms")],
            )
    csrf = signed_in_as(client, store, "marketer")
    page = client.get("/admin/campaigns/autumn_events?channel=sms")
    assert '<input type="hidden" name="channel" value="sms">' in page.text

    answer = client.post(
        "/admin/campaigns/autumn_events/launch",
        data={"csrf_token": csrf, "channel": "sms"},
        follow_redirects=False,
    )

    assert answer.status_code == 303
    with unit_of_work(store) as session:
        [launched] = session.scalars(
            select(CampaignLaunch).where(CampaignLaunch.touchpoint == "autumn_events")
        ).all()
        assert launched.channels == "sms"
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "campaign.launched")
        ).one()
        assert entry.details is not None
        assert entry.details["channels"] == ["sms"]
    service.run_engine(store, now=ENGINE_DAY)
    with unit_of_work(store) as session:
        made = {
            who: (outcome, channel)
            for who, outcome, channel in session.execute(
                select(Decision.customer_id, Decision.outcome, Decision.channel).where(
                    Decision.touchpoint == "autumn_events"
                )
            ).all()
        }
    # Both may be emailed, but the launch is for texts only: ben, with no phone, gets nothing.
    assert made[ana] == ("sent", "sms")
    assert made[ben][0] == "dropped"


def test_launch_refuses_a_channel_the_campaign_does_not_have(
    client: TestClient, store: Store
) -> None:
    _everyone(store)
    csrf = signed_in_as(client, store, "marketer")

    refused = client.post(
        "/admin/campaigns/autumn_events/launch",
        data={"csrf_token": csrf, "channel": "voice"},
        follow_redirects=False,
    )

    assert refused.status_code == 400
    assert _candidates(store) == 0


def test_refusals(client: TestClient, store: Store) -> None:
    _everyone(store)
    csrf = signed_in_as(client, store, "analyst")
    refused = client.post("/admin/campaigns/autumn_events/launch", data={"csrf_token": csrf})
    assert refused.status_code == 403
    shown = client.get("/admin/campaigns/autumn_events?preview=true")
    assert 'id="preview"' not in shown.text  # analysts do not run previews
    assert "Launch autumn_events" not in shown.text

    other = TestClient(client.app)
    token = signed_in_as(other, store, "marketer")
    assert other.post("/admin/campaigns/autumn_events/launch").status_code == 403
    wrong = other.get("/admin/campaigns/spring_camping?preview=true&segment=lifecycle:lapsed")
    assert wrong.status_code == 400
    unknown = other.get("/admin/campaigns/autumn_events?preview=true&channel=voice")
    assert unknown.status_code == 400
    not_a_campaign = other.post("/admin/campaigns/newsletter/launch", data={"csrf_token": token})
    assert not_a_campaign.status_code == 404
    assert _candidates(store) == 0
