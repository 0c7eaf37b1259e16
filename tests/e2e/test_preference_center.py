"""The preference center as a customer meets it: in a real browser, over the served app.

Every test opens a signed link the way an email would, uses the page with what a customer has
(a mouse, a keyboard, a phone-sized screen) and then checks the database, not only the page.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, ViewportSize, expect

from regard.commitment import service as commitment
from regard.preferences import links, service
from regard.preferences.service import ConsentChange, Origin
from regard.store.database import unit_of_work
from tests.e2e.axe import assert_accessible
from tests.e2e.conftest import BrowserTools, Contexts, Site, screenshots_folder

pytestmark = pytest.mark.e2e

CAMPING = "offers:camping"
CAMPING_LABEL = "Offers on camping gear"
NOTE = "Lightweight tents for two. Nothing about running shoes, please."
SAVED = re.compile(r"/p/[^/?#]+\?saved=1$")
PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 900}


# --- helpers -----------------------------------------------------------------------------------


def opt_in(site: Site, topic: str, channel: str) -> None:
    """The customer's earlier opt-in, recorded as the page would record it."""
    with unit_of_work(site.store) as session:
        service.record(
            session,
            site.customer.id,
            brand=site.store.brand,
            origin=Origin(source="center", actor="customer"),
            consents=[ConsentChange(topic, channel, "opted-in")],
        )


def open_center(page: Page, site: Site) -> str:
    """Opens the customer's preference page from a fresh signed link; returns its address."""
    url = site.url("center")
    response = page.goto(url)
    assert response is not None
    assert response.status == 200, f"the preference page answered {response.status}"
    return url


def control(page: Page, name: str) -> Locator:
    return page.locator(f'[name="{name}"]')


def action_button(page: Page, value: str) -> Locator:
    return page.locator(f'button[name="action"][value="{value}"]')


def tab_to(page: Page, target: Locator, *, limit: int = 80) -> None:
    """Presses Tab until ``target`` has the focus, as a keyboard user would reach it."""
    for _ in range(limit):
        if target.evaluate("element => element === document.activeElement"):
            return
        page.keyboard.press("Tab")
    pytest.fail(f"{limit} presses of Tab never reached {target}")


def customer_traces(site: Site) -> list[str]:
    """What would give the customer away on a page meant for anyone holding a link."""
    digits = re.sub(r"\D", "", site.customer.phone)
    return [
        site.customer.name,
        site.customer.email,
        site.customer.email.split("@")[0],
        site.customer.phone,
        digits,
        digits[2:],  # national form, without +31
        site.customer.device_name,
    ]


def tampered(token: str) -> str:
    """The token with one character of its signature changed.

    Not the last character: in unpadded base64 its low bits may carry nothing, and changing it
    could leave the signature as it was.
    """
    at = len(token) - 10
    replacement = "A" if token[at] != "A" else "B"
    return token[:at] + replacement + token[at + 1 :]


# --- 1. choosing, saving with the keyboard, and finding the choices kept --------------------------


def test_choices_saved_with_the_keyboard_are_kept_and_stored(page: Page, site: Site) -> None:
    open_center(page, site)
    expect(page.locator('[name^="consent:account:"]')).to_have_count(0)  # critical: no box
    expect(control(page, f"device:{site.customer.device_handle}")).to_have_count(1)
    expect(page.locator("body")).to_contain_text(site.customer.device_name)

    camping_email = control(page, f"consent:{CAMPING}:email")
    camping_email.check()
    control(page, "frequency").select_option("weekly")
    control(page, "quiet_start").fill("21:00")
    control(page, "quiet_end").fill("08:00")
    note = page.get_by_label("What matters to you")
    note.fill(NOTE)

    save = action_button(page, "save")
    expect(save).to_have_text(re.compile(r"Save my choices"))
    tab_to(page, save)
    page.keyboard.press("Enter")
    page.wait_for_url(SAVED)

    summary = page.locator("#summary")
    expect(summary).to_have_attribute("role", "status")
    expect(summary).to_contain_text(CAMPING_LABEL)
    expect(summary).to_contain_text(re.compile(r"\bemail\b", re.IGNORECASE))
    expect(summary).to_contain_text(re.compile(r"weekly", re.IGNORECASE))
    expect(summary).to_contain_text("21:00")
    expect(summary).to_contain_text("08:00")

    for shown in ("as redirected", "after a reload"):
        if shown == "after a reload":
            page.reload()
        expect(camping_email, shown).to_be_checked()
        expect(control(page, "consent:offers:footwear:email"), shown).not_to_be_checked()
        expect(control(page, "frequency"), shown).to_have_value("weekly")
        expect(control(page, "quiet_start"), shown).to_have_value("21:00")
        expect(control(page, "quiet_end"), shown).to_have_value("08:00")
        expect(note, shown).to_have_value(NOTE)

    stored = site.preferences()
    assert stored.consents[(CAMPING, "email")].state == "opted-in"
    assert stored.allowed(CAMPING, "email")
    assert not stored.allowed("offers:footwear", "email")
    assert stored.setting("frequency") == "weekly"
    assert stored.setting("quiet_hours") == {"start": "21:00", "end": "08:00"}
    assert stored.note == NOTE
    assert site.ledger_verifies()


