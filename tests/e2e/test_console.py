"""The staff console as staff meet it: in a real browser, over the served app and a seeded store.

Each role signs in through the sign-in form and walks every page its navigation offers; each
page's heading and one figure on it are checked against the database, each is scanned with
axe-core and kept as a screenshot. Then the main flows: finding a customer and reading why a
message went or not, a consent taken on the phone (with the keyboard alone), and a campaign
previewed and launched.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Locator, Page, expect
from sqlalchemy import func, select

from regard.console import campaigns as planner
from regard.console.customer import ledger_words
from regard.customers.models import Customer as CustomerRow
from regard.decisions.models import Decision, OutboxMessage
from regard.decisions.reasons import sentence
from regard.preferences.models import ConsentEntry
from regard.privacy import roles, staff
from regard.privacy.models import AuditEntry
from regard.segments.models import SegmentMembership
from regard.store.database import unit_of_work
from regard.web.admin.pages import SECTIONS
from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import (
    CONSOLE_ROLES,
    BrowserTools,
    ConsoleSite,
    Contexts,
    StaffLogin,
    screenshots_folder,
)

pytestmark = pytest.mark.e2e

HOME = "/admin/"
SEGMENT = "lifecycle:prospect"  # every seeded customer is in it: no purchase yet
CAMPAIGN = "autumn_events"


# --- helpers -----------------------------------------------------------------------------------


def sign_in(page: Page, login: StaffLogin) -> None:
    """Signs in through the form, as a person would; ends on the console's front page."""
    page.goto("/admin/login")
    page.get_by_label("Email").fill(login.email)
    page.get_by_label("Password").fill(login.password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/admin/$"))


def visit(page: Page, path: str) -> None:
    answer = page.goto(path)
    assert answer is not None
    assert answer.status == 200, f"{path} answered {answer.status}"


def heading(page: Page) -> Locator:
    found = page.locator("h1")
    expect(found).to_have_count(1)
    return found


def nav_paths(page: Page) -> list[str]:
    """Where the console's navigation leads, in its order."""
    links = page.locator('nav[aria-label="Console"] a')
    return [str(link.get_attribute("href")) for link in links.all()]


def keep(page: Page, name: str) -> None:
    """A full-page screenshot under test-artifacts/screenshots/."""
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")
    page.screenshot(path=str(screenshots_folder() / f"console-{slug}.png"), full_page=True)


def scanned(page: Page, tools: BrowserTools, *, role: str, what: str) -> None:
    """axe-core finds nothing serious on the page, and a screenshot of it is kept."""
    assert_accessible(page, tools.axe, what=f"{what} (as {role})")
    keep(page, f"{role}-{what}")


def links_work(page: Page, checked: set[str]) -> None:
    """Every link on the page that stays on this site leads somewhere (each checked once)."""
    hrefs = page.locator("a[href]").evaluate_all("links => links.map((a) => a.href)")
    for href in hrefs:
        address = str(href).split("#", 1)[0]
        if not address.startswith(page.url.split("/admin", 1)[0]) or address in checked:
            continue
        checked.add(address)
        answer = page.request.get(address, max_redirects=0)
        assert answer.status < 400, f"{page.url} links to {address}, which answers {answer.status}"


def tab_to(page: Page, target: Locator, *, limit: int = 120) -> None:
    """Presses Tab until ``target`` has the focus, as a keyboard user would reach it."""
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{limit} presses of Tab never reached {target}")


def count(site: ConsoleSite, statement: object) -> int:
    with unit_of_work(site.store) as session:
        return int(session.scalar(statement) or 0)  # type: ignore[call-overload]


def decisions_of(site: ConsoleSite, customer_id: int) -> list[Decision]:
    with unit_of_work(site.store) as session:
        found = session.scalars(select(Decision).where(Decision.customer_id == customer_id)).all()
        session.expunge_all()
        return list(found)


def why(decision: Decision, *, name: str | None) -> str:
    reason = None if decision.outcome == "sent" else decision.reason
    return sentence(decision.outcome, reason, decision.params, name=name)


# --- what each page shows, checked against the database ------------------------------------------

PageCheck = Callable[[Page, ConsoleSite, str], None]


def _home(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Console")
    expect(page.locator("main")).to_contain_text(site.staff[role].email)


def _audit(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Audit log")
    total = count(site, select(func.count()).select_from(AuditEntry))
    assert total > 0
    expect(page.locator("main")).to_contain_text(f"{total} entries")


def _staff(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Staff accounts")
    with unit_of_work(site.store) as session:
        emails = [member.email for member in staff.list_staff(session)]
    assert sorted(emails) == sorted(login.email for login in site.staff.values())
    for email in emails:
        expect(page.locator("tbody")).to_contain_text(email)


def _overview(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Overview figures")
    customers = count(site, select(func.count()).select_from(CustomerRow))
    expect(page.locator("#figure-customers")).to_have_text(str(customers))


def _customers(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Find a customer")
    expect(page.get_by_label("Email address")).to_be_editable()


def _segments(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Segments")
    members = count(
        site,
        select(func.count()).where(
            SegmentMembership.segment == SEGMENT, SegmentMembership.exited_at.is_(None)
        ),
    )
    assert members == 2
    row = page.locator(f'tr[data-segment="{SEGMENT}"]')
    expect(row.locator("td.members")).to_have_text(str(members))


def _touchpoints(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Touchpoints")
    expect(page.locator("#catalogue tr[data-touchpoint]")).to_have_count(
        len(site.store.brand.touchpoints)
    )


def _campaigns(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Campaign planner")
    names = [tp.name for tp in planner.campaigns(site.store.brand)]
    expect(page.locator("tr.campaign")).to_have_count(len(names))
    with unit_of_work(site.store) as session:
        [last] = planner.launch_progress(session, CAMPAIGN, limit=1)
    row = page.locator(f'tr[data-campaign="{CAMPAIGN}"]')
    expect(row.locator("td").last).to_have_text(str(last.candidates))


def _deliveries(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Deliveries")
    queued = count(
        site,
        select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == "queued"),
    )
    assert queued == 1  # Ana's
    expect(page.locator('tr[data-state="queued"] td').first).to_have_text(str(queued))


def _report(page: Page, site: ConsoleSite, role: str) -> None:
    expect(heading(page)).to_have_text("Measurement report")
    expect(page.locator("section.report-section")).to_have_count(5)
    # Every chart is an image with an accessible name, followed by its sentence.
    charts = page.locator("section.report-section svg")
    assert charts.count() >= 4
    expect(page.locator('section.report-section svg[role="img"]')).to_have_count(charts.count())
    expect(page.get_by_role("img", name="Commitment movement between surveys")).to_be_visible()
    expect(page.locator("#report-simulation")).to_contain_text("Not simulated for this report")


CHECKS: dict[str, PageCheck] = {
    HOME: _home,
    "/admin/audit": _audit,
    "/admin/staff": _staff,
    "/admin/overview": _overview,
    "/admin/customers": _customers,
    "/admin/segments": _segments,
    "/admin/touchpoints": _touchpoints,
    "/admin/campaigns": _campaigns,
    "/admin/deliveries": _deliveries,
    "/admin/report": _report,
}


def test_every_console_page_has_a_check(console_site: ConsoleSite) -> None:
    # The served app has mounted every console page, each adding itself to SECTIONS.
    assert {path for _permission, _label, path in SECTIONS} | {HOME} == set(CHECKS)


# --- 1, 3, 4. each role walks its navigation: data, accessibility, screenshots, refusals --------


@pytest.mark.parametrize("role", CONSOLE_ROLES)
def test_each_role_walks_every_page_it_may_see(
    console_contexts: Contexts,
    console_site: ConsoleSite,
    browser_tools: BrowserTools,
    role: str,
) -> None:
    page = console_contexts.new(bypass_csp=True)  # axe-core is injected as a script
    page.goto("/admin/login")
    expect(heading(page)).to_have_text("Sign in to the console")
    scanned(page, browser_tools, role=role, what="sign-in")
    sign_in(page, console_site.staff[role])

    allowed = [path for permission, _label, path in SECTIONS if roles.allows(role, permission)]
    paths = nav_paths(page)
    assert paths == [HOME, *allowed], f"the {role}'s navigation"

    checked: set[str] = set()
    for path in paths:
        visit(page, path)
        CHECKS[path](page, console_site, role)
        links_work(page, checked)
        assert nav_paths(page) == paths, f"the navigation on {path}"
        current = page.locator('nav[aria-label="Console"] a[aria-current="page"]')
        expect(current).to_have_attribute("href", path)
        scanned(page, browser_tools, role=role, what=path.removeprefix("/admin/") or "home")

    # The pages behind the lists, reached by their links.
    if "/admin/segments" in paths:
        visit(page, "/admin/segments")
        page.get_by_role("link", name=SEGMENT, exact=True).click()
        expect(heading(page)).to_have_text(SEGMENT)
        expect(page.locator("#members")).to_have_text("2")
        scanned(page, browser_tools, role=role, what="segment")
    if "/admin/campaigns" in paths:
        visit(page, "/admin/campaigns")
        page.get_by_role("link", name="Autumn store events").click()
        expect(heading(page)).to_have_text("Autumn store events")
        with unit_of_work(console_site.store) as session:
            [launch] = planner.launch_progress(session, CAMPAIGN)
        row = page.locator(f'tr[data-launch="{launch.launch_id}"]')
        expect(row.locator("td.candidates")).to_have_text(str(launch.candidates))
        expect(row.locator("td.queued")).to_have_text("1")
        scanned(page, browser_tools, role=role, what="campaign")
    if "/admin/customers" in paths:
        find_customer(page, console_site.ana.email)
        links_work(page, checked)
        for target in page.locator('a[href^="#"]').evaluate_all(
            "links => links.map((a) => a.getAttribute('href'))"
        ):
            expect(page.locator(str(target))).to_have_count(1)
        scanned(page, browser_tools, role=role, what="customer")

    refused = [path for permission, _label, path in SECTIONS if not roles.allows(role, permission)]
    for path in refused:
        answer = page.goto(path)
        assert answer is not None
        assert answer.status == 403, f"{role} opened {path}: {answer.status}"
    if refused:
        scanned(page, browser_tools, role=role, what="refused")


# --- 2. finding a customer and reading why a message went or not ---------------------------------


def find_customer(page: Page, email: str) -> None:
    """Searches by email from the console's navigation, ending on the customer's page."""
    page.locator('nav[aria-label="Console"]').get_by_role("link", name="Find a customer").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_role("button", name="Find").click()
    page.wait_for_url(re.compile(r"/admin/customers/\d+"))


@pytest.mark.parametrize("role", ["admin", "marketer"])
def test_a_customer_found_by_email_shows_why_each_message_went_or_not(
    console_contexts: Contexts, console_site: ConsoleSite, role: str
) -> None:
    page = console_contexts.new()
    sign_in(page, console_site.staff[role])
    masked = not roles.allows(role, "personal.view")

    for customer, outcome in ((console_site.ana, "sent"), (console_site.ben, "dropped")):
        find_customer(page, customer.email)
        assert page.url.endswith(f"/admin/customers/{customer.id}")
        expect(heading(page)).to_contain_text(f"Customer {customer.id}")
        shown = roles.mask(customer.email, "email", role)
        expect(page.locator("#identities")).to_contain_text(shown)
        if masked:
            expect(page.locator("main")).not_to_contain_text(customer.email)

        [decision] = decisions_of(console_site, customer.id)
        assert decision.outcome == outcome
        line = page.locator(f'tr.message[data-decision="{decision.id}"]')
        expect(line).to_contain_text(decision.touchpoint)
        expect(line).to_contain_text(
            why(decision, name=None if masked else customer.name), use_inner_text=True
        )
        keep(page, f"{role}-customer-{outcome}")
    # The dropped one says why in words a person reads: no consent for event news by email.
    [dropped] = decisions_of(console_site, console_site.ben.id)
    assert dropped.reason == "no-consent"


def test_an_unknown_address_is_not_found_and_not_echoed(
    console_contexts: Contexts, console_site: ConsoleSite
) -> None:
    page = console_contexts.new()
    sign_in(page, console_site.staff["agent"])
    page.goto("/admin/customers")
    page.get_by_label("Email address").fill("nobody.here@example.com")
    page.get_by_role("button", name="Find").click()
    expect(page.get_by_role("alert")).to_have_text("No customer has that email address.")
    expect(page.locator("main")).not_to_contain_text("nobody.here")


# --- 2, 5. an agent records a consent given on the phone, with the keyboard alone ----------------


def test_an_agent_records_a_phone_consent_with_the_keyboard(
    console_contexts: Contexts, console_site: ConsoleSite, browser_tools: BrowserTools
) -> None:
    page = console_contexts.new(bypass_csp=True)
    login = console_site.staff["agent"]
    page.goto("/admin/login")

    # Sign in with the keyboard alone.
    email = page.get_by_label("Email")
    tab_to(page, email)
    page.keyboard.type(login.email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password")).to_be_focused()
    page.keyboard.type(login.password)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/admin/$"))

    ana = console_site.ana
    page.goto(f"/admin/customers/{ana.id}")
    before = count(
        console_site,
        select(func.count()).select_from(ConsentEntry).where(ConsentEntry.customer_id == ana.id),
    )

    # Topic, channel and answer chosen and sent with the keyboard alone.
    topic = page.get_by_label("Topic")
    tab_to(page, topic)
    expect(topic).to_be_focused()
    page.keyboard.press("End")  # the last topic: Offers on footwear
    page.keyboard.press("Tab")
    channel = page.get_by_label("Channel")
    expect(channel).to_be_focused()
    page.keyboard.press("ArrowDown")  # SMS, after email
    page.keyboard.press("Tab")
    expect(page.get_by_label("The customer said")).to_be_focused()  # yes, opt in
    page.keyboard.press("Tab")
    record = page.get_by_role("button", name="Record")
    expect(record).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(rf"/admin/customers/{ana.id}\?done=recorded"))
    expect(page.get_by_role("status")).to_have_text("The consent was recorded.")

    with unit_of_work(console_site.store) as session:
        entries = session.scalars(
            select(ConsentEntry)
            .where(ConsentEntry.customer_id == ana.id)
            .order_by(ConsentEntry.seq)
        ).all()
        last = entries[-1]
        assert len(entries) == before + 1
        assert (last.topic, last.channel, last.state) == ("offers:footwear", "sms", "opted-in")
        assert last.source == "staff"
        member = next(m for m in staff.list_staff(session) if m.email == login.email)
        assert last.actor == f"staff:{member.id}"
        seq, actor = last.seq, last.actor
        words = ledger_words(last, brand=console_site.store.brand)
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "consent.recorded")
        ).one()
        assert audited.target == f"customer:{ana.id}"

    ledger = page.locator(f'#ledger tr.ledger-line:has(td:text-is("{seq}"))')
    assert "Offers on footwear by text message" in words
    expect(ledger).to_contain_text(words)
    expect(ledger).to_contain_text(actor)
    cell = page.locator('td[data-topic="offers:footwear"][data-channel="sms"]')
    expect(cell).to_have_attribute("data-state", "opted-in")
    scanned(page, browser_tools, role="agent", what="customer-after-phone-consent")


# --- 2. a marketer previews a campaign, launches it and sees its progress -----------------------


def test_a_marketer_previews_and_launches_a_campaign(
    console_contexts: Contexts, console_site: ConsoleSite, browser_tools: BrowserTools
) -> None:
    page = console_contexts.new(bypass_csp=True)
    sign_in(page, console_site.staff["marketer"])
    page.locator('nav[aria-label="Console"]').get_by_role("link", name="Campaign planner").click()
    page.get_by_role("link", name="Autumn store events").click()

    page.get_by_role("checkbox", name="email").check()
    page.get_by_role("button", name="Preview").click()
    page.wait_for_url(re.compile(r"preview=true"))
    found = planner.preview(
        console_site.store, CAMPAIGN, channels=["email"], by="test", now=datetime.now(UTC)
    )
    assert found.audience == 2
    expect(page.locator("#preview-audience")).to_have_text(str(found.audience))
    expect(page.locator("#preview-sent")).to_have_text(str(found.sent))
    expect(page.locator("#preview-held")).to_have_text(
        f"{found.held} held, {found.dropped} dropped"
    )
    scanned(page, browser_tools, role="marketer", what="campaign-preview")

    with unit_of_work(console_site.store) as session:
        launches_before = len(planner.launch_progress(session, CAMPAIGN))
    page.get_by_role("button", name=f"Launch {CAMPAIGN}").click()
    page.wait_for_url(re.compile(r"done=launched-\d+"))
    expect(page.locator("#launched")).to_be_visible()

    with unit_of_work(console_site.store) as session:
        launches = planner.launch_progress(session, CAMPAIGN)
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "campaign.launched")
        ).all()
    assert len(launches) == launches_before + 1
    newest = launches[0]
    assert len(audited) == 2  # the seeded launch and this one
    assert audited[-1].target == f"campaign:{CAMPAIGN}"
    row = page.locator(f'tr[data-launch="{newest.launch_id}"]')
    expect(row.locator("td.candidates")).to_have_text(str(newest.candidates))
    expect(row.locator("td.pending")).to_have_text(str(newest.pending))
    expect(row.locator("td.decided")).to_have_text(str(newest.decided))
    expect(page.locator("tr.launch")).to_have_count(len(launches))
    scanned(page, browser_tools, role="marketer", what="campaign-launched")
