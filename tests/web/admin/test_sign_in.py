"""Signing in and out: passwords, cookies, CSRF, limits, expiry and the security headers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, text, update

from regard.app import create_app
from regard.privacy import staff
from regard.privacy.audit import Actor
from regard.privacy.models import AuditEntry, StaffMember, StaffSession
from regard.store.database import Store, unit_of_work
from tests.web.admin.support import PASSWORD, add_member, csrf_of, sign_in, signed_in_as


def _actions(store: Store) -> list[str]:
    with unit_of_work(store) as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def test_the_password_is_stored_as_an_argon2id_hash_and_the_email_sealed(store: Store) -> None:
    add_member(store, "admin", email="Ana@Staff.example")
    with store.engine.connect() as connection:
        row = connection.execute(text("SELECT email, password_hash FROM staff")).one()
    assert row.password_hash.startswith("$argon2id$")
    assert PASSWORD not in row.password_hash
    assert b"ana@staff.example" not in bytes(row.email)
    with unit_of_work(store) as session:
        member = session.scalars(select(StaffMember)).one()
        assert member.email == "ana@staff.example"


def test_signing_in_opens_a_session_in_a_cookie_with_its_flags(
    client: TestClient, store: Store
) -> None:
    email = add_member(store, "marketer")

    answer = sign_in(client, email)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("regard_staff="))
    flags = cookie.lower()
    assert "httponly" in flags
    assert "samesite=lax" in flags
    assert "path=/admin" in flags
    assert "secure" not in flags  # the public URL is http here
    token = cookie.split(";")[0].split("=", 1)[1]
    with unit_of_work(store) as session:
        stored = session.scalars(select(StaffSession)).one()
        assert stored.token_hash == staff.token_hash(token) != token
    page = client.get("/admin/")
    assert page.status_code == 200
    assert "marketer@staff.example" in page.text
    assert "marketer" in page.text
    assert _actions(store)[-1] == "staff.login"


def test_the_cookie_is_secure_when_the_console_is_served_over_https(store: Store) -> None:
    app = create_app(store)
    app.state.secure_cookies = True
    email = add_member(store, "admin")

    with TestClient(app, base_url="https://testserver") as client:
        answer = sign_in(client, email)

    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("regard_staff="))
    assert "secure" in cookie.lower()


def test_a_wrong_password_or_unknown_email_is_refused_alike(
    client: TestClient, store: Store
) -> None:
    email = add_member(store, "admin")

    wrong = sign_in(client, email, "not the password at all")
    unknown = sign_in(client, "nobody@staff.example")

    assert wrong.status_code == unknown.status_code == 401
    assert "do not match" in wrong.text
    assert "do not match" in unknown.text
    assert client.get("/admin/", follow_redirects=False).status_code == 303
    assert _actions(store)[-2:] == ["staff.login_failed", "staff.login_failed"]


def test_five_failures_for_one_email_lock_it_for_a_while(client: TestClient, store: Store) -> None:
    email = add_member(store, "admin")
    for _ in range(staff.SIGN_IN_ATTEMPTS):
        assert sign_in(client, email, "wrong password!!").status_code == 401

    locked = sign_in(client, email)  # even the right password waits

    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60 + 1
    assert "Too many attempts" in locked.text
    assert _actions(store)[-1] == "staff.login_limited"
    other = add_member(store, "agent")  # the same client address is limited too
    assert sign_in(client, other).status_code == 429


def test_a_disabled_account_cannot_sign_in(client: TestClient, store: Store) -> None:
    add_member(store, "admin", email="boss@staff.example")
    email = add_member(store, "agent")
    with unit_of_work(store) as session:
        member = staff.find_staff(session, email, vault=store.vault)
        staff.disable_staff(session, member, actor=Actor.command_line())

    assert sign_in(client, email).status_code == 401


def test_forms_without_the_csrf_token_or_with_a_wrong_one_are_refused(
    client: TestClient, store: Store
) -> None:
    csrf = signed_in_as(client, store, "admin")
    new = {"email": "new@staff.example", "role": "agent", "password": PASSWORD}

    missing = client.post("/admin/staff", data=new, follow_redirects=False)
    wrong = client.post(
        "/admin/staff", data={**new, "csrf_token": csrf[:-2] + "xx"}, follow_redirects=False
    )
    right = client.post("/admin/staff", data={**new, "csrf_token": csrf}, follow_redirects=False)

    assert missing.status_code == wrong.status_code == 403
    assert right.status_code == 303
    with unit_of_work(store) as session:
        assert len(staff.list_staff(session)) == 2


def test_the_sign_in_form_needs_its_own_token(client: TestClient, store: Store) -> None:
    email = add_member(store, "admin")
    client.get("/admin/login")

    forged = client.post(
        "/admin/login", data={"email": email, "password": PASSWORD}, follow_redirects=False
    )

    assert forged.status_code == 403


def test_signing_out_ends_the_session_at_once(client: TestClient, store: Store) -> None:
    csrf = signed_in_as(client, store, "analyst")
    cookie = client.cookies.get("regard_staff")
    assert cookie

    out = client.post("/admin/logout", data={"csrf_token": csrf}, follow_redirects=False)

    assert out.status_code == 303
    assert out.headers["location"] == "/admin/login"
    client.cookies.set("regard_staff", cookie, path="/admin")  # a copy kept by an attacker
    again = client.get("/admin/", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"].startswith("/admin/login")
    assert "staff.logout" in _actions(store)


def test_a_session_idle_too_long_is_over(client: TestClient, store: Store) -> None:
    signed_in_as(client, store, "agent")
    assert client.get("/admin/").status_code == 200
    with unit_of_work(store) as session:
        session.execute(
            update(StaffSession).values(
                last_seen_at=datetime.now(UTC) - staff.IDLE_TIMEOUT - timedelta(seconds=1)
            )
        )

    answer = client.get("/admin/", follow_redirects=False)

    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=/admin/"


def test_a_session_past_its_lifetime_is_over(client: TestClient, store: Store) -> None:
    signed_in_as(client, store, "agent")
    with unit_of_work(store) as session:
        session.execute(update(StaffSession).values(expires_at=datetime.now(UTC)))

    assert client.get("/admin/", follow_redirects=False).status_code == 303


def test_after_signing_in_the_browser_returns_where_it_was_going(
    client: TestClient, store: Store
) -> None:
    email = add_member(store, "admin")
    first = client.get("/admin/audit", follow_redirects=False)
    assert first.headers["location"] == "/admin/login?next=/admin/audit"
    form = client.get(first.headers["location"])

    answer = client.post(
        "/admin/login",
        data={
            "email": email,
            "password": PASSWORD,
            "csrf_token": csrf_of(form),
            "next": "/admin/audit",
        },
        follow_redirects=False,
    )
    elsewhere = client.get("/admin/login?next=//evil.example/", follow_redirects=False)

    assert answer.headers["location"] == "/admin/audit"
    assert elsewhere.headers["location"] == "/admin/"


def test_security_headers_on_console_center_and_api(client: TestClient, store: Store) -> None:
    for path in ("/admin/login", "/", "/p", "/healthz"):
        answer = client.get(path)
        headers = answer.headers
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy, path
        assert "script-src 'self'" in policy or "default-src 'none'" in policy, path
        assert headers["x-frame-options"] == "DENY", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["referrer-policy"] in ("same-origin", "no-referrer"), path
    assert client.get("/admin/login").headers["cache-control"] == "no-store"
