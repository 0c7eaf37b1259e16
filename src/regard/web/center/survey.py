"""The commitment survey page, reached from the preference center by the same signed link.

- ``GET /p/{token}/survey``: first "do you use us now?", then (``?as=user`` or ``?as=other``)
  the questions for that answer, each a row of choices on its scale, and the open questions.
- ``POST /p/{token}/survey``: stores the response (source ``page``) and shows thanks; a missing
  or invalid answer shows the page again with every problem and the answers kept.

The link follows the preference pages' rules: tampered, expired or revoked links get the same
friendly page and nothing else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData

from regard.commitment import service as commitment
from regard.config import NON_USER_ITEMS, USER_ITEMS, BrandConfig, SurveyItem
from regard.errors import InvalidInput
from regard.preferences.links import LinkProblem
from regard.web.center.pages import PRIVATE_HEADERS, FormDep, link_problem, open_link, render
from regard.web.deps import SessionDep, StoreDep

router = APIRouter(include_in_schema=False)

Respondent = Literal["user", "other"]
_RESPONDENTS: tuple[Respondent, ...] = ("user", "other")
_CHOOSE = "Choose one of the answers."


@dataclass(frozen=True)
class Scale:
    """One closed question as the page shows it: its choices and what their ends mean."""

    item: SurveyItem
    choices: tuple[int, ...]

    @classmethod
    def of(cls, item: SurveyItem) -> Scale:
        low, high = math.ceil(item.scale_min), math.floor(item.scale_max)
        return cls(item, tuple(range(low, high + 1)))


def _scales(brand: BrandConfig, respondent: Respondent) -> list[Scale]:
    keys = USER_ITEMS if respondent == "user" else NON_USER_ITEMS
    return [Scale.of(brand.commitment.item(key)) for key in keys]


def _page(
    request: Request,
    token: str,
    *,
    brand: BrandConfig,
    respondent: Respondent | None,
    given: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    sent: bool = False,
) -> Response:
    problems = problems or {}
    return render(
        request,
        "center/survey.html",
        {
            "token": token,
            "respondent": respondent,
            "scales": _scales(brand, respondent) if respondent else [],
            "questions": brand.commitment.questions,
            "given": given or {},
            "problems": problems,
            "sent": sent,
        },
        status=400 if problems else 200,
    )


@router.get("/p/{token}/survey")
def survey_page(
    request: Request,
    token: str,
    session: SessionDep,
    store: StoreDep,
    sent: int = 0,
) -> Response:
    """``?as=user`` or ``?as=other`` picks the questions; without it the page asks which."""
    try:
        open_link(session, token, "center", store.brand)
    except LinkProblem as problem:
        return link_problem(request, problem)
    respondent = _respondent(request.query_params.get("as"))
    return _page(request, token, brand=store.brand, respondent=respondent, sent=bool(sent))


@router.post("/p/{token}/survey")
def answer_survey(
    request: Request, token: str, session: SessionDep, store: StoreDep, submitted: FormDep
) -> Response:
    brand = store.brand
    try:
        claims = open_link(session, token, "center", brand)
    except LinkProblem as problem:
        return link_problem(request, problem)
    respondent = _respondent(_text(submitted, "respondent"))
    if respondent is None:
        return _page(request, token, brand=brand, respondent=None)
    given = {str(name): value for name, value in submitted.multi_items() if isinstance(value, str)}
    answers, problems = _answers(submitted, _scales(brand, respondent))
    free_text = {
        question.key: text
        for question in brand.commitment.questions
        if (text := _text(submitted, f"text:{question.key}").strip())
    }
    if not problems:
        try:
            commitment.record_response(
                session,
                claims.customer_id,
                brand=brand,
                is_user=respondent == "user",
                answers=answers,
                free_text=free_text or None,
                source="page",
            )
        except InvalidInput as exc:
            problems = _problems_by_field(exc)
    if problems:
        return _page(
            request, token, brand=brand, respondent=respondent, given=given, problems=problems
        )
    return RedirectResponse(f"/p/{token}/survey?sent=1", status_code=303, headers=PRIVATE_HEADERS)


def _respondent(value: str | None) -> Respondent | None:
    return next((r for r in _RESPONDENTS if r == value), None)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _answers(form: FormData, scales: list[Scale]) -> tuple[dict[str, Any], dict[str, str]]:
    answers: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for scale in scales:
        key = scale.item.key
        raw = _text(form, f"answer:{key}")
        if not raw:
            problems[key] = _CHOOSE
            continue
        try:
            number = int(raw)
        except ValueError:
            problems[key] = _CHOOSE
            continue
        if number not in scale.choices:
            problems[key] = _CHOOSE
            continue
        answers[key] = number
    return answers, problems


def _problems_by_field(exc: InvalidInput) -> dict[str, str]:
    """The service's problems ("free_text.more_useful: ...") under the field they concern."""
    listed = exc.details.get("problems") if isinstance(exc.details, dict) else None
    problems: dict[str, str] = {}
    for problem in listed if isinstance(listed, list) else [exc.message]:
        at, _, message = str(problem).partition(": ")
        field = at.removeprefix("free_text.")
        problems[f"text:{field}" if at.startswith("free_text.") else field] = message or at
    return problems
