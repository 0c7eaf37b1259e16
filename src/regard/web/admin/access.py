"""Who is asking: the session cookie, ``require(permission)`` for pages, and CSRF checks.

Every console page depends on :func:`require` (or :data:`SignedInDep` for what any signed-in
person may do); every POST, PUT, PATCH or DELETE under ``/admin`` passes :func:`check_csrf`
first, which compares the form's ``csrf_token`` with the one derived from the session.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse, Response

from regard.errors import Forbidden
from regard.privacy import roles, staff
from regard.privacy.audit import Actor
from regard.privacy.models import StaffMember, StaffSession
from regard.web.deps import SessionDep, StoreDep

SESSION_COOKIE = "regard_staff"
LOGIN_COOKIE = "regard_login"
PREFIX = "/admin"
LOGIN_PATH = f"{PREFIX}/login"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequired(Exception):
    """No live session: the browser is sent to the sign-in page (then back)."""


async def redirect_to_login(request: Request, _exc: LoginRequired) -> Response:
    back = request.url.path if request.method == "GET" else f"{PREFIX}/"
    response = RedirectResponse(f"{LOGIN_PATH}?next={quote(back)}", status_code=303)
    if SESSION_COOKIE in request.cookies:
        forget_session(request, response)
    return response


def client_of(request: Request) -> str | None:
    """The address the request came from (behind a proxy, the proxy's unless it forwards)."""
    return request.client.host if request.client else None


@dataclass(frozen=True)
class SignedIn:
    """The staff member behind this request, their session and the form token to echo."""

    member: StaffMember
    staff_session: StaffSession
    csrf: str
    actor: Actor

    @property
    def role(self) -> str:
        return self.member.role

    def may(self, permission: roles.Permission) -> bool:
        return roles.allows(self.member.role, permission)


def signed_in(request: Request, session: SessionDep, store: StoreDep) -> SignedIn:
    token = request.cookies.get(SESSION_COOKIE)
    found = staff.current(session, token) if token else None
    if token is None or found is None:
        raise LoginRequired()
    live, member = found
    return SignedIn(
        member=member,
        staff_session=live,
        csrf=staff.csrf_token(store.vault, token),
        actor=Actor.of_staff(member, client=client_of(request)),
    )


SignedInDep = Annotated[SignedIn, Depends(signed_in)]


def require(permission: roles.Permission) -> Callable[[SignedIn], SignedIn]:
    """A dependency: the signed-in staff member when their role holds ``permission``.

    Not signed in: a redirect to the sign-in page. Signed in without it: 403.
    """

    def dependency(who: SignedInDep) -> SignedIn:
        if not who.may(permission):
            raise Forbidden(f"your role ({who.role}) may not open this")
        return who

    dependency.permission = permission  # type: ignore[attr-defined]
    return dependency


async def check_csrf(request: Request, store: StoreDep) -> None:
    """Refuse a state-changing request whose form token is missing or wrong.

    The sign-in form checks against a token in a short-lived cookie of its own (no session
    yet); every other form against the one derived from the session cookie. A request with no
    session cookie carries no one's authority, so it falls through to ``require``.
    """
    if request.method in _SAFE_METHODS:
        return
    form = await request.form()
    field = form.get("csrf_token")
    given = field if isinstance(field, str) else request.headers.get("x-csrf-token")
    if request.url.path == LOGIN_PATH:
        expected = request.cookies.get(LOGIN_COOKIE)
    else:
        token = request.cookies.get(SESSION_COOKIE)
        if token is None:
            return
        expected = staff.csrf_token(store.vault, token)
    if not expected or not staff.csrf_matches(expected, given):
        raise Forbidden("this form has expired or came from another site; reload it and retry")


def _secure(request: Request) -> bool:
    return bool(getattr(request.app.state, "secure_cookies", False))


def remember_session(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(staff.SESSION_LIFETIME.total_seconds()),
        path=PREFIX,
        secure=_secure(request),
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH)


def forget_session(request: Request, response: Response) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path=PREFIX, secure=_secure(request), httponly=True, samesite="lax"
    )


def login_form_token(request: Request) -> str:
    """The sign-in form's token: the one in its cookie while that lasts, else a new one."""
    return request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)


def remember_login_form(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        max_age=3600,
        path=LOGIN_PATH,
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )
