"""The preference center's pages: reached by signed links, served without JavaScript.

- ``/p/{token}``: everything a customer can set, saved as one change.
- ``/p``: "send me a link", answered alike for known and unknown addresses.
- ``/u/{token}``: one-click unsubscribe (RFC 8058) from one topic on one channel, with undo.
- ``/c/{token}``: confirmation of an email opt-in under double opt-in.

A GET never changes a customer's choices (mail scanners open links); only the button does.
Mail goes out after the transaction commits, as a background task of the response.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from email.message import EmailMessage
from functools import lru_cache
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from regard.config import BrandConfig, get_settings
from regard.delivery.mail import mailer_from_settings, send_quietly
from regard.errors import InvalidInput
from regard.preferences import links, service
from regard.preferences.catalogue import CHANNEL_LABELS, DAY_LABELS, DAYS, FREQUENCY_LABELS
from regard.preferences.links import LinkClaims, LinkProblem, Purpose
from regard.preferences.service import ConsentChange, Origin, SettingChange
from regard.web.center import flows, forms, summary
from regard.web.center.flows import CenterMail
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(include_in_schema=False)

# Links in the address bar must not travel on as a Referer, be cached or be indexed; the pages
# load nothing from elsewhere and may not be framed (a framed button could be clicked unseen).
PRIVATE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}
_LINK_STATUS: dict[str, int] = {"tampered": 403, "expired": 410, "revoked": 410}
_TIME_ZONES = sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")


@lru_cache(maxsize=128)
def time_zone_options(selected: str | None) -> Markup:
    """The ~600 ``<option>``s of the time-zone list, built once per chosen zone: escaping them
    on every page view was most of the page's cost."""
    return Markup("").join(
        Markup('<option value="{0}"{1}>{0}</option>').format(
            zone, Markup(" selected") if zone == selected else ""
        )
        for zone in _TIME_ZONES
    )


_LANGUAGE_NAMES = {
    "da": "Dansk",
    "de": "Deutsch",
    "en": "English",
    "es": "Español",
    "fr": "Français",
    "it": "Italiano",
    "nl": "Nederlands",
    "pl": "Polski",
    "pt": "Português",
    "sv": "Svenska",
}
_FIELD_LABELS = {
    "frequency": "How often overall",
    "paused_until": "Pause until",
    "time_zone": "Time zone",
    "quiet_hours": "Quiet hours",
    "preferred_days": "Days",
    "preferred_hours": "Hours",
    "life_stage": "Where you are now",
    "language": "Language",
    "interests": "Interests",
    "note": "What matters to you",
    "form": "Your choices",
}


def get_center_mail(request: Request) -> CenterMail:
    """The center's mail settings: the app's own (tests set one), else from the settings."""
    mail: CenterMail | None = getattr(request.app.state, "center_mail", None)
    if mail is None:
        settings = get_settings()
        mail = CenterMail(
            mailer=mailer_from_settings(settings),
            public_url=settings.public_url,
            sender=settings.mail_from,
        )
        request.app.state.center_mail = mail
    return mail


CenterMailDep = Annotated[CenterMail, Depends(get_center_mail)]


async def _form(request: Request) -> FormData:
    return await request.form()


FormDep = Annotated[FormData, Depends(_form)]


