"""``regard voc``: the themes in customers' own words."""

from __future__ import annotations

from datetime import date

import typer
from rich.markup import escape
from rich.table import Table

from regard import runtime, terminal
from regard.config import BrandConfig
from regard.errors import InvalidInput
from regard.store.database import unit_of_work
from regard.voc import service
from regard.voc.themes import QuestionThemes, Theme

app = typer.Typer(no_args_is_help=True)
console = terminal.console()

_TOP_GROUPS = 2
# Up to this many months, the trend gives each month's count beside its bars.
_MONTHS_SPELLED_OUT = 6


@app.callback()
def _group() -> None:
    """Voice of the Customer: themes in survey answers given in customers' own words."""


@app.command(name="themes")
def themes_(
    question: str | None = typer.Option(None, help="Only this open question (its key)."),
    segment: str | None = typer.Option(None, help="Only respondents in this segment now."),
    group: str | None = typer.Option(None, help="Only respondents in this commitment group now."),
    since: str | None = typer.Option(None, help="Only answers given on or after this date."),
    themes: int | None = typer.Option(
        None, help="Themes per question; by default one per five answers, at most six."
    ),
    quotes: bool = typer.Option(
        False, "--quotes", help="Show example quotes (personal data, contact details masked)."
    ),
) -> None:
    """The themes in the answers to each open question: answers, share, trend per month and the
    commitment groups that raise them."""
    store = runtime.store()
    with unit_of_work(store) as session:
        found = service.themes(
            session,
            brand=store.brand,
            question=question,
            segment=segment,
            group=group,
            since=_date(since),
            themes=themes,
        )
    for result in found:
        print_themes(result, wording=wording(store.brand, result.question), quotes=quotes)
    if not quotes and any(result.themes for result in found):
        console.print("Add --quotes to see example answers (personal data).", highlight=False)


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"since: {text[:40]!r} is not a date (YYYY-MM-DD)") from None


def wording(brand: BrandConfig, question: str) -> str:
    """The open question as the brand words it (its key when no longer asked)."""
    asked = brand.commitment.question(question)
    return asked.wording if asked is not None else question


def print_themes(result: QuestionThemes, *, wording: str, quotes: bool) -> None:
    """One question's themes as a table; its quotes after it when asked."""
    title = f"{wording} ({result.question}): {result.answers:,} answers"
    months = f"trend {result.months[0]} to {result.months[-1]}" if result.months else "trend"
    table = Table("theme", "answers", "share", months, "top groups", "terms", title=title)
    table.columns[1].justify = table.columns[2].justify = "right"
    for theme in result.themes:
        table.add_row(
            escape(theme.label),
            f"{theme.answers:,}",
            f"{theme.share:.1%}",
            _trend(theme),
            escape(_top_groups(theme)),
            escape(", ".join(theme.terms)),
        )
    if result.unthemed:
        share = f"{result.unthemed / result.answers:.1%}"
        table.add_row("[italic]unthemed[/]", f"{result.unthemed:,}", share, "", "", "")
    console.print(table)
    if result.note is not None:
        console.print(f"{escape(result.question)}: {escape(result.note)}", highlight=False)
    if quotes:
        for theme in result.themes:
            if not theme.quotes:
                continue
            console.print(f"[bold]{escape(theme.label)}[/]", highlight=False)
            for quote in theme.quotes:
                console.print(
                    f"  “{escape(quote.text)}” ({quote.responded_at:%Y-%m-%d})",
                    highlight=False,
                    soft_wrap=True,
                )


def _trend(theme: Theme) -> str:
    counts = [month.answers for month in theme.trend]
    if len(counts) > _MONTHS_SPELLED_OUT:
        return terminal.sparkline(counts)
    return f"{terminal.sparkline(counts)} {'/'.join(str(n) for n in counts)}"


def _top_groups(theme: Theme) -> str:
    if not theme.by_group:
        return "-"
    return ", ".join(
        f"{name} {n / theme.answers:.0%}" for name, n in list(theme.by_group.items())[:_TOP_GROUPS]
    )
