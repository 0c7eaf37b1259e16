"""The preferences API, for brands that embed preferences in their own app.

Reading needs a read key and changing a write key, each sent as ``Authorization: Bearer <key>``.
A merged customer's id answers for the profile it was merged into (``customer_id`` in the answer
says which); an id no profile ever had is ``404``. A change with any invalid part changes nothing
and answers ``400`` with every problem under ``error.details.problems``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from regard.preferences import imports, views
from regard.preferences.schemas import (
    Catalogue,
    ConsentImport,
    ConsentImportResult,
    ConsentProof,
    DeviceIn,
    DeviceView,
    PreferencesPatch,
    PreferencesUpdated,
    PreferencesView,
    Rejection,
    Verification,
)
from regard.preferences.service import ConsentChange, Origin, SettingChange, describe_entry
from regard.privacy import audit
from regard.privacy.audit import Actor
from regard.privacy.service import require_permission
from regard.web.deps import ReadKeyDep, SessionDep, StoreDep, WriteKeyDep

router = APIRouter(prefix="/api", tags=["preferences"])


At = Annotated[
    datetime | None,
    Query(description="A past moment, with its time zone: the state as it stood then."),
]


@router.get("/topics", response_model=Catalogue)
def topics(store: StoreDep, _key: ReadKeyDep) -> Catalogue:
    """The brand's topics, channels and the settings customers can choose from."""
    return Catalogue.of(store.brand)


@router.get("/customers/{customer_id}/preferences", response_model=PreferencesView)
def read_preferences(
    customer_id: int, session: SessionDep, store: StoreDep, _key: ReadKeyDep, at: At = None
) -> PreferencesView:
    """What the customer allows per topic and channel, their settings, devices and note."""
    found = views.preferences_of(session, customer_id, brand=store.brand, at=at)
    return PreferencesView.of(found.preferences, found.devices, as_of=at)


@router.patch("/customers/{customer_id}/preferences", response_model=PreferencesUpdated)
def change_preferences(
    customer_id: int,
    body: PreferencesPatch,
    session: SessionDep,
    store: StoreDep,
    key: WriteKeyDep,
) -> PreferencesUpdated:
    """Change consents and settings: all of the change is recorded, or none of it."""
    changed = views.change_preferences(
        session,
        customer_id,
        brand=store.brand,
        origin=Origin(
            source="api",
            actor=body.actor or f"api:{key.name}",
            wording_version=body.wording_version or store.brand.preferences.wording_version,
        ),
        consents=[
            ConsentChange(c.topic, c.channel, c.state)  # type: ignore[arg-type]
            for c in body.consents
        ],
        settings=[SettingChange(s.setting, s.value, s.scope) for s in body.setting_changes()],
    )
    after = PreferencesView.of(changed.after.preferences, changed.after.devices)
    return PreferencesUpdated(
        **after.model_dump(),
        recorded=[describe_entry(e) for e in changed.recorded.entries],
        pending=[{"topic": t, "channel": c} for t, c in changed.recorded.pending],
    )


@router.get("/customers/{customer_id}/consent", response_model=ConsentProof)
def consent_proof(
    customer_id: int, request: Request, session: SessionDep, key: ReadKeyDep
) -> ConsentProof:
    """Every change ever recorded about the customer, merged profiles' included, verified."""
    require_permission(key, "customers.lookup")
    proof = views.consent_proof(session, customer_id)
    audit.record(
        session,
        actor=Actor.of_key(key, client=request.client.host if request.client else None),
        action="consent.proof",
        target=f"customer:{proof.customer_id}",
        details={"via": "api"},
    )
    return ConsentProof(
        customer_id=proof.customer_id,
        merged_profiles=proof.merged_profiles,
        history=proof.described,
        verification=Verification.of(proof.verification),
    )


@router.post("/customers/{customer_id}/devices", response_model=DeviceView, status_code=201)
def register_device(
    customer_id: int, body: DeviceIn, session: SessionDep, _key: WriteKeyDep
) -> DeviceView:
    """Register a device for push messages (a known token is refreshed, not added twice)."""
    device = views.add_device(
        session, customer_id, name=body.name, platform=body.platform, token=body.token
    )
    return DeviceView.model_validate(device)


@router.post("/consents/import", response_model=ConsentImportResult)
def import_consents(
    body: ConsentImport, session: SessionDep, store: StoreDep, _key: WriteKeyDep
) -> ConsentImportResult:
    """Consents from another system, with their original times. Bad records are listed by
    index and skipped; the good ones are recorded."""
    outcome = imports.import_consents(
        session, brand=store.brand, vault=store.vault, system=body.system, records=body.records
    )
    return ConsentImportResult(
        system=body.system,
        received=outcome.received,
        accepted=outcome.accepted,
        recorded=outcome.recorded,
        unchanged=outcome.unchanged,
        rejected=outcome.rejected,
        rejections=[Rejection(index=i, problems=p) for i, p in outcome.rejections],
    )
