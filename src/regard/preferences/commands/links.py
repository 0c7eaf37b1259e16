"""``regard links``: issue a customer's preference links, or stop every link issued so far."""

from __future__ import annotations

import typer

from regard import runtime, terminal
from regard.config import get_settings
from regard.customers import repository as customers_repository
from regard.errors import InvalidInput, NotFound
from regard.preferences import links
from regard.store.database import unit_of_work

app = typer.Typer(no_args_is_help=True)
console = terminal.console()


@app.command()
def create(
    customer_id: int = typer.Argument(..., help="The customer's id."),
    purpose: str = typer.Option(
        "center", help="center (the preference page), unsubscribe or confirm."
    ),
    topic: str | None = typer.Option(None, help="For unsubscribe and confirm: the topic."),
    channel: str | None = typer.Option(None, help="For unsubscribe and confirm: the channel."),
) -> None:
    """Print a working link for a customer (to send them by hand, or for support)."""
    if purpose not in links.PURPOSES:
        raise InvalidInput(f"purpose must be one of {', '.join(links.PURPOSES)}")
    store = runtime.store()
    if purpose != "center":
        if topic is None or channel is None:
            raise InvalidInput(f"a {purpose} link needs --topic and --channel")
        if store.brand.topic(topic) is None:
            raise InvalidInput(f"there is no topic {topic!r}")
        if channel not in store.brand.channels:
            raise InvalidInput(f"{store.brand.name} does not use the channel {channel!r}")
    with unit_of_work(store) as session:
        if not customers_repository.customer_exists(session, customer_id):
            raise NotFound(f"no customer {customer_id}")
        token = links.issue(
            session,
            customer_id,
            purpose=purpose,
            topic=topic if purpose != "center" else None,
            channel=channel if purpose != "center" else None,
        )
    console.print(
        links.url_for(get_settings().public_url, purpose, token),
        highlight=False,
        soft_wrap=True,
    )


@app.command()
def revoke(customer_id: int = typer.Argument(..., help="The customer's id.")) -> None:
    """Stop every link issued to the customer so far; old links show that they were withdrawn."""
    with unit_of_work(runtime.store()) as session:
        if not customers_repository.customer_exists(session, customer_id):
            raise NotFound(f"no customer {customer_id}")
        generation = links.revoke(session, customer_id)
    console.print(f"Links of customer {customer_id} revoked (now generation {generation}).")
