"""The access log of a served app carries no personal data."""

from __future__ import annotations

import logging

from regard.web.serving import WithoutQueryStrings


def test_access_log_lines_lose_their_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/api/customers?email=ana%40example.org", "1.1", 200),
        None,
    )

    assert WithoutQueryStrings().filter(record)
    assert record.getMessage() == '127.0.0.1:5000 - "GET /api/customers HTTP/1.1" 200'
    assert "ana" not in record.getMessage()
