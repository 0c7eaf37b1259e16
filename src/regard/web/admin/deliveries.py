"""``/admin/deliveries``: the outbox by state, failures and dead letters, ambiguous sends, and
the complaint-rate breaker's streams; retry a dead letter, resume a stream (both audited)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from regard.console.deliveries import (
    OUTBOX_STATES,
    read_deliveries,
    resume_stream,
    retry_dead_letter,
)
from regard.errors import InvalidInput
from regard.web.admin.access import PREFIX, SignedIn, check_csrf, require
from regard.web.admin.pages import SECTIONS, FormDep, _text, render
from regard.web.deps import SessionDep

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(check_csrf)])

SECTIONS.append(("deliveries.view", "Deliveries", f"{PREFIX}/deliveries"))

_DONE = {"retried": "The message is due again now.", "resumed": "The stream sends again."}


@router.get("/deliveries")
def deliveries_page(
    request: Request,
    session: SessionDep,
    who: Annotated[SignedIn, Depends(require("deliveries.view"))],
) -> Response:
    """Outbox state, failures by reason, dead letters, ambiguous sends, breaker streams."""
    done = _DONE.get(request.query_params.get("done") or "")
    return render(
        request,
        "admin/deliveries.html",
        {"who": who, "found": read_deliveries(session), "states": OUTBOX_STATES, "done": done},
    )


@router.post("/deliveries/retry")
def retry(
    session: SessionDep,
    who: Annotated[SignedIn, Depends(require("deliveries.retry"))],
    form: FormDep,
) -> Response:
    """Send one dead letter (``outbox_id``) back to be retried now."""
    raw = _text(form, "outbox_id")
    if not raw.isdigit():
        raise InvalidInput("say which message to retry (outbox_id)")
    retry_dead_letter(session, int(raw), actor=who.actor, now=datetime.now(UTC))
    return RedirectResponse(f"{PREFIX}/deliveries?done=retried", status_code=303)


@router.post("/deliveries/resume")
def resume(
    session: SessionDep,
    who: Annotated[SignedIn, Depends(require("deliveries.resume"))],
    form: FormDep,
) -> Response:
    """Let a slowed or halted sending ``stream`` send again."""
    stream = _text(form, "stream").strip()
    if not stream:
        raise InvalidInput("say which stream to resume")
    resume_stream(session, stream, actor=who.actor, now=datetime.now(UTC))
    return RedirectResponse(f"{PREFIX}/deliveries?done=resumed", status_code=303)