# --- 2. stopping all marketing --------------------------------------------------------------------


def test_stop_all_marketing_keeps_orders_and_says_so(page: Page, site: Site) -> None:
    opt_in(site, CAMPING, "email")
    opt_in(site, "events", "sms")
    open_center(page, site)

    with page.expect_navigation():
        action_button(page, "stop-marketing").click()

    summary = page.locator("#summary")
    expect(summary).to_have_attribute("role", "status")
    expect(summary).to_contain_text(re.compile(r"orders", re.IGNORECASE))
    expect(control(page, f"consent:{CAMPING}:email")).not_to_be_checked()
    expect(control(page, "consent:orders:email")).to_be_checked()

    stored = site.preferences()
    brand = site.store.brand
    for topic in brand.topics:
        for channel in brand.channels:
            if topic.is_marketing:
                assert not stored.allowed(topic.key, channel), (topic.key, channel)
    assert stored.allowed("orders", "email")
    assert stored.allowed("account", "email")
    assert site.ledger_verifies()


# --- 3. one-click unsubscribe (RFC 8058), then undo -------------------------------------------


def test_one_click_unsubscribe_then_undo(page: Page, site: Site) -> None:
    opt_in(site, CAMPING, "email")
    token = site.token("unsubscribe", topic=CAMPING, channel="email")

    answer = page.request.post(f"/u/{token}", form={"List-Unsubscribe": "One-Click"})
    assert answer.status == 200, f"the one-click POST answered {answer.status}"
    assert not site.preferences().allowed(CAMPING, "email")

    response = page.goto(f"/u/{token}")
    assert response is not None
    assert response.status == 200
    body = page.locator("body")
    expect(body).to_contain_text(CAMPING_LABEL)
    manage = page.locator('a[href*="/p/"]')
    expect(manage.first).to_be_visible()
    href = manage.first.get_attribute("href")
    assert href is not None
    assert page.request.get(href).status == 200, "the manage-everything link does not open"

    undo = page.get_by_role("button", name=re.compile(r"\bundo\b", re.IGNORECASE))
    with page.expect_navigation():
        undo.click()
    assert page.url.startswith(site.base_url)

    assert site.preferences().allowed(CAMPING, "email")
    assert site.ledger_verifies()


# --- 4. links that no longer open ---------------------------------------------------------------


def _assert_friendly_refusal(page: Page, site: Site, status: int | None, expected: int) -> None:
    assert status == expected, f"a bad link answered {status}, not {expected}"
    expect(page.locator("#request-link")).to_be_visible()
    expect(page.locator("#request-link [name=email]")).to_be_visible()
    content = page.content()
    leaked = [trace for trace in customer_traces(site) if trace in content]
    assert not leaked, f"the refusal page shows the customer's data: {leaked}"


def test_a_tampered_link_shows_a_friendly_page_without_customer_data(
    page: Page, site: Site
) -> None:
    response = page.goto(f"/p/{tampered(site.token('center'))}")
    _assert_friendly_refusal(page, site, response.status if response else None, 403)


def test_a_revoked_link_shows_a_friendly_page_without_customer_data(page: Page, site: Site) -> None:
    token = site.token("center")
    with unit_of_work(site.store) as session:
        links.revoke(session, site.customer.id)
    response = page.goto(f"/p/{token}")
    _assert_friendly_refusal(page, site, response.status if response else None, 410)


# --- 5. asking for a new link -------------------------------------------------------------------


def _ask_for_link(page: Page, address: str) -> tuple[int, str]:
    page.goto("/p")
    field = page.locator("#request-link [name=email]")
    field.fill(address)
    with page.expect_navigation() as navigation:
        field.press("Enter")
    status = navigation.value.status if navigation.value else 0
    return status, page.locator("body").inner_text().replace(address, "<address>")


