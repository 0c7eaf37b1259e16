"""``regard preview``: a message as it would go out, for any customer and channel."""

from __future__ import annotations

import typer
from rich.markup import escape

from regard import runtime, terminal
from regard.config import get_settings
from regard.messages import sms
from regard.messages.content import EmailContent, ProviderContent
from regard.messages.preview import Preview, preview_touchpoint
from regard.messages.render import RenderProblem
from regard.messages.templates import load_templates
from regard.store.database import unit_of_work

console = terminal.console()


def preview(
    touchpoint: str = typer.Argument(..., help="The touchpoint, as named in regard.toml."),
    customer: int = typer.Option(..., "--customer", help="The customer's id."),
    channel: str | None = typer.Option(
        None, "--channel", help="One of the touchpoint's channels; all of them if left out."
    ),
) -> None:
    """Render a touchpoint's message for one customer (every channel, or --channel): subject,
    text, HTML size and headers of an email; a text's segments and any warning."""
    store = runtime.store()
    settings = get_settings()
    templates = load_templates(store.brand, settings.brand_config)
    with unit_of_work(store) as session:
        previews = preview_touchpoint(
            session,
            touchpoint,
            customer_id=customer,
            channel=channel,
            brand=store.brand,
            templates=templates,
            vault=store.vault,
            settings=settings,
        )
    problems = 0
    for shown in previews:
        problems += print_preview(shown)
    if problems:
        raise typer.Exit(1)


def print_preview(shown: Preview) -> int:
    """Prints one message; 1 when it could not be written."""
    console.rule(f"{shown.channel}: {escape(shown.content)}")
    rendered = shown.rendered
    if isinstance(rendered, RenderProblem):
        console.print(f"[bold red]not written:[/] {escape(rendered.detail)}", highlight=False)
        return 1
    if isinstance(rendered, EmailContent):
        message = rendered.as_message()
        for name in ("From", "To", "Subject", "Message-ID", "Date"):
            console.print(f"{name}: {escape(str(message[name]))}", highlight=False)
        for name, value in rendered.headers:
            console.print(f"{name}: {escape(value)}", highlight=False)
        console.print(f"HTML part: {len(rendered.html.encode()):,} bytes", highlight=False)
        console.print("Text part:", highlight=False)
        console.print(escape(rendered.text), highlight=False, soft_wrap=True)
        return 0
    assert isinstance(rendered, ProviderContent)
    console.print(f"To: {escape(rendered.to)}", highlight=False)
    if rendered.title is not None:
        console.print(f"Title: {escape(rendered.title)}", highlight=False)
    console.print(escape(rendered.body), highlight=False, soft_wrap=True)
    if rendered.link:
        console.print(f"Link: {escape(rendered.link)}", highlight=False)
    if rendered.channel == "sms":
        length = sms.measure(rendered.body)
        console.print(f"Length: {length.describe()}", highlight=False)
        if "warning" in rendered.extra:
            console.print(f"[yellow]warning:[/] {escape(rendered.extra['warning'])}")
    if rendered.channel == "voice":
        asks = "asks for a response" if rendered.asks_response else "asks for no response"
        console.print(f"The call {asks}.", highlight=False)
    return 0
