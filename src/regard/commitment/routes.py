"""The commitment API: survey answers in, commitment and its history out.

Recording needs a write key and reading a read key, each sent as ``Authorization: Bearer <key>``.
A merged customer's id answers for the profile it was merged into; an unknown id is ``404``. A
response with any invalid part is not stored and answers ``400`` with every problem under
``error.details.problems``.
"""

from __future__ import annotations

from fastapi import APIRouter

from regard.commitment import service
from regard.commitment.schemas import (
    CommitmentNow,
    CommitmentView,
    Cuts,
    HistoryEntry,
    ResponseView,
    SurveyDefinition,
    SurveyIn,
    SurveyRecorded,
)
from regard.web.deps import ReadKeyDep, SessionDep, StoreDep, WriteKeyDep

router = APIRouter(prefix="/api", tags=["commitment"])


@router.get("/survey", response_model=SurveyDefinition)
def survey_definition(store: StoreDep, _key: ReadKeyDep) -> SurveyDefinition:
    """The brand's commitment survey: each item's wording, scale and who is asked it, and the
    open questions."""
    return SurveyDefinition.of(store.brand.commitment)


@router.post("/customers/{customer_id}/survey", response_model=SurveyRecorded, status_code=201)
def record_survey(
    customer_id: int, body: SurveyIn, session: SessionDep, store: StoreDep, _key: WriteKeyDep
) -> SurveyRecorded:
    """Store a commitment survey response; answer with it and the customer's group now."""
    response = service.record_response(
        session,
        customer_id,
        brand=store.brand,
        is_user=body.is_user,
        answers=body.answers,
        free_text=body.free_text,
        source="api",
        responded_at=body.responded_at,
    )
    found = service.history(session, response.customer_id, brand=store.brand)
    current = found.current
    assert current is not None  # the response just stored is in the history
    return SurveyRecorded(response=ResponseView.of(response), commitment=CommitmentNow.of(current))


@router.get("/customers/{customer_id}/commitment", response_model=CommitmentView)
def read_commitment(
    customer_id: int, session: SessionDep, store: StoreDep, _key: ReadKeyDep
) -> CommitmentView:
    """The customer's group now, with its score and reason, and every response they gave."""
    found = service.history(session, customer_id, brand=store.brand)
    current = found.current
    return CommitmentView(
        customer_id=found.customer_id,
        current=None if current is None else CommitmentNow.of(current),
        cut_points=Cuts.of(found.cuts),
        history=[
            HistoryEntry.of_row(row, service.ITEMS) for row in found.history.iter_rows(named=True)
        ],
    )
