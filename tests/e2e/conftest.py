"""Browser tests: the real app, served by uvicorn on loopback, driven in headless Chromium.

Debian's Chromium (``/usr/bin/chromium``) and axe-core (``node_modules/axe-core``) come from
``scripts/install-browser-test-deps``, which the session runs when either is missing. When they
still cannot be had the tests skip, saying why; under ``CI=true`` they fail instead. No browser
build is ever downloaded: Playwright only drives the Chromium the system has.

Each test gets its own migrated SQLite store with one customer (email address, phone number and a
push device) and its own server, so no test sees another's changes. The center's own mail is
written as ``.eml`` files under the test's tmp_path, with links to the served address.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    ViewportSize,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError

from regard import runtime
from regard.app import create_app
from regard.delivery.mail import FileMailer
from regard.preferences import links, service
from regard.preferences.service import Preferences
from regard.store import migrate
from regard.store.database import Store, open_store, unit_of_work
from regard.web.center.flows import CenterMail
from tests.conftest import brand_for_tests, make_settings
from tests.preferences.support import new_customer

ROOT = Path(__file__).resolve().parents[2]
INSTALLER = ROOT / "scripts" / "install-browser-test-deps"
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP: ViewportSize = {"width": 1280, "height": 900}
# Long enough for a slow CI machine, short enough that a missing element fails the test quickly.
TIMEOUT_MS = 10_000

_serial = itertools.count(1)


@dataclass(frozen=True)
class BrowserTools:
    chromium: Path
    axe: Path


def _missing() -> list[str]:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"Chromium at {CHROMIUM}")
    if not AXE.is_file():
        missing.append(f"axe-core at {AXE.relative_to(ROOT)}")
    return missing


@pytest.fixture(scope="session")
def browser_tools() -> BrowserTools:
    """Chromium and axe-core, installed on first need; else a skip (a failure under CI)."""
    detail = ""
    if _missing():
        try:
            run = subprocess.run(
                [str(INSTALLER)], cwd=ROOT, capture_output=True, text=True, timeout=600
            )
            detail = (run.stdout + run.stderr).strip()[-2000:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            detail = str(exc)
    missing = _missing()
    if missing:
        reason = (
            f"browser tests need {' and '.join(missing)}; "
            f"scripts/install-browser-test-deps could not provide them"
            + (f":\n{detail}" if detail else "")
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return BrowserTools(chromium=CHROMIUM, axe=AXE)


@pytest.fixture(scope="session")
def playwright_driver(browser_tools: BrowserTools) -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright_driver: Playwright, browser_tools: BrowserTools) -> Iterator[Browser]:
    """One headless Chromium for the whole session."""
    launched = playwright_driver.chromium.launch(
        executable_path=str(browser_tools.chromium), args=CHROMIUM_ARGS
    )
    yield launched
    launched.close()


@dataclass(frozen=True)
class Customer:
    id: int
    name: str
    email: str
    phone: str
    device_handle: str
    device_name: str


@dataclass
class Site:
    """The served app, its store and the customer in it."""

    base_url: str
    store: Store
    customer: Customer
    mail_dir: Path

    def token(self, purpose: links.Purpose, **claims: Any) -> str:
        with unit_of_work(self.store) as session:
            return links.issue(session, self.customer.id, purpose=purpose, **claims)

    def url(self, purpose: links.Purpose, **claims: Any) -> str:
        return links.url_for(self.base_url, purpose, self.token(purpose, **claims))

    def preferences(self) -> Preferences:
        """What the database holds for the customer now."""
        with unit_of_work(self.store) as session:
            return service.current(session, self.customer.id, brand=self.store.brand)

    def ledger_verifies(self) -> bool:
        with unit_of_work(self.store) as session:
            return service.verify(session).ok

    def mail_to(self, address: str) -> list[EmailMessage]:
        """The messages the center has sent to ``address``, oldest first."""
        parser = BytesParser(policy=policy.default)
        found = []
        for path in sorted(self.mail_dir.glob("*.eml")):
            message = parser.parsebytes(path.read_bytes())
            assert isinstance(message, EmailMessage)
            if message["To"] == address:
                found.append(message)
        return found

    def wait_for_mail(self, address: str, *, count: int = 1) -> list[EmailMessage]:
        """The messages to ``address`` once there are ``count`` (mail goes out after the answer)."""
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while len(found := self.mail_to(address)) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return found


class _Serving:
    """uvicorn in a background thread, on a port the kernel picked."""

    def __init__(self, store: Store, *, mail_dir: Path) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        app = create_app(store)
        # The real mailer of a development setup, kept inside the test's directory.
        app.state.center_mail = CenterMail(
            mailer=FileMailer(mail_dir), public_url=self.base_url, sender="choices@example.com"
        )
        config = uvicorn.Config(
            app,
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,
            access_log=False,
            log_level="warning",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        # Loopback only: no proxy from the environment.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not self._thread.is_alive():
                pytest.fail("the app's server stopped before it answered /healthz")
            try:
                with opener.open(f"{self.base_url}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.05)
        pytest.fail(f"the app did not answer {self.base_url}/healthz within 15 s")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


@pytest.fixture
def site(tmp_path: Path, browser_tools: BrowserTools) -> Iterator[Site]:
    """A served app over a fresh SQLite store holding one customer with a push device."""
    store = open_store(
        make_settings(f"sqlite:///{tmp_path / 'regard.db'}", tmp_path), brand=brand_for_tests()
    )
    migrate.upgrade(store.engine)
    runtime.use_store(store)
    serial = next(_serial)
    name = "Zuleika"
    email = f"zuleika.{serial}@example.com"
    phone = f"+31 6 1234 {serial:04d}"
    customer_id = new_customer(store, email=email, phone=phone, name=name)
    with unit_of_work(store) as session:
        device = service.register_device(
            session, customer_id, name="Ana's phone", platform="ios", token=f"tok-{serial}"
        )
        handle = device.handle
    mail_dir = tmp_path / "mail"
    serving = _Serving(store, mail_dir=mail_dir)
    serving.start()
    try:
        yield Site(
            base_url=serving.base_url,
            store=store,
            customer=Customer(
                id=customer_id,
                name=name,
                email=email,
                phone=phone,
                device_handle=handle,
                device_name="Ana's phone",
            ),
            mail_dir=mail_dir,
        )
    finally:
        serving.stop()
        runtime.use_store(None)
        store.engine.dispose()


# The outcome of each test's call phase, for fixtures that keep evidence of a failure.
_OUTCOME = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.stash[_OUTCOME] = report
    return report


class Contexts:
    """Opens browser profiles for one test; :meth:`close` closes them all."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self._browser = browser
        self._base_url = base_url
        self.opened: list[BrowserContext] = []

    def new(self, *, viewport: ViewportSize | None = None, bypass_csp: bool = False) -> Page:
        """A page in a fresh profile. ``bypass_csp`` lets a test inject its own script (axe)."""
        context = self._browser.new_context(
            viewport=viewport or DESKTOP,
            base_url=self._base_url,
            bypass_csp=bypass_csp,
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.opened.append(context)
        return context.new_page()

    def keep_evidence(self, name: str) -> None:
        """Screenshots and HTML of every open page, under test-artifacts/failures/."""
        folder = ARTIFACTS / "failures"
        folder.mkdir(parents=True, exist_ok=True)
        pages = [open_page for context in self.opened for open_page in context.pages]
        for number, open_page in enumerate(pages):
            stem = folder / f"{name}-{number}"
            try:
                open_page.screenshot(path=f"{stem}.png", full_page=True)
                Path(f"{stem}.html").write_text(open_page.content())
            except PlaywrightError:
                continue  # a page that cannot be captured adds nothing to the report

    def close(self) -> None:
        for context in self.opened:
            context.close()


@pytest.fixture
def contexts(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Contexts]:
    """Browser profiles for this test; a failed test leaves screenshots of its pages."""
    opened = Contexts(browser, site.base_url)
    yield opened
    outcome = request.node.stash.get(_OUTCOME, None)
    if outcome is not None and outcome.failed:
        opened.keep_evidence(re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120])
    opened.close()


