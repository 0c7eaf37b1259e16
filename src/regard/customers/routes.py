"""``/api/customers``: look customers up, read a profile, list merges. Needs a read key.

A profile that was merged into another answers ``308 Permanent Redirect`` to the survivor's
URL (the query string kept), with a JSON body ``{"merged_into": id, "location": url}`` for
clients that do not follow redirects.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from regard.customers import profiles
from regard.customers.profiles import CustomerRecord
from regard.customers.schemas import CustomerProfile, MergedCustomer, MergeRecord
from regard.privacy import audit
from regard.privacy.audit import Actor
from regard.privacy.models import ApiKey
from regard.privacy.service import require_permission
from regard.web.deps import ReadKeyDep, SessionDep, StoreDep

router = APIRouter(prefix="/api/customers", tags=["customers"])


def _read_personal(
    session: SessionDep, request: Request, key: ApiKey, customer_id: int, *, by: str
) -> None:
    # Every profile read through the API is personal data: allowed by the key's role, audited.
    require_permission(key, "customers.lookup")
    require_permission(key, "personal.view")
    audit.record(
        session,
        actor=Actor.of_key(key, client=request.client.host if request.client else None),
        action="customer.read",
        target=f"customer:{customer_id}",
        details={"via": "api", "by": by},
    )


EventsLimit = Annotated[
    int, Query(ge=0, le=1000, description="How many of the most recent events to include.")
]


@router.get("/merges", response_model=list[MergeRecord])
def list_merges(
    session: SessionDep,
    _key: ReadKeyDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[MergeRecord]:
    """The latest profile merges, newest first."""
    return [MergeRecord.model_validate(m) for m in profiles.recent_merges(session, limit=limit)]


@router.get("", response_model=CustomerProfile)
def find_customer(
    request: Request,
    session: SessionDep,
    store: StoreDep,
    key: ReadKeyDep,
    email: str | None = None,
    phone: str | None = None,
    external: Annotated[str | None, Query(description="'system:id', e.g. 'pos:1234'")] = None,
    events: EventsLimit = 50,
) -> CustomerProfile:
    """The customer holding one identity: ``?email=``, ``?phone=`` or ``?external=pos:1234``."""
    identity = profiles.identity_to_find(
        email=email, phone=phone, external=external, region=store.brand.region
    )
    found = profiles.find_customer(session, identity, vault=store.vault, events=events)
    _read_personal(session, request, key, found.customer.id, by=identity.label)
    return CustomerProfile.of(found.customer, found.events)


@router.get(
    "/{customer_id}",
    response_model=CustomerProfile,
    responses={308: {"model": MergedCustomer, "description": "Merged into another profile"}},
)
def get_customer(
    customer_id: int,
    request: Request,
    session: SessionDep,
    key: ReadKeyDep,
    events: EventsLimit = 50,
) -> CustomerProfile | JSONResponse:
    """One customer's profile, identities (decrypted) and most recent events."""
    found = profiles.customer_record(session, customer_id, events=events)
    if isinstance(found, CustomerRecord):
        _read_personal(session, request, key, found.customer.id, by="id")
        return CustomerProfile.of(found.customer, found.events)
    location = str(request.app.url_path_for("get_customer", customer_id=found.survivor_id))
    if request.url.query:
        location += f"?{request.url.query}"
    body = MergedCustomer(merged_into=found.survivor_id, location=location)
    return JSONResponse(body.model_dump(), status_code=308, headers={"Location": location})
