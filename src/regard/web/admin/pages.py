"""``/admin``: sign in and out, the overview, the audit log and staff accounts.

Pages are thin: they parse the form, call one service function and render. Every page names
its permission through ``require``; every form carries the session's CSRF token.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from regard.errors import InvalidInput, RegardError
from regard.privacy import audit, roles, staff
from regard.privacy.repository import AuditFilter
from regard.web.admin.access import (
    LOGIN_PATH,
    PREFIX,
    SESSION_COOKIE,
    SignedIn,
    SignedInDep,
    check_csrf,
    client_of,
    forget_session,
    login_form_token,
    remember_login_form,
    remember_session,
    require,
)
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(check_csrf)])

# What the overview links to, for whoever may open it. Pages of other domains add theirs.
SECTIONS: list[tuple[roles.Permission, str, str]] = [
    ("audit.view", "Audit log", f"{PREFIX}/audit"),
    ("staff.manage", "Staff accounts", f"{PREFIX}/staff"),
]


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def render(
    request: Request,
    template: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    who = context.get("who")
    if isinstance(who, SignedIn):
        # The layout's navigation: every page this role may open, and none it may not.
        context = {**context, "console_sections": sections_for(who)}
    return templates.TemplateResponse(
        request, template, context, status_code=status, headers=headers
    )


def sections_for(who: SignedIn) -> list[tuple[str, str]]:
    """The (label, path) of every console page ``who`` may open, in the order pages added them."""
    return [(label, path) for permission, label, path in SECTIONS if who.may(permission)]


def _safe_next(raw: str | None) -> str:
    # Only back into the console: never to another site ("//evil.example" is another site).
    if raw and raw.startswith(PREFIX) and not raw.startswith("//") and "\\" not in raw:
        return raw
    return f"{PREFIX}/"


@router.get("/login")
def login_page(request: Request, session: SessionDep, next: str | None = None) -> Response:
    """The sign-in form (or straight to the console when already signed in)."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and staff.current(session, token) is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    csrf = login_form_token(request)
    response = render(
        request, "admin/login.html", {"next": _safe_next(next), "problem": None, "csrf": csrf}
    )
    remember_login_form(request, response, csrf)
    return response


@router.post("/login")
def login(request: Request, session: SessionDep, store: StoreDep, form: FormDep) -> Response:
    """Check the email and password; open a session, or say no (429 after too many tries)."""
    target = _safe_next(_text(form, "next"))
    outcome = staff.sign_in(
        session,
        email=_text(form, "email"),
        password=_text(form, "password"),
        client=client_of(request),
        vault=store.vault,
    )
    if isinstance(outcome, staff.SignedIn):
        response = RedirectResponse(target, status_code=303)
        remember_session(request, response, outcome.token)
        return response
    context = {"next": target, "csrf": _text(form, "csrf_token")}
    if outcome.retry_after is not None:
        minutes = -(-outcome.retry_after // 60)
        return render(
            request,
            "admin/login.html",
            {**context, "problem": f"Too many attempts. Try again in {minutes} minute(s)."},
            status=429,
            headers={"Retry-After": str(outcome.retry_after)},
        )
    return render(
        request,
        "admin/login.html",
        {**context, "problem": "That email and password do not match an account."},
        status=401,
    )


@router.post("/logout")
def logout(request: Request, session: SessionDep, who: SignedInDep) -> Response:
    """End this session at once."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        staff.sign_out(session, token, client=client_of(request))
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    forget_session(request, response)
    return response


@router.get("/")
def overview(
    request: Request, who: Annotated[SignedIn, Depends(require("overview.view"))]
) -> Response:
    """Who you are, your role, and what your role may open."""
    return render(request, "admin/overview.html", {"who": who, "sections": sections_for(who)})


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(f"{name} must be a date such as 2026-03-01") from exc


def _audit_filter(
    actor: str | None, action: str | None, since: str | None, until: str | None
) -> AuditFilter:
    kind, actor_id = audit.parse_actor(actor) if actor else (None, None)
    first, last = _day(since, "from"), _day(until, "to")
    return AuditFilter(
        actor_kind=kind,
        actor_id=actor_id,
        action=action or None,
        since=datetime.combine(first, time(), UTC) if first else None,
        # "to" includes the whole day.
        until=datetime.combine(last, time(), UTC) + timedelta(days=1) if last else None,
    )


@router.get("/audit")
def audit_log(
    request: Request,
    session: SessionDep,
    who: Annotated[SignedIn, Depends(require("audit.view"))],
    actor: str | None = None,
    action: str | None = None,
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
    page: Annotated[int, Query(ge=1)] = 1,
) -> Response:
    """The audit log, newest first, 50 a page, filtered by actor, action and dates."""
    wanted = _audit_filter(actor, action, since, until)
    found = audit.page(session, wanted, number=page)
    query = {"actor": actor or "", "action": action or "", "from": since or "", "to": until or ""}
    return render(
        request,
        "admin/audit.html",
        {
            "who": who,
            "found": found,
            "query": query,
            "actions": audit.ACTIONS,
            "query_string": "&".join(f"{k}={v}" for k, v in query.items() if v),
        },
    )


@router.get("/audit.csv")
def audit_export(
    session: SessionDep,
    who: Annotated[SignedIn, Depends(require("audit.export"))],
    actor: str | None = None,
    action: str | None = None,
    since: Annotated[str | None, Query(alias="from")] = None,
    until: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    """The filtered audit log as CSV, oldest first. The export is itself audited."""
    wanted = _audit_filter(actor, action, since, until)
    body = "".join(audit.export_csv(session, wanted, actor=who.actor))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )


def _staff_page(
    request: Request,
    session: SessionDep,
    who: SignedIn,
    *,
    problem: str | None = None,
    done: str | None = None,
    status: int = 200,
    entered: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "admin/staff.html",
        {
            "who": who,
            "members": staff.list_staff(session),
            "roles": roles.ROLES,
            "problem": problem,
            "done": done,
            "entered": entered or {},
        },
        status=status,
    )


Admin = Annotated[SignedIn, Depends(require("staff.manage"))]


@router.get("/staff")
def staff_list(request: Request, session: SessionDep, who: Admin) -> Response:
    """Staff accounts, and a form to add one."""
    return _staff_page(request, session, who, done=request.query_params.get("done"))


@router.post("/staff")
def staff_add(
    request: Request, session: SessionDep, store: StoreDep, who: Admin, form: FormDep
) -> Response:
    """Add a staff account; problems are shown on the form."""
    email, role = _text(form, "email"), _text(form, "role")
    try:
        member = staff.add_staff(
            session,
            email=email,
            role=role,
            password=_text(form, "password"),
            vault=store.vault,
            actor=who.actor,
        )
    except RegardError as exc:
        return _staff_page(
            request,
            session,
            who,
            problem=exc.message,
            status=exc.status_code,
            entered={"email": email, "role": role},
        )
    return RedirectResponse(f"{PREFIX}/staff?done=added-{member.id}", status_code=303)


@router.post("/staff/{staff_id}/disable")
def staff_disable(
    request: Request, staff_id: int, session: SessionDep, store: StoreDep, who: Admin
) -> Response:
    """Disable an account at once; its sessions end."""
    member = staff.find_staff(session, str(staff_id), vault=store.vault)
    try:
        staff.disable_staff(session, member, actor=who.actor)
    except RegardError as exc:
        return _staff_page(request, session, who, problem=exc.message, status=exc.status_code)
    return RedirectResponse(f"{PREFIX}/staff?done=disabled-{member.id}", status_code=303)