@pytest.fixture
def page(contexts: Contexts) -> Page:
    """A page at desktop size in a fresh profile."""
    return contexts.new()


def screenshots_folder() -> Path:
    folder = ARTIFACTS / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# --- the staff console ---------------------------------------------------------------------------

STAFF_PASSWORD = "correct horse battery"
CONSOLE_ROLES = ("admin", "marketer", "analyst", "agent")


@dataclass(frozen=True)
class StaffLogin:
    email: str
    password: str


@dataclass
class ConsoleSite:
    """The served app over a small seeded store, and a staff account for each role.

    Ana opted in to event news by email and got the autumn campaign's message (queued in the
    outbox); Ben never opted in, so the engine dropped his for want of consent.
    """

    base_url: str
    store: Store
    staff: dict[str, StaffLogin]
    ana: Customer
    ben: Customer


def _seed_console(store: Store, serial: int) -> tuple[Customer, Customer]:
    # Imported here: the console's domains are not needed by the preference center's tests.
    import copy
    import dataclasses
    from datetime import UTC, datetime

    from regard.console import campaigns as planner
    from regard.decisions.service import run_engine
    from regard.preferences.service import ConsentChange, Origin
    from regard.privacy import staff
    from regard.privacy.audit import Actor
    from regard.segments import service as segments

    # A campaign for everyone, beside the catalogue's own (spring_camping, for lifecycle:active).
    from tests.touchpoints.support import AUTUMN_EVENTS, CATALOGUE, brand_with_touchpoints

    store.brand = brand_with_touchpoints([*copy.deepcopy(CATALOGUE), AUTUMN_EVENTS])
    ana = Customer(
        id=0,
        name="Ana",
        email=f"ana.{serial}@example.com",
        phone=f"+31 6 2345 {serial:04d}",
        device_handle="",
        device_name="",
    )
    ben = Customer(
        id=0,
        name="Ben",
        email=f"ben.{serial}@example.com",
        phone="",
        device_handle="",
        device_name="",
    )
    ana_id = new_customer(store, email=ana.email, phone=ana.phone, name=ana.name)
    ben_id = new_customer(store, email=ben.email, name=ben.name)
    with unit_of_work(store) as session:
        service.record(
            session,
            ana_id,
            brand=store.brand,
            # Confirmed, as after the double opt-in mail: an unconfirmed one is only pending.
            origin=Origin(source="confirmation", actor="customer"),
            consents=[ConsentChange("events", "email", "opted-in")],
        )
        for role in CONSOLE_ROLES:
            staff.add_staff(
                session,
                email=f"{role}@staff.example",
                role=role,
                password=STAFF_PASSWORD,
                vault=store.vault,
                actor=Actor.command_line(),
            )
    now = datetime.now(UTC)  # after the consent: the engine reads what was said by then
    with unit_of_work(store) as session:
        segments.evaluate_segments(session, brand=store.brand, as_of=now)
        planner.launch(
            session, "autumn_events", brand=store.brand, actor=Actor.command_line(), now=now
        )
    run_engine(store, now=now)  # Ana's message queued, Ben's dropped
    return (
        dataclasses.replace(ana, id=ana_id),
        dataclasses.replace(ben, id=ben_id),
    )


