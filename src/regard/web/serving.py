"""Serving the app with uvicorn, with access logs that carry no personal data."""

from __future__ import annotations

import copy
import logging
from typing import Any

import uvicorn
from fastapi import FastAPI


class WithoutQueryStrings(logging.Filter):
    """Drops the query string from access-log lines: ``?email=...`` is personal data."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging, with the access log's query strings dropped in every worker."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config.setdefault("filters", {})["without_query_strings"] = {
        "()": "regard.web.serving.WithoutQueryStrings"
    }
    config["handlers"]["access"]["filters"] = ["without_query_strings"]
    return config


def serve(app: FastAPI | None, *, host: str, port: int, workers: int = 1) -> None:
    """Run ``app`` on ``host``:``port`` until interrupted.

    With more than one worker, each worker process builds the app from the settings (the
    store is opened per process); ``app`` must then be ``None``.
    """
    if workers > 1:
        if app is not None:
            raise ValueError("several workers build their own app: pass app=None")
        uvicorn.run(
            "regard.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=log_config(),
            log_level="info",
        )
        return
    if app is None:
        from regard.app import create_app

        app = create_app()
    uvicorn.run(app, host=host, port=port, log_config=log_config(), log_level="info")
