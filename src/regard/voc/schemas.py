"""What the Voice-of-the-Customer API answers, as Pydantic models."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from regard.config import BrandConfig
from regard.voc.themes import MonthCount, QuestionThemes, Quote, Theme


class MonthView(BaseModel):
    month: str = Field(description="A calendar month in the brand's time zone, YYYY-MM.")
    answers: int

    @classmethod
    def of(cls, count: MonthCount) -> MonthView:
        return cls(month=count.month, answers=count.answers)


class QuoteView(BaseModel):
    """An answer that stands for its theme: personal data, contact details masked."""

    response_id: int
    text: str
    responded_on: date
    weight: float = Field(description="How much of the answer the theme explains, 0-1.")

    @classmethod
    def of(cls, quote: Quote) -> QuoteView:
        return cls(
            response_id=quote.response_id,
            text=quote.text,
            responded_on=quote.responded_at,
            weight=quote.weight,
        )


class ThemeView(BaseModel):
    label: str = Field(description="The theme's two heaviest terms.")
    terms: list[str]
    answers: int
    share: float = Field(description="Of the question's answers.")
    trend: list[MonthView] = Field(description="Answers per month, every month of the range.")
    by_group: dict[str, int] = Field(description="Answers per commitment group now, most first.")
    by_segment: dict[str, int] = Field(description="Answers per segment now, most first.")
    quotes: list[QuoteView] | None = Field(description="Null when quotes were not asked for.")

    @classmethod
    def of(cls, theme: Theme, *, quotes: bool) -> ThemeView:
        return cls(
            label=theme.label,
            terms=list(theme.terms),
            answers=theme.answers,
            share=round(theme.share, 4),
            trend=[MonthView.of(m) for m in theme.trend],
            by_group=theme.by_group or {},
            by_segment=theme.by_segment or {},
            quotes=[QuoteView.of(q) for q in theme.quotes] if quotes else None,
        )


class QuestionView(BaseModel):
    question: str
    wording: str
    answers: int
    respondents: int
    unthemed: int = Field(description="Answers too far from every theme to belong to one.")
    months: list[str]
    note: str | None = Field(description="Why there are no themes, or only one of all answers.")
    themes: list[ThemeView]

    @classmethod
    def of(cls, found: QuestionThemes, *, brand: BrandConfig, quotes: bool) -> QuestionView:
        asked = brand.commitment.question(found.question)
        return cls(
            question=found.question,
            wording=asked.wording if asked is not None else found.question,
            answers=found.answers,
            respondents=found.respondents,
            unthemed=found.unthemed,
            months=list(found.months),
            note=found.note,
            themes=[ThemeView.of(theme, quotes=quotes) for theme in found.themes],
        )


class ThemesView(BaseModel):
    questions: list[QuestionView]
