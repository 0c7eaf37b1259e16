"""Serving the app with uvicorn, with access logs that carry no personal data."""

from __future__ import annotations

import logging

import uvicorn
from fastapi import FastAPI


class WithoutQueryStrings(logging.Filter):
    """Drops the query string from access-log lines: ``?email=...`` is personal data."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def serve(app: FastAPI, *, host: str, port: int) -> None:
    """Run ``app`` on ``host``:``port`` until interrupted."""
    logging.getLogger("uvicorn.access").addFilter(WithoutQueryStrings())
    uvicorn.run(app, host=host, port=port, log_level="info")
