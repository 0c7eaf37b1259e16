"""Reading the center's pages as a browser would: which boxes are ticked, what a form submits."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser

from fastapi.testclient import TestClient

from regard.app import create_app
from regard.delivery.mail import MemoryMailer
from regard.preferences import links, service
from regard.store.database import Store, unit_of_work
from regard.web.center.flows import CenterMail

PUBLIC_URL = "http://testserver"


class Page(HTMLParser):
    """The controls of one page, the forms they belong to, and its text without tags."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.controls: list[dict[str, str | None]] = []
        self.ids: set[str] = set()
        self.texts: list[str] = []
        self._form: str | None = None
        self._select: dict[str, str | None] | None = None
        self._textarea: dict[str, str | None] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "form":
            self._form = found.get("id") or found.get("action")
        elif tag in ("input", "button"):
            self.controls.append({**found, "tag": tag, "owner": found.get("form", self._form)})
        elif tag == "select":
            self._select = {**found, "tag": "select", "owner": self._form, "value": None}
            self.controls.append(self._select)
        elif tag == "option" and self._select is not None:
            if self._select["value"] is None or "selected" in found:
                self._select["value"] = found.get("value")
                self._select["explicit"] = "1" if "selected" in found else None
        elif tag == "textarea":
            self._textarea = {**found, "tag": "textarea", "owner": self._form, "value": ""}
            self.controls.append(self._textarea)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._textarea is not None:
            self._textarea["value"] = (self._textarea["value"] or "") + data

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.texts)).strip()

    def control(self, name: str, value: str | None = None) -> dict[str, str | None]:
        for control in self.controls:
            if control.get("name") == name and (value is None or control.get("value") == value):
                return control
        raise KeyError(f"no control {name}={value}")

    def checked(self, name: str, value: str | None = None) -> bool:
        return "checked" in self.control(name, value)

    def value(self, name: str) -> str | None:
        return self.control(name).get("value")

    def form_data(self, form: str = "choices") -> dict[str, list[str]]:
        """What pressing a submit button of ``form`` sends, without the button itself."""
        data: dict[str, list[str]] = {}
        for control in self.controls:
            name = control.get("name")
            if control.get("owner") != form or not name:
                continue
            kind = control.get("type") or "text"
            if control["tag"] == "button" or kind in ("submit", "button"):
                continue
            if kind in ("checkbox", "radio") and "checked" not in control:
                continue
            value = control.get("value")
            data.setdefault(name, []).append("on" if value is None else value)
        return data


def customer_link(
    store: Store,
    customer_id: int,
    purpose: links.Purpose = "center",
    *,
    topic: str | None = None,
    channel: str | None = None,
    identity_id: int | None = None,
) -> str:
    """The path of a fresh link, as a message would carry it."""
    with unit_of_work(store) as session:
        token = links.issue(
            session,
            customer_id,
            purpose=purpose,
            topic=topic,
            channel=channel,
            identity_id=identity_id,
        )
    return f"{links.PATHS[purpose]}{token}"


@contextmanager
def center_client(store: Store, mailer: MemoryMailer) -> Iterator[TestClient]:
    """The app on ``store`` with mail kept in ``mailer``; the ledger is checked afterwards."""
    app = create_app(store)
    app.state.center_mail = CenterMail(mailer, PUBLIC_URL, "choices@outfitters.invalid")
    with TestClient(app, follow_redirects=False) as client:
        yield client
    with unit_of_work(store) as session:
        report = service.verify(session)
    assert report.ok, report.problems


def ledger_size(store: Store, customer_id: int) -> int:
    with unit_of_work(store) as session:
        return len(service.history(session, customer_id))