def test_asking_for_a_link_answers_the_same_for_known_and_unknown_addresses(
    page: Page, site: Site
) -> None:
    known = _ask_for_link(page, site.customer.email)
    unknown = _ask_for_link(page, "nobody.at.all@example.com")

    assert known[0] < 400, f"asking for a link answered {known[0]}"
    assert known == unknown, (
        f"the answers differ, which tells whether an address is a customer's:\n"
        f"known: {known}\nunknown: {unknown}"
    )

    # Only the customer gets a link, and it opens their page.
    sent = site.wait_for_mail(site.customer.email)
    assert site.mail_to("nobody.at.all@example.com") == []
    assert len(sent) == 1, f"{len(sent)} messages to the customer, not one"
    body = sent[0].get_body(preferencelist=("plain",))
    assert body is not None
    found = re.search(re.escape(site.base_url) + r"/p/[A-Za-z0-9_.-]+", body.get_content())
    assert found, "the message carries no link to the preference page"
    response = page.goto(found.group(0))
    assert response is not None
    assert response.status == 200
    expect(action_button(page, "save")).to_be_visible()


def test_asking_for_links_too_often_is_refused_politely(page: Page, site: Site) -> None:
    limit = site.store.brand.preferences.link_requests_per_hour
    for _ in range(limit):
        assert page.request.post("/p", form={"email": site.customer.email}).status == 200

    known = _ask_for_link(page, site.customer.email)
    leaked = [trace for trace in customer_traces(site) if trace in page.content()]
    # The same browser, another address: the limit on the client refuses it alike.
    unknown = _ask_for_link(page, "nobody.at.all@example.com")

    assert known[0] == 429, f"request {limit + 1} within the hour answered {known[0]}"
    assert not leaked, f"the refusal shows the customer's data: {leaked}"
    assert known == unknown, f"the refusals differ:\nknown: {known}\nunknown: {unknown}"
    assert len(site.wait_for_mail(site.customer.email, count=limit)) == limit


# --- 6. the keyboard reaches everything, and shows where it is --------------------------------

_CONTROLS_JS = """() => {
    const visible = (el) => el.getClientRects().length > 0
        && getComputedStyle(el).visibility !== "hidden";
    const controls = [...document.querySelectorAll(
        "input:not([type=hidden]), select, textarea, button")]
        .filter((el) => !el.disabled && visible(el));
    return controls.map((el, index) => {
        // A radio group is one stop for Tab; the arrow keys move inside it.
        const key = el.type === "radio" ? `radio ${el.name}` : `#${index}`;
        el.dataset.e2eKey = key;
        const label = (el.labels && el.labels[0]) ? el.labels[0].innerText.trim() : "";
        return {key, what: `<${el.tagName.toLowerCase()} name="${el.name}" value="${
            el.type === "checkbox" || el.tagName === "BUTTON" ? el.value : ""}"> ${label}`};
    });
}"""

