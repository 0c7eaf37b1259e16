"""``regard serve``: the web app on uvicorn."""

from __future__ import annotations

import typer

from regard.config import get_settings


def serve(
    host: str = typer.Option(None, help="Address to listen on (default from REGARD_HOST)."),
    port: int = typer.Option(None, help="Port (default from REGARD_PORT)."),
    workers: int = typer.Option(
        1, min=1, max=64, help="Worker processes (about one per core; each opens the store)."
    ),
) -> None:
    """Serve the API, the tracking API and the pages."""
    settings = get_settings()
    from regard.web.serving import serve as serve_app

    serve_app(None, host=host or settings.host, port=port or settings.port, workers=workers)
