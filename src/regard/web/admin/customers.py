"""``/admin/customers``: find a customer by email, read their whole story, record a consent.

Every page that shows one customer writes an audit entry (``customer.lookup``,
``customer.read``, ``consent.recorded``) in the request's transaction. Names, emails and
phones are masked for a role without ``personal.view``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from regard.console import customer as stories
from regard.console.customer import CustomerStory
from regard.errors import InvalidInput
from regard.preferences.catalogue import CHANNEL_LABELS
from regard.preferences.ledger import CONSENT_VALUES
from regard.web.admin.access import PREFIX, SignedIn, check_csrf, require
from regard.web.admin.pages import SECTIONS, FormDep, _text, render
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(prefix=PREFIX, include_in_schema=False, dependencies=[Depends(check_csrf)])

SECTIONS.append(("customers.lookup", "Find a customer", f"{PREFIX}/customers"))

Lookup = Annotated[SignedIn, Depends(require("customers.lookup"))]
Recorder = Annotated[SignedIn, Depends(require("consent.record"))]


@router.get("/customers")
def find_customer(
    request: Request, session: SessionDep, store: StoreDep, who: Lookup, email: str | None = None
) -> Response:
    """The search form; with ``email``, straight to that customer's page (look-up audited)."""
    if not email or not email.strip():
        return render(request, "admin/customers.html", {"who": who, "problem": None})
    try:
        found = stories.find_by_email(
            session, email, region=store.brand.region, vault=store.vault, actor=who.actor
        )
    except InvalidInput as exc:
        return render(
            request, "admin/customers.html", {"who": who, "problem": exc.message}, status=400
        )
    if found is None:
        # The address typed is not echoed back: the page may be shared or logged by the browser.
        problem = "No customer has that email address."
        return render(request, "admin/customers.html", {"who": who, "problem": problem}, status=404)
    return RedirectResponse(f"{PREFIX}/customers/{found}", status_code=303)


def _story_page(
    request: Request,
    story: CustomerStory,
    who: SignedIn,
    *,
    brand: Any,
    problem: str | None = None,
    done: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "admin/customer.html",
        {
            "who": who,
            "story": story,
            "brand": brand,
            "channel_labels": CHANNEL_LABELS,
            "states": CONSENT_VALUES,
            "problem": problem,
            "done": done,
        },
        status=status,
    )


@router.get("/customers/{customer_id}")
def customer_page(
    request: Request, customer_id: int, session: SessionDep, store: StoreDep, who: Lookup
) -> Response:
    """The customer's whole story on one page (audited); a merged profile leads to its survivor."""
    story = stories.read_story(
        session, customer_id, brand=store.brand, role=who.role, actor=who.actor
    )
    if not isinstance(story, CustomerStory):
        return RedirectResponse(f"{PREFIX}/customers/{story.survivor_id}", status_code=303)
    done = "recorded" if request.query_params.get("done") == "recorded" else None
    return _story_page(request, story, who, brand=store.brand, done=done)


@router.post("/customers/{customer_id}/consent")
def record_consent(
    request: Request,
    customer_id: int,
    session: SessionDep,
    store: StoreDep,
    who: Recorder,
    form: FormDep,
) -> Response:
    """Record a consent the customer gave on the phone (source staff, this member as actor)."""
    topic, channel, state = _text(form, "topic"), _text(form, "channel"), _text(form, "state")
    try:
        if not (topic and channel and state):
            raise InvalidInput("choose a topic, a channel and what the customer said")
        stories.record_phone_consent(
            session,
            customer_id,
            brand=store.brand,
            topic=topic,
            channel=channel,
            state=state,
            actor=who.actor,
        )
    except InvalidInput as exc:
        story = stories.read_story(
            session, customer_id, brand=store.brand, role=who.role, actor=who.actor
        )
        if not isinstance(story, CustomerStory):
            raise
        return _story_page(
            request, story, who, brand=store.brand, problem=exc.message, status=exc.status_code
        )
    return RedirectResponse(
        f"{PREFIX}/customers/{customer_id}?done=recorded#preferences", status_code=303
    )