_FOCUSED_JS = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const shows = (node) => {
        const style = getComputedStyle(node);
        const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
        const shadow = style.boxShadow !== "none" && style.boxShadow !== "";
        return outline || shadow;
    };
    // Tab also stops on the picker button inside a date or time input: the focus is then in
    // the browser's own shadow tree, the input matches neither :focus nor :focus-visible, and
    // the browser draws its own ring around the picker icon, out of reach of the page's CSS.
    if (!el.matches(":focus")) {
        return {key: el.dataset.e2eKey || null, what: el.outerHTML.slice(0, 160), visible: true};
    }
    const rect = el.getBoundingClientRect();
    const hidden = parseFloat(getComputedStyle(el).opacity) === 0
        || rect.width <= 1 || rect.height <= 1;
    // A visually hidden box shows its focus on its label.
    const label = el.labels && el.labels[0];
    const visible = shows(el) || (hidden && label ? shows(label) : false);
    return {
        key: el.dataset.e2eKey || null,
        what: el.outerHTML.slice(0, 160),
        visible,
    };
}"""


def test_the_keyboard_reaches_every_control_and_shows_the_focus(page: Page, site: Site) -> None:
    open_center(page, site)
    controls: list[dict[str, str]] = page.evaluate(_CONTROLS_JS)
    expected = {control["key"]: control["what"] for control in controls}
    save_key = action_button(page, "save").evaluate("element => element.dataset.e2eKey")
    assert save_key in expected, "no visible Save button among the page's controls"

    reached: set[str] = set()
    unmarked: list[str] = []
    for _ in range(len(controls) + 60):
        page.keyboard.press("Tab")
        focused: dict[str, Any] | None = page.evaluate(_FOCUSED_JS)
        if focused is None:
            continue
        if not focused["visible"]:
            unmarked.append(focused["what"])
        if focused["key"]:
            reached.add(focused["key"])
        if reached >= set(expected):
            break

    unreached = [what for key, what in expected.items() if key not in reached]
    assert not unreached, "Tab never reaches:\n" + "\n".join(unreached)
    assert not unmarked, "focused without a visible focus mark:\n" + "\n".join(
        dict.fromkeys(unmarked)
    )


# --- 7. accessibility (axe-core) ----------------------------------------------------------------


def _preference_page(page: Page, site: Site) -> None:
    open_center(page, site)


def _preference_page_saved(page: Page, site: Site) -> None:
    open_center(page, site)
    control(page, f"consent:{CAMPING}:email").check()
    control(page, "frequency").select_option("weekly")
    with page.expect_navigation():
        action_button(page, "save").click()
    page.wait_for_url(SAVED)
    expect(page.locator("#summary")).to_be_visible()


def _unsubscribe_page(page: Page, site: Site) -> None:
    opt_in(site, CAMPING, "email")
    token = site.token("unsubscribe", topic=CAMPING, channel="email")
    assert page.request.post(f"/u/{token}", form={"List-Unsubscribe": "One-Click"}).ok
    response = page.goto(f"/u/{token}")
    assert response is not None
    assert response.status == 200


def _bad_link_page(page: Page, site: Site) -> None:
    response = page.goto(f"/p/{tampered(site.token('center'))}")
    assert response is not None
    assert response.status == 403


def _request_link_page(page: Page, site: Site) -> None:
    response = page.goto("/p")
    assert response is not None
    assert response.status == 200


def _request_link_answer(page: Page, site: Site) -> None:
    assert _ask_for_link(page, site.customer.email)[0] == 200


def _request_link_refused(page: Page, site: Site) -> None:
    for _ in range(site.store.brand.preferences.link_requests_per_hour):
        page.request.post("/p", form={"email": site.customer.email})
    assert _ask_for_link(page, site.customer.email)[0] == 429


def _survey_question_page(page: Page, site: Site) -> None:
    response = page.goto(f"{site.url('center')}/survey?as=user")
    assert response is not None
    assert response.status == 200


def _survey_with_problems(page: Page, site: Site) -> None:
    _survey_question_page(page, site)
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_role("alert")).to_contain_text("Nothing was sent")


PAGES = {
    "preference page": _preference_page,
    "survey questions": _survey_question_page,
    "survey with problems": _survey_with_problems,
    "preference page after save": _preference_page_saved,
    "unsubscribe page": _unsubscribe_page,
    "bad-link page": _bad_link_page,
    "request-a-link page": _request_link_page,
    "request-a-link answer": _request_link_answer,
    "request-a-link over the limit": _request_link_refused,
}


@pytest.mark.parametrize("what", list(PAGES))
def test_pages_have_no_serious_accessibility_problems(
    contexts: Contexts, site: Site, browser_tools: BrowserTools, what: str
) -> None:
    # axe-core is injected as a script: the page's Content-Security-Policy must let it in.
    page = contexts.new(bypass_csp=True)
    PAGES[what](page, site)
    assert_accessible(page, browser_tools.axe, what=what)


# --- 7b. the commitment survey, from the preference page -------------------------------------


def test_the_survey_is_answered_from_the_preference_page(page: Page, site: Site) -> None:
    open_center(page, site)
    page.get_by_role("link", name=re.compile("tell us what you think")).click()
    page.get_by_role("link", name=re.compile("Yes, I use")).click()
    answers = {
        "How well do we meet your needs?": "9",
        "How well do we fit your goals and values?": "8",
        "How much does it matter to you which brand you choose?": "4",
        "How would you rate the best alternative to us?": "3",
        "How likely are you to consider switching in the next 12 months?": "1",
    }
    for question, choice in answers.items():
        page.get_by_role("group", name=question).get_by_label(choice, exact=True).check()
    page.get_by_label("What would make our messages more useful to you?").fill("Repair tips")
    page.get_by_role("button", name="Send my answers").click()

    expect(page.get_by_role("status")).to_contain_text("Thank you")
    with unit_of_work(site.store) as session:
        found = commitment.history(session, site.customer.id, brand=site.store.brand)
    assert found.current is not None
    assert found.current["source"] == "page"
    assert found.current["satisfaction"] == 9
    assert found.current["has_free_text"]


# --- 8. phone and desktop -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)], ids=["phone", "desktop"]
)
def test_the_preference_page_fits_phone_and_desktop(
    contexts: Contexts, site: Site, size: str, viewport: ViewportSize
) -> None:
    page = contexts.new(viewport=viewport)
    open_center(page, site)
    shot = screenshots_folder() / f"preference-center-{size}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0

    widths: dict[str, int] = page.evaluate(
        "() => ({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})"
    )
    if size == "phone":
        assert widths["scroll"] <= widths["inner"], (
            f"at {viewport['width']}px the page scrolls sideways: it is {widths['scroll']}px "
            f"wide (screenshot: {shot})"
        )
