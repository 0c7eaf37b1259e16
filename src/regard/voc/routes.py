"""The Voice-of-the-Customer API: themes in customers' own words.

Read with a read key (``Authorization: Bearer <key>``): the quotes are the customers' own words,
personal data even with their contact details masked. A filter naming a question, segment or
commitment group the brand does not have answers ``400`` naming the parameter.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from regard.voc import service
from regard.voc.schemas import QuestionView, ThemesView
from regard.voc.themes import MAX_THEMES
from regard.web.deps import ReadKeyDep, SessionDep, StoreDep

router = APIRouter(prefix="/api", tags=["voice of the customer"])


@router.get("/voc/themes", response_model=ThemesView)
def read_themes(
    session: SessionDep,
    store: StoreDep,
    _key: ReadKeyDep,
    question: Annotated[str | None, Query(max_length=200)] = None,
    segment: Annotated[str | None, Query(max_length=200)] = None,
    group: Annotated[str | None, Query(max_length=200)] = None,
    since: date | None = None,
    themes: Annotated[int | None, Query(ge=1, le=MAX_THEMES)] = None,
    quotes: bool = True,
) -> ThemesView:
    """The themes of each open question's answers: counts, trend per month, commitment groups
    and segments, and (unless ``quotes=false``) masked example quotes."""
    found = service.themes(
        session,
        brand=store.brand,
        question=question,
        segment=segment,
        group=group,
        since=since,
        themes=themes,
    )
    return ThemesView(
        questions=[QuestionView.of(q, brand=store.brand, quotes=quotes) for q in found]
    )