def render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200
) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    brand: BrandConfig = request.app.state.store.brand
    response = templates.TemplateResponse(
        request,
        template,
        {"brand": brand, "lang": brand.locale, **context},
        status_code=status,
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


def link_problem(request: Request, problem: LinkProblem) -> Response:
    brand: BrandConfig = request.app.state.store.brand
    return render(
        request,
        "center/link_problem.html",
        {"reason": problem.reason, "link_days": brand.preferences.link_days},
        status=_LINK_STATUS[problem.reason],
    )


def open_link(
    session: Session, token: str, purpose: Purpose, brand: BrandConfig, *, to_opt_out: bool = False
) -> LinkClaims:
    claims = links.open_token(session, token, purpose=purpose, brand=brand, to_opt_out=to_opt_out)
    if purpose != "center" and (claims.topic is None or claims.channel is None):
        raise LinkProblem("tampered")
    if claims.topic is not None and (
        brand.topic(claims.topic) is None or claims.channel not in brand.channels
    ):
        raise LinkProblem("revoked")  # the brand no longer has that topic or channel
    return claims


def _origin(request: Request, source: str, brand: BrandConfig) -> Origin:
    return Origin(
        source=source,
        actor="customer",
        wording_version=brand.preferences.wording_version,
        client_hash=service.client_fingerprint(
            address=request.client.host if request.client else None,
            user_agent=request.headers.get("user-agent"),
        ),
    )


def _confirm_later(
    tasks: BackgroundTasks,
    target: flows.ConfirmationTarget | None,
    pending: list[tuple[str, str]],
    *,
    brand: BrandConfig,
    mail: CenterMail,
) -> None:
    """The double opt-in email is written and sent after the change is committed."""
    if target is not None and pending:
        tasks.add_task(flows.send_confirmation, target, pending, brand=brand, mail=mail)


def _send_later(tasks: BackgroundTasks, mail: CenterMail, message: EmailMessage | None) -> None:
    if message is not None:
        tasks.add_task(send_quietly, mail.mailer, message)


def _today(brand: BrandConfig) -> date:
    return datetime.now(ZoneInfo(brand.time_zone)).date()


# ---- the preference page -------------------------------------------------------------------


def _problem_list(problems: dict[str, str], brand: BrandConfig) -> list[tuple[str, str, str]]:
    """(anchor, label, problem) for the list above the form, each linking to its field."""
    listed = []
    for at, message in problems.items():
        kind, _, scope = at.partition(":")
        if kind == "frequency" and scope:
            topic = brand.topic(scope)
            label = f"How often: {topic.label if topic else scope}"
        elif kind == "device":
            label = "Device"
        else:
            label = _FIELD_LABELS.get(at, at)
        listed.append((at.replace(":", "-"), label, message))
    return listed


def _center_page(
    request: Request,
    session: Session,
    claims: LinkClaims,
    token: str,
    *,
    brand: BrandConfig,
    form: forms.CenterForm | None = None,
    problems: dict[str, str] | None = None,
    saved: bool = False,
) -> Response:
    preferences = service.current(session, claims.customer_id, brand=brand)
    channels = flows.channel_rows(session, claims.customer_id, brand=brand)
    handles = [device.handle for row in channels for device in row.devices]
    shown = forms.from_preferences(preferences, brand, device_handles=handles)
    language = preferences.setting("language")
    return render(
        request,
        "center/preferences.html",
        {
            "lang": language or brand.locale,
            "token": token,
            "form": form or shown,
            "problems": problems or {},
            "problem_list": _problem_list(problems or {}, brand),
            "language_names": _LANGUAGE_NAMES,
            "channels": channels,
            "topics": brand.topics,
            "consents": preferences.consents,
            "importance_words": summary.IMPORTANCE_WORDS,
            "always_on": summary.ALWAYS_ON,
            "channel_labels": CHANNEL_LABELS,
            "frequency_labels": FREQUENCY_LABELS,
            "day_labels": DAY_LABELS,
            "days": DAYS,
            "time_zone_options": time_zone_options,
            "summary": summary.sentences(preferences, brand, today=_today(brand))
            if saved
            else None,
        },
        status=400 if problems else 200,
    )


@router.get("/p/{token}")
def preferences_page(
    request: Request, token: str, session: SessionDep, store: StoreDep, saved: int = 0
) -> Response:
    try:
        claims = open_link(session, token, "center", store.brand)
    except LinkProblem as problem:
        return link_problem(request, problem)
    flows.prove_address(session, claims)
    return _center_page(request, session, claims, token, brand=store.brand, saved=bool(saved))


@router.post("/p/{token}")
def save_preferences(
    request: Request,
    token: str,
    session: SessionDep,
    store: StoreDep,
    submitted: FormDep,
    mail: CenterMailDep,
    tasks: BackgroundTasks,
) -> Response:
    brand = store.brand
    try:
        claims = open_link(session, token, "center", brand)
    except LinkProblem as problem:
        return link_problem(request, problem)
    origin = _origin(request, "center", brand)
    # Read before the change (its write lock is then held for less time).
    target = flows.confirmation_target(
        session, claims.customer_id, identity_id=claims.identity_id, generation=claims.generation
    )
    action = submitted.get("action") or "save"
    if action == "stop-marketing":
        recorded = service.stop_marketing(session, claims.customer_id, brand=brand, origin=origin)
    elif action == "stop-all":
        recorded = service.stop_all_but_critical(
            session, claims.customer_id, brand=brand, origin=origin
        )
    elif action == "snooze-30":
        until = (_today(brand) + timedelta(days=30)).isoformat()
        recorded = service.record(
            session,
            claims.customer_id,
            brand=brand,
            origin=origin,
            settings=[SettingChange("paused_until", until)],
        )
    elif action == "save":
        preferences = service.current(session, claims.customer_id, brand=brand)
        handles = [device.handle for device in flows.devices_of(session, claims.customer_id)]
        shown = forms.from_preferences(preferences, brand, device_handles=handles)
        wanted = forms.from_submission(submitted, brand, device_handles=handles)
        found = forms.changes(wanted, shown, brand)
        if found.problems:
            return _center_page(
                request, session, claims, token, brand=brand, form=wanted, problems=found.problems
            )
        try:
            recorded = service.record(
                session,
                claims.customer_id,
                brand=brand,
                origin=origin,
                consents=found.consents,
                settings=found.settings,
            )
        except InvalidInput as exc:
            return _center_page(
                request,
                session,
                claims,
                token,
                brand=brand,
                form=wanted,
                problems={"form": exc.message},
            )
    else:
        raise InvalidInput("unknown action")
    _confirm_later(tasks, target, recorded.pending, brand=brand, mail=mail)
    return RedirectResponse(f"/p/{token}?saved=1", status_code=303, headers=PRIVATE_HEADERS)


# ---- "send me a link" ----------------------------------------------------------------------


@router.get("/p")
def request_link_page(request: Request) -> Response:
    return render(request, "center/request_link.html", {})


@router.post("/p")
def request_link(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    submitted: FormDep,
    mail: CenterMailDep,
    tasks: BackgroundTasks,
) -> Response:
    raw = submitted.get("email")
    client_hash = service.client_fingerprint(
        address=request.client.host if request.client else None,
        user_agent=request.headers.get("user-agent"),
    )
    try:
        outcome = flows.request_link(
            session,
            raw_email=raw if isinstance(raw, str) else "",
            client_hash=client_hash,
            brand=store.brand,
            vault=store.vault,
            mail=mail,
        )
    except flows.NotAnAddress:
        return render(
            request,
            "center/request_link.html",
            {"problem": "That does not look like an email address, such as ana@example.com."},
            status=400,
        )
    if outcome.limited:
        return render(request, "center/link_requested.html", {"limited": True}, status=429)
    _send_later(tasks, mail, outcome.message)
    return render(
        request,
        "center/link_requested.html",
        {"limited": False, "link_days": store.brand.preferences.link_days},
    )


# ---- one-click unsubscribe -----------------------------------------------------------------


def _cell_state(session: Session, claims: LinkClaims, brand: BrandConfig) -> str:
    assert claims.topic is not None
    assert claims.channel is not None
    preferences = service.current(session, claims.customer_id, brand=brand)
    cell = preferences.consents[(claims.topic, claims.channel)]
    if cell.state == "pending":
        return "pending"
    return "in" if cell.allowed else "out"


def _set_cell(
    request: Request,
    session: SessionDep,
    claims: LinkClaims,
    *,
    state: Literal["opted-in", "opted-out"],
    source: str,
    brand: BrandConfig,
) -> service.Recorded:
    assert claims.topic is not None
    assert claims.channel is not None
    return service.record(
        session,
        claims.customer_id,
        brand=brand,
        origin=_origin(request, source, brand),
        consents=[ConsentChange(claims.topic, claims.channel, state)],
    )


@router.get("/u/{token}")
def unsubscribe_page(
    request: Request, token: str, session: SessionDep, store: StoreDep
) -> Response:
    brand = store.brand
    try:
        claims = open_link(session, token, "unsubscribe", brand)
    except LinkProblem as problem:
        return link_problem(request, problem)
    assert claims.topic is not None
    assert claims.channel is not None
    topic = brand.topic(claims.topic)
    center = links.issue(session, claims.customer_id, purpose="center")
    return render(
        request,
        "center/unsubscribe.html",
        {
            "token": token,
            "state": _cell_state(session, claims, brand),
            "topic_label": topic.label if topic else claims.topic,
            "channel_label": CHANNEL_LABELS.get(claims.channel, claims.channel),
            "center_path": f"/p/{center}",
        },
    )


@router.post("/u/{token}")
def unsubscribe(
    request: Request, token: str, session: SessionDep, store: StoreDep, submitted: FormDep
) -> Response:
    """RFC 8058: a POST with ``List-Unsubscribe=One-Click`` opts out at once, with no page.

    An opt-out is honoured from an authentic link however old, even after the customer's links
    were revoked: only the pages that show or restore anything require a valid link.
    """
    try:
        claims = open_link(session, token, "unsubscribe", store.brand, to_opt_out=True)
    except LinkProblem as problem:
        return link_problem(request, problem)
    _set_cell(request, session, claims, state="opted-out", source="one-click", brand=store.brand)
    if submitted.get("List-Unsubscribe") == "One-Click":
        return PlainTextResponse("Unsubscribed.\n", headers=PRIVATE_HEADERS)
    return RedirectResponse(f"/u/{token}", status_code=303, headers=PRIVATE_HEADERS)


@router.post("/u/{token}/undo")
def undo_unsubscribe(
    request: Request,
    token: str,
    session: SessionDep,
    store: StoreDep,
    mail: CenterMailDep,
    tasks: BackgroundTasks,
) -> Response:
    try:
        claims = open_link(session, token, "unsubscribe", store.brand)
    except LinkProblem as problem:
        return link_problem(request, problem)
    target = flows.confirmation_target(session, claims.customer_id, generation=claims.generation)
    recorded = _set_cell(
        request, session, claims, state="opted-in", source="one-click", brand=store.brand
    )
    _confirm_later(tasks, target, recorded.pending, brand=store.brand, mail=mail)
    return RedirectResponse(f"/u/{token}", status_code=303, headers=PRIVATE_HEADERS)


# ---- double opt-in confirmation ------------------------------------------------------------


def _confirm_page(
    request: Request,
    session: Session,
    claims: LinkClaims,
    token: str,
    *,
    brand: BrandConfig,
    done: bool,
) -> Response:
    assert claims.topic is not None
    assert claims.channel is not None
    topic = brand.topic(claims.topic)
    return render(
        request,
        "center/confirm.html",
        {
            "token": token,
            "done": done,
            "state": _cell_state(session, claims, brand),
            "topic_label": topic.label if topic else claims.topic,
            "channel_label": CHANNEL_LABELS.get(claims.channel, claims.channel),
            "center_path": f"/p/{links.issue(session, claims.customer_id, purpose='center')}",
        },
    )


@router.get("/c/{token}")
def confirm_page(request: Request, token: str, session: SessionDep, store: StoreDep) -> Response:
    try:
        claims = open_link(session, token, "confirm", store.brand)
    except LinkProblem as problem:
        return link_problem(request, problem)
    return _confirm_page(request, session, claims, token, brand=store.brand, done=False)


@router.post("/c/{token}")
def confirm(request: Request, token: str, session: SessionDep, store: StoreDep) -> Response:
    try:
        claims = open_link(session, token, "confirm", store.brand)
    except LinkProblem as problem:
        return link_problem(request, problem)
    _set_cell(request, session, claims, state="opted-in", source="confirmation", brand=store.brand)
    flows.prove_address(session, claims)
    return _confirm_page(request, session, claims, token, brand=store.brand, done=True)