@pytest.fixture
def console_site(tmp_path: Path, browser_tools: BrowserTools) -> Iterator[ConsoleSite]:
    """A served app over a fresh SQLite store seeded for the console (see :class:`ConsoleSite`)."""
    store = open_store(
        make_settings(f"sqlite:///{tmp_path / 'regard.db'}", tmp_path), brand=brand_for_tests()
    )
    migrate.upgrade(store.engine)
    runtime.use_store(store)
    ana, ben = _seed_console(store, next(_serial))
    serving = _Serving(store, mail_dir=tmp_path / "mail")
    serving.start()
    try:
        yield ConsoleSite(
            base_url=serving.base_url,
            store=store,
            staff={
                role: StaffLogin(f"{role}@staff.example", STAFF_PASSWORD) for role in CONSOLE_ROLES
            },
            ana=ana,
            ben=ben,
        )
    finally:
        serving.stop()
        runtime.use_store(None)
        store.engine.dispose()


@pytest.fixture
def console_contexts(
    browser: Browser, console_site: ConsoleSite, request: pytest.FixtureRequest
) -> Iterator[Contexts]:
    """Browser profiles on the console; a failed test leaves screenshots of its pages."""
    opened = Contexts(browser, console_site.base_url)
    yield opened
    outcome = request.node.stash.get(_OUTCOME, None)
    if outcome is not None and outcome.failed:
        opened.keep_evidence(re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)[:120])
    opened.close()
