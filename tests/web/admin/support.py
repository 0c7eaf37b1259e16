"""Signing staff in through the real pages, as a browser would."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from httpx2 import Response

from regard.privacy import staff
from regard.privacy.audit import Actor
from regard.store.database import Store, unit_of_work

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


def add_member(store: Store, role: str, *, email: str | None = None) -> str:
    """A staff account with ``role`` and :data:`PASSWORD`; returns its email."""
    address = email or f"{role}@staff.example"
    with unit_of_work(store) as session:
        staff.add_staff(
            session,
            email=address,
            role=role,
            password=PASSWORD,
            vault=store.vault,
            actor=Actor.command_line(),
        )
    return address


def csrf_of(page: Response) -> str:
    found = _CSRF.search(page.text)
    assert found, "the page has no CSRF field"
    return found.group(1)


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> Response:
    form = client.get("/admin/login")
    return client.post(
        "/admin/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form)},
        follow_redirects=False,
    )


def signed_in_as(client: TestClient, store: Store, role: str) -> str:
    """Sign a new ``role`` member in on ``client``; returns the session's CSRF token."""
    email = add_member(store, role)
    answer = sign_in(client, email)
    assert answer.status_code == 303, answer.text
    return csrf_of(client.get("/admin/"))
